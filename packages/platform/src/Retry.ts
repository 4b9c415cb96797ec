/**
 * The pipeline's retry backoff, in one place: 100 ms, 200 ms, 400 ms, … doubling, capped
 * at a per-call-site ceiling, jittered (so retries of many callers spread out).
 *
 * Invariants:
 *  - Every schedule here starts at 100 ms; a call site chooses only the cap, how many
 *    retries, and whether the error must say it is retryable.
 *  - One retry policy per call site, stated where it is applied, never stacked: S3 calls
 *    are retried inside the S3 service (`s3RetrySchedule` in S3.ts, so its callers never
 *    retry them again); Kinesis calls are never retried by the Kinesis service, each caller
 *    applies one named schedule (e.g. `putRetrySchedule`, `kinesisReadRetrySchedule`).
 *    A retry of a whole operation (a consumer's page, the loader's catch-up) is a separate,
 *    outer liveness loop over operations, not a second policy for the same call.
 */
import { type Duration, Schedule } from "effect"

/** 100 ms, 200 ms, … doubling, each delay capped at `cap`, jittered ×0.8–1.2; unbounded (any input, any error). */
export const cappedBackoff = (cap: Duration.Input) => Schedule.min([Schedule.exponential("100 millis", 2), Schedule.spaced(cap)]).pipe(Schedule.jittered)

/**
 * `cappedBackoff(cap)`, at most `times` retries, and only while the error (any
 * `{ retryable: boolean }`, e.g. `S3Error`, `KinesisError`, `PgError`) is `retryable`.
 */
export const retryableBackoff = (cap: Duration.Input, times: number) =>
  cappedBackoff(cap).pipe(
    Schedule.upTo({ times }),
    Schedule.setInputType<{ readonly retryable: boolean }>(),
    Schedule.while(({ input }) => input.retryable)
  )
