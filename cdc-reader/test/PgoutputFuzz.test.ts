/**
 * Fuzzing the reader's pgoutput path (issue 16), byte for byte as the reader runs it: an
 * XLogData payload → platform's `parseXLogData` (pg-logical-replication 2.5.0's parser with
 * the platform's text tuples, `TextPgoutputPlugin`; the binary parsing is the library's) →
 * this workspace's `Decoder` (messages → change records; the project's own layer).
 *
 * Properties (fast-check, random seed; a failure prints its seed and shrunk counterexample):
 *  - round trip: a transaction written as PostgreSQL writes it (PgoutputWire.ts) decodes
 *    to exactly the change records and Durable marker the module contract promises;
 *  - malformed input — a valid transaction's payloads cut short, bytes flipped, garbage
 *    inserted, bytes deleted, payloads dropped or repeated, or random bytes — never throws
 *    and never dies: each payload parses or is a `ReplicationError` naming its LSN, each
 *    message decodes or is a `DecodeError` naming it, and the Effect pipeline
 *    (`decodeStream`) ends in success or one of those typed failures;
 *  - the platform's own tuple reader accepts only what the library's reader accepts, with
 *    the same columns and values.
 */
import { TOTESYS_TABLES, PRIMARY_KEY, encodeChangeRecord, isTotesysTable } from "@totes-cdc/core"
import { parseXLogData, ReplicationError, TextPgoutputPlugin, type ReplicationMessage } from "@totes-cdc/platform"
import { Cause, Effect, Exit, Result, Stream } from "effect"
import fc from "fast-check"
import { PgoutputPlugin } from "pg-logical-replication"
import { describe, expect, it } from "vitest"
import { DecodeError, type DecoderState, decode, decodeStream, initialDecoderState } from "../src/Decoder.ts"
import type { SourceItem } from "../src/ProducerPlan.ts"
import {
  beginMessage,
  commitMessage,
  deleteMessage,
  insertMessage,
  logicalMessage,
  relationMessage,
  truncateMessage,
  updateMessage,
  type WireValue
} from "./PgoutputWire.ts"

const options = { protoVersion: 1 as const, publicationNames: ["p"], messages: true }

/** Microseconds between the Unix epoch and PostgreSQL's (2000-01-01). */
const PG_EPOCH_MICROS = 946_684_800_000_000n
/** The last microsecond a JavaScript Date (and so an ISO-8601 commitTs) can hold: +275760-09-13. */
const MAX_DATE_MICROS = 8_640_000_000_000_000_999n

// ---------------------------------------------------------------------------------------
// A transaction, as data, and the bytes PostgreSQL's walsender would send for it

interface Relation {
  readonly oid: number
  readonly name: string
  readonly columns: ReadonlyArray<string>
  readonly keyColumns: ReadonlyArray<string>
}

type Change =
  | { readonly op: "insert"; readonly rel: number; readonly values: ReadonlyArray<string | null> }
  | { readonly op: "update"; readonly rel: number; readonly values: ReadonlyArray<string | null | undefined>; readonly old: ReadonlyArray<string | null> | undefined }
  | { readonly op: "delete"; readonly rel: number; readonly values: ReadonlyArray<string | null> }
  | { readonly op: "truncate"; readonly rels: ReadonlyArray<number> }

interface Transaction {
  readonly finalLsn: bigint
  readonly endLsn: bigint
  readonly commitMicros: bigint
  readonly xid: number
  readonly relations: ReadonlyArray<Relation>
  readonly changes: ReadonlyArray<Change>
}

/** Text values: any Unicode (astral, NUL, a leading BOM), mostly short. */
const text = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: "binary", maxLength: 12 }),
  fc.constantFrom("", "\uFEFF", "\uFEFFbom first", "\0", "é€😀 \"quoted\"\n")
)

/** Column names: identifiers, including the ones an ordinary object treats specially. */
const columnName = fc.oneof({ weight: 6, arbitrary: fc.stringMatching(/^[a-z_][a-z0-9_]{0,8}$/) }, { weight: 1, arbitrary: fc.constantFrom("__proto__", "constructor", "toString", "payment_id", "address_id") })

/** Columns of a relation: at most this many (generators draw this many values, the wire uses the relation's count). */
const MAX_COLUMNS = 5
const MAX_RELATIONS = 3

const relationArb: fc.Arbitrary<Omit<Relation, "oid">> = fc
  .record({
    name: fc.oneof(fc.constantFrom(...TOTESYS_TABLES), fc.stringMatching(/^[a-z_][a-z0-9_]{0,10}$/)),
    columns: fc.uniqueArray(columnName, { minLength: 1, maxLength: MAX_COLUMNS }),
    isKey: fc.array(fc.boolean(), { minLength: MAX_COLUMNS, maxLength: MAX_COLUMNS })
  })
  .map(({ name, columns, isKey }) => ({ name, columns, keyColumns: columns.filter((_, i) => isKey[i]) }))

/** Values for up to MAX_COLUMNS columns; a change uses the first n. */
const valuesArb = <V>(value: fc.Arbitrary<V>) => fc.array(value, { minLength: MAX_COLUMNS, maxLength: MAX_COLUMNS })
const maybeText = fc.option(text, { nil: null })

/** A change of relation `rel` (an index, taken modulo the transaction's relations; values cut to its columns by `fitted`). */
const changeArb: fc.Arbitrary<Change> = fc.oneof(
  fc.record({ op: fc.constant("insert" as const), rel: fc.nat(MAX_RELATIONS - 1), values: valuesArb(maybeText) }),
  fc.record({
    op: fc.constant("update" as const),
    rel: fc.nat(MAX_RELATIONS - 1),
    values: valuesArb(fc.oneof(text, fc.constant(null), fc.constant(undefined))),
    old: fc.option(valuesArb(maybeText), { nil: undefined })
  }),
  fc.record({ op: fc.constant("delete" as const), rel: fc.nat(MAX_RELATIONS - 1), values: valuesArb(maybeText) }),
  fc.record({ op: fc.constant("truncate" as const), rels: fc.uniqueArray(fc.nat(MAX_RELATIONS - 1), { minLength: 1, maxLength: MAX_RELATIONS }) })
)

/** `change` made to fit `relations`: its relation index taken modulo their number, its values cut to that relation's columns. */
const fitted = (relations: ReadonlyArray<Relation>, change: Change): Change => {
  if (change.op === "truncate") return { ...change, rels: [...new Set(change.rels.map((i) => i % relations.length))] }
  const rel = change.rel % relations.length
  const n = relations[rel]!.columns.length
  if (change.op === "update") return { ...change, rel, values: change.values.slice(0, n), old: change.old?.slice(0, n) }
  return { ...change, rel, values: change.values.slice(0, n) }
}

const transactionArb: fc.Arbitrary<Transaction> = fc
  .record({
    finalLsn: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    length: fc.bigInt({ min: 0n, max: 1n << 20n }),
    commitMicros: fc.oneof(fc.bigInt({ min: PG_EPOCH_MICROS, max: 4_102_444_800_000_000n }), fc.bigInt({ min: PG_EPOCH_MICROS, max: MAX_DATE_MICROS })),
    xid: fc.nat({ max: 0xffff_ffff }),
    firstOid: fc.integer({ min: 1, max: 0x7fff_ffff - MAX_RELATIONS }),
    relations: fc.array(relationArb, { minLength: 1, maxLength: MAX_RELATIONS }),
    changes: fc.array(changeArb, { maxLength: 6 })
  })
  .map(({ finalLsn, length, commitMicros, xid, firstOid, relations, changes }) => {
    const withOids = relations.map((relation, i) => ({ ...relation, oid: firstOid + i }))
    return {
      finalLsn,
      endLsn: (finalLsn + length) & ((1n << 64n) - 1n),
      commitMicros,
      xid,
      relations: withOids,
      changes: changes.map((change) => fitted(withOids, change))
    }
  })

/** The transaction's XLogData payloads, in WAL order. */
const wire = (txn: Transaction): ReadonlyArray<Buffer> => [
  beginMessage(txn.finalLsn, txn.commitMicros, txn.xid),
  ...txn.relations.map((r) => relationMessage(r.oid, r.name, r.columns, r.keyColumns)),
  ...txn.changes.map((change) => {
    switch (change.op) {
      case "insert":
        return insertMessage(txn.relations[change.rel]!.oid, change.values)
      case "update":
        return updateMessage(txn.relations[change.rel]!.oid, change.values as ReadonlyArray<WireValue>, change.old)
      case "delete":
        return deleteMessage(txn.relations[change.rel]!.oid, change.values)
      case "truncate":
        return truncateMessage(change.rels.map((i) => txn.relations[i]!.oid))
    }
  }),
  logicalMessage(txn.finalLsn, "totes-cdc-heartbeat", "{}"),
  commitMessage(txn.finalLsn, txn.endLsn, txn.commitMicros)
]

// ---------------------------------------------------------------------------------------
// The module contract, written out: what the records of a transaction must be

/** What PostgreSQL's text value becomes: UTF-8 decoded, one leading BOM dropped (as TextDecoder does). */
const decoded = (value: string) => (value.startsWith("\uFEFF") ? value.slice(1) : value)

/** "16/B374D848": the canonical LSN text of a 64-bit position. */
const lsnText = (lsn: bigint) => `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffff_ffffn).toString(16).toUpperCase()}`

const iso = (micros: bigint) => `${new Date(Number(micros / 1000n)).toISOString().slice(0, -1)}${(micros % 1000n).toString().padStart(3, "0")}Z`

type Image = Record<string, string | null>

/** The own value of `column` in `tuple` (never an inherited one: a column may be named `toString`). */
const own = (tuple: Record<string, string | null | undefined> | null, column: string) => (tuple !== null && Object.hasOwn(tuple, column) ? tuple[column] : undefined)

const keyModel = (relation: Relation, first: Record<string, string | null | undefined> | null, second: Record<string, string | null | undefined> | null = null): Image =>
  Object.fromEntries(
    (isTotesysTable(relation.name) ? [PRIMARY_KEY[relation.name]] : relation.keyColumns).map((column) => [column, own(first, column) ?? own(second, column) ?? null])
  )

const zip = <V>(columns: ReadonlyArray<string>, values: ReadonlyArray<V>): Record<string, V> => Object.fromEntries(columns.map((c, i) => [c, values[i]!]))
const textValue = (value: string | null | undefined) => (typeof value === "string" ? decoded(value) : value)

/** The change records' JSON lines and the Durable marker the contract promises for `txn`. */
const expected = (txn: Transaction): ReadonlyArray<string> => {
  const base = { commitLsn: lsnText(txn.finalLsn), xid: txn.xid, commitTs: iso(txn.commitMicros) }
  const out: Array<string> = []
  let idx = 0
  const record = (table: string, op: string, key: Image, before: Image | null, after: Image | null, unchangedToast: ReadonlyArray<string>) =>
    out.push(
      JSON.stringify({ v: 1, source: "replication", op, table, key, before, after, unchangedToast, commitLsn: base.commitLsn, commitIdx: idx++, xid: base.xid, commitTs: base.commitTs })
    )
  for (const change of txn.changes) {
    if (change.op === "truncate") {
      for (const i of change.rels) record(txn.relations[i]!.name, "truncate", {}, null, null, [])
      continue
    }
    const relation = txn.relations[change.rel]!
    const { columns } = relation
    switch (change.op) {
      case "insert": {
        const after = zip(columns, change.values.map(textValue)) as Image
        record(relation.name, "insert", keyModel(relation, after), null, after, [])
        break
      }
      case "update": {
        const old = change.old === undefined ? null : (zip(columns, change.old.map(textValue)) as Image)
        const tuple = zip(
          columns,
          change.values.map((v, i) => (v === undefined ? own(old, columns[i]!) : textValue(v)))
        )
        const after = Object.fromEntries(Object.entries(tuple).filter(([, v]) => v !== undefined)) as Image
        const unchanged = columns.filter((c) => tuple[c] === undefined)
        record(relation.name, "update", keyModel(relation, tuple, old), old, after, unchanged)
        break
      }
      case "delete": {
        // 'K': the library keeps the key columns of the tuple, a null one as absent
        const tuple = zip(columns, change.values.map(textValue))
        const before = Object.fromEntries(relation.keyColumns.filter((c) => tuple[c] !== null).map((c) => [c, tuple[c]!])) as Image
        record(relation.name, "delete", keyModel(relation, before), before, null, [])
        break
      }
    }
  }
  out.push(`Durable ${lsnText(txn.endLsn === 0n ? txn.finalLsn : txn.endLsn)}`)
  return out
}

const show = (item: SourceItem) => (item._tag === "Change" ? encodeChangeRecord(item.record) : `Durable ${item.lsn}`)

/** A WAL position per payload, as the library reports an XLogData's start: upper-case hex, no padding. */
const lsnOf = (txn: Transaction, i: number) => lsnText(txn.finalLsn + BigInt(i))

// ---------------------------------------------------------------------------------------
// Malformed input

/** One way to damage bytes; positions are taken modulo the length. */
type Mutation =
  | { readonly kind: "truncate"; readonly at: number }
  | { readonly kind: "flip"; readonly at: number; readonly mask: number }
  | { readonly kind: "insert"; readonly at: number; readonly bytes: Uint8Array }
  | { readonly kind: "delete"; readonly at: number; readonly length: number }
  | { readonly kind: "set"; readonly at: number; readonly value: number }

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }),
  // a length, count or tag set to an extreme: 0x00, 0x7F, 0x80, 0xFF
  fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: fc.constantFrom(0x00, 0x7f, 0x80, 0xff) })
)

const mutate = (bytes: Uint8Array, mutation: Mutation): Buffer => {
  const at = bytes.length === 0 ? 0 : mutation.at % bytes.length
  const copy = Buffer.from(bytes)
  switch (mutation.kind) {
    case "truncate":
      return copy.subarray(0, at)
    case "flip":
      if (copy.length > 0) copy[at] = copy[at]! ^ mutation.mask
      return copy
    case "set":
      if (copy.length > 0) copy[at] = mutation.value
      return copy
    case "insert":
      return Buffer.concat([copy.subarray(0, at), mutation.bytes, copy.subarray(at)])
    case "delete":
      return Buffer.concat([copy.subarray(0, at), copy.subarray(at + mutation.length)])
  }
}

/** A damaged stream of payloads: some payloads mutated, some dropped or repeated, some random bytes added. */
const damagedArb = (payloads: ReadonlyArray<Buffer>): fc.Arbitrary<ReadonlyArray<Buffer>> =>
  fc.array(
    fc.oneof(
      { weight: 6, arbitrary: fc.tuple(fc.nat(payloads.length - 1), fc.array(mutationArb, { minLength: 1, maxLength: 3 })).map(([i, ms]) => ({ i, ms, random: undefined })) },
      { weight: 1, arbitrary: fc.tuple(fc.nat(payloads.length - 1), fc.constant([] as Array<Mutation>)).map(([i, ms]) => ({ i, ms, random: undefined })) },
      { weight: 1, arbitrary: fc.tuple(fc.nat(payloads.length), fc.uint8Array({ maxLength: 40 })).map(([i, random]) => ({ i, ms: [] as Array<Mutation>, random })) }
    ),
    { minLength: 1, maxLength: 3 }
  ).map((edits) => {
    const out = [...payloads]
    for (const { i, ms, random } of edits) {
      if (random !== undefined) out.splice(Math.min(i, out.length), 0, Buffer.from(random))
      else if (ms.length === 0) out.splice(i % Math.max(out.length, 1), 1) // drop one
      else if (out.length > 0) out[i % out.length] = ms.reduce(mutate, out[i % out.length]!)
    }
    return out
  })

/** Every message through parse and decode, checking each failure's type and position; answers how far it got. */
const runChecked = (payloads: ReadonlyArray<Buffer>, lsn: (i: number) => string): "decoded" | "parse failure" | "decode failure" => {
  const plugin = new TextPgoutputPlugin(options)
  let state: DecoderState = initialDecoderState
  for (let i = 0; i < payloads.length; i++) {
    const at = lsn(i)
    const parsed = parseXLogData(plugin, at, payloads[i]!) // must not throw
    if (Result.isFailure(parsed)) {
      expect(parsed.failure).toBeInstanceOf(ReplicationError)
      expect(parsed.failure.message).toContain(`the pgoutput message at ${at} (${payloads[i]!.length} bytes) does not parse: `)
      expect(parsed.failure.retryable).toBe(false)
      return "parse failure"
    }
    const step = decode(state, parsed.success) // must not throw
    if (Result.isFailure(step)) {
      expect(step.failure).toBeInstanceOf(DecodeError)
      expect(step.failure.lsn).toBe(at)
      expect(step.failure.message).toContain(` at ${at}`)
      expect(step.failure.messageTag).toBe(parsed.success.message.tag)
      return "decode failure"
    }
    state = step.success[0]
    for (const item of step.success[1]) if (item._tag === "Change") expectKeyFromImages(item.record.key, item.record.before, item.record.after)
  }
  return "decoded"
}

/** A change's key values come from its own row images (the new one first), or are null: never from anywhere else. */
const expectKeyFromImages = (key: Image, before: Image | null, after: Image | null) => {
  for (const [column, value] of Object.entries(key)) {
    if (value !== null) expect([own(after, column), own(before, column)]).toContain(value)
  }
}

/** The reader's pipeline over `payloads`: parse (failing with ReplicationError) then `decodeStream`, run to its Exit. */
const pipelineExit = (payloads: ReadonlyArray<Buffer>, lsn: (i: number) => string) => {
  const plugin = new TextPgoutputPlugin(options)
  const messages = Stream.fromIterable(payloads.map((bytes, i) => [bytes, lsn(i)] as const)).pipe(
    Stream.mapEffect(([bytes, at]) => Effect.fromResult(parseXLogData(plugin, at, bytes)))
  )
  return Effect.runSyncExit(Stream.runCollect(decodeStream<ReplicationError, never>(messages)))
}

const expectTypedExit = (exit: Exit.Exit<unknown, ReplicationError | DecodeError>) => {
  if (Exit.isSuccess(exit)) return
  expect(Cause.hasDies(exit.cause)).toBe(false)
  const error = Exit.findErrorOption(exit)
  expect(error._tag).toBe("Some")
  if (error._tag === "Some") expect(error.value._tag === "ReplicationError" || error.value._tag === "DecodeError").toBe(true)
}

// ---------------------------------------------------------------------------------------

describe("pgoutput fuzzing: parseXLogData → Decoder", () => {
  it("round trip: a transaction as PostgreSQL sends it decodes to the change records and the Durable marker of the contract", () => {
    fc.assert(
      fc.property(transactionArb, (txn) => {
        const plugin = new TextPgoutputPlugin(options)
        let state: DecoderState = initialDecoderState
        const items: Array<string> = []
        wire(txn).forEach((bytes, i) => {
          const message: ReplicationMessage = Result.getOrThrow(parseXLogData(plugin, lsnOf(txn, i), bytes))
          const [next, out] = Result.getOrThrow(decode(state, message))
          state = next
          items.push(...out.map(show))
        })
        expect(items).toEqual(expected(txn))
        expect(state).toEqual(initialDecoderState)
      }),
      { numRuns: 1000 }
    )
  })

  it("a damaged transaction never throws or dies: every failure is a ReplicationError or DecodeError naming the message's LSN", () => {
    fc.assert(
      fc.property(
        transactionArb.chain((txn) => fc.tuple(fc.constant(txn), damagedArb(wire(txn)))),
        ([txn, payloads]) => {
          const started = performance.now()
          runChecked(payloads, (i) => lsnOf(txn, i))
          expectTypedExit(pipelineExit(payloads, (i) => lsnOf(txn, i)))
          expect(performance.now() - started).toBeLessThan(1000)
        }
      ),
      { numRuns: 1500 }
    )
  })

  it("random payloads (after a Begin and a Relation) never throw or die", () => {
    const prefix = [beginMessage(0x16b374d848n, 1708682462345678n, 901), relationMessage(16384, "payment", ["payment_id", "amount", "paid"], ["payment_id"])]
    const tags = [..."BCDIMORTUY"].map((c) => c.charCodeAt(0))
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.uint8Array({ maxLength: 48 }),
            // a known message tag, then random bytes
            fc.tuple(fc.constantFrom(...tags), fc.uint8Array({ maxLength: 48 })).map(([t, rest]) => Uint8Array.of(t, ...rest)),
            // a change of the known relation, then random bytes
            fc.tuple(fc.constantFrom(0x49, 0x55, 0x44), fc.uint8Array({ maxLength: 40 })).map(([t, rest]) => Uint8Array.of(t, 0, 0, 0x40, 0, ...rest))
          ),
          { minLength: 1, maxLength: 4 }
        ),
        (randoms) => {
          const payloads = [...prefix, ...randoms.map((bytes) => Buffer.from(bytes))]
          const lsn = (i: number) => lsnText(0x16b374d848n + BigInt(i))
          runChecked(payloads, lsn)
          expectTypedExit(pipelineExit(payloads, lsn))
        }
      ),
      { numRuns: 1000 }
    )
  })

  it("the platform's tuple reader accepts only what the library's own reader accepts, with the same columns and values", () => {
    const columns = ["id", "name", "note", "data"]
    const payloads = [
      insertMessage(16384, ["7", "é€😀", "\uFEFFbom first", ""]),
      updateMessage(16384, ["7", "new", undefined, null], ["7", "old", "kept", null]),
      updateMessage(16384, ["7", null, undefined, Uint8Array.of(1, 2, 3)]),
      deleteMessage(16384, ["7", null, null, null])
    ]
    const entries = (tuple: Record<string, unknown> | null | undefined) => (tuple == null ? tuple : Object.entries(tuple))
    fc.assert(
      fc.property(fc.nat(payloads.length - 1), fc.array(mutationArb, { minLength: 1, maxLength: 3 }), (i, ms) => {
        const bytes = ms.reduce(mutate, payloads[i]!)
        const ours = new TextPgoutputPlugin(options)
        const stock = new PgoutputPlugin(options) // text (OID 25) values: node-postgres' text parser, the identity
        for (const plugin of [ours, stock]) plugin.parse(relationMessage(16384, "gadget", columns, ["id"]))
        const mine = Result.try(() => ours.parse(bytes))
        if (Result.isFailure(mine)) return
        const theirs = stock.parse(bytes) // must not throw where ours did not
        expect(theirs.tag).toBe(mine.success.tag)
        for (const part of ["new", "old", "key"] as const) {
          expect(entries((mine.success as unknown as Record<string, Record<string, unknown> | null>)[part])).toEqual(
            entries((theirs as unknown as Record<string, Record<string, unknown> | null>)[part])
          )
        }
      }),
      { numRuns: 1000 }
    )
  })
})
