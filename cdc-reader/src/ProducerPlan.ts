/**
 * Pure planning for the Kinesis producer: items → byte-bounded micro-batches → per-shard
 * lanes of aggregates → PutRecords calls. No I/O; `KinesisProducer.ts` runs the plan.
 * Details: cdc-reader/SPEC.md §3.
 *
 * Invariants:
 *  - Order: batches, lanes and calls keep input order; the lanes partition the batch's
 *    non-dead-lettered changes by shard.
 *  - A `Durable` marker rides with the micro-batch holding the last change before it (or a
 *    batch of its own): reported as soon as, never before, every change before it is written.
 *  - A micro-batch's change bytes (JSON + partition key) stay ≤ `maxBatchBytes`, except a
 *    single larger change, which is a batch by itself.
 *  - A round takes ≤ ONE entry per shard; a call holds ≤ `maxPutRecords` entries and
 *    ≤ `maxPutBytes` bytes, or one entry when that entry alone is larger.
 */
import {
  type AggregateInput,
  aggregateShard,
  type ChangeRecord,
  classifyRecord,
  isSnapshotChunk,
  type NoShardForHashKey,
  type ShardEntry,
  type ShardRange,
  shardFor,
  type SnapshotChunk,
  userRecordOf
} from "@totes-cdc/core"
import { Result } from "effect"

/** What a source (the decoder, the poll reader) produces, in source order: changes and markers. */
export type SourceItem =
  | { readonly _tag: "Change"; readonly record: ChangeRecord }
  /**
   * Every Change before this marker in the stream must be durable before `lsn` is
   * reported (e.g. a transaction's commit end LSN, a snapshot's end).
   */
  | { readonly _tag: "Durable"; readonly lsn: string }

/** What flows into the producer, in source order: a source's items, and a snapshot's chunk pointers. */
export type ProducerItem =
  | SourceItem
  /** A snapshot chunk's pointer (core's SnapshotChunk.ts), its object already stored: sent as one record. */
  | { readonly _tag: "Chunk"; readonly pointer: SnapshotChunk }

/** A change (or a chunk's pointer) encoded once: its JSON text and byte length, partition key and hash key. */
export interface PreparedChange extends AggregateInput {
  readonly record: ChangeRecord | SnapshotChunk
}

/** A group of items, bounded in bytes, written as one unit. */
export interface MicroBatch {
  /** In input order. */
  readonly changes: ReadonlyArray<PreparedChange>
  /** Sum of the changes' JSON + partition-key bytes. */
  readonly bytes: number
  /** LSN of the last `Durable` marker in this batch, reported once the batch is written. */
  readonly durableLsn: string | undefined
}

/** What writing one micro-batch takes. */
export interface BatchPlan {
  /** Changes too large for Kinesis, in input order. */
  readonly deadLetters: ReadonlyArray<PreparedChange>
  /** One lane per shard: that shard's entries in input order. */
  readonly lanes: ReadonlyArray<ReadonlyArray<ShardEntry>>
}

/**
 * Encodes a change (or a chunk's pointer) once (`userRecordOf`): the JSON is turned into
 * bytes only where it is sent, inside its aggregate's buffer (`aggregateShard`).
 */
export const prepareChange = (record: ChangeRecord | SnapshotChunk): PreparedChange => ({ record, ...userRecordOf(record) })

/**
 * Splits a group of items (in order) into micro-batches of at most `maxBatchBytes`
 * change bytes each, encoding every change once. A group of only markers gives one
 * batch without changes (its marker can be reported at once).
 */
export const splitIntoBatches = (items: ReadonlyArray<ProducerItem>, maxBatchBytes: number): Array<MicroBatch> => {
  const batches: Array<MicroBatch> = []
  let changes: Array<PreparedChange> = []
  let bytes = 0
  let durableLsn: string | undefined
  for (const item of items) {
    if (item._tag === "Durable") {
      durableLsn = item.lsn
      continue
    }
    const change = prepareChange(item._tag === "Change" ? item.record : item.pointer)
    const size = change.dataBytes + change.partitionKeyBytes
    if (changes.length > 0 && bytes + size > maxBatchBytes) {
      batches.push({ changes, bytes, durableLsn })
      changes = []
      bytes = 0
      durableLsn = undefined
    }
    changes.push(change)
    bytes += size
  }
  if (changes.length > 0 || durableLsn !== undefined) batches.push({ changes, bytes, durableLsn })
  return batches
}

/**
 * Routes a batch's changes to shards and aggregates each shard's changes, or parks
 * them as dead letters when they are too large for one Kinesis record. Fails with
 * `NoShardForHashKey` when `shards` has no open shard for a change's hash key.
 */
export const planBatch = (
  batch: MicroBatch,
  shards: ReadonlyArray<ShardRange>,
  maxRecordBytes: number
): Result.Result<BatchPlan, NoShardForHashKey> => {
  const deadLetters: Array<PreparedChange> = []
  const byShard = new Map<string, Array<PreparedChange>>()
  for (const change of batch.changes) {
    if (classifyRecord(change, maxRecordBytes) === "oversize") {
      deadLetters.push(change)
      continue
    }
    const shard = shardFor(change.hashKey, shards)
    if (Result.isFailure(shard)) return Result.fail(shard.failure)
    const lane = byShard.get(shard.success.shardId)
    if (lane === undefined) byShard.set(shard.success.shardId, [change])
    else lane.push(change)
  }
  const lanes = [...byShard].map(([shardId, records]) => aggregateShard(shardId, records, maxRecordBytes))
  return Result.succeed({ deadLetters, lanes })
}

/** Round `r` of the lanes: the r-th entry of every lane that has one (at most one per shard). */
export const roundOf = (lanes: ReadonlyArray<ReadonlyArray<ShardEntry>>, r: number): Array<ShardEntry> =>
  lanes.flatMap((lane) => (r < lane.length ? [lane[r]!] : []))

/** How many rounds the lanes take: the longest lane's length. */
export const roundCount = (lanes: ReadonlyArray<ReadonlyArray<ShardEntry>>): number =>
  lanes.reduce((most, lane) => Math.max(most, lane.length), 0)

/**
 * Packs entries (in order) into PutRecords calls of at most `maxPutRecords` entries and
 * `maxPutBytes` bytes (data + partition keys). An entry larger than `maxPutBytes` goes
 * in a call of its own.
 */
export const packCalls = <T extends { readonly bytes: number }>(
  entries: ReadonlyArray<T>,
  maxPutRecords: number,
  maxPutBytes: number
): Array<Array<T>> => {
  const calls: Array<Array<T>> = []
  let call: Array<T> = []
  let bytes = 0
  for (const entry of entries) {
    if (call.length > 0 && (call.length >= maxPutRecords || bytes + entry.bytes > maxPutBytes)) {
      calls.push(call)
      call = []
      bytes = 0
    }
    call.push(entry)
    bytes += entry.bytes
  }
  if (call.length > 0) calls.push(call)
  return calls
}

/** Where a change sits in the source, for dead letters and logs: `table {key} at commitLsn#commitIdx` (a chunk: `table chunk s3://… at commitLsn#first-last`). */
export const positionOf = (record: ChangeRecord | SnapshotChunk): string => {
  if (!isSnapshotChunk(record)) return `${record.table} ${JSON.stringify(record.key)} at ${record.commitLsn}#${record.commitIdx}`
  const c = record.snapshotChunk
  return `${c.table} chunk s3://${c.bucket}/${c.key} at ${c.commitLsn}#${c.firstCommitIdx}-${c.lastCommitIdx}`
}

/**
 * Pure: the date a parked change's letter is filed under: its commit time (a snapshot row's
 * or chunk's is the snapshot's), so a restarted reader parking it again overwrites the same letter.
 */
export const filedAtOf = (record: ChangeRecord | SnapshotChunk): Date => new Date(isSnapshotChunk(record) ? record.snapshotChunk.commitTs : record.commitTs)
