/**
 * De-aggregation of KPL records (pure): aggregates built here with aws-kinesis-agg's own
 * RecordAggregator, as the cdc-reader builds them.
 */
import { describe, expect, it } from "@effect/vitest"
import { RecordAggregator } from "aws-kinesis-agg"
import { Result } from "effect"
import { deaggregate, type KinesisBatchRecord } from "../src/index.ts"

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8")

const kinesisRecord = (data: Uint8Array, partitionKey: string, sequenceNumber = "49650000000000000000000000000000000000000000000000000002"): KinesisBatchRecord => ({
  shardId: "shardId-000000000001",
  sequenceNumber,
  partitionKey,
  data
})

const aggregate = (users: ReadonlyArray<{ partitionKey: string; data: string }>) => {
  const aggregator = new RecordAggregator()
  for (const user of users) aggregator.addUserRecord({ partitionKey: user.partitionKey, data: user.data })
  const built = aggregator.build()
  if (built === undefined) throw new Error("nothing aggregated")
  return built
}

describe("deaggregate", () => {
  it("splits a KPL aggregate into its user records, in order, with their partition keys, bytes and sub-sequence numbers", () => {
    const users = [
      { partitionKey: "sales_order:1", data: JSON.stringify({ n: 1, s: "ünïcødé €" }) },
      { partitionKey: "payment:7", data: JSON.stringify({ n: 2 }) },
      { partitionKey: "sales_order:1", data: JSON.stringify({ n: 3, pad: "x".repeat(5000) }) }
    ]
    const built = aggregate(users)
    const out = Result.getOrThrow(deaggregate(kinesisRecord(new Uint8Array(built.data), built.partitionKey)))
    expect(out.map((u) => ({ partitionKey: u.partitionKey, data: text(u.data) }))).toEqual(users)
    expect(out.map((u) => u.subSequenceNumber)).toEqual([0, 1, 2])
    expect(out.every((u) => u.aggregated && u.sequenceNumber === "49650000000000000000000000000000000000000000000000000002")).toBe(true)
    expect(out[0]!.data).toBeInstanceOf(Uint8Array)
  })

  it("gives a plain (non-aggregated) record back as its only user record, sub-sequence 0", () => {
    const data = new TextEncoder().encode(`{"plain":true}`)
    const out = Result.getOrThrow(deaggregate(kinesisRecord(data, "design:3", "7")))
    expect(out).toEqual([{ partitionKey: "design:3", data: new Uint8Array(data), sequenceNumber: "7", subSequenceNumber: 0, aggregated: false }])
  })

  it("answers a DeaggregationError naming the shard and sequence number for an aggregate with a bad checksum", () => {
    const built = aggregate([{ partitionKey: "k", data: "hello" }])
    const corrupt = new Uint8Array(built.data)
    corrupt[corrupt.length - 1] = corrupt[corrupt.length - 1]! ^ 0xff
    const out = deaggregate(kinesisRecord(corrupt, "k", "42"))
    expect(Result.isFailure(out)).toBe(true)
    const error = Result.isFailure(out) ? out.failure : undefined
    expect(error).toMatchObject({ _tag: "DeaggregationError", shardId: "shardId-000000000001", sequenceNumber: "42" })
    expect(error?.message).toContain("shardId-000000000001/42")
    expect(error?.message).toContain("checksum")
  })

  it("answers a DeaggregationError, never a throw, for magic bytes followed by garbage", () => {
    const garbage = new Uint8Array([0xf3, 0x89, 0x9a, 0xc2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21])
    const out = deaggregate(kinesisRecord(garbage, "k", "43"))
    expect(Result.isFailure(out)).toBe(true)
  })
})

describe("deaggregate, the same bytes read by two consumers (dev's archiver and processor)", () => {
  it("decodes an aggregate's bytes once: the second reading shares the first's views, each with its own record's fields", () => {
    const built = aggregate([{ partitionKey: "sales_order:1", data: "one" }, { partitionKey: "payment:2", data: "two" }])
    const data = new Uint8Array(built.data)
    const first = Result.getOrThrow(deaggregate(kinesisRecord(data, built.partitionKey, "5")))
    const second = Result.getOrThrow(deaggregate({ ...kinesisRecord(data, built.partitionKey, "5"), shardId: "shardId-000000000002" }))
    expect(second.map((u) => u.data)).toEqual(first.map((u) => u.data))
    second.forEach((user, i) => expect(user.data).toBe(first[i]!.data))
    expect(second.map((u) => text(u.data))).toEqual(["one", "two"])
  })

  it("names each record in the error of a malformed aggregate read twice", () => {
    const built = aggregate([{ partitionKey: "k", data: "hello" }])
    const corrupt = new Uint8Array(built.data)
    corrupt[corrupt.length - 1] = corrupt[corrupt.length - 1]! ^ 0xff
    const first = deaggregate(kinesisRecord(corrupt, "k", "42"))
    const second = deaggregate({ ...kinesisRecord(corrupt, "k", "42"), shardId: "shardId-000000000009" })
    expect(Result.isFailure(first) && first.failure.shardId).toBe("shardId-000000000001")
    expect(Result.isFailure(second) && second.failure.message).toContain("shardId-000000000009/42")
  })
})
