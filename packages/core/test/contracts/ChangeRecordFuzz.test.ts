/**
 * Fuzzing the change-record decoder (contracts/ChangeRecord.ts, issue 16) with fast-check
 * (random seed; a failure prints its seed and shrunk counterexample): `decodeChangeRecord`
 * (the schema, as an Effect) fed the encoder's JSON mutated — bytes cut, flipped, inserted,
 * deleted, swapped; fields replaced by any JSON value, removed, added — and random text.
 *
 * Properties:
 *  - round trip: `decodeChangeRecord(encodeChangeRecord(r))` is `r`;
 *  - any text: the Exit is a Success or a Failure with the schema's error (`SchemaError`),
 *    never a defect, in bounded time; a decoded value is a ChangeRecord;
 *  - the hot path agrees: `looksLikeChangeRecord` never accepts what the schema rejects.
 *  (stream-processors/test/DecodeChangeFuzz.test.ts fuzzes the processor's byte-level
 *  `decodeChangeBytes` and the dead letters it leads to.)
 */
import { Effect, Exit, Schema } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { ChangeRecord, decodeChangeRecord, encodeChangeRecord, looksLikeChangeRecord } from "../../src/index.ts"

const isChangeRecord = Schema.is(ChangeRecord)

/** Column names, including the ones an ordinary object treats specially. */
const columnArb = fc.oneof({ weight: 5, arbitrary: fc.string({ maxLength: 8 }) }, { weight: 1, arbitrary: fc.constantFrom("__proto__", "constructor", "toString", "0", "payment_id") })
/** Text values: any Unicode, including NUL, a BOM, astral characters. */
const valueArb = fc.oneof(fc.string({ maxLength: 10 }), fc.string({ unit: "binary", maxLength: 6 }), fc.constantFrom("", "\uFEFF", "\0", "12345678901234567890.123456"))
const imageArb = fc.dictionary(columnArb, fc.option(valueArb, { nil: null }), { maxKeys: 4 })
const lsnArb = fc.tuple(fc.nat({ max: 0xffff_ffff }), fc.nat({ max: 0xffff_ffff })).map(([h, l]) => `${h.toString(16).toUpperCase()}/${l.toString(16).toUpperCase()}`)

/** A change record the encoder can write (the fields in the schema's order, as the reader builds them). */
const changeRecordArb: fc.Arbitrary<ChangeRecord> = fc.record({
  v: fc.constant(1 as const),
  source: fc.constantFrom("replication" as const, "snapshot" as const, "poll" as const),
  op: fc.constantFrom("insert" as const, "update" as const, "delete" as const, "truncate" as const, "read" as const),
  table: fc.oneof(fc.constantFrom("payment", "sales_order", "address"), fc.string({ maxLength: 8 })),
  key: imageArb,
  before: fc.option(imageArb, { nil: null }),
  after: fc.option(imageArb, { nil: null }),
  unchangedToast: fc.array(columnArb, { maxLength: 3 }),
  commitLsn: lsnArb,
  commitIdx: fc.oneof(fc.nat({ max: 1000 }), fc.maxSafeNat()),
  xid: fc.option(fc.nat({ max: 0xffff_ffff }), { nil: null }),
  commitTs: fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), fc.string({ maxLength: 8 }))
})

type Mutation =
  | { readonly kind: "truncate"; readonly at: number }
  | { readonly kind: "flip"; readonly at: number; readonly mask: number }
  | { readonly kind: "insert"; readonly at: number; readonly text: string }
  | { readonly kind: "delete"; readonly at: number; readonly length: number }
  | { readonly kind: "swap"; readonly at: number; readonly other: number; readonly length: number }

/** Damage to JSON text (characters, not bytes: the text is a string here). */
const textMutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 127 }) }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), text: fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom("{", "}", "[", "]", ",", ":", '"', "\\", "\\u", "null", "1e999", "-0", "\n")) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ kind: fc.constant("swap" as const), at: fc.nat(), other: fc.nat(), length: fc.integer({ min: 1, max: 10 }) })
)

const mutateText = (text: string, m: Mutation): string => {
  const n = text.length
  const at = n === 0 ? 0 : m.at % n
  switch (m.kind) {
    case "truncate":
      return text.slice(0, at)
    case "flip":
      return n === 0 ? text : `${text.slice(0, at)}${String.fromCharCode(text.charCodeAt(at) ^ m.mask)}${text.slice(at + 1)}`
    case "insert":
      return `${text.slice(0, at)}${m.text}${text.slice(at)}`
    case "delete":
      return `${text.slice(0, at)}${text.slice(at + m.length)}`
    case "swap": {
      if (n === 0) return text
      const [a, b] = [at, m.other % n].sort((x, y) => x - y) as [number, number]
      const length = Math.min(m.length, b - a)
      return length <= 0 ? text : `${text.slice(0, a)}${text.slice(b, b + length)}${text.slice(a + length, b)}${text.slice(a, a + length)}${text.slice(b + length)}`
    }
  }
}

const FIELDS = Object.keys(ChangeRecord.fields)

/** Damage to the record as JSON: a field replaced by any JSON value, removed, or an extra one added. */
const fieldMutationArb = fc.oneof(
  fc.record({ kind: fc.constant("replace" as const), field: fc.constantFrom(...FIELDS), value: fc.jsonValue({ maxDepth: 3 }) }),
  fc.record({ kind: fc.constant("remove" as const), field: fc.constantFrom(...FIELDS) }),
  fc.record({ kind: fc.constant("add" as const), field: fc.string({ maxLength: 6 }), value: fc.jsonValue({ maxDepth: 2 }) })
)

/** The schema's verdict on `text` as an Exit, checked: Success (a ChangeRecord) or Failure(SchemaError), never a defect. */
const schemaExit = (text: string) => {
  const started = performance.now()
  const exit = Effect.runSyncExit(decodeChangeRecord(text))
  expect(performance.now() - started).toBeLessThan(500)
  if (Exit.isSuccess(exit)) expect(isChangeRecord(exit.value)).toBe(true)
  else {
    expect(Exit.hasDies(exit)).toBe(false)
    const error = Exit.findErrorOption(exit)
    expect(error._tag === "Some" && error.value._tag).toBe("SchemaError")
  }
  return exit
}

/** The hot path never accepts what the schema rejects. */
const agrees = (text: string, exit: Exit.Exit<unknown, unknown>) => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return
  }
  if (looksLikeChangeRecord(value)) expect(Exit.isSuccess(exit), text).toBe(true)
}

describe("change-record decoder fuzzing (decodeChangeRecord)", () => {
  it("round trip: what the encoder writes decodes to the record written", () => {
    fc.assert(
      fc.property(changeRecordArb, (record) => {
        const text = encodeChangeRecord(record)
        const exit = schemaExit(text)
        expect(Exit.isSuccess(exit) && encodeChangeRecord(exit.value)).toBe(text)
        expect(looksLikeChangeRecord(JSON.parse(text))).toBe(true)
      }),
      { numRuns: 1000 }
    )
  })

  it("the encoder's JSON damaged as text: a record or a SchemaError, never a defect; the hot path agrees", () => {
    fc.assert(
      fc.property(changeRecordArb, fc.array(textMutationArb, { minLength: 1, maxLength: 4 }), (record, mutations) => {
        const text = mutations.reduce(mutateText, encodeChangeRecord(record))
        agrees(text, schemaExit(text))
      }),
      { numRuns: 2000 }
    )
  })

  it("the record damaged as JSON (fields replaced by any JSON value, removed, added): the same", () => {
    fc.assert(
      fc.property(changeRecordArb, fc.array(fieldMutationArb, { minLength: 1, maxLength: 3 }), (record, mutations) => {
        const value: Record<string, unknown> = JSON.parse(encodeChangeRecord(record))
        for (const m of mutations) {
          if (m.kind === "remove") delete value[m.field]
          else Object.defineProperty(value, m.field, { value: m.value, enumerable: true, writable: true, configurable: true })
        }
        const text = JSON.stringify(value)
        agrees(text, schemaExit(text))
      }),
      { numRuns: 2000 }
    )
  })

  it("any text, any JSON: the same", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 40 }), fc.json({ maxDepth: 4 }), fc.string({ unit: "binary", maxLength: 20 })), (text) => {
        agrees(text, schemaExit(text))
      }),
      { numRuns: 1000 }
    )
  })
})
