import { describe, expect, it } from "@effect/vitest"
import { Result } from "effect"
import { type ChangeRecord, decodeChangeRecord, encodeChangeRecord, snapshotRecord } from "../../src/contracts/ChangeRecord.ts"
import {
  chunkLines,
  decodeSnapshotChunk,
  encodeSnapshotChunk,
  isSnapshotChunkBytes,
  isSnapshotChunk,
  isSnapshotChunkKey,
  makeSnapshotChunk,
  snapshotChunkKey,
  userRecordOf
} from "../../src/contracts/SnapshotChunk.ts"
import { createHash } from "node:crypto"
import { Effect } from "effect"

const bytes = (s: string) => new TextEncoder().encode(s)
const at = { commitLsn: "1A/2B3C", commitIdx: 0 }
const row = (id: number): ChangeRecord =>
  snapshotRecord("sales_order", { sales_order_id: String(id), units_sold: "10", agreed_delivery_date: "2024-02-23" }, { ...at, commitIdx: 5 + id }, "2024-02-23T10:00:00.000Z")
const records = [row(1), row(2), row(3)]

describe("snapshotChunkKey", () => {
  it("files a chunk in the raw archive's hour folder of the snapshot's start, named by slot, LSN, table and number", () => {
    const key = snapshotChunkKey("raw/", new Date("2024-02-23T09:59:59.999Z"), "totes_cdc", "1A/2B3C", "sales_order", 12)
    expect(key).toBe("raw/2024/02/23/09/totes-cdc-snapshot-totes_cdc-1A-2B3C-sales_order-000012.ndjson")
    expect(isSnapshotChunkKey(key)).toBe(true)
    expect(isSnapshotChunkKey("raw/2024/02/23/09/totes-cdc-changes-1-2024-02-23-09-59-59-uuid")).toBe(false)
  })
})

describe("makeSnapshotChunk / chunkLines", () => {
  it("stores the records as archive NDJSON and points at them with their count, size, SHA-256 and positions", () => {
    const { body, pointer } = makeSnapshotChunk("ingestion", "raw/k.ndjson", records)
    const text = new TextDecoder().decode(body)
    expect(text).toBe(records.map((r) => `${encodeChangeRecord(r)}\n`).join(""))
    expect(pointer.snapshotChunk).toMatchObject({ v: 1, bucket: "ingestion", key: "raw/k.ndjson", table: "sales_order", records: 3, bytes: body.byteLength, commitLsn: "1A/2B3C", firstCommitIdx: 6, lastCommitIdx: 8 })
    const lines = chunkLines(pointer, body)
    expect(Result.isSuccess(lines) && lines.success.map((line) => Effect.runSync(decodeChangeRecord(new TextDecoder().decode(line))))).toEqual(records)
  })

  it("refuses an object that is not the one the pointer names: size, checksum or line count", () => {
    const { body, pointer } = makeSnapshotChunk("ingestion", "raw/k.ndjson", records)
    const shorter = body.subarray(0, body.byteLength - 1)
    expect(chunkLines(pointer, shorter)).toEqual(Result.fail(`snapshot chunk s3://ingestion/raw/k.ndjson holds ${shorter.byteLength} bytes, its pointer says ${body.byteLength}`))
    const flipped = Uint8Array.from(body)
    flipped[10] = flipped[10]! ^ 1
    const changed = chunkLines(pointer, flipped)
    expect(Result.isFailure(changed) && changed.failure).toMatch(/^snapshot chunk s3:\/\/ingestion\/raw\/k\.ndjson has SHA-256 [0-9a-f]{64}, its pointer says [0-9a-f]{64}$/)
    const twoLines = makeSnapshotChunk("ingestion", "raw/k.ndjson", records.slice(0, 2))
    const miscounted = { snapshotChunk: { ...twoLines.pointer.snapshotChunk, records: 3 } }
    expect(chunkLines(miscounted, twoLines.body)).toEqual(Result.fail("snapshot chunk s3://ingestion/raw/k.ndjson holds 2 lines, its pointer says 3"))
  })

  it("refuses to make an empty chunk or one mixing tables", () => {
    expect(() => makeSnapshotChunk("b", "k", [])).toThrow(RangeError)
    const payment = snapshotRecord("payment", { payment_id: "1" }, at, "2024-02-23T10:00:00.000Z")
    expect(() => makeSnapshotChunk("b", "k", [records[0]!, payment])).toThrow(RangeError)
  })
})

describe("decodeSnapshotChunk", () => {
  it("tells a pointer from a change record by its first bytes, and decodes it", () => {
    const { pointer } = makeSnapshotChunk("ingestion", "raw/k.ndjson", records)
    const encoded = bytes(encodeSnapshotChunk(pointer))
    expect(isSnapshotChunkBytes(encoded)).toBe(true)
    expect(decodeSnapshotChunk(encoded)).toEqual(Result.succeed(pointer))
    const change = bytes(encodeChangeRecord(records[0]!))
    expect(isSnapshotChunkBytes(change)).toBe(false)
    expect(decodeSnapshotChunk(change)).toBeUndefined()
  })

  it("answers a one-line reason for bytes that start like a pointer but are not one", () => {
    const decoded = decodeSnapshotChunk(bytes('{"snapshotChunk":{"v":1,"bucket":"b"}}'))
    expect(decoded !== undefined && Result.isFailure(decoded) && decoded.failure).toMatch(/^not a snapshot chunk pointer: [^\n]+$/)
    const broken = decodeSnapshotChunk(bytes('{"snapshotChunk":'))
    expect(broken !== undefined && Result.isFailure(broken)).toBe(true)
  })
})

describe("userRecordOf", () => {
  const md5 = (text: string) => BigInt(`0x${createHash("md5").update(text).digest("hex")}`)

  it("a change: its JSON and UTF-8 length, `table:key` as partition key with its MD5 hash key, aggregated", () => {
    const change = snapshotRecord("design", { design_id: "7", design_name: "Ünïcode" }, at, "2024-02-23T10:00:00.000Z")
    const input = userRecordOf(change)
    expect(isSnapshotChunk(change)).toBe(false)
    expect(input.json).toBe(encodeChangeRecord(change))
    expect(input.dataBytes).toBe(bytes(input.json).byteLength)
    expect(input.dataBytes).toBeGreaterThan(input.json.length)
    expect(input.partitionKey).toBe("design:7")
    expect(input.partitionKeyBytes).toBe(8)
    expect(input.hashKey).toBe(md5("design:7"))
    expect(input.alone).toBeUndefined()
    expect(input.changes).toBeUndefined()
  })

  it("a chunk's pointer: its JSON, `<table>:chunk:<first index>` as partition key, put alone, standing for its rows", () => {
    const { pointer } = makeSnapshotChunk("ingestion", "raw/k.ndjson", records)
    const input = userRecordOf(pointer)
    expect(isSnapshotChunk(pointer)).toBe(true)
    expect(input.json).toBe(encodeSnapshotChunk(pointer))
    expect(input.partitionKey).toBe("sales_order:chunk:6")
    expect(input.hashKey).toBe(md5("sales_order:chunk:6"))
    expect(input).toMatchObject({ alone: true, changes: 3 })
  })
})
