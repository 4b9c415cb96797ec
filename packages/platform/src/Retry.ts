/**
 * The pipeline's retry backoff, in one place: 100 ms, 200 ms, 400 ms, … doubling, capped
 * at a per-call-site ceiling, jittered (so retries of many callers spread out).
 *
 * Invariant: every schedule here starts at 100 ms; a call site chooses only the cap, how
 * many retries, and whether the error must say it is retryable.
 */
import { type Duration, Schedule } from "effect"

/** 100 ms doubling, capped at `cap`, jittered; unbounded. */
export const cappedBackoff = (cap: Duration.Input) => Schedule.min([Schedule.exponential("100 millis", 2), Schedule.spaced(cap)]).pipe(Schedule.jittered)

/** `cappedBackoff(cap)`, at most `times` retries, and only while the error is `retryable`. */
export const retryableBackoff = (cap: Duration.Input, times: number) =>
  cappedBackoff(cap).pipe(
    Schedule.upTo({ times }),
    Schedule.setInputType<{ readonly retryable: boolean }>(),
    Schedule.while(({ input }) => input.retryable)
  )
