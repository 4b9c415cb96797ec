/**
 * Reading KPL aggregated records straight from a Kinesis record's bytes: the reading half
 * of the contract (KplEncode.ts writes them; the framing is KplFormat.ts), without
 * aws-kinesis-agg's base64 round trips and per-user-record copies. The format, and where
 * it is stricter than the library: packages/core/SPEC.md §7.
 *
 * Invariants:
 *  - Pure and total: `decodeKplAggregate` answers the user records, in `records` order, or
 *    a one-line reason; it never throws on any input.
 *  - No copies: each user record's `data` is a `subarray` of the input (do not mutate it).
 *  - Whatever it accepts, aws-kinesis-agg's `deaggregateSync` accepts with the same keys,
 *    data and order (KplAggregate.test.ts); it rejects more (bad indexes, UTF-8, overruns).
 *  - The MD5 checksum is verified before the protobuf is read; only records starting with
 *    the magic number are aggregates (`hasKplMagic`).
 */
import { isUtf8 } from "node:buffer"
import { hash } from "node:crypto"
import { Result } from "effect"
import { hasKplMagic, KPL_MAGIC, KPL_MD5_BYTES as MD5_BYTES } from "./KplFormat.ts"

const MAGIC_BYTES = KPL_MAGIC.length

/** Protobuf's default recursion limit, applied to nested groups inside unknown fields. */
const MAX_GROUP_DEPTH = 100

/** One user record of an aggregate. */
export interface KplUserRecord {
  readonly partitionKey: string
  /** A view of the user record's bytes inside the aggregate's bytes (not a copy). */
  readonly data: Uint8Array
}


/** A malformed aggregate, thrown inside the parser only and turned into a failure by `decodeKplAggregate`. */
class Malformed {
  readonly reason: string
  constructor(reason: string) {
    this.reason = reason
  }
}

const WIRE_TYPE_NAMES = ["varint", "64-bit", "length-delimited", "start-group", "end-group", "32-bit"]

const hex = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex")

/**
 * A cursor over the protobuf bytes of one aggregate. Offsets are bytes of the whole Kinesis
 * record (magic number included), as the error reasons report them; `end` is where the
 * protobuf ends (its MD5 starts).
 */
class Parser {
  readonly bytes: Uint8Array
  readonly text: Buffer
  pos = MAGIC_BYTES
  readonly end: number
  /** partition_key_table, decoded. */
  readonly keys: Array<string> = []
  /** Entries of explicit_hash_key_table (checked, not kept: user records do not carry them). */
  hashKeys = 0
  /** Per record, in order: partition_key_index, explicit_hash_key_index (-1 when absent), offset of its Record, data start and end. */
  readonly keyIndexes: Array<number> = []
  readonly hashKeyIndexes: Array<number> = []
  readonly recordAt: Array<number> = []
  readonly dataStarts: Array<number> = []
  readonly dataEnds: Array<number> = []

  constructor(bytes: Uint8Array) {
    this.bytes = bytes
    this.text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    this.end = bytes.length - MD5_BYTES
  }

  /** A varint of at most 64 bits (10 bytes) ending by `limit`, as a number (exact below 2^53, ≥ 2^53 above). */
  varint64(limit: number): number {
    const start = this.pos
    let value = 0
    let scale = 1
    for (let i = 0; ; i++) {
      if (this.pos >= limit) throw new Malformed(`truncated varint at byte ${start}`)
      const byte = this.bytes[this.pos++]!
      // A 10th byte holds bit 63 only, and ends the varint.
      if (i === 9 && byte > 1) throw new Malformed(`varint at byte ${start} exceeds 64 bits`)
      value += (byte & 0x7f) * scale
      if (byte < 0x80) return value
      scale *= 128
    }
  }

  /** A varint of at most 32 bits (5 bytes) ending by `limit`: a tag or a length. */
  varint32(limit: number, what: string): number {
    const start = this.pos
    let value = 0
    let scale = 1
    for (let i = 0; ; i++) {
      if (this.pos >= limit) throw new Malformed(`truncated ${what} at byte ${start}`)
      const byte = this.bytes[this.pos++]!
      // A 5th byte holds bits 28–31 only, and ends the varint.
      if (i === 4 && byte > 0x0f) throw new Malformed(`${what} at byte ${start} exceeds 32 bits`)
      value += (byte & 0x7f) * scale
      if (byte < 0x80) return value
      scale *= 128
    }
  }

  /** A length prefix and the end of what it delimits, which must be by `limit`; moves past the prefix only. */
  delimited(limit: number, what: string): number {
    const at = this.pos
    const length = this.varint32(limit, `length of ${what}`)
    const end = this.pos + length
    if (end > limit) throw new Malformed(`${what} at byte ${at}: its ${length} bytes run past the end of the enclosing message at byte ${limit}`)
    return end
  }

  /** A field's tag: field number and wire type (field 0 and wire types 6, 7 are invalid). */
  tag(limit: number): number {
    const at = this.pos
    const tag = this.varint32(limit, "field tag")
    if (tag >>> 3 === 0) throw new Malformed(`field number 0 at byte ${at}`)
    if ((tag & 7) > 5) throw new Malformed(`invalid wire type ${tag & 7} at byte ${at}`)
    return tag
  }

  /** Checks a known field's wire type. */
  expect(tag: number, wireType: number, name: string, at: number): void {
    if ((tag & 7) !== wireType) throw new Malformed(`${name} at byte ${at} has wire type ${tag & 7} (${WIRE_TYPE_NAMES[tag & 7]}), expected ${wireType} (${WIRE_TYPE_NAMES[wireType]})`)
  }

  /** A length-delimited string, UTF-8 checked; answers it. */
  string(limit: number, name: string, at: number): string {
    const end = this.delimited(limit, name)
    const start = this.pos
    this.pos = end
    let ascii = true
    for (let i = start; i < end; i++) {
      if (this.bytes[i]! >= 0x80) {
        ascii = false
        break
      }
    }
    if (!ascii && !isUtf8(this.bytes.subarray(start, end))) throw new Malformed(`${name} at byte ${at} is not valid UTF-8`)
    return this.text.toString(ascii ? "latin1" : "utf8", start, end)
  }

  /** Skips an unknown field whose tag was just read (at `at`), groups included. */
  skip(tag: number, limit: number, at: number, depth: number): void {
    switch (tag & 7) {
      case 0:
        this.varint64(limit)
        return
      case 1:
      case 5: {
        const size = (tag & 7) === 1 ? 8 : 4
        if (this.pos + size > limit) throw new Malformed(`truncated ${size * 8}-bit field at byte ${at}`)
        this.pos += size
        return
      }
      case 2:
        this.pos = this.delimited(limit, `field ${tag >>> 3}`)
        return
      case 3: {
        if (depth >= MAX_GROUP_DEPTH) throw new Malformed(`groups nested deeper than ${MAX_GROUP_DEPTH} at byte ${at}`)
        for (;;) {
          const innerAt = this.pos
          if (innerAt >= limit) throw new Malformed(`group ${tag >>> 3} at byte ${at} is not closed`)
          const inner = this.tag(limit)
          if ((inner & 7) === 4) {
            if (inner >>> 3 !== tag >>> 3) throw new Malformed(`group ${tag >>> 3} at byte ${at} closed by field ${inner >>> 3} at byte ${innerAt}`)
            return
          }
          this.skip(inner, limit, innerAt, depth + 1)
        }
      }
      default:
        throw new Malformed(`end-group tag at byte ${at} without a matching start-group`)
    }
  }

  /** The AggregatedRecord: the whole protobuf. */
  aggregatedRecord(): void {
    const limit = this.end
    while (this.pos < limit) {
      const at = this.pos
      const tag = this.tag(limit)
      switch (tag >>> 3) {
        case 1:
          this.expect(tag, 2, "partition_key_table entry", at)
          this.keys.push(this.string(limit, "partition_key_table entry", at))
          break
        case 2:
          this.expect(tag, 2, "explicit_hash_key_table entry", at)
          this.string(limit, "explicit_hash_key_table entry", at)
          this.hashKeys++
          break
        case 3: {
          this.expect(tag, 2, "records entry", at)
          const end = this.delimited(limit, `record ${this.recordAt.length}`)
          this.record(at, end)
          break
        }
        default:
          this.skip(tag, limit, at, 0)
      }
    }
  }

  /** One Record (field 3), its fields from here to `limit`; `recordAt` is its tag's offset. */
  record(recordAt: number, limit: number): void {
    const n = this.recordAt.length
    let keyIndex = -1
    let hashKeyIndex = -1
    let dataStart = -1
    let dataEnd = -1
    while (this.pos < limit) {
      const at = this.pos
      const tag = this.tag(limit)
      switch (tag >>> 3) {
        case 1:
          this.expect(tag, 0, `record ${n}'s partition_key_index`, at)
          keyIndex = this.varint64(limit)
          break
        case 2:
          this.expect(tag, 0, `record ${n}'s explicit_hash_key_index`, at)
          hashKeyIndex = this.varint64(limit)
          break
        case 3:
          this.expect(tag, 2, `record ${n}'s data`, at)
          dataEnd = this.delimited(limit, `record ${n}'s data`)
          dataStart = this.pos
          this.pos = dataEnd
          break
        case 4: {
          this.expect(tag, 2, `record ${n}'s tag`, at)
          this.tagMessage(n, at, this.delimited(limit, `record ${n}'s tag`))
          break
        }
        default:
          this.skip(tag, limit, at, 0)
      }
    }
    if (keyIndex < 0) throw new Malformed(`record ${n} at byte ${recordAt} has no partition_key_index (a required field)`)
    if (dataStart < 0) throw new Malformed(`record ${n} at byte ${recordAt} has no data (a required field)`)
    this.keyIndexes.push(keyIndex)
    this.hashKeyIndexes.push(hashKeyIndex)
    this.recordAt.push(recordAt)
    this.dataStarts.push(dataStart)
    this.dataEnds.push(dataEnd)
  }

  /** One Tag of record `n` (field 4), its fields from here to `limit`: checked, not kept. */
  tagMessage(n: number, tagAt: number, limit: number): void {
    let hasKey = false
    while (this.pos < limit) {
      const at = this.pos
      const tag = this.tag(limit)
      switch (tag >>> 3) {
        case 1:
          this.expect(tag, 2, `record ${n}'s tag key`, at)
          this.string(limit, `record ${n}'s tag key`, at)
          hasKey = true
          break
        case 2:
          this.expect(tag, 2, `record ${n}'s tag value`, at)
          this.string(limit, `record ${n}'s tag value`, at)
          break
        default:
          this.skip(tag, limit, at, 0)
      }
    }
    if (!hasKey) throw new Malformed(`record ${n}'s tag at byte ${tagAt} has no key (a required field)`)
  }

  /** The user records, once every table is read (tables and records may come in any order). */
  userRecords(): Array<KplUserRecord> {
    const out = new Array<KplUserRecord>(this.recordAt.length)
    for (let i = 0; i < out.length; i++) {
      const keyIndex = this.keyIndexes[i]!
      const partitionKey = this.keys[keyIndex]
      if (partitionKey === undefined) {
        throw new Malformed(`record ${i} at byte ${this.recordAt[i]}: partition_key_index ${keyIndex} is outside the partition key table (${this.keys.length} entries)`)
      }
      const hashKeyIndex = this.hashKeyIndexes[i]!
      if (hashKeyIndex >= this.hashKeys) {
        throw new Malformed(`record ${i} at byte ${this.recordAt[i]}: explicit_hash_key_index ${hashKeyIndex} is outside the explicit hash key table (${this.hashKeys} entries)`)
      }
      out[i] = { partitionKey, data: this.bytes.subarray(this.dataStarts[i], this.dataEnds[i]) }
    }
    return out
  }
}

/**
 * Decodes a KPL aggregate (module header: format and rules) from a Kinesis record's bytes
 * that start with the magic number (`hasKplMagic`; without it this answers a failure too).
 * Answers its user records in order — user record i is `records[i]` of the protobuf, its
 * sub-sequence number — each with its partition key and a view of its data in `bytes`; or a
 * one-line reason (byte offsets counted from the record's first byte) when the checksum
 * does not match or the protobuf is malformed. Pure; never throws.
 */
export const decodeKplAggregate = (bytes: Uint8Array): Result.Result<ReadonlyArray<KplUserRecord>, string> => {
  if (!hasKplMagic(bytes)) return Result.fail("it does not start with the KPL magic number F3 89 9A C2")
  if (bytes.length < MAGIC_BYTES + MD5_BYTES) {
    return Result.fail(`${bytes.length} bytes are too few for the 4-byte magic number and the 16-byte MD5 checksum of an aggregate`)
  }
  const end = bytes.length - MD5_BYTES
  const protobuf = bytes.subarray(MAGIC_BYTES, end)
  const digest = hash("md5", protobuf, "buffer")
  for (let i = 0; i < MD5_BYTES; i++) {
    if (digest[i] !== bytes[end + i]) {
      return Result.fail(`checksum mismatch: the MD5 of its ${protobuf.length} protobuf bytes is ${digest.toString("hex")}, the record carries ${hex(bytes.subarray(end))}`)
    }
  }
  const parser = new Parser(bytes)
  try {
    parser.aggregatedRecord()
    return Result.succeed(parser.userRecords())
  } catch (error) {
    if (error instanceof Malformed) return Result.fail(error.reason)
    throw error
  }
}
