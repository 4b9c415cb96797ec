/**
 * The in-process loader behind a bounded hand-off (`totes-cdc dev`): the processor offers
 * each micro-batch's objects and goes on with its next one while the warehouse applies this
 * one. Details: loader/SPEC.md §4.
 *
 * Invariants:
 *  - Micro-batches are applied one at a time, in offer order, each in its own transaction
 *    (`Loader.applyObjects`): a micro-batch is never split or merged.
 *  - At most `capacity` micro-batches wait; `offer` waits beyond that (the processor runs
 *    ahead of the warehouse by at most capacity + 1 micro-batches).
 *  - A failed apply is retried with the same objects after a backoff (`retry`), each failure
 *    logged; nothing is skipped, and later micro-batches wait behind it.
 *  - The processor checkpoints a micro-batch once offered, NOT loaded: `Loader.catchUp` (at
 *    start) applies what was waiting at a crash, and `verify` waits for the objects.
 */
import type { PgError, S3Error } from "@totes-cdc/platform"
import { Effect, Queue, type Schedule } from "effect"
import type { LoadReport, Loader, LoaderError, ObjectRef } from "./Loader.ts"

export interface LoaderQueue {
  /** Hands one micro-batch's objects to the loader; waits while `capacity` micro-batches already wait. */
  readonly offer: (objects: ReadonlyArray<ObjectRef>) => Effect.Effect<void>
  /** Applies what is offered, forever (run it as a fiber); fails only when `retry` gives up on a micro-batch. */
  readonly run: Effect.Effect<never, LoaderError | PgError | S3Error>
}

/**
 * A hand-off to `loader` holding at most `capacity` micro-batches (≥ 1). `onReport` is
 * called after each applied micro-batch (e.g. the status line's counters); `retry`
 * spaces the attempts of a failed apply (an endless schedule: `run` never fails).
 */
export const makeLoaderQueue = (
  loader: Loader,
  options: {
    readonly capacity: number
    readonly retry: Schedule.Schedule<unknown, unknown>
    readonly onReport: (report: LoadReport) => Effect.Effect<void>
  }
): Effect.Effect<LoaderQueue> =>
  Effect.gen(function* () {
    const queue = yield* Queue.bounded<ReadonlyArray<ObjectRef>>(Math.max(1, options.capacity))
    const applyOne = (objects: ReadonlyArray<ObjectRef>) =>
      loader.applyObjects(objects).pipe(
        Effect.tapError((error) => Effect.logWarning(`loading a micro-batch of ${objects.length} objects failed, retrying: ${error.message}`)),
        Effect.retry(options.retry),
        Effect.flatMap(options.onReport)
      )
    return {
      offer: (objects) => (objects.length === 0 ? Effect.void : Queue.offer(queue, objects).pipe(Effect.asVoid)),
      run: Queue.take(queue).pipe(Effect.flatMap(applyOne), Effect.forever)
    }
  })
