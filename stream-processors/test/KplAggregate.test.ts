/**
 * KPL de-aggregation straight from the bytes (core's contracts/KplDecode.ts, through `deaggregate`),
 * with aws-kinesis-agg's own `deaggregateSync` as the oracle and the inputs themselves as a
 * second one: aggregates built by the library's RecordAggregator, by the contract's writer (KplEncode.ts)
 * and by hand (tags, explicit hash keys, unknown fields: what neither writer writes), then
 * corrupted.
 *
 * The rule the corruption tests hold (KplDecode.ts header): the two may disagree one way
 * only. Whenever the library fails, `deaggregate` fails with a DeaggregationError; whenever
 * `deaggregate` succeeds, the library succeeds with the same user records. `deaggregate`
 * alone fails where the library passes something malformed on (an index outside its table,
 * invalid UTF-8, a field overrunning its message, a wrong wire type, …).
 */
import { describe, expect, it } from "@effect/vitest"
import { deaggregateSync, RecordAggregator } from "aws-kinesis-agg"
import { Result, Schema } from "effect"
import { createHash } from "node:crypto"
import { type AggregateInput as ReaderUserRecord, aggregateShard, decodeKplAggregate } from "@totes-cdc/core"
import { deaggregate, type KinesisBatchRecord } from "../src/index.ts"

// ---------------------------------------------------------------------------------------
// Records, the oracle, and the comparison.

const SHARD = "shardId-000000000001"
const SEQUENCE = "49650000000000000000000000000000000000000000000000000002"
const MAGIC = [0xf3, 0x89, 0x9a, 0xc2]

/** A Kinesis record whose `data` is a view at an odd offset inside a larger buffer (as a view the decoder must respect). */
const kinesisRecord = (bytes: ArrayLike<number>, partitionKey = "pk", sequenceNumber = SEQUENCE): KinesisBatchRecord => {
  const backing = new Uint8Array(bytes.length + 14).fill(0xee)
  backing.set(Array.from(bytes), 7)
  return { shardId: SHARD, sequenceNumber, partitionKey, data: backing.subarray(7, 7 + bytes.length) }
}

interface Normalized {
  readonly partitionKey: string
  readonly data: Buffer
  readonly sequenceNumber: string
  readonly subSequenceNumber: number
  readonly aggregated: boolean
}

type Outcome = { readonly ok: true; readonly users: ReadonlyArray<Normalized> } | { readonly ok: false; readonly reason: string }

/** aws-kinesis-agg's answer (any error reported, even after user records, is a failure). */
const library = (record: KinesisBatchRecord): Outcome => {
  let failure: Error | undefined
  let users: Array<Normalized> = []
  deaggregateSync(
    { partitionKey: record.partitionKey, sequenceNumber: record.sequenceNumber, data: Buffer.from(record.data).toString("base64") },
    true,
    (error, records) => {
      if (error) failure ??= error
      else
        users = (records ?? []).map((u) => ({
          partitionKey: u.partitionKey,
          data: Buffer.from(u.data, "base64"),
          sequenceNumber: u.sequenceNumber,
          subSequenceNumber: u.subSequenceNumber ?? 0,
          aggregated: u.subSequenceNumber !== undefined
        }))
    }
  )
  return failure === undefined ? { ok: true, users } : { ok: false, reason: failure.message }
}

/** `deaggregate`'s answer; a failure must be a DeaggregationError naming the record. */
const ours = (record: KinesisBatchRecord): Outcome => {
  const result = deaggregate(record)
  if (Result.isFailure(result)) {
    expect(result.failure._tag).toBe("DeaggregationError")
    expect(result.failure.shardId).toBe(record.shardId)
    expect(result.failure.sequenceNumber).toBe(record.sequenceNumber)
    expect(result.failure.message).toContain(`${record.shardId}/${record.sequenceNumber}`)
    expect(result.failure.message).not.toContain("\n")
    return { ok: false, reason: result.failure.message }
  }
  return { ok: true, users: result.success.map((u) => ({ ...u, data: Buffer.from(u.data) })) }
}

/** Both answers, checked against the one-way rule: library fails ⇒ ours fails; ours succeeds ⇒ library gives the same. */
const compare = (record: KinesisBatchRecord) => {
  const lib = library(record)
  const our = ours(record)
  if (!lib.ok) expect(our.ok, `library failed (${lib.reason}), ours did not`).toBe(false)
  if (our.ok) expect(lib).toEqual(our)
  return { lib, our }
}

const md5 = (bytes: ArrayLike<number>) => Array.from(createHash("md5").update(Uint8Array.from(bytes)).digest())

/** Magic number + protobuf + MD5 of the protobuf: a correctly sealed aggregate around any bytes. */
const seal = (protobuf: ArrayLike<number>): Array<number> => [...MAGIC, ...Array.from(protobuf), ...md5(protobuf)]

/** The protobuf between the magic number and the MD5 of an aggregate. */
const protobufOf = (aggregate: Uint8Array) => Array.from(aggregate.subarray(4, aggregate.length - 16))

// A minimal protobuf writer for hand-built aggregates (independent of the code under test).
const varint = (n: number | bigint): Array<number> => {
  let v = BigInt(n)
  const out: Array<number> = []
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80)
    v >>= 7n
  }
  out.push(Number(v))
  return out
}
const utf8 = (text: string) => Array.from(Buffer.from(text, "utf8"))
/** A varint field. */
const vf = (field: number, value: number | bigint) => [...varint(field * 8), ...varint(value)]
/** A length-delimited field. */
const ld = (field: number, payload: ReadonlyArray<number>) => [...varint(field * 8 + 2), ...varint(payload.length), ...payload]

// ---------------------------------------------------------------------------------------
// Generated user records.

/** Characters of generated keys and texts: ASCII, Latin-1, €, CJK, an astral emoji, BOM, U+FFFD, NUL. */
const ALPHABET = ["a", "Z", "0", "7", ":", "_", "-", " ", "é", "ü", "€", "日", "本", "😀", "\uFEFF", "\uFFFD", "\u0000"]
const Letters = Schema.Array(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: ALPHABET.length - 1 })))
const lettersText = (letters: ReadonlyArray<number>) => letters.map((i) => ALPHABET[i]).join("")

/** `text` with every lone surrogate replaced by U+FFFD (what UTF-8 encoding with Buffer does to it). */
const wellFormed = (text: string) => Buffer.from(text, "utf8").toString("utf8")

/** A key: from the alphabet, or any string Schema generates (index-like, "toString", …), made well-formed. */
const Key = Schema.Struct({ letters: Letters.check(Schema.isMinLength(1)), any: Schema.String, useAny: Schema.Boolean })
/**
 * Keys must be non-empty for RecordAggregator, and well-formed (a lone surrogate is encoded by
 * protobufjs as invalid UTF-8; separate test). "__proto__" breaks the library's own table (a
 * plain object), so its aggregates are not what it was given.
 */
const keyOf = (key: typeof Key.Type) => {
  const any = wellFormed(key.any)
  return key.useAny && any !== "" && any !== "__proto__" ? any : lettersText(key.letters)
}

const LibraryInput = Schema.Struct({
  keys: Schema.Array(Key).check(Schema.isMinLength(1)),
  records: Schema.Array(
    Schema.Struct({
      key: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 1000 })),
      hashKey: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 5 }))),
      data: Schema.Uint8Array
    })
  ).check(Schema.isMinLength(1))
})

/** The library's aggregates of `input`'s user records (it cuts them at its 1 MiB limit), and those records. */
const libraryAggregates = (input: typeof LibraryInput.Type) => {
  const keys = input.keys.map(keyOf)
  const users = input.records.map((r) => ({
    partitionKey: keys[r.key % keys.length]!,
    ...(r.hashKey === undefined ? {} : { explicitHashKey: `${r.hashKey}0000000000000000000000000000000000000` }),
    data: Buffer.from(r.data)
  }))
  const aggregator = new RecordAggregator()
  const built = []
  for (const user of users) {
    if (!aggregator.checkIfUserRecordFits(user)) built.push(aggregator.build()!)
    aggregator.addUserRecord({ ...user })
  }
  built.push(aggregator.build()!)
  return { users, built }
}

const INDEX_LIKE = /^(0|[1-9][0-9]*)$/

describe("deaggregate (KplDecode.ts) against aws-kinesis-agg", () => {
  it.prop(
    "gives what deaggregateSync gives, and the user records put in, for aggregates built by aws-kinesis-agg's RecordAggregator",
    [LibraryInput],
    ([input]) => {
      const { users, built } = libraryAggregates(input)
      const out: Array<Normalized> = []
      built.forEach((aggregate, n) => {
        const { lib, our } = compare(kinesisRecord(aggregate.data, aggregate.partitionKey, `${SEQUENCE}${n}`))
        expect(our.ok && lib.ok).toBe(true)
        if (our.ok) {
          expect(our.users.map((u) => [u.sequenceNumber, u.subSequenceNumber, u.aggregated])).toEqual(our.users.map((_, i) => [`${SEQUENCE}${n}`, i, true]))
          out.push(...our.users)
        }
      })
      // The library's key table is an object: index-like keys come first in Object.keys and
      // are mis-keyed by the library itself; otherwise, the input comes back.
      if (!users.some((u) => INDEX_LIKE.test(u.partitionKey))) {
        expect(out.map((u) => [u.partitionKey, u.data])).toEqual(users.map((u) => [u.partitionKey, u.data]))
      } else {
        expect(out.map((u) => u.data)).toEqual(users.map((u) => u.data))
      }
    },
    { arbitrary: { runs: 300, size: 40 } }
  )

  it.prop(
    "gives what deaggregateSync gives, and the change records put in, for cdc-reader's aggregates and plain records",
    [
      Schema.Array(Schema.Struct({ key: Key, json: Letters, any: Schema.String, useAny: Schema.Boolean })).check(Schema.isMinLength(1)),
      Schema.Int.check(Schema.isBetween({ minimum: 24, maximum: 2000 }))
    ],
    ([input, limit]) => {
      const records: Array<ReaderUserRecord> = input.map((r) => {
        const partitionKey = keyOf(r.key)
        const json = r.useAny ? wellFormed(r.any) : lettersText(r.json)
        return { json, dataBytes: Buffer.byteLength(json), partitionKey, partitionKeyBytes: Buffer.byteLength(partitionKey), hashKey: 0n }
      })
      const maxRecordBytes = Math.max(limit, ...records.map((r) => r.dataBytes + r.partitionKeyBytes))
      const entries = aggregateShard("shardId-000000000000", records, maxRecordBytes)
      const out: Array<Normalized> = []
      entries.forEach((e, n) => {
        const { lib, our } = compare(kinesisRecord(e.entry.data, e.entry.partitionKey, String(n)))
        expect(our.ok && lib.ok).toBe(true)
        if (our.ok) {
          expect(our.users.map((u) => u.aggregated)).toEqual(our.users.map(() => e.aggregated))
          expect(our.users.length).toBe(e.changes)
          out.push(...our.users)
        }
      })
      expect(out.map((u) => [u.partitionKey, u.data.toString("utf8")])).toEqual(records.map((r) => [r.partitionKey, r.json]))
    },
    { arbitrary: { runs: 300, size: 40 } }
  )

  it.prop(
    "corrupted aggregates (a byte changed, or cut short; as stored, or re-sealed with a fresh MD5): fails whenever the library fails, succeeds only as the library does",
    [
      LibraryInput,
      Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 2 ** 31 - 1 })),
      Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 255 })),
      Schema.Boolean,
      Schema.Boolean
    ],
    ([input, at, mask, truncate, reseal]) => {
      const aggregate = new Uint8Array(libraryAggregates(input).built[0]!.data)
      let corrupt: Array<number>
      if (reseal) {
        const protobuf = protobufOf(aggregate)
        if (truncate) corrupt = seal(protobuf.slice(0, at % (protobuf.length + 1)))
        else if (protobuf.length === 0) corrupt = seal([mask])
        else corrupt = seal(protobuf.map((b, i) => (i === at % protobuf.length ? b ^ mask : b)))
      } else {
        const bytes = Array.from(aggregate)
        corrupt = truncate ? bytes.slice(0, at % bytes.length) : bytes.map((b, i) => (i === at % bytes.length ? b ^ mask : b))
      }
      const { lib, our } = compare(kinesisRecord(corrupt))
      // As stored: only the magic number may change without the MD5 noticing (a plain record then).
      if (!reseal && !truncate && at % aggregate.length >= 4) expect([lib.ok, our.ok]).toEqual([false, false])
    },
    { arbitrary: { runs: 1000, size: 30 } }
  )

  it.prop(
    "any bytes after the magic number, sealed or not: never a throw, fails whenever the library fails, succeeds only as the library does",
    [Schema.Uint8Array, Schema.Boolean],
    ([bytes, sealed]) => {
      compare(kinesisRecord(sealed ? seal(bytes) : [...MAGIC, ...bytes]))
    },
    { arbitrary: { runs: 2000, size: 60 } }
  )

  it.prop("any bytes not starting with the magic number are a plain record, as the library gives it", [Schema.Uint8Array], ([bytes]) => {
    if (bytes.length >= 4 && MAGIC.every((b, i) => bytes[i] === b)) return
    const record = kinesisRecord(bytes, "plain:1", "7")
    const { lib, our } = compare(record)
    expect(our).toEqual({ ok: true, users: [{ partitionKey: "plain:1", data: Buffer.from(bytes), sequenceNumber: "7", subSequenceNumber: 0, aggregated: false }] })
    expect(lib.ok).toBe(true)
    // The record itself, not a copy.
    expect(Result.getOrThrow(deaggregate(record))[0]!.data).toBe(record.data)
  })
})

// ---------------------------------------------------------------------------------------
// Hand-built aggregates: what the library's and the reader's writers never write.

/**
 * Two keys (one non-ASCII, one with a BOM, which must survive), an explicit hash key table,
 * three records (one with an explicit hash key index, one with two tags, one with empty
 * data and a non-minimal varint index), the table after the records it serves, and unknown
 * fields of every skippable wire type (a group holding a nested group) at both levels.
 */
const handBuilt = [
  ...vf(9, 300), // unknown varint
  ...ld(1, utf8("sales_order:1")),
  ...ld(3, [...vf(1, 1), ...ld(3, utf8(`{"n":1}`)), ...vf(2, 0), ...[0x7d, 1, 2, 3, 4] /* unknown fixed32, field 15 */]),
  ...ld(2, utf8("123456789012345678901234567890")),
  ...ld(3, [...ld(4, [...ld(1, utf8("tag")), ...ld(2, utf8("välue"))]), ...vf(1, 0), ...ld(4, ld(1, [])), ...ld(3, [0, 0xff, 0x80])]),
  ...[0x51, 1, 2, 3, 4, 5, 6, 7, 8], // unknown fixed64, field 10
  ...[0x5b, ...vf(1, 5), 0x63, ...ld(2, [9, 9]), 0x64, 0x5c], // unknown group 11 holding group 12
  ...ld(3, [0x08, 0x81, 0x80, 0x00 /* index 1, non-minimal varint */, ...ld(3, []), ...ld(7, [1, 2, 3])]),
  ...[0x30, ...Array(9).fill(0xff), 0x01], // unknown varint of the full 64 bits, field 6
  ...ld(1, utf8("\uFEFFdésign_é:2€😀")), // partition_key_table entry 1, after the records using it
  ...ld(8, [0xff, 0xfe]) // unknown length-delimited
]

describe("deaggregate (KplDecode.ts) on hand-built aggregates", () => {
  it("reads tags, explicit hash keys, unknown fields and late table entries as the library does", () => {
    const record = kinesisRecord(seal(handBuilt), "sales_order:1")
    const { lib, our } = compare(record)
    const expected = [
      { partitionKey: "\uFEFFdésign_é:2€😀", data: Buffer.from(`{"n":1}`), sequenceNumber: SEQUENCE, subSequenceNumber: 0, aggregated: true },
      { partitionKey: "sales_order:1", data: Buffer.from([0, 0xff, 0x80]), sequenceNumber: SEQUENCE, subSequenceNumber: 1, aggregated: true },
      { partitionKey: "\uFEFFdésign_é:2€😀", data: Buffer.alloc(0), sequenceNumber: SEQUENCE, subSequenceNumber: 2, aggregated: true }
    ]
    expect(our).toEqual({ ok: true, users: expected })
    expect(lib).toEqual({ ok: true, users: expected })
  })

  it("gives views of the record's bytes, not copies", () => {
    const record = kinesisRecord(seal(handBuilt))
    const users = Result.getOrThrow(deaggregate(record))
    for (const user of users) {
      expect(user.data.buffer).toBe(record.data.buffer)
      expect(user.data.byteOffset).toBeGreaterThanOrEqual(record.data.byteOffset)
      expect(user.data.byteOffset + user.data.byteLength).toBeLessThanOrEqual(record.data.byteOffset + record.data.byteLength)
    }
  })

  it("every byte of the hand-built protobuf set to every value, and every truncation, re-sealed: fails whenever the library fails, succeeds only as it does", () => {
    const tally = { both: 0, neither: 0, oursOnlyFails: 0 }
    const check = (protobuf: ReadonlyArray<number>) => {
      const { lib, our } = compare(kinesisRecord(seal(protobuf)))
      if (lib.ok && our.ok) tally.both++
      else if (!lib.ok && !our.ok) tally.neither++
      else tally.oursOnlyFails++
    }
    for (let i = 0; i < handBuilt.length; i++) {
      for (let value = 0; value < 256; value++) if (value !== handBuilt[i]) check(handBuilt.map((b, j) => (j === i ? value : b)))
    }
    for (let length = 0; length < handBuilt.length; length++) check(handBuilt.slice(0, length))
    // Every kind of outcome happens (the comparison is not vacuous).
    expect(tally.both).toBeGreaterThan(1000)
    expect(tally.neither).toBeGreaterThan(1000)
    expect(tally.oursOnlyFails).toBeGreaterThan(0)
  })

  it.each([
    ["record 0 at byte 7: partition_key_index 1 is outside the partition key table (1 entries)", [...ld(1, utf8("k")), ...ld(3, [...vf(1, 1), ...ld(3, [65])])]],
    ["partition_key_index 4294967296 is outside", [...ld(1, utf8("k")), ...ld(3, [...vf(1, 2 ** 32), ...ld(3, [65])])]],
    ["explicit_hash_key_index 0 is outside the explicit hash key table (0 entries)", [...ld(1, utf8("k")), ...ld(3, [...vf(1, 0), ...vf(2, 0), ...ld(3, [65])])]],
    ["partition_key_table entry at byte 4 is not valid UTF-8", [...ld(1, [0xff]), ...ld(3, [...vf(1, 0), ...ld(3, [65])])]],
    ["not valid UTF-8", [...ld(1, [0x61, 0xed, 0xa0, 0x80]), ...ld(3, [...vf(1, 0), ...ld(3, [65])])]], // a lone surrogate, CESU-8
    ["record 0's tag value at byte 19 is not valid UTF-8", [...ld(1, utf8("k")), ...ld(3, [...vf(1, 0), ...ld(3, [65]), ...ld(4, [...ld(1, [65]), ...ld(2, [0xc3])])])]],
    ["run past the end", [...ld(3, [...vf(1, 0), ...ld(3, [65])]), 0x0a, 5, 65]], // a string cut short at the end (the library truncates it)
    ["run past the end", [...ld(1, utf8("k")), 0x1a, 4, 0x08, 0x00, 0x1a, 0x01, 65]], // data overrunning its record
    ["has wire type 2 (length-delimited), expected 0 (varint)", [...ld(1, utf8("k")), ...ld(3, [...ld(1, []), ...ld(3, [65])])]],
    ["field number 0 at byte 4", [0x00, 0x00, ...ld(1, utf8("k")), ...ld(3, [...vf(1, 0), ...ld(3, [65])])]],
    ["group 5 at byte 4 closed by field 6", [0x2b, 0x34, ...ld(1, utf8("k")), ...ld(3, [...vf(1, 0), ...ld(3, [65])])]],
    ["groups nested deeper than 100", [...Array(101).fill(0x2b), ...Array(101).fill(0x2c), ...ld(1, utf8("k")), ...ld(3, [...vf(1, 0), ...ld(3, [65])])]],
    ["varint at byte 5 exceeds 64 bits", [0x28, ...Array(9).fill(0x80), 0x02, ...ld(1, utf8("k")), ...ld(3, [...vf(1, 0), ...ld(3, [65])])]],
    ["varint at byte 5 exceeds 64 bits", [0x28, ...Array(11).fill(0x80), 0x00, ...ld(1, utf8("k")), ...ld(3, [...vf(1, 0), ...ld(3, [65])])]],
    ["field tag at byte 4 exceeds 32 bits", [0x80, 0x80, 0x80, 0x80, 0x10, 0x00, ...ld(1, utf8("k")), ...ld(3, [...vf(1, 0), ...ld(3, [65])])]]
  ])("is stricter than the library where it passes something malformed on: %s", (reason, protobuf) => {
    const { lib, our } = compare(kinesisRecord(seal(protobuf)))
    expect(lib.ok).toBe(true)
    expect(our).toMatchObject({ ok: false, reason: expect.stringContaining(reason) })
  })

  it.each([
    ["record 0 at byte 4 has no data (a required field)", [...ld(3, vf(1, 0)), ...ld(1, utf8("k"))]],
    ["record 0 at byte 4 has no partition_key_index (a required field)", [...ld(3, ld(3, [65])), ...ld(1, utf8("k"))]],
    ["record 0's tag at byte 14 has no key (a required field)", [...ld(1, utf8("k")), ...ld(3, [...vf(1, 0), ...ld(3, [65]), ...ld(4, ld(2, [65]))])]],
    ["end-group tag at byte 7 without a matching start-group", [...ld(1, utf8("k")), 0x2c]],
    ["invalid wire type 6 at byte 4", [0x2e, ...ld(1, utf8("k"))]],
    ["truncated 64-bit field at byte 7", [...ld(1, utf8("k")), 0x29, 1, 2, 3]],
    ["truncated varint at byte 9", [...ld(3, [...vf(1, 0), 0x10, 0x80])]],
    ["truncated field tag at byte 4", [0x80]]
  ])("fails as the library does on malformed protobuf: %s", (reason, protobuf) => {
    const { lib, our } = compare(kinesisRecord(seal(protobuf)))
    expect(lib.ok).toBe(false)
    expect(our).toMatchObject({ ok: false, reason: expect.stringContaining(reason) })
  })

  it("fails where the library gives a lone-surrogate partition key (written by protobufjs as invalid UTF-8) as U+FFFD", () => {
    const aggregator = new RecordAggregator()
    aggregator.addUserRecord({ partitionKey: "a\uD800b", data: Buffer.from("x") })
    const built = aggregator.build()!
    const { lib, our } = compare(kinesisRecord(built.data, built.partitionKey))
    expect(lib).toMatchObject({ ok: true, users: [{ partitionKey: "a\uFFFD\uFFFD\uFFFDb" }] })
    expect(our).toMatchObject({ ok: false, reason: expect.stringContaining("not valid UTF-8") })
  })
})

describe("deaggregate (KplDecode.ts) on short records", () => {
  it("treats records shorter than the magic number as plain records, as the library does", () => {
    for (const bytes of [[], [0xf3], [0xf3, 0x89], [0xf3, 0x89, 0x9a]]) {
      const record = kinesisRecord(bytes, "short", "9")
      const { lib, our } = compare(record)
      const expected = { ok: true, users: [{ partitionKey: "short", data: Buffer.from(bytes), sequenceNumber: "9", subSequenceNumber: 0, aggregated: false }] }
      expect(our).toEqual(expected)
      expect(lib).toEqual(expected)
    }
  })

  it("fails on a magic number followed by fewer than 16 checksum bytes, as the library does (4 to 19 bytes)", () => {
    for (let length = 4; length < 20; length++) {
      for (const fill of [0x00, 0xd4]) {
        const { lib, our } = compare(kinesisRecord([...MAGIC, ...Array(length - 4).fill(fill)]))
        expect(lib.ok).toBe(false)
        expect(our).toMatchObject({ ok: false, reason: expect.stringContaining(`${length} bytes are too few for the 4-byte magic number and the 16-byte MD5 checksum`) })
      }
    }
  })

  it("reads 20 bytes of magic number and MD5 of nothing as an aggregate of no user records, as the library does; other 20 bytes fail on the checksum", () => {
    const empty = [...MAGIC, ...Buffer.from("d41d8cd98f00b204e9800998ecf8427e", "hex")]
    expect(compare(kinesisRecord(empty))).toEqual({ lib: { ok: true, users: [] }, our: { ok: true, users: [] } })
    const { lib, our } = compare(kinesisRecord([...MAGIC, ...Array(16).fill(0)]))
    expect(lib.ok).toBe(false)
    expect(our).toMatchObject({ ok: false, reason: expect.stringContaining("checksum mismatch: the MD5 of its 0 protobuf bytes is d41d8cd98f00b204e9800998ecf8427e, the record carries 00000000") })
  })

  it("answers a failure, not a throw, when decodeKplAggregate is given bytes without the magic number", () => {
    expect(decodeKplAggregate(Uint8Array.of(1, 2, 3, 4, 5))).toEqual(Result.fail("it does not start with the KPL magic number F3 89 9A C2"))
  })
})
