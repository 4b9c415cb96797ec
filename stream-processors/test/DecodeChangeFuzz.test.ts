/**
 * Fuzzing the processor's change-record decoding (issue 16) with fast-check (random seed; a
 * failure prints its seed and shrunk counterexample): `decodeChangeBytes` (one user record's
 * bytes → a change record or a one-line reason) and the processor's first step,
 * `decodePage` (Kinesis records → KPL de-aggregation → change records, and dead letters
 * naming where each bad record came from), fed the encoders' output damaged and random bytes.
 *
 * Properties:
 *  - round trip: the encoder's bytes, plain or in the contract writer's aggregates, decode to
 *    the records written, each with its shard, sequence number and sub-sequence number;
 *  - any bytes: never a throw; `decodeChangeBytes` answers a ChangeRecord or a one-line
 *    reason starting "not a change record", the same verdict as the schema on the same text;
 *  - any page: every Kinesis record is accounted for exactly once — its user records as
 *    changes or dead letters in order, or, when it is a malformed aggregate, one dead letter
 *    naming the record (shard, sequence number, no sub-sequence number) — and every dead
 *    letter's error is one line.
 */
import { aggregateShard, type AggregateInput, ChangeRecord, decodeChangeRecord, encodeChangeRecord, KPL_MAGIC } from "@totes-cdc/core"
import { Effect, Exit, Result, Schema } from "effect"
import fc from "fast-check"
import { type ByteMutation, byteMutations, mutateBytes } from "@totes-cdc/core/testing"
import { createHash } from "node:crypto"
import { describe, expect, it } from "vitest"
import { deaggregate, type KinesisBatchRecord, type ShardPage } from "../src/consumer/MicroBatch.ts"
import { decodeChangeBytes } from "../src/processor/DecodeChange.ts"
import { decodePage } from "../src/processor/Processor.ts"

const isChangeRecord = Schema.is(ChangeRecord)
const SHARD = "shardId-000000000007"

const valueArb = fc.oneof(fc.string({ maxLength: 8 }), fc.string({ unit: "binary", maxLength: 5 }), fc.constantFrom("\uFEFF", "\0", "99.99"))
const imageArb = fc.dictionary(fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom("__proto__", "toString")), fc.option(valueArb, { nil: null }), { maxKeys: 3 })
const recordArb: fc.Arbitrary<ChangeRecord> = fc.record({
  v: fc.constant(1 as const),
  source: fc.constantFrom("replication" as const, "snapshot" as const, "poll" as const),
  op: fc.constantFrom("insert" as const, "update" as const, "delete" as const, "truncate" as const, "read" as const),
  table: fc.constantFrom("payment", "sales_order", "address", "staff"),
  key: imageArb,
  before: fc.option(imageArb, { nil: null }),
  after: fc.option(imageArb, { nil: null }),
  unchangedToast: fc.array(fc.string({ maxLength: 4 }), { maxLength: 2 }),
  commitLsn: fc.tuple(fc.nat({ max: 0xffff_ffff }), fc.nat({ max: 0xffff_ffff })).map(([h, l]) => `${h.toString(16).toUpperCase()}/${l.toString(16).toUpperCase()}`),
  commitIdx: fc.nat({ max: 10_000 }),
  xid: fc.option(fc.nat({ max: 0xffff_ffff }), { nil: null }),
  commitTs: fc.date({ noInvalidDate: true, min: new Date("2000-01-01"), max: new Date("2100-01-01") }).map((d) => d.toISOString())
})

const utf8 = (text: string) => new Uint8Array(Buffer.from(text, "utf8"))

const mutationArb = byteMutations({ pieces: [utf8("\n"), utf8('"'), utf8("}"), Uint8Array.of(0xc3), Uint8Array.of(0xef, 0xbb, 0xbf)], maxLength: 4 })

/** `decodeChangeBytes` on `bytes`, checked: no throw; a ChangeRecord, or a one-line reason; the schema's verdict on the same text. */
const checkedDecode = (bytes: Uint8Array) => {
  const result = decodeChangeBytes(bytes) // must not throw
  if (Result.isFailure(result)) {
    expect(result.failure).toMatch(/^not a change record: /)
    expect(result.failure).not.toContain("\n")
  } else expect(isChangeRecord(result.success)).toBe(true)
  let text: string | undefined
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes)
  } catch {
    expect(Result.isFailure(result)).toBe(true) // bytes that are not UTF-8 are no change record
  }
  if (text !== undefined) {
    const schema = Effect.runSyncExit(decodeChangeRecord(text))
    expect(Exit.hasDies(schema)).toBe(false)
    expect(Result.isSuccess(result), text).toBe(Exit.isSuccess(schema))
  }
  return result
}

const md5 = (bytes: Uint8Array) => createHash("md5").update(bytes).digest()

/** A Kinesis record of the page. */
const kinesisRecord = (data: Uint8Array, n: number, partitionKey = "pk"): KinesisBatchRecord => ({ shardId: SHARD, sequenceNumber: `4965${String(n).padStart(6, "0")}`, partitionKey, data })

/** The contract writer's entries for `records` (aggregates and plain records), as Kinesis data. */
const written = (records: ReadonlyArray<ChangeRecord>, limit: number) => {
  const inputs: Array<AggregateInput> = records.map((record) => {
    const json = encodeChangeRecord(record)
    const partitionKey = `${record.table}:${record.commitIdx}`
    return { json, dataBytes: Buffer.byteLength(json), partitionKey, partitionKeyBytes: Buffer.byteLength(partitionKey), hashKey: 0n }
  })
  return aggregateShard(SHARD, inputs, Math.max(limit, ...inputs.map((r) => r.dataBytes + r.partitionKeyBytes)))
}

/** Damage to one Kinesis record's data: bytes of the whole record, or of an aggregate's protobuf re-sealed with a fresh MD5. */
const damage = (data: Uint8Array, mutations: ReadonlyArray<ByteMutation>, reseal: boolean): Uint8Array => {
  const isAggregate = data.length >= 20 && KPL_MAGIC.every((b, i) => data[i] === b)
  if (!reseal || !isAggregate) return mutations.reduce(mutateBytes, data)
  const protobuf = mutations.reduce(mutateBytes, data.subarray(4, data.length - 16))
  return Uint8Array.from([...KPL_MAGIC, ...protobuf, ...md5(protobuf)])
}

/** `decodePage(page)`, checked against the contract: every record accounted for once, in order, with its position. */
const checkedPage = (page: ShardPage) => {
  const { changes, letters } = decodePage(page) // must not throw
  let c = 0
  let l = 0
  for (const record of page.records) {
    const users = deaggregate(record)
    if (Result.isFailure(users)) {
      const letter = letters[l++]
      expect(letter?.origin).toEqual({ bytes: record.data, shardId: SHARD, sequenceNumber: record.sequenceNumber, subSequenceNumber: null })
      expect(letter?.error).toBe(users.failure.message)
      expect(letter?.error).toContain(`${SHARD}/${record.sequenceNumber}`)
      continue
    }
    users.success.forEach((user, i) => {
      const decoded = decodeChangeBytes(user.data)
      const origin = { bytes: user.data, shardId: SHARD, sequenceNumber: record.sequenceNumber, subSequenceNumber: i }
      if (Result.isFailure(decoded)) {
        expect(letters[l++]).toEqual({ origin, error: decoded.failure })
      } else {
        expect(changes[c++]).toEqual({ change: decoded.success, origin })
      }
    })
  }
  expect([c, l]).toEqual([changes.length, letters.length])
  for (const letter of letters) expect(letter.error).not.toContain("\n")
  return { changes, letters }
}

describe("change-record decoding fuzzing (decodeChangeBytes, decodePage)", () => {
  it("round trip: the encoder's records, plain or aggregated by the contract writer, decode to the records written, each with its position", () => {
    fc.assert(
      fc.property(fc.array(recordArb, { minLength: 1, maxLength: 12 }), fc.integer({ min: 100, max: 2000 }), (records, limit) => {
        const entries = written(records, limit)
        const { changes, letters } = checkedPage({ shardId: SHARD, records: entries.map((e, n) => kinesisRecord(e.entry.data, n, e.entry.partitionKey)) })
        expect(letters).toEqual([])
        expect(changes.map((c) => encodeChangeRecord(c.change))).toEqual(records.map(encodeChangeRecord))
        const positions = entries.flatMap((e, n) => Array.from({ length: e.changes }, (_, i) => [`4965${String(n).padStart(6, "0")}`, e.aggregated ? i : 0]))
        expect(changes.map((c) => [c.origin.sequenceNumber, c.origin.subSequenceNumber])).toEqual(positions)
      }),
      { numRuns: 300 }
    )
  })

  it("a record's bytes damaged (cut, flipped, inserted, deleted): a ChangeRecord or a one-line reason, the schema's verdict, never a throw", () => {
    fc.assert(
      fc.property(recordArb, fc.array(mutationArb, { minLength: 1, maxLength: 3 }), (record, mutations) => {
        checkedDecode(mutations.reduce(mutateBytes, utf8(encodeChangeRecord(record))))
      }),
      { numRuns: 2000 }
    )
  })

  it("random bytes and random JSON: the same", () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 60 }), fc.json({ maxDepth: 3 }).map(utf8)), (bytes) => {
        checkedDecode(bytes)
      }),
      { numRuns: 1000 }
    )
  })

  it("a page of the writer's records, some damaged (as sent, or aggregates re-sealed), some random: every record accounted for once, bad ones dead-lettered with their position", () => {
    const recordData = fc
      .tuple(fc.array(recordArb, { minLength: 1, maxLength: 6 }), fc.integer({ min: 100, max: 1500 }))
      .map(([records, limit]) => written(records, limit).map((e) => e.entry.data))
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            { weight: 3, arbitrary: recordData.map((datas) => datas.map((data) => ({ data, mutations: [] as Array<ByteMutation>, reseal: false }))) },
            {
              weight: 4,
              arbitrary: fc
                .tuple(recordData, fc.array(mutationArb, { minLength: 1, maxLength: 3 }), fc.boolean())
                .map(([datas, mutations, reseal]) => datas.map((data, i) => ({ data, mutations: i === 0 ? mutations : [], reseal })))
            },
            { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }).map((bytes) => [{ data: Uint8Array.from([...(bytes.length % 2 === 0 ? KPL_MAGIC : []), ...bytes]), mutations: [] as Array<ByteMutation>, reseal: false }]) }
          ),
          { minLength: 1, maxLength: 4 }
        ),
        (groups) => {
          const datas = groups.flat().map(({ data, mutations, reseal }) => damage(data, mutations, reseal))
          checkedPage({ shardId: SHARD, records: datas.map((data, n) => kinesisRecord(data, n)) })
        }
      ),
      { numRuns: 500 }
    )
  })
})
