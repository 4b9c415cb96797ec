/**
 * The KPL aggregate contract (contracts/KplEncode.ts writes, KplDecode.ts reads): the
 * writer's bytes against aws-kinesis-agg's RecordAggregator (the reference
 * implementation), and every aggregate read back — by the library's `deaggregateSync` and by
 * our reader — as the records that went in, in order. The reader's own edge cases against
 * the library are stream-processors/test/KplAggregate.test.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import { deaggregateSync, RecordAggregator } from "aws-kinesis-agg"
import { Result } from "effect"
import { createHash } from "node:crypto"
import { type AggregateInput, aggregateShard, classifyRecord, decodeKplAggregate, varintBytes } from "../../src/index.ts"

/** Kinesis' hash of a partition key, computed here independently: MD5 as a 128-bit integer. */
const md5HashKey = (partitionKey: string) => BigInt(`0x${createHash("md5").update(partitionKey, "utf8").digest("hex")}`)

/** What aws-kinesis-agg reads from an aggregate (it throws on a malformed one). */
const deaggregate = (data: Uint8Array, partitionKey: string, sequenceNumber: string) => {
  let users: Array<{ partitionKey: string; json: string }> = []
  let failure: Error | undefined
  deaggregateSync({ partitionKey, sequenceNumber, data: Buffer.from(data).toString("base64") }, true, (error, records) => {
    if (error) failure = error
    else users = (records ?? []).map((r) => ({ partitionKey: r.partitionKey, json: Buffer.from(r.data, "base64").toString("utf8") }))
  })
  if (failure !== undefined) throw failure
  return users
}

/** What our reader reads from an aggregate. */
const decode = (data: Uint8Array) =>
  Result.getOrThrow(decodeKplAggregate(data)).map((u) => ({ partitionKey: u.partitionKey, json: Buffer.from(u.data).toString("utf8") }))

const userRecord = (partitionKey: string, bytes: number): AggregateInput => ({
  json: "y".repeat(bytes),
  dataBytes: bytes,
  partitionKey,
  partitionKeyBytes: Buffer.byteLength(partitionKey, "utf8"),
  hashKey: md5HashKey(partitionKey)
})

describe("KPL aggregate: writer and reader", () => {
  it("sizes protobuf varints at every 7-bit boundary", () => {
    const sizes = [0, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455, 268_435_456, 2 ** 35 - 1, 2 ** 35].map(varintBytes)
    expect(sizes).toEqual([1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6])
  })

  it("builds exactly the bytes aws-kinesis-agg's RecordAggregator builds, cut where it would cut, and de-aggregates to the input", () => {
    // Repeated keys (the library's size estimate counts an existing key at index 0 as a new
    // index), non-ASCII keys and data, enough to fill several 1 MiB aggregates.
    const records = Array.from({ length: 30_000 }, (_, i) => {
      const key = i % 3 !== 1 ? "payment:1" : i % 2 === 0 ? `design:${i % 999}` : `désign_é:${i % 999}€`
      const json = JSON.stringify({ i, name: "Zoë ", pad: "x".repeat(40 + (i % 80)) })
      return { json, dataBytes: Buffer.byteLength(json), partitionKey: key, partitionKeyBytes: Buffer.byteLength(key), hashKey: md5HashKey(key) }
    })
    const limit = 1024 * 1024
    const entries = aggregateShard("shardId-000000000000", records, limit)
    expect(entries.length).toBeGreaterThanOrEqual(3)
    let next = 0
    for (const [n, e] of entries.entries()) {
      const users = records.slice(next, next + e.changes)
      next += e.changes
      // The library, given the same user records, builds the same bytes …
      const library = new RecordAggregator()
      for (const user of users) library.addUserRecord({ partitionKey: user.partitionKey, data: Buffer.from(user.json) })
      const built = library.build()
      expect(Buffer.from(e.entry.data).equals(built!.data)).toBe(true)
      expect(e.entry.partitionKey).toBe(built!.partitionKey)
      // … and would not have taken the next record either (by its own estimate or the exact 1 MiB limit).
      const following = records[next]
      if (n < entries.length - 1 && following !== undefined) {
        for (const user of users) library.addUserRecord({ partitionKey: user.partitionKey, data: Buffer.from(user.json) })
        const refits = library.checkIfUserRecordFits({ partitionKey: following.partitionKey, data: Buffer.from(following.json) })
        if (refits) {
          library.addUserRecord({ partitionKey: following.partitionKey, data: Buffer.from(following.json) })
          const bigger = library.build()!
          expect(bigger.data.byteLength + Buffer.byteLength(bigger.partitionKey)).toBeGreaterThan(limit)
        }
      }
      expect(deaggregate(e.entry.data, e.entry.partitionKey, String(n)).map((u) => [u.partitionKey, u.json])).toEqual(
        users.map((u) => [u.partitionKey, u.json])
      )
      expect(decode(e.entry.data)).toEqual(users.map((u) => ({ partitionKey: u.partitionKey, json: u.json })))
    }
    expect(next).toBe(records.length)
  })

  it("keeps every aggregate within maxRecordBytes counting UTF-8 key bytes, and de-aggregates to the input in order", () => {
    // Non-ASCII keys: aws-kinesis-agg's own estimate counts string length, not bytes.
    const records = Array.from({ length: 300 }, (_, i) => userRecord(`tâblé_é:${i % 37}€`, 50 + (i % 90)))
    const entries = aggregateShard("shardId-000000000000", records, 4096)
    expect(entries.length).toBeGreaterThan(5)
    expect(entries.length).toBeLessThan(records.length / 5)
    const back = entries.flatMap((e) => {
      expect(e.entry.data.byteLength + Buffer.byteLength(e.entry.partitionKey, "utf8")).toBeLessThanOrEqual(4096)
      expect(e.bytes).toBe(e.entry.data.byteLength + Buffer.byteLength(e.entry.partitionKey, "utf8"))
      return deaggregate(e.entry.data, e.entry.partitionKey, "1")
    })
    expect(back.map((u) => u.partitionKey)).toEqual(records.map((r) => r.partitionKey))
    expect(back.map((u) => u.json)).toEqual(records.map((r) => r.json))
    // ExplicitHashKey = the first user record's hash key; PartitionKey = its key.
    expect(entries[0]!.entry.explicitHashKey).toBe(md5HashKey(records[0]!.partitionKey).toString())
    expect(entries[0]!.entry.partitionKey).toBe(records[0]!.partitionKey)
  })

  it("puts a record that fits Kinesis but no aggregate as a plain record, and dead-letters only what fits neither", () => {
    const limit = 1000
    const key = "t:1" // 3 bytes
    expect(classifyRecord(userRecord(key, 900), limit)).toBe("aggregate")
    expect(classifyRecord(userRecord(key, 990), limit)).toBe("plain") // 990 + 3 ≤ 1000, but + 20 bytes of KPL framing > 1000
    expect(classifyRecord(userRecord(key, 998), limit)).toBe("oversize") // 998 + 3 > 1000
    const entries = aggregateShard("s", [userRecord(key, 10), userRecord(key, 990), userRecord(key, 10)], limit)
    expect(entries.map((e) => [e.aggregated, e.changes])).toEqual([
      [true, 1],
      [false, 1],
      [true, 1]
    ])
    expect(Buffer.from(entries[1]!.entry.data).toString()).toBe("y".repeat(990))
    // Index-like partition keys would be mis-keyed by aws-kinesis-agg's Object.keys table: never aggregated.
    expect(classifyRecord(userRecord("10", 5), limit)).toBe("plain")
  })

  it("counts the source changes a user record stands for in its entry, and puts a record marked alone (a chunk's pointer) as a plain record between aggregates", () => {
    const weighted = (bytes: number, rows: number): AggregateInput => ({ ...userRecord("t:w", bytes), changes: rows })
    const pointer = (rows: number): AggregateInput => ({ ...userRecord("t:chunk", 10), changes: rows, alone: true })
    const entries = aggregateShard("s", [userRecord("t:1", 10), weighted(10, 3), pointer(5_000), pointer(7), userRecord("t:2", 10), weighted(990, 4)], 1000)
    expect(entries.map((e) => [e.aggregated, e.changes])).toEqual([
      [true, 1 + 3],
      [false, 5_000],
      [false, 7],
      [true, 1],
      [false, 4]
    ])
  })

})
