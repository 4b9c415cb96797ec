/**
 * Snapshot chunks (a claim check, DESIGN.md §6 amended by cdc-reader/SPEC.md "Snapshots"): the rows
 * of an initial snapshot travel as objects in the ingestion bucket's raw archive, not as
 * Kinesis records; the stream carries one small pointer record per object in their place.
 * A snapshot then costs one S3 PUT and GET per chunk instead of three Kinesis crossings per
 * row, and is no longer bound by a shard's 1 MiB/s.
 *
 * Invariants:
 *  - A chunk object is archive NDJSON: one change record (`encodeChangeRecord`) per line,
 *    each ending in `\n`, all of ONE table outside the joined source tables (their changes
 *    keep to their one shard: ChangeRecord.ts `JOINED_PARTITION_KEY`), all at the snapshot's
 *    `commitLsn`, with consecutive `commitIdx` from `firstCommitIdx` to `lastCommitIdx`.
 *  - It lives in the raw archive's layout (`<rawPrefix>YYYY/MM/DD/HH/…`, the snapshot's
 *    start hour), so everything that reads the archive (replay, recordings, the join
 *    state's rebuild) reads its rows as lines like any other; the pointer lines the archive
 *    also holds (Firehose archives the stream) are skipped there, never counted as bad lines.
 *  - The object is stored before its pointer is put: a pointer names an object that exists.
 *    `bytes` and `sha256` are the object's own; a reader of the chunk checks both.
 *  - A pointer's JSON starts with `SNAPSHOT_CHUNK_PREFIX`, which no change record does
 *    (theirs starts with `{"v":`), so a consumer tells them apart from the first bytes.
 */
import { Result, Schema } from "effect"
import { createHash } from "node:crypto"
import { archiveLines } from "../ByteLines.ts"
import { LsnString } from "../Lsn.ts"
import { hashKeyOf } from "../Sharding.ts"
import { type ChangeRecord, encodeChangeRecord, partitionKeyOf } from "./ChangeRecord.ts"
import type { AggregateInput } from "./KplEncode.ts"

/** The pointer record: where a chunk is and what it holds. Sizes in bytes. */
export const SnapshotChunk = Schema.Struct({
  snapshotChunk: Schema.Struct({
    v: Schema.Literal(1),
    bucket: Schema.String,
    key: Schema.String,
    table: Schema.String,
    /** Lines (change records) in the object. */
    records: Schema.Int,
    /** The object's size, bytes. */
    bytes: Schema.Int,
    /** SHA-256 of the object, lower-case hex. */
    sha256: Schema.String,
    commitLsn: LsnString,
    /** The snapshot's start, ISO-8601 UTC (its rows' `commitTs`). */
    commitTs: Schema.String,
    firstCommitIdx: Schema.Int,
    lastCommitIdx: Schema.Int
  })
})
export type SnapshotChunk = typeof SnapshotChunk.Type

/** What every pointer's JSON starts with (and no change record's). */
export const SNAPSHOT_CHUNK_PREFIX = '{"snapshotChunk":'

const PREFIX_BYTES = new TextEncoder().encode(SNAPSHOT_CHUNK_PREFIX)

/** The name part every chunk object's key carries (after its hour folder), to tell chunks from Firehose's objects by key. */
export const SNAPSHOT_CHUNK_NAME = "totes-cdc-snapshot-"

const decodeChunk = Schema.decodeUnknownResult(Schema.fromJsonString(SnapshotChunk))

/** Pure: the pointer's JSON text (the stream record's data and, archived, its line). */
export const encodeSnapshotChunk = (chunk: SnapshotChunk): string => JSON.stringify(chunk)

/** Pure: whether `bytes` start like a pointer (`SNAPSHOT_CHUNK_PREFIX`): decide with `decodeSnapshotChunk`. */
export const isSnapshotChunkBytes = (bytes: Uint8Array): boolean => {
  if (bytes.byteLength < PREFIX_BYTES.byteLength) return false
  for (let i = 0; i < PREFIX_BYTES.byteLength; i++) if (bytes[i] !== PREFIX_BYTES[i]) return false
  return true
}

/**
 * Pure: `bytes` as a pointer — undefined when they do not start like one (a change record),
 * a one-line reason when they do but are not a valid pointer.
 */
export const decodeSnapshotChunk = (bytes: Uint8Array): Result.Result<SnapshotChunk, string> | undefined => {
  if (!isSnapshotChunkBytes(bytes)) return undefined
  const decoded = decodeChunk(new TextDecoder().decode(bytes))
  return Result.isFailure(decoded)
    ? Result.fail(`not a snapshot chunk pointer: ${(decoded.failure.message.split("\n")[0] ?? "").trim()}`)
    : Result.succeed(decoded.success)
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0")

/**
 * Pure: the key of chunk `n` (from 0) of `table` in the snapshot of `slot` at `commitLsn`
 * started at `startedAt`: `<rawPrefix>YYYY/MM/DD/HH/totes-cdc-snapshot-<slot>-<LSN as
 * HIGH-LOW>-<table>-<n, 6 digits>.ndjson` — the archive's hour layout, a function of the
 * snapshot and the chunk, so a chunk written again (a retried PUT) replaces itself.
 */
export const snapshotChunkKey = (rawPrefix: string, startedAt: Date, slot: string, commitLsn: string, table: string, n: number): string => {
  const hour = `${pad(startedAt.getUTCFullYear(), 4)}/${pad(startedAt.getUTCMonth() + 1)}/${pad(startedAt.getUTCDate())}/${pad(startedAt.getUTCHours())}`
  return `${rawPrefix}${hour}/${SNAPSHOT_CHUNK_NAME}${slot}-${commitLsn.replace("/", "-")}-${table}-${pad(n, 6)}.ndjson`
}

/**
 * Pure: the Kinesis partition key of a chunk's pointer: `<table>:chunk:<first index>`. A
 * chunk's rows are all of one table outside the joined ones, so any shard will do: pointers
 * spread over the shards.
 */
export const snapshotChunkPartitionKey = (pointer: SnapshotChunk): string => `${pointer.snapshotChunk.table}:chunk:${pointer.snapshotChunk.firstCommitIdx}`

/** Pure: whether a record put on the stream is a chunk's pointer rather than a change. */
export const isSnapshotChunk = (record: ChangeRecord | SnapshotChunk): record is SnapshotChunk => "snapshotChunk" in record

/**
 * Pure: a change, or a chunk's pointer, as a user record ready to route and aggregate
 * (`AggregateInput`, KplEncode.ts): its JSON and that text's UTF-8 length (bytes), its
 * partition key (`partitionKeyOf`; a pointer's `snapshotChunkPartitionKey`) with its length
 * and MD5 hash key. A pointer stands for its chunk's rows and is put alone. One rule for the
 * reader's producer (ProducerPlan.ts) and the test kit's `putChanges`.
 */
export const userRecordOf = (record: ChangeRecord | SnapshotChunk): AggregateInput => {
  const chunk = isSnapshotChunk(record)
  const json = chunk ? encodeSnapshotChunk(record) : encodeChangeRecord(record)
  const partitionKey = chunk ? snapshotChunkPartitionKey(record) : partitionKeyOf(record)
  return {
    json,
    dataBytes: Buffer.byteLength(json, "utf8"),
    partitionKey,
    partitionKeyBytes: Buffer.byteLength(partitionKey, "utf8"),
    hashKey: hashKeyOf(partitionKey),
    ...(chunk ? { changes: record.snapshotChunk.records, alone: true } : {})
  }
}

/** Pure: whether `key` names a chunk object (`snapshotChunkKey`'s name part). */
export const isSnapshotChunkKey = (key: string): boolean => key.slice(key.lastIndexOf("/") + 1).startsWith(SNAPSHOT_CHUNK_NAME)

/**
 * Pure: a chunk of `records` (one table's snapshot rows, in commit order, at least one) to
 * be stored at `bucket`/`key`: its body (NDJSON) and its pointer. Throws a RangeError on an
 * empty chunk or records of different tables or LSNs (a defect of the caller).
 */
export const makeSnapshotChunk = (bucket: string, key: string, records: ReadonlyArray<ChangeRecord>): { readonly body: Uint8Array; readonly pointer: SnapshotChunk } => {
  const first = records[0]
  const last = records.at(-1)
  if (first === undefined || last === undefined) throw new RangeError("a snapshot chunk holds at least one record")
  if (records.some((r) => r.table !== first.table || r.commitLsn !== first.commitLsn)) throw new RangeError("a snapshot chunk holds one table's records at one LSN")
  let text = ""
  for (const record of records) text += `${encodeChangeRecord(record)}\n`
  const body = new TextEncoder().encode(text)
  return {
    body,
    pointer: {
      snapshotChunk: {
        v: 1,
        bucket,
        key,
        table: first.table,
        records: records.length,
        bytes: body.byteLength,
        sha256: createHash("sha256").update(body).digest("hex"),
        commitLsn: first.commitLsn,
        commitTs: first.commitTs,
        firstCommitIdx: first.commitIdx,
        lastCommitIdx: last.commitIdx
      }
    }
  }
}

/**
 * Pure: the lines of a chunk object read back for `pointer`, each a change record's bytes
 * (views into `body`), or a one-line reason why the object is not the chunk the pointer
 * names (size, checksum or line count differ).
 */
export const chunkLines = (pointer: SnapshotChunk, body: Uint8Array): Result.Result<ReadonlyArray<Uint8Array>, string> => {
  const { bucket, key, bytes, sha256, records } = pointer.snapshotChunk
  const where = `snapshot chunk s3://${bucket}/${key}`
  if (body.byteLength !== bytes) return Result.fail(`${where} holds ${body.byteLength} bytes, its pointer says ${bytes}`)
  const actual = createHash("sha256").update(body).digest("hex")
  if (actual !== sha256) return Result.fail(`${where} has SHA-256 ${actual}, its pointer says ${sha256}`)
  const lines = archiveLines(body)
  if (body.at(-1) !== 0x0a || lines.length !== records) return Result.fail(`${where} holds ${lines.length} lines, its pointer says ${records}`)
  return Result.succeed(lines)
}
