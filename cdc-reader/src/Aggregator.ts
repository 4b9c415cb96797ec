/**
 * KPL aggregation for ONE shard (the aws-kinesis-agg format, "KPL aggregated record"):
 * many change records → few Kinesis records, each de-aggregatable by Firehose, Lambda
 * or our poller (`deaggregateSync`) back into the same user records, each with its own
 * partition key, in order.
 *
 * Invariants:
 *  - Every entry holds records of one shard only, in their input order; entries come out
 *    in input order, so concatenating the entries' user records gives back the input.
 *  - Every entry's Kinesis size — data bytes + UTF-8 bytes of its partition key, what
 *    AWS counts against the 1 MiB record limit — is ≤ `maxRecordBytes`.
 *    The size of an aggregate is computed EXACTLY here from UTF-8 byte lengths, not with
 *    the library's own estimate (it counts JavaScript string length for partition keys,
 *    which undercounts non-ASCII keys) and checked again on the built payload.
 *  - An entry is put with ExplicitHashKey = its first user record's hash key (a hash key
 *    inside the shard's range, so Kinesis stores it on that shard) and PartitionKey = its
 *    first user record's partition key.
 *  - A record that fits no aggregate but fits Kinesis on its own (data + key ≤ limit) is
 *    put as a plain (non-aggregated) record; `deaggregateSync` passes those through.
 *    Records that fit neither are not accepted here (`classifyRecord` says "oversize").
 *
 * aws-kinesis-agg quirk: its partition-key table is a plain object whose keys come back
 * through `Object.keys`, which lists array-index-like keys ("2", "10") first in numeric
 * order — user records with such keys would be de-aggregated with the WRONG key. Change
 * record keys always contain ":" (`partitionKeyOf`), so they are never index-like; any
 * such key is rejected here rather than silently mis-keyed.
 */
import type { PutEntry } from "@totes-cdc/platform"
import { RecordAggregator } from "aws-kinesis-agg"

/** The KPL format's magic number (4 bytes) before the protobuf and its MD5 (16 bytes) after. */
export const AGGREGATE_OVERHEAD_BYTES = 4 + 16

/** aws-kinesis-agg's own ceiling for an aggregate: 1 MiB (Kinesis' classic record limit). */
export const KPL_MAX_RECORD_BYTES = 1024 * 1024

/** One change, ready to route and aggregate. */
export interface UserRecord {
  /** The change record's JSON, UTF-8. */
  readonly data: Uint8Array
  readonly partitionKey: string
  /** UTF-8 length of `partitionKey`. */
  readonly partitionKeyBytes: number
  /** Kinesis hash key of `partitionKey` (MD5, 128-bit). */
  readonly hashKey: bigint
}

/** A Kinesis record to put on one shard: an aggregate of `changes` user records, or one plain record. */
export interface ShardEntry {
  readonly shardId: string
  readonly entry: PutEntry
  /** User records inside. */
  readonly changes: number
  /** data + partition key bytes: what counts against the per-record and per-call limits. */
  readonly bytes: number
  readonly aggregated: boolean
}

/** Bytes of a protobuf varint holding `n` (n ≥ 0). */
export const varintBytes = (n: number): number => {
  let bytes = 1
  while (n >= 128) {
    n = Math.floor(n / 128)
    bytes += 1
  }
  return bytes
}

/** Protobuf bytes that adding `record` (with partition-key index `index`, new or not) adds to an aggregate. */
const addedBytes = (record: UserRecord, index: number, newKey: boolean): number => {
  const keyEntry = newKey ? 1 + varintBytes(record.partitionKeyBytes) + record.partitionKeyBytes : 0
  const length = record.data.byteLength
  const inner = 1 + varintBytes(index) + 1 + varintBytes(length) + length
  return keyEntry + 1 + varintBytes(inner) + inner
}

const INDEX_LIKE = /^(0|[1-9][0-9]*)$/

/** Where a record can go: in an aggregate, as a plain record, or nowhere (dead letter). */
export const classifyRecord = (record: UserRecord, maxRecordBytes: number): "aggregate" | "plain" | "oversize" => {
  const limit = Math.min(maxRecordBytes, KPL_MAX_RECORD_BYTES)
  const alone = AGGREGATE_OVERHEAD_BYTES + addedBytes(record, 0, true) + record.partitionKeyBytes
  if (alone <= limit && !INDEX_LIKE.test(record.partitionKey)) return "aggregate"
  return record.data.byteLength + record.partitionKeyBytes <= maxRecordBytes ? "plain" : "oversize"
}

/** Builds one shard's aggregates, one at a time, within `limit` bytes each. */
class ShardAggregate {
  private readonly aggregator = new RecordAggregator()
  private readonly keys = new Map<string, number>()
  private protobufBytes = 0
  private first: UserRecord | undefined
  private count = 0

  private readonly shardId: string
  private readonly limit: number

  constructor(shardId: string, limit: number) {
    this.shardId = shardId
    this.limit = limit
  }

  get isEmpty(): boolean {
    return this.count === 0
  }

  /** Adds `record` if the aggregate stays within the limit; answers whether it did. */
  tryAdd(record: UserRecord): boolean {
    const known = this.keys.get(record.partitionKey)
    const added = addedBytes(record, known ?? this.keys.size, known === undefined)
    const firstKeyBytes = (this.first ?? record).partitionKeyBytes
    const input = { partitionKey: record.partitionKey, data: Buffer.from(record.data.buffer, record.data.byteOffset, record.data.byteLength) }
    if (AGGREGATE_OVERHEAD_BYTES + this.protobufBytes + added + firstKeyBytes > this.limit) return false
    if (!this.aggregator.checkIfUserRecordFits(input)) return false
    this.aggregator.addUserRecord(input)
    if (known === undefined) this.keys.set(record.partitionKey, this.keys.size)
    this.protobufBytes += added
    this.first ??= record
    this.count += 1
    return true
  }

  /** The aggregate as an entry; resets for the next one. */
  build(): ShardEntry {
    const first = this.first
    const built = this.aggregator.build()
    if (first === undefined || built === undefined) throw new Error("ShardAggregate.build on an empty aggregate")
    const bytes = built.data.byteLength + first.partitionKeyBytes
    if (built.data.byteLength !== AGGREGATE_OVERHEAD_BYTES + this.protobufBytes || bytes > this.limit) {
      throw new Error(
        `aggregate size mismatch: built ${built.data.byteLength} bytes, computed ${AGGREGATE_OVERHEAD_BYTES + this.protobufBytes}, limit ${this.limit}`
      )
    }
    const entry: ShardEntry = {
      shardId: this.shardId,
      entry: { data: built.data, partitionKey: first.partitionKey, explicitHashKey: first.hashKey.toString() },
      changes: this.count,
      bytes,
      aggregated: true
    }
    this.keys.clear()
    this.protobufBytes = 0
    this.first = undefined
    this.count = 0
    return entry
  }
}

/** A record that fits no aggregate, as a plain Kinesis record on its shard. */
const plainEntry = (shardId: string, record: UserRecord): ShardEntry => ({
  shardId,
  entry: { data: record.data, partitionKey: record.partitionKey, explicitHashKey: record.hashKey.toString() },
  changes: 1,
  bytes: record.data.byteLength + record.partitionKeyBytes,
  aggregated: false
})

/**
 * Aggregates one shard's records, in order, into entries of at most `maxRecordBytes`
 * (capped at aws-kinesis-agg's 1 MiB). Every record must be classified "aggregate" or
 * "plain" by `classifyRecord` (oversize ones throw: they belong in the dead letters).
 */
export const aggregateShard = (shardId: string, records: ReadonlyArray<UserRecord>, maxRecordBytes: number): Array<ShardEntry> => {
  const limit = Math.min(maxRecordBytes, KPL_MAX_RECORD_BYTES)
  const entries: Array<ShardEntry> = []
  const current = new ShardAggregate(shardId, limit)
  for (const record of records) {
    const kind = classifyRecord(record, maxRecordBytes)
    if (kind === "oversize") throw new Error(`record ${record.partitionKey} is too large for Kinesis; dead-letter it instead`)
    if (kind === "aggregate" && current.tryAdd(record)) continue
    if (!current.isEmpty) entries.push(current.build())
    if (kind === "aggregate" && current.tryAdd(record)) continue
    entries.push(plainEntry(shardId, record))
  }
  if (!current.isEmpty) entries.push(current.build())
  return entries
}
