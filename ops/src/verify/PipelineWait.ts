/**
 * `totes-cdc verify --wait-for-lsn` (I/O): polls the pipeline every `POLL_INTERVAL`, for at
 * most the timeout, until it has applied every change committed before a WAL position
 * (`PipelineProgress.ts`: 0 snapshot, a slot, b processor per shard, c applied objects).
 * It reads all three apps' state, so it sits on the ops floor. Details: ops/SPEC.md §3.
 *
 * Invariants:
 *  - Conditions are checked in pipeline order, each until it passes, never again after.
 *  - (b) reads the first record after the processor's checkpoint, never moving it.
 *  - (c) is checked whenever a processed bucket is given — `dev` included: its processor
 *    checkpoints a micro-batch once offered to the in-process loader, not once loaded
 *    (loader/src/LoaderQueue.ts). It lists the bucket's manifests afresh at every poll and
 *    waits for the micro-batches holding a change at or before the target: one written
 *    after an earlier listing is not missed, and later ones (a live pipeline) are not waited for.
 *  - On timeout, the unmet condition of the last poll is the one line of the
 *    `PipelineWaitTimeout`; any other failure ends the wait at once.
 */
import { loadReaderState, slotStatus } from "@totes-cdc/cdc-reader"
import { compareLsn, decodeSnapshotChunk, type MicroBatchManifest } from "@totes-cdc/core"
import { Kinesis, type PgSession } from "@totes-cdc/platform"
import { CheckpointStore, deaggregate, decodeChangeBytes, PROCESSOR_CONSUMER } from "@totes-cdc/stream-processors"
import { Data, Effect, Option, Result, Schedule, Schema } from "effect"
import { unappliedBatchObjects } from "./AppliedObjects.ts"
import { describeUnmet, effectiveTarget, type ShardObservation, shardPassed, slotPassed, type Unmet } from "./PipelineProgress.ts"

/** Pause between two polls. */
export const POLL_INTERVAL = "200 millis"

/** Empty GetRecords pages followed per shard per poll before the shard counts as still behind. */
const MAX_EMPTY_PAGES = 20

/** The reader the wait watches (conditions 0 and a): the source's session, its slot and its state. */
export interface ReaderWatch {
  readonly source: PgSession
  /** Replication slot of the reader, e.g. `totes_cdc`. */
  readonly slot: string
  /** Where the reader records its snapshot (`state/cdc-reader/<slot>.json` in the ingestion bucket). */
  readonly readerState: { readonly bucket: string; readonly prefix: string }
}

export interface PipelineWaitConfig {
  readonly streamName: string
  /** Processed bucket: every micro-batch in it holding a change at or before the target must be applied (condition c), in `dev` too. */
  readonly processedBucket: string
  /** Target schema of the warehouse (applied objects are recorded per schema). */
  readonly schema: string
  readonly timeoutMs: number
}

/** The pipeline did not pass the position in time; `message` names the condition and the component. */
export class PipelineWaitTimeout extends Schema.TaggedError<PipelineWaitTimeout>()("PipelineWaitTimeout", {
  message: Schema.String
}) {}

class NotYet extends Data.TaggedError("NotYet")<{ readonly unmet: Unmet }> {}

/** What follows the processor's checkpoint in `shardId` (`ShardObservation`). */
const observeShard = (stream: string, shardId: string) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const checkpoint = yield* (yield* CheckpointStore).get(PROCESSOR_CONSUMER, shardId)
    if (Option.isSome(checkpoint) && checkpoint.value.shardEnded) return { shardId, _tag: "Ended" } as const
    const after = Option.isSome(checkpoint) ? checkpoint.value.sequenceNumber : null
    let iterator = yield* kinesis.getShardIterator(stream, shardId, after === null ? {} : { afterSequenceNumber: after })
    for (let page = 0; page < MAX_EMPTY_PAGES; page++) {
      const { records, nextIterator, millisBehindLatest } = yield* kinesis.getRecords(iterator, 1)
      const first = records[0]
      if (first !== undefined) {
        const undecodable: ShardObservation = { shardId, _tag: "Undecodable", sequenceNumber: first.sequenceNumber }
        const users = deaggregate({ shardId, ...first })
        const user = Result.isSuccess(users) ? users.success[0] : undefined
        if (user === undefined) return undecodable
        // A snapshot chunk's pointer stands for its rows, all at one position.
        const chunk = decodeSnapshotChunk(user.data)
        if (chunk !== undefined) return Result.isSuccess(chunk) ? ({ shardId, _tag: "Next", commitLsn: chunk.success.snapshotChunk.commitLsn } as const) : undecodable
        const change = decodeChangeBytes(user.data)
        return Result.isSuccess(change) ? ({ shardId, _tag: "Next", commitLsn: change.success.commitLsn } as const) : undecodable
      }
      if (nextIterator === undefined || (millisBehindLatest ?? 0) === 0) return { shardId, _tag: "CaughtUp" } as const
      iterator = nextIterator
    }
    return { shardId, _tag: "Undecodable", sequenceNumber: `(not reached after ${MAX_EMPTY_PAGES} empty pages)` } as const
  })

/**
 * Waits until the pipeline has applied every change committed before `target` (an LSN),
 * reading the reader's slot and state (`reader`) and applied objects on `warehouse`. Without
 * a reader (a replayed recording: no slot) conditions 0 and (a) are skipped and the
 * consumers must pass `target` itself. Fails with `PipelineWaitTimeout` after
 * `settings.timeoutMs`, or with the first error of a call.
 */
export const waitForPipeline = (settings: PipelineWaitConfig, reader: ReaderWatch | undefined, warehouse: PgSession, target: string) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    let slotDone = false
    // Set once the reader's snapshot is complete (condition 0).
    let goal: string | undefined
    const passedShards = new Set<string>()
    let shardsDone = false
    const manifests = new Map<string, MicroBatchManifest>()

    /** Condition 0: the target once the reader's snapshot is complete. */
    const snapshotGoal = ({ source, slot, readerState }: ReaderWatch) =>
      Effect.gen(function* () {
        // A missing slot says more (is the reader running?) than a missing snapshot record.
        const status = yield* slotStatus(source, slot)
        if (!status.exists) return yield* new NotYet({ unmet: { _tag: "Slot", slot: { slot, exists: false, confirmedFlushLsn: null } } })
        const state = yield* loadReaderState(readerState, slot)
        const snapshot =
          state === undefined
            ? ({ _tag: "Missing" } as const)
            : state.snapshot.status === "complete"
              ? ({ _tag: "Complete", consistentPoint: state.snapshot.consistentPoint } as const)
              : ({ _tag: "InProgress" } as const)
        const reached = effectiveTarget(target, snapshot)
        if (reached === undefined) return yield* new NotYet({ unmet: { _tag: "Snapshot", slot, snapshot } })
        return reached
      })

    const poll = Effect.gen(function* () {
      goal ??= reader === undefined ? target : yield* snapshotGoal(reader)
      if (!slotDone && reader !== undefined) {
        const status = yield* slotStatus(reader.source, reader.slot)
        const slot = { slot: reader.slot, exists: status.exists, confirmedFlushLsn: status.confirmedFlushLsn ?? null }
        if (!slotPassed(goal, slot)) return yield* new NotYet({ unmet: { _tag: "Slot", slot } })
        slotDone = true
      }
      if (!shardsDone) {
        for (const { shardId } of yield* kinesis.listShards(settings.streamName)) {
          if (passedShards.has(shardId)) continue
          const shard = yield* observeShard(settings.streamName, shardId)
          if (!shardPassed(goal, shard)) return yield* new NotYet({ unmet: { _tag: "Shard", shard } })
          passedShards.add(shardId)
        }
        shardsDone = true
      }
      const reached = goal
      const pending = yield* unappliedBatchObjects(warehouse, settings.schema, settings.processedBucket, (manifest) => compareLsn(manifest.firstCommitLsn, reached) <= 0, manifests)
      if (pending.length > 0) return yield* new NotYet({ unmet: { _tag: "Objects", pending } })
    })

    yield* poll.pipe(
      Effect.retry({
        schedule: Schedule.spaced(POLL_INTERVAL).pipe(Schedule.upTo({ duration: `${settings.timeoutMs} millis` })),
        while: (error) => error._tag === "NotYet"
      }),
      Effect.catchTag("NotYet", ({ unmet }) =>
        Effect.fail(new PipelineWaitTimeout({ message: describeUnmet(target, unmet, Math.round(settings.timeoutMs / 1000)) }))
      )
    )
  })
