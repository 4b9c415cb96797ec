/**
 * A consumer's checkpoint writes, coalesced: as a KCL worker checkpoints on a timer rather
 * than per record, the poller `record`s each shard's newest checkpoint when a page is
 * answered, and the newest one of each shard not written yet is written by the next `flush`
 * (the poller flushes every `intervalMs`, and when it stops). At 1,000 changes/s the processor
 * answers ~12 micro-batches per second: one checkpoint put per shard each time was a quarter
 * of the local stack's S3 puts.
 *
 * Invariants:
 *  - Writes go one at a time (a semaphore), and a flush writes each shard's newest recorded
 *    checkpoint: a shard's stored checkpoint never moves back.
 *  - A checkpoint that ends its shard is written when recorded (the shard's children wait
 *    for it); with `intervalMs` 0 every checkpoint is.
 *  - Only answered pages are recorded (the poller's rule), so a stored checkpoint never claims
 *    an unprocessed record; a crash loses at most the answers of the last `intervalMs`, whose
 *    pages are handed over again on restart (at-least-once, stream-processors/SPEC.md §1).
 */
import type { S3Error } from "@totes-cdc/platform"
import { Effect, Semaphore } from "effect"
import type { Checkpoint, CheckpointStore } from "./CheckpointStore.ts"

export interface CheckpointWriter {
  /** Notes `checkpoint` as `shardId`'s newest; writes it now when it ends the shard or the interval is 0. Fails with S3Error (a write). */
  readonly record: (shardId: string, checkpoint: Checkpoint) => Effect.Effect<void, S3Error>
  /** Writes every shard's newest checkpoint not written yet. Fails with S3Error; what it did not write stays recorded. */
  readonly flush: Effect.Effect<void, S3Error>
}

/** A writer of `consumer`'s checkpoints to `store`, coalescing over `intervalMs` (module header). */
export const makeCheckpointWriter = (
  store: CheckpointStore["Service"],
  consumer: string,
  intervalMs: number
): Effect.Effect<CheckpointWriter> =>
  Effect.gen(function* () {
    const lock = yield* Semaphore.make(1)
    const pending = new Map<string, Checkpoint>()
    const flush = lock.withPermit(
      Effect.suspend(() =>
        Effect.forEach(
          [...pending],
          ([shardId, checkpoint]) =>
            // Taken off once written, unless a newer one was recorded meanwhile; a failed write leaves it for the next flush.
            store.put(consumer, shardId, checkpoint).pipe(Effect.tap(() => Effect.sync(() => pending.get(shardId) === checkpoint && pending.delete(shardId)))),
          { concurrency: "unbounded", discard: true }
        )
      )
    )
    const record = (shardId: string, checkpoint: Checkpoint) =>
      Effect.suspend(() => {
        pending.set(shardId, checkpoint)
        return checkpoint.shardEnded || intervalMs <= 0 ? flush : Effect.void
      })
    return { record, flush }
  })
