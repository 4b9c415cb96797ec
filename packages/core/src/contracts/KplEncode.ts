/**
 * KPL aggregation for ONE shard (the aws-kinesis-agg format): many change records → few
 * Kinesis records, each de-aggregatable (KplDecode.ts, Firehose) back into the same user
 * records, in order. The writing half of the contract (framing: KplFormat.ts), bytes
 * IDENTICAL to aws-kinesis-agg's `RecordAggregator`. Details: packages/core/SPEC.md §6.
 *
 * Invariants:
 *  - Entries hold records of one shard, in input order; their user records, concatenated,
 *    give back the input.
 *  - Every entry's data + partition-key bytes ≤ `maxRecordBytes`, computed exactly and
 *    checked again on the built payload (a mismatch throws).
 *  - An entry is put with its first user record's hash key (explicit) and partition key.
 *  - A record that fits no aggregate, or whose key is array-index-like, is put plain when
 *    it fits Kinesis alone; else it is "oversize" (`classifyRecord`).
 */
import { hash } from "node:crypto"
import { AGGREGATE_OVERHEAD_BYTES, KPL_MAGIC as MAGIC, KPL_MAX_RECORD_BYTES } from "./KplFormat.ts"

/** One change, ready to route and aggregate: a user record before aggregation. */
export interface AggregateInput {
  /** The user record's data as text: the change record's JSON, sent as its UTF-8 bytes. */
  readonly json: string
  /** UTF-8 length of `json`: the record's data bytes. */
  readonly dataBytes: number
  readonly partitionKey: string
  /** UTF-8 length of `partitionKey`. */
  readonly partitionKeyBytes: number
  /** Kinesis hash key of `partitionKey` (MD5, 128-bit). */
  readonly hashKey: bigint
  /** Source changes the user record stands for (default 1; a snapshot chunk's pointer: its rows), for `ShardEntry.changes`. */
  readonly changes?: number
  /**
   * Put as a plain Kinesis record of its own, never aggregated (a snapshot chunk's pointer: a
   * consumer can then answer "processed up to here" between two of them).
   */
  readonly alone?: boolean
}

/** A Kinesis record as PutRecords takes it. */
export interface KinesisEntry {
  readonly data: Uint8Array
  readonly partitionKey: string
  readonly explicitHashKey?: string
}

/** A Kinesis record to put on one shard: an aggregate of `changes` user records, or one plain record. */
export interface ShardEntry {
  readonly shardId: string
  readonly entry: KinesisEntry
  /** Source changes inside: its user records, each counting its `AggregateInput.changes`. */
  readonly changes: number
  /** data + partition key bytes: what counts against the per-record and per-call limits. */
  readonly bytes: number
  readonly aggregated: boolean
}

/** Bytes of a protobuf varint holding `n` (n ≥ 0). */
export const varintBytes = (n: number): number => {
  if (n < 0x80) return 1
  if (n < 0x4000) return 2
  if (n < 0x200000) return 3
  let bytes = 4
  n = Math.floor(n / 0x200000)
  while (n >= 128) {
    n = Math.floor(n / 128)
    bytes += 1
  }
  return bytes
}

/** Writes `n` (0 ≤ n < 2^31) as a protobuf varint at `at`; answers the offset after it. */
const writeVarint = (out: Buffer, at: number, n: number): number => {
  while (n >= 0x80) {
    out[at++] = (n & 0x7f) | 0x80
    n >>>= 7
  }
  out[at++] = n
  return at
}

/** Bytes of the protobuf `Record` (without its field tag and length) for a record at key index `index`. */
const innerBytes = (dataBytes: number, index: number): number => 1 + varintBytes(index) + 1 + varintBytes(dataBytes) + dataBytes

/** Protobuf bytes that adding `record` (with partition-key index `index`, new or not) adds to an aggregate. */
const addedBytes = (record: AggregateInput, index: number, newKey: boolean): number => {
  const keyEntry = newKey ? 1 + varintBytes(record.partitionKeyBytes) + record.partitionKeyBytes : 0
  const inner = innerBytes(record.dataBytes, index)
  return keyEntry + 1 + varintBytes(inner) + inner
}

/**
 * aws-kinesis-agg's estimate of the same (`calculateRecordSize`): the partition key's
 * JavaScript string length instead of its UTF-8 length, and the index of an existing key
 * counted as the table's size when that index is 0. `RecordAggregator` refuses a record
 * once the sum of these estimates would pass `LIBRARY_PAYLOAD_LIMIT`.
 */
const libraryEstimate = (record: AggregateInput, known: number | undefined, count: number): number => {
  const keyLength = record.partitionKey.length
  const keyEntry = known === undefined ? 1 + varintBytes(keyLength) + keyLength : 0
  const inner = innerBytes(record.dataBytes, known === undefined || known === 0 ? count : known)
  return keyEntry + 1 + varintBytes(inner) + inner
}

/** aws-kinesis-agg's limit on the summed estimates: 1 MiB − 16 (MD5) − 4 (magic). */
const LIBRARY_PAYLOAD_LIMIT = KPL_MAX_RECORD_BYTES - AGGREGATE_OVERHEAD_BYTES

const INDEX_LIKE = /^(0|[1-9][0-9]*)$/

/** Whether `key` is array-index-like (a digit first, then the full check). */
const isIndexLike = (key: string): boolean => {
  const first = key.charCodeAt(0)
  return first >= 48 && first <= 57 && INDEX_LIKE.test(key)
}

/** Where a record can go: in an aggregate, as a plain record, or nowhere (dead letter). */
export const classifyRecord = (record: AggregateInput, maxRecordBytes: number): "aggregate" | "plain" | "oversize" => {
  const limit = Math.min(maxRecordBytes, KPL_MAX_RECORD_BYTES)
  const alone = AGGREGATE_OVERHEAD_BYTES + addedBytes(record, 0, true) + record.partitionKeyBytes
  if (alone <= limit && !isIndexLike(record.partitionKey)) return "aggregate"
  return record.dataBytes + record.partitionKeyBytes <= maxRecordBytes ? "plain" : "oversize"
}

/** The UTF-8 bytes of a record's data. */
export const dataOf = (record: AggregateInput): Uint8Array => Buffer.from(record.json, "utf8")

/** Builds one shard's aggregates, one at a time, within `limit` bytes each. */
class ShardAggregate {
  /** Partition key → index in the key table, in first-use order. */
  private readonly keys = new Map<string, number>()
  private records: Array<AggregateInput> = []
  private indexes: Array<number> = []
  private protobufBytes = 0
  private estimate = 0

  private readonly shardId: string
  private readonly limit: number

  constructor(shardId: string, limit: number) {
    this.shardId = shardId
    this.limit = limit
  }

  get isEmpty(): boolean {
    return this.records.length === 0
  }

  /** Adds `record` if the aggregate stays within the limit (and within aws-kinesis-agg's); answers whether it did. */
  tryAdd(record: AggregateInput): boolean {
    const known = this.keys.get(record.partitionKey)
    const index = known ?? this.keys.size
    const added = addedBytes(record, index, known === undefined)
    const firstKeyBytes = (this.records[0] ?? record).partitionKeyBytes
    if (AGGREGATE_OVERHEAD_BYTES + this.protobufBytes + added + firstKeyBytes > this.limit) return false
    const estimate = libraryEstimate(record, known, this.keys.size)
    if (this.estimate + estimate > LIBRARY_PAYLOAD_LIMIT) return false
    if (known === undefined) this.keys.set(record.partitionKey, index)
    this.records.push(record)
    this.indexes.push(index)
    this.protobufBytes += added
    this.estimate += estimate
    return true
  }

  /** The aggregate as an entry (magic, protobuf, MD5 in one buffer); resets for the next one. */
  build(): ShardEntry {
    const first = this.records[0]
    if (first === undefined) throw new Error("ShardAggregate.build on an empty aggregate")
    const size = AGGREGATE_OVERHEAD_BYTES + this.protobufBytes
    const out = Buffer.allocUnsafe(size)
    out.set(MAGIC, 0)
    let at = MAGIC.length
    for (const key of this.keys.keys()) {
      out[at++] = 0x0a // partition_key_table, length-delimited
      at = writeVarint(out, at, Buffer.byteLength(key, "utf8"))
      at += out.write(key, at, "utf8")
    }
    for (let i = 0; i < this.records.length; i++) {
      const record = this.records[i]!
      const index = this.indexes[i]!
      out[at++] = 0x1a // records, length-delimited
      at = writeVarint(out, at, innerBytes(record.dataBytes, index))
      out[at++] = 0x08 // partition_key_index, varint
      at = writeVarint(out, at, index)
      out[at++] = 0x1a // data, length-delimited
      at = writeVarint(out, at, record.dataBytes)
      const written = out.write(record.json, at, "utf8")
      if (written !== record.dataBytes) throw new Error(`user record ${record.partitionKey}: ${written} bytes written, ${record.dataBytes} expected`)
      at += written
    }
    if (at + 16 !== size) throw new Error(`aggregate size mismatch: wrote ${at + 16} bytes, computed ${size}`)
    out.set(hash("md5", out.subarray(MAGIC.length, at), "buffer"), at)
    const bytes = size + first.partitionKeyBytes
    if (bytes > this.limit) throw new Error(`aggregate of ${bytes} bytes exceeds its limit of ${this.limit}`)
    const entry: ShardEntry = {
      shardId: this.shardId,
      entry: { data: out, partitionKey: first.partitionKey, explicitHashKey: first.hashKey.toString() },
      changes: this.records.reduce((sum, record) => sum + (record.changes ?? 1), 0),
      bytes,
      aggregated: true
    }
    this.keys.clear()
    this.records = []
    this.indexes = []
    this.protobufBytes = 0
    this.estimate = 0
    return entry
  }
}

/** A record that fits no aggregate, as a plain Kinesis record on its shard. */
const plainEntry = (shardId: string, record: AggregateInput): ShardEntry => ({
  shardId,
  entry: { data: dataOf(record), partitionKey: record.partitionKey, explicitHashKey: record.hashKey.toString() },
  changes: record.changes ?? 1,
  bytes: record.dataBytes + record.partitionKeyBytes,
  aggregated: false
})

/**
 * Aggregates one shard's records, in order, into entries of at most `maxRecordBytes`
 * (capped at aws-kinesis-agg's 1 MiB); a record marked `alone` is a plain entry between them.
 * Every record must be classified "aggregate" or "plain" by `classifyRecord` (oversize ones
 * throw: they belong in the dead letters).
 */
export const aggregateShard = (shardId: string, records: ReadonlyArray<AggregateInput>, maxRecordBytes: number): Array<ShardEntry> => {
  const limit = Math.min(maxRecordBytes, KPL_MAX_RECORD_BYTES)
  const entries: Array<ShardEntry> = []
  const current = new ShardAggregate(shardId, limit)
  for (const record of records) {
    const kind = classifyRecord(record, maxRecordBytes)
    if (kind === "oversize") throw new Error(`record ${record.partitionKey} is too large for Kinesis; dead-letter it instead`)
    const aggregate = kind === "aggregate" && record.alone !== true
    if (aggregate && current.tryAdd(record)) continue
    if (!current.isEmpty) entries.push(current.build())
    if (aggregate && current.tryAdd(record)) continue
    entries.push(plainEntry(shardId, record))
  }
  if (!current.isEmpty) entries.push(current.build())
  return entries
}
