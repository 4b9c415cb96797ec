/**
 * Fuzzing the KPL de-aggregator (contracts/KplDecode.ts, issue 16) with fast-check (random
 * seed; a failure prints its seed and shrunk counterexample). KplAggregate.test.ts here and
 * in stream-processors compare it with aws-kinesis-agg on random bytes and single-byte
 * corruptions; this file drives the protobuf parser deeper, with protobufs generated from
 * the format's grammar (tables, records, tags, unknown fields of every wire type, nested
 * groups) and the contract writer's aggregates damaged several ways, each sealed with a
 * fresh MD5 so the parser, not the checksum, meets the damage.
 *
 * Properties:
 *  - round trip: whatever `aggregateShard` writes, `decodeKplAggregate` reads back as the
 *    user records put in, in order;
 *  - any input: never a throw, a run bounded in time; a failure is one line, and a protobuf
 *    failure names byte offsets inside the protobuf (between the magic number and the MD5);
 *  - whatever it accepts, aws-kinesis-agg accepts with the same keys, data and order, and
 *    every user record's data is a view inside the input.
 */
import { deaggregateSync } from "aws-kinesis-agg"
import { Result } from "effect"
import fc from "fast-check"
import { byteMutations, mutateBytes } from "@totes-cdc/core/testing"
import { createHash } from "node:crypto"
import { describe, expect, it } from "vitest"
import { type AggregateInput, aggregateShard, decodeKplAggregate, KPL_MAGIC } from "../../src/index.ts"

const md5 = (bytes: Uint8Array) => createHash("md5").update(bytes).digest()

/** Magic number + protobuf + MD5 of the protobuf: a correctly sealed aggregate around any bytes. */
const seal = (protobuf: Uint8Array): Uint8Array => Buffer.concat([KPL_MAGIC, protobuf, md5(protobuf)])

/** The protobuf between the magic number and the MD5 of an aggregate. */
const protobufOf = (aggregate: Uint8Array) => aggregate.subarray(4, aggregate.length - 16)

/** A view at an odd offset inside a larger buffer, as Kinesis records arrive (the decoder must respect views). */
const asView = (bytes: Uint8Array): Uint8Array => {
  const backing = new Uint8Array(bytes.length + 14).fill(0xee)
  backing.set(bytes, 7)
  return backing.subarray(7, 7 + bytes.length)
}

/** aws-kinesis-agg's reading (any error reported is a failure). */
const library = (data: Uint8Array) => {
  let failure: Error | undefined
  let users: Array<{ partitionKey: string; data: Buffer }> = []
  deaggregateSync({ partitionKey: "pk", sequenceNumber: "1", data: Buffer.from(data).toString("base64") }, true, (error, records) => {
    if (error) failure ??= error
    else users = (records ?? []).map((u) => ({ partitionKey: u.partitionKey, data: Buffer.from(u.data, "base64") }))
  })
  return failure === undefined ? { ok: true as const, users } : { ok: false as const, reason: failure.message }
}

/** The reasons that are about the framing, not the protobuf (they name no byte offset). */
const FRAMING = /^(it does not start with the KPL magic number|\d+ bytes are too few for|checksum mismatch: )/

/**
 * `decodeKplAggregate` on `bytes`, checked against the contract: no throw, bounded time, a
 * one-line reason naming offsets inside the protobuf, views inside the input, and agreement
 * with aws-kinesis-agg whenever it accepts.
 */
const checked = (bytes: Uint8Array) => {
  const view = asView(bytes)
  const started = performance.now()
  const result = decodeKplAggregate(view) // must not throw
  expect(performance.now() - started).toBeLessThan(500)
  if (Result.isFailure(result)) {
    const reason = result.failure
    expect(reason).not.toContain("\n")
    if (!FRAMING.test(reason)) {
      const offsets = [...reason.matchAll(/\bbyte (\d+)/g)].map((m) => Number(m[1]))
      expect(offsets.length, reason).toBeGreaterThan(0)
      for (const offset of offsets) {
        expect(offset, reason).toBeGreaterThanOrEqual(4)
        expect(offset, reason).toBeLessThanOrEqual(bytes.length - 16)
      }
    }
    return result
  }
  for (const user of result.success) {
    expect(user.data.buffer).toBe(view.buffer)
    expect(user.data.byteOffset).toBeGreaterThanOrEqual(view.byteOffset + 4)
    expect(user.data.byteOffset + user.data.byteLength).toBeLessThanOrEqual(view.byteOffset + view.byteLength - 16)
  }
  const lib = library(bytes)
  expect(lib.ok, lib.ok ? "" : `the library failed (${lib.reason}) where ours succeeded`).toBe(true)
  if (lib.ok) expect(lib.users).toEqual(result.success.map((u) => ({ partitionKey: u.partitionKey, data: Buffer.from(u.data) })))
  return result
}

// ---------------------------------------------------------------------------------------
// The protobuf grammar of an AggregatedRecord, with what neither writer writes

const varint = (n: bigint): Array<number> => {
  const out: Array<number> = []
  let v = n
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80)
    v >>= 7n
  }
  out.push(Number(v))
  return out
}
const tagBytes = (field: number, wire: number) => varint(BigInt(field * 8 + wire))
const lengthDelimited = (field: number, payload: ReadonlyArray<number>) => [...tagBytes(field, 2), ...varint(BigInt(payload.length)), ...payload]

const utf8Text = fc.oneof(fc.string({ maxLength: 6 }), fc.string({ unit: "binary", maxLength: 4 })).map((s) => [...Buffer.from(s, "utf8")])
const smallIndex = fc.oneof(fc.bigInt({ min: 0n, max: 4n }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }))
/** Raw bytes for a string field: mostly UTF-8, sometimes not. */
const stringBytes = fc.oneof({ weight: 4, arbitrary: utf8Text }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 4 }).map((b) => [...b]) })

/** An unknown field of any wire type (a group may hold fields and groups). */
const { unknownField } = fc.letrec<{ unknownField: Array<number> }>((tie) => ({
  unknownField: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.tuple(fc.integer({ min: 5, max: 20 }), smallIndex).map(([f, v]) => [...tagBytes(f, 0), ...varint(v)]),
    fc.tuple(fc.integer({ min: 5, max: 20 }), fc.uint8Array({ minLength: 8, maxLength: 8 })).map(([f, b]) => [...tagBytes(f, 1), ...b]),
    fc.tuple(fc.integer({ min: 5, max: 20 }), fc.uint8Array({ maxLength: 6 })).map(([f, b]) => lengthDelimited(f, [...b])),
    fc.tuple(fc.integer({ min: 5, max: 20 }), fc.uint8Array({ minLength: 4, maxLength: 4 })).map(([f, b]) => [...tagBytes(f, 5), ...b]),
    fc.tuple(fc.integer({ min: 5, max: 20 }), fc.array(tie("unknownField"), { maxLength: 2 })).map(([f, inner]) => [...tagBytes(f, 3), ...inner.flat(), ...tagBytes(f, 4)])
  )
}))

/** A Tag (key, optional value). */
const tagMessage = fc.tuple(fc.option(stringBytes, { nil: undefined }), fc.option(stringBytes, { nil: undefined })).map(([key, value]) => [
  ...(key === undefined ? [] : lengthDelimited(1, key)),
  ...(value === undefined ? [] : lengthDelimited(2, value))
])

/** A Record's fields, in any order, some missing or repeated. */
const recordMessage = fc
  .array(
    fc.oneof(
      smallIndex.map((i) => [...tagBytes(1, 0), ...varint(i)]), // partition_key_index
      smallIndex.map((i) => [...tagBytes(2, 0), ...varint(i)]), // explicit_hash_key_index
      fc.uint8Array({ maxLength: 8 }).map((d) => lengthDelimited(3, [...d])), // data
      tagMessage.map((t) => lengthDelimited(4, t)), // tags
      unknownField
    ),
    { maxLength: 5 }
  )
  .map((fields) => fields.flat())

/** An AggregatedRecord: table entries, records and unknown fields in any order. */
const aggregatedRecord = fc
  .array(
    fc.oneof(
      { weight: 3, arbitrary: stringBytes.map((k) => lengthDelimited(1, k)) }, // partition_key_table
      { weight: 1, arbitrary: stringBytes.map((k) => lengthDelimited(2, k)) }, // explicit_hash_key_table
      { weight: 4, arbitrary: recordMessage.map((r) => lengthDelimited(3, r)) }, // records
      { weight: 1, arbitrary: unknownField }
    ),
    { maxLength: 8 }
  )
  .map((fields) => Uint8Array.from(fields.flat()))

// ---------------------------------------------------------------------------------------
// Damage

const mutationArb = byteMutations({ setValues: [0x00, 0x01, 0x7f, 0x80, 0xff, 0x08, 0x0a, 0x12, 0x1a, 0x22, 0x0b, 0x0c], swaps: true })

// ---------------------------------------------------------------------------------------
// The contract writer's aggregates

const userRecordArb = fc
  .record({
    json: fc.oneof(fc.string({ maxLength: 30 }), fc.string({ unit: "binary", maxLength: 10 }), fc.json({ maxDepth: 2 })),
    // keys must be non-empty (as Kinesis requires)
    partitionKey: fc.oneof(fc.string({ minLength: 1, maxLength: 8 }), fc.string({ unit: "binary", minLength: 1, maxLength: 3 }), fc.constantFrom("toString", "__proto__", "10", "payment:1"))
  })
  .map(({ json, partitionKey }): AggregateInput => ({
    json,
    dataBytes: Buffer.byteLength(json, "utf8"),
    partitionKey,
    partitionKeyBytes: Buffer.byteLength(partitionKey, "utf8"),
    hashKey: 0n
  }))

/** Shard entries of the contract writer for `records` within `limit` bytes (raised to fit the largest record plain). */
const entriesOf = (records: ReadonlyArray<AggregateInput>, limit: number) =>
  aggregateShard("shardId-000000000000", records, Math.max(limit, ...records.map((r) => r.dataBytes + r.partitionKeyBytes)))

describe("KPL de-aggregator fuzzing (decodeKplAggregate)", () => {
  it("round trip: the contract writer's aggregates and plain records read back as the user records put in, in order", () => {
    fc.assert(
      fc.property(fc.array(userRecordArb, { minLength: 1, maxLength: 30 }), fc.integer({ min: 24, max: 600 }), (records, limit) => {
        const back: Array<[string, string]> = []
        for (const { entry, aggregated, changes } of entriesOf(records, limit)) {
          if (!aggregated) {
            back.push([entry.partitionKey, Buffer.from(entry.data).toString("utf8")])
            continue
          }
          const users = Result.getOrThrow(checked(entry.data))
          expect(users.length).toBe(changes)
          for (const user of users) back.push([user.partitionKey, Buffer.from(user.data).toString("utf8")])
        }
        // a lone surrogate is written as U+FFFD (UTF-8 cannot hold it)
        expect(back).toEqual(records.map((r) => [Buffer.from(r.partitionKey).toString(), Buffer.from(r.json).toString()]))
      }),
      { numRuns: 300 }
    )
  })

  it("protobufs from the format's grammar, sealed: never a throw; a failure names offsets inside the protobuf; a success is the library's", () => {
    fc.assert(
      fc.property(aggregatedRecord, (protobuf) => {
        checked(seal(protobuf))
      }),
      { numRuns: 3000 }
    )
  })

  it("the writer's aggregates and grammar protobufs damaged (cut, flipped, set, inserted, deleted, swapped), re-sealed or not: the same", () => {
    const source = fc.oneof(
      fc
        .tuple(fc.array(userRecordArb, { minLength: 1, maxLength: 8 }), fc.integer({ min: 60, max: 400 }))
        .map(([records, limit]) => entriesOf(records, limit).find((e) => e.aggregated)?.entry.data)
        .filter((data): data is Uint8Array => data !== undefined)
        .map(protobufOf),
      aggregatedRecord
    )
    fc.assert(
      fc.property(source, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), fc.boolean(), (protobuf, mutations, reseal) => {
        const damaged = mutations.reduce(mutateBytes, protobuf)
        checked(reseal ? seal(damaged) : Uint8Array.from([...KPL_MAGIC, ...damaged, ...md5(protobuf)]))
      }),
      { numRuns: 3000 }
    )
  })

  it("random bytes after the magic number, sealed or cut anywhere: the same", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.nat(), fc.boolean(), (bytes, cut, sealed) => {
        const whole = sealed ? seal(bytes) : Uint8Array.from([...KPL_MAGIC, ...bytes])
        checked(whole)
        checked(whole.subarray(0, cut % (whole.length + 1)))
      }),
      { numRuns: 2000 }
    )
  })
})
