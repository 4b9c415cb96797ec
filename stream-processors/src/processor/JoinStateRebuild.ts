/**
 * Restoring the processor's join state (core's JoinState.ts) before `runProcessor`'s poller
 * starts: present → nothing; missing without processor checkpoints → a first start, the
 * empty state is stored; missing with checkpoints → LOST, rebuilt from the raw archive (not
 * the warehouse, which has lost the join keys). Procedure: stream-processors/SPEC.md §4.
 *
 * Invariants:
 *  - Checkpoints are moved back to the archiver's where the archive lags, BEFORE the state
 *    is stored: a crash in between rebuilds again; no partner change is missed.
 *  - The archive is folded with `transformBatch` itself, in (commitLsn, commitIdx) order;
 *    a line that is not a change record is skipped with a warning naming object and line.
 *  - Rebuilt `emitted` positions are raised to the newest position folded, so the next
 *    row of each id is applied by the loader.
 */
import {
  archiveLines,
  type ChangeRecord,
  comparePosition,
  emptyJoinState,
  encodeJoinState,
  isSnapshotChunkBytes,
  isSnapshotChunkKey,
  JOINED_SOURCE_TABLES,
  type JoinedSourceTable,
  type JoinState,
  type Position,
  transformBatch
} from "@totes-cdc/core"
import { Kinesis, type KinesisError, S3, type S3Error } from "@totes-cdc/platform"
import { Clock, Effect, Option, Result, Schema } from "effect"
import { DEFAULT_ARCHIVE_PREFIX } from "../archiver/ArchiveBuffer.ts"
import { ARCHIVER_CONSUMER } from "../archiver/Archiver.ts"
import { type Checkpoint, type CheckpointError, CheckpointStore } from "../consumer/CheckpointStore.ts"
import { kinesisReadRetrySchedule } from "../consumer/ShardPoller.ts"
import { decodeChangeBytes } from "./DecodeChange.ts"

/** Changes per `transformBatch` call when folding the archive (bounds the rows it builds and drops). */
export const REBUILD_CHUNK = 10_000

/** Archive objects read at once. */
const READ_CONCURRENCY = 4

const JOINED: ReadonlySet<string> = new Set(JOINED_SOURCE_TABLES)

// ---------------------------------------------------------------------------------------
// Pure.


/** A line of an archive object that is not a change record. `line`: 1-based. */
export interface SkippedLine {
  readonly line: number
  readonly error: string
}

/** What one archive object holds for the join state. */
export interface ArchiveObjectChanges {
  /** Changes of the 4 joined tables, in line order. */
  readonly joined: ReadonlyArray<ChangeRecord>
  /** Lines in the object. */
  readonly lines: number
  readonly skipped: ReadonlyArray<SkippedLine>
}

/**
 * Pure: decodes every line of an archive object (`decodeChangeBytes`) and keeps the changes
 * of the joined tables. A snapshot chunk's pointer line is passed over: a chunk never holds
 * the joined tables' rows (core's SnapshotChunk.ts).
 */
export const decodeArchiveObject = (body: Uint8Array): Effect.Effect<ArchiveObjectChanges> =>
  Effect.sync(() => {
    const lines = archiveLines(body)
    const joined: Array<ChangeRecord> = []
    const skipped: Array<SkippedLine> = []
    for (const [index, line] of lines.entries()) {
      if (isSnapshotChunkBytes(line)) continue
      const decoded = decodeChangeBytes(line)
      if (Result.isFailure(decoded)) skipped.push({ line: index + 1, error: decoded.failure })
      else if (JOINED.has(decoded.success.table)) joined.push(decoded.success)
    }
    return { joined, lines: lines.length, skipped }
  })

/** Pure: `state` with every `emitted` position below `floor` raised to it (step 5 of the module header). */
export const raiseEmitted = (state: JoinState, floor: Position): JoinState => {
  const raise = (emitted: Readonly<Record<string, Position>>) =>
    Object.fromEntries(
      Object.entries(emitted).map(([id, position]) => [
        id,
        comparePosition(position, floor) < 0 ? { commitLsn: floor.commitLsn, commitIdx: floor.commitIdx } : position
      ])
    )
  return { ...state, emitted: { dim_counterparty: raise(state.emitted.dim_counterparty), dim_staff: raise(state.emitted.dim_staff) } }
}

/** A join state folded from archived changes. */
export interface FoldedJoinState {
  readonly state: JoinState
  /** Changes the transform reported as problems (not applied, as live). */
  readonly problems: number
}

/**
 * Pure: the join state `changes` (any order, duplicates allowed) build from the empty
 * state: ordered by (commitLsn, commitIdx), stably, folded with `transformBatch` in
 * chunks of `chunk` changes, then `emitted` raised to the newest position (module header,
 * steps 4–5). Changes of other tables go through the transform too and change nothing.
 */
export const foldJoinState = (changes: ReadonlyArray<ChangeRecord>, chunk: number = REBUILD_CHUNK): FoldedJoinState => {
  const sorted = changes
    .map((change, index) => ({ change, index }))
    .sort((a, b) => comparePosition(a.change, b.change) || a.index - b.index)
    .map(({ change }) => change)
  let state = emptyJoinState
  let problems = 0
  for (let from = 0; from < sorted.length; from += chunk) {
    const result = transformBatch(state, sorted.slice(from, from + chunk))
    state = result.state
    problems += result.problems.length
  }
  const newest = sorted.at(-1)
  return { state: newest === undefined ? state : raiseEmitted(state, newest), problems }
}

/** Pure: the live rows (not tombstones) per joined table of `state`. */
export const rowsPerTable = (state: JoinState): Readonly<Record<JoinedSourceTable, number>> => {
  const count = (table: JoinedSourceTable) => Object.values(state[table].rows).filter((entry) => entry.row !== null).length
  return { address: count("address"), department: count("department"), counterparty: count("counterparty"), staff: count("staff") }
}

/** Both consumers' checkpoints on one shard. */
export interface ShardCheckpoints {
  readonly shardId: string
  readonly processor: Option.Option<Checkpoint>
  readonly archiver: Option.Option<Checkpoint>
}

/** A processor checkpoint moved back to the archiver's. */
export interface Rewind {
  readonly shardId: string
  readonly from: Checkpoint
  readonly to: Checkpoint
}

/** Kinesis sequence numbers are decimal integers, ordered within a shard; `null` (nothing read) is before all. */
const sequenceBefore = (a: string | null, b: string | null): boolean => b !== null && (a === null || BigInt(a) < BigInt(b))

/**
 * Pure: per shard, the processor checkpoint to store so that every record the archive may
 * not hold is handed to the processor again (module header, step 2): where the processor
 * read past the archiver's checkpoint, the archiver's checkpoint (not ended); where the
 * archiver has none, the shard's start (`sequenceNumber: null`). Shards where the
 * processor has no checkpoint, or is not ahead, are left out.
 */
export const rewinds = (shards: ReadonlyArray<ShardCheckpoints>): ReadonlyArray<Rewind> =>
  shards.flatMap(({ shardId, processor, archiver }) => {
    if (Option.isNone(processor)) return []
    const archived = Option.match(archiver, { onNone: () => null, onSome: (checkpoint) => checkpoint.sequenceNumber })
    if (!sequenceBefore(archived, processor.value.sequenceNumber)) return []
    return [{ shardId, from: processor.value, to: { sequenceNumber: archived, shardEnded: false } }]
  })

// ---------------------------------------------------------------------------------------
// I/O.

/** The archive changed under the rebuild (an object listed, then gone). */
export class JoinStateRebuildError extends Schema.TaggedError<JoinStateRebuildError>()("JoinStateRebuildError", {
  message: Schema.String
}) {}

/** Errors `restoreJoinState` fails with. */
export type RestoreJoinStateError = JoinStateRebuildError | S3Error | KinesisError | CheckpointError

/** Where the archive is, and whose checkpoints say how far it goes. */
export interface ArchiveLocation {
  /** The ingestion bucket. */
  readonly bucket: string
  /** Key prefix of the archive objects, ending in `/`. Default `raw/`. */
  readonly prefix?: string
  /** The archiver's consumer name (its checkpoints). Default `archiver`. */
  readonly consumer?: string
}

/** What `restoreJoinState` works on. */
export interface RestoreJoinStateConfig {
  /** The stream whose shards are checked. */
  readonly stream: string
  readonly stateBucket: string
  readonly stateKey: string
  /** The processor's consumer name (its checkpoints). */
  readonly consumer: string
  readonly archive: ArchiveLocation
}

/** What `restoreJoinState` did. Durations in ms. */
export type RestoreOutcome =
  | { readonly _tag: "Present" }
  | { readonly _tag: "FirstStart" }
  | {
      readonly _tag: "Rebuilt"
      readonly objects: number
      readonly lines: number
      readonly changes: number
      readonly skipped: number
      readonly problems: number
      readonly rows: Readonly<Record<JoinedSourceTable, number>>
      readonly rewound: ReadonlyArray<Rewind>
      readonly shards: number
      readonly ms: number
    }

const describeRewind = (rewind: Rewind) => `${rewind.shardId} ${rewind.from.sequenceNumber ?? "start"} → ${rewind.to.sequenceNumber ?? "start"}`

/**
 * Makes sure the join state object exists before the processor starts (module header):
 * present → untouched; missing on a first start → the empty state stored; missing after
 * the processor checkpointed → rebuilt from the archive, the processor's checkpoints moved
 * back where the archive lags, the state stored, one line logged. Run it only while no
 * processor consumes the stream (its checkpoints are moved). Fails with the S3, Kinesis
 * or checkpoint error that stopped it; nothing is stored then, so a retry starts over.
 */
export const restoreJoinState = Effect.fn("JoinStateRebuild.restore")(function* (config: RestoreJoinStateConfig) {
  const s3 = yield* S3
  const kinesis = yield* Kinesis
  const store = yield* CheckpointStore
  const started = yield* Clock.currentTimeMillis
  const where = `s3://${config.stateBucket}/${config.stateKey}`
  if (Option.isSome(yield* s3.getObject(config.stateBucket, config.stateKey))) return { _tag: "Present" } as RestoreOutcome

  // 1. Checkpoints, the archiver's before the archive is listed.
  const archiverConsumer = config.archive.consumer ?? ARCHIVER_CONSUMER
  const shards = yield* kinesis.listShards(config.stream).pipe(Effect.retry(kinesisReadRetrySchedule))
  const checkpoints: ReadonlyArray<ShardCheckpoints> = yield* Effect.forEach(shards, ({ shardId }) =>
    Effect.all({ processor: store.get(config.consumer, shardId), archiver: store.get(archiverConsumer, shardId) }).pipe(
      Effect.map((both) => ({ shardId, ...both }))
    )
  )
  if (checkpoints.every((shard) => Option.isNone(shard.processor))) {
    yield* s3.putObject(config.stateBucket, config.stateKey, encodeJoinState(emptyJoinState), "application/json")
    yield* Effect.logDebug(`no join state at ${where} and no checkpoint of ${config.consumer}: first start, stored the empty state`)
    return { _tag: "FirstStart" } as RestoreOutcome
  }
  yield* Effect.logWarning(`no join state at ${where}, but ${config.consumer} has checkpoints: the state was lost; rebuilding it from the archive`)

  // 2. Archive lag: move the processor's checkpoints back where the archiver is behind.
  const rewound = rewinds(checkpoints)
  yield* Effect.forEach(rewound, (rewind) => store.put(config.consumer, rewind.shardId, rewind.to), { discard: true })

  // 3. Every archive object, in key order.
  const prefix = config.archive.prefix ?? DEFAULT_ARCHIVE_PREFIX
  const archiveWhere = `s3://${config.archive.bucket}/${prefix}`
  // Snapshot chunks hold no joined table's row: not read.
  const listed = (yield* s3.listObjects(config.archive.bucket, prefix)).filter((object) => !isSnapshotChunkKey(object.key))
  const read = yield* Effect.forEach(
    listed,
    (object) =>
      Effect.gen(function* () {
        const body = yield* s3.getObject(config.archive.bucket, object.key)
        // Listed a moment ago, and the archive is append-only: gone now means someone deleted it.
        if (Option.isNone(body)) {
          return yield* new JoinStateRebuildError({
            message: `archive object s3://${config.archive.bucket}/${object.key} was listed but is gone; the archive is append-only: restore the object, then start the processor again`
          })
        }
        const decoded = yield* decodeArchiveObject(body.value)
        for (const skipped of decoded.skipped) {
          yield* Effect.logWarning(
            `s3://${config.archive.bucket}/${object.key} line ${skipped.line}: ${skipped.error}; skipped (the processor dead-lettered the same record from the stream)`
          )
        }
        return decoded
      }),
    { concurrency: READ_CONCURRENCY }
  )

  // 4–5. Fold.
  const joined = read.flatMap((object) => object.joined)
  const folded = foldJoinState(joined)

  // 6. Store, log.
  yield* s3.putObject(config.stateBucket, config.stateKey, encodeJoinState(folded.state), "application/json")
  const outcome: RestoreOutcome = {
    _tag: "Rebuilt",
    objects: listed.length,
    lines: read.reduce((sum, object) => sum + object.lines, 0),
    changes: joined.length,
    skipped: read.reduce((sum, object) => sum + object.skipped.length, 0),
    problems: folded.problems,
    rows: rowsPerTable(folded.state),
    rewound,
    shards: shards.length,
    ms: (yield* Clock.currentTimeMillis) - started
  }
  const rows = JOINED_SOURCE_TABLES.map((table) => `${table} ${outcome.rows[table]}`).join(", ")
  const moved = rewound.length === 0 ? "none" : rewound.map(describeRewind).join(", ")
  yield* Effect.logInfo(
    `rebuilt the join state at ${where} from ${archiveWhere}: ${outcome.objects} objects, ${outcome.lines} lines, ${outcome.changes} changes of the joined tables → rows ${rows}; lines skipped ${outcome.skipped}, problems ${outcome.problems}; processor checkpoints moved back to the archive's end on ${rewound.length} of ${shards.length} shards (${moved}); ${outcome.ms} ms`
  )
  return outcome
})

