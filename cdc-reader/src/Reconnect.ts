/**
 * The reader reconnects by itself (issue 16: "the source restarted — the slot survives, the
 * reader reconnects"): a run that fails with a retryable error (the connection lost, the
 * server starting up or shutting down, Kinesis or S3 unreachable after their own retries)
 * is started again in the same process — preflight, reader state, slot plan, streaming from
 * the slot's confirmed position, exactly as a new process would — instead of exiting and
 * waiting for ECS to start a task.
 *
 * Invariants:
 *  - Only errors carrying `retryable: true` are retried; any other failure (a dropped slot,
 *    a wrong password, a misconfigured stream) ends the run at once, unchanged: the
 *    operator's fix is never hidden behind retries.
 *  - Backoff: 0.5 s, doubling, at most 10 s; after `MAX_CONSECUTIVE_FAILURES` failures in a
 *    row the last error ends the run (the process exits for its supervisor). A run that
 *    lasted `HEALTHY_RUN_MS` or more before failing starts the count again.
 *  - Interruption (Ctrl-C, SIGTERM) is never caught.
 */
import { Clock, Effect } from "effect"

/** Failures in a row after which the reader gives up (≈ 1 minute of backoff). */
export const MAX_CONSECUTIVE_FAILURES = 10

/** A run at least this long (ms) before it failed counts as healthy: the failure count starts again. */
export const HEALTHY_RUN_MS = 60_000

/** Pure: the pause (ms) before the next start after the `failures`-th failure in a row (≥ 1). */
export const reconnectDelayMs = (failures: number): number => Math.min(10_000, 500 * 2 ** Math.max(0, failures - 1))

/** Pure: failures in a row after one that ended a run of `ranMs` (ms), `previous` before it. */
export const failuresInARow = (previous: number, ranMs: number): number => (ranMs >= HEALTHY_RUN_MS ? 1 : previous + 1)

const isRetryable = (error: unknown): boolean =>
  typeof error === "object" && error !== null && "retryable" in error && (error as { retryable: unknown }).retryable === true

const describe = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error ? String((error as { message: unknown }).message) : String(error)

/**
 * Runs `run`, starting it again after a retryable failure (module header); fails with the
 * first non-retryable error, or the last retryable one after `MAX_CONSECUTIVE_FAILURES` in a row.
 */
export const reconnecting = <A, E, R>(run: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
  const attempt = (previous: number): Effect.Effect<A, E, R> =>
    Effect.gen(function* () {
      const started = yield* Clock.currentTimeMillis
      return yield* run.pipe(
        Effect.catchIf(isRetryable, (error) =>
          Effect.gen(function* () {
            const failures = failuresInARow(previous, (yield* Clock.currentTimeMillis) - started)
            if (failures >= MAX_CONSECUTIVE_FAILURES) {
              yield* Effect.logError(`${describe(error)}; ${failures} failures in a row: giving up`)
              return yield* Effect.fail(error)
            }
            const delay = reconnectDelayMs(failures)
            yield* Effect.logWarning(`${describe(error)}; reconnecting in ${(delay / 1000).toFixed(1)} s (attempt ${failures + 1} of ${MAX_CONSECUTIVE_FAILURES})`)
            yield* Effect.sleep(delay)
            return yield* attempt(failures)
          })
        )
      )
    })
  return attempt(0)
}
