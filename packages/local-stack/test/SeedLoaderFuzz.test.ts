/**
 * Fuzzing the seed loader's parsing (issue 16) with fast-check (random seed; a failure
 * prints its seed and shrunk counterexample), without a database: the pg_dump rules
 * (DumpFormat.ts) and `loadSeed` (SeedLoader.ts) reading real files through a fake pool
 * whose COPY only takes the lines it is fed. What PostgreSQL itself refuses, and the line
 * it is named at, is SeedLoader.integration.test.ts's (a few runs on the embedded server).
 *
 * Properties:
 *  - `parseCopyHeader` and `repairDataLine` never throw; a problem carries the line given;
 *    a repaired line differs from its input only by the two documented repairs;
 *  - a dump written as pg_dump writes one, then damaged — cut at a random byte, bytes
 *    flipped, garbage inserted ("\n", "\r", tabs, U+2028, bytes that are not UTF-8, "\."),
 *    lines swapped, dropped or repeated — loads exactly as its "\n"-separated lines say
 *    (the model below): the rows of every block, as COPY gets them, or a `SeedError` naming
 *    the file and the first line with a problem; never a throw or a defect, in bounded time.
 */
import { COLUMNS, PRIMARY_KEY, TOTESYS_TABLES, type TotesysTable } from "@totes-cdc/core"
import { PgError, type PgPool, type PgSession } from "@totes-cdc/platform"
import { Effect, Exit } from "effect"
import fc from "fast-check"
import { byteMutations, linesOf, mutateBytes, utf8Bytes } from "@totes-cdc/core/testing"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { type CopyHeader, parseCopyHeader, repairDataLine } from "../src/totesys/DumpFormat.ts"
import { loadSeed } from "../src/totesys/SeedLoader.ts"

const dir = mkdtempSync(join(tmpdir(), "totes-cdc-seed-fuzz-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let files = 0
const file = (bytes: Uint8Array) => {
  const path = join(dir, `dump-${files++}.sql`)
  writeFileSync(path, bytes)
  return path
}

/** A pool whose COPY takes the lines it is fed (a throw of the feed is its PgError, as node-postgres' is), and whose totesys is empty. */
const fakePool = () => {
  const copied: Record<string, Array<string>> = {}
  const session: PgSession = {
    query: (sql) => Effect.succeed(sql.includes("count(*)") ? [Object.fromEntries(TOTESYS_TABLES.map((t) => [t, "0"]))] : []),
    script: () => Effect.succeed([]),
    copyIn: (sql, source) =>
      Effect.tryPromise({
        try: async () => {
          const table = /^COPY public\."?([a-z_]+)"?/.exec(sql)?.[1] ?? "?"
          const lines: Array<string> = []
          for await (const line of source as AsyncIterable<string>) lines.push(line)
          copied[table] = lines
          return lines.length
        },
        catch: (cause) => new PgError({ message: cause instanceof Error ? cause.message : String(cause), retryable: false, cause })
      })
  }
  const pool: PgPool = { ...session, target: "fake", reserve: Effect.succeed(session), transaction: (body) => body(session) }
  return { pool, copied }
}

// ---------------------------------------------------------------------------------------
// Dumps as pg_dump writes them

const INTEGERS = new Set([...Object.values(PRIMARY_KEY), "legal_address_id", "department_id", "design_id", "staff_id", "counterparty_id", "currency_id", "agreed_delivery_location_id", "sales_order_id", "purchase_order_id", "transaction_id", "payment_type_id", "units_sold", "item_quantity", "company_ac_number", "counterparty_ac_number"])

/** COPY text format escapes (pg_dump): backslash, tab, newline, carriage return; U+2028 and the rest stay as they are. */
const copyEscape = (text: string) => text.replace(/\\/g, "\\\\").replace(/\t/g, "\\t").replace(/\n/g, "\\n").replace(/\r/g, "\\r")

const textValue = fc.oneof(
  fc.string({ maxLength: 10 }),
  fc.string({ unit: "binary", maxLength: 4 }),
  fc.constantFrom("NULL", "O'Brien \\ Sons", "line\u2028separator", "para\u2029graph", "tab\there", "cr\r\nlf", "\uFEFFbom")
)
const valueArb = (table: TotesysTable, column: string): fc.Arbitrary<string> =>
  INTEGERS.has(column)
    ? fc.oneof(fc.nat({ max: 99999 }).map(String), fc.nat({ max: 999 }).map((n) => `${n}.0`), fc.constant("\\N"))
    : table === "address" && (column === "address_line_2" || column === "district")
      ? fc.oneof(fc.constant("NULL"), fc.constant("\\N"), textValue.map(copyEscape))
      : fc.oneof({ weight: 5, arbitrary: textValue.map(copyEscape) }, { weight: 1, arbitrary: fc.constant("\\N") })

const blockArb = (table: TotesysTable) =>
  fc.array(fc.tuple(...COLUMNS[table].map((column) => valueArb(table, column))), { maxLength: 5 }).map((rows) => [
    `COPY public.${table === "transaction" ? '"transaction"' : table} (${COLUMNS[table].join(", ")}) FROM stdin;`,
    ...rows.map((fields) => fields.join("\t")),
    "\\."
  ])

const PREAMBLE = ["--", "-- PostgreSQL database dump", "--", "", "SET client_encoding = 'UTF8';", "SET standard_conforming_strings = on;", ""]

/** A plain-format pg_dump's text: a preamble, then COPY blocks of some totesys tables, each followed by a blank line. */
const dumpArb = fc
  .subarray([...TOTESYS_TABLES], { maxLength: 4 })
  .chain((tables) => fc.tuple(...tables.map(blockArb)))
  .map((blocks) => `${[...PREAMBLE, ...blocks.flatMap((block) => [...block, ""]), "-- PostgreSQL database dump complete"].join("\n")}\n`)

// ---------------------------------------------------------------------------------------
// Damage

const mutationArb = byteMutations({ pieces: [...["\n", "\r", "\r\n", "\t", "\u2028", "\\.\n", "2.5", "NULL"].map(utf8Bytes), Uint8Array.of(0xff), Uint8Array.of(0xc3)], maxLength: 4, lines: true })

// ---------------------------------------------------------------------------------------
// The model: what loading must make of a dump's bytes (SeedLoader.ts header, DumpFormat.ts rules)

type Outcome = { readonly ok: true; readonly copied: Record<string, ReadonlyArray<string>> } | { readonly ok: false; readonly message: string }

const NOT_UTF8 = "the line is not UTF-8; pass a plain-format pg_dump written with client_encoding UTF8"
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

const model = (path: string, bytes: Uint8Array): Outcome => {
  const texts = linesOf(bytes).map((line) => {
    const end = line.length > 0 && line[line.length - 1] === 0x0d ? line.length - 1 : line.length
    try {
      return utf8.decode(line.subarray(0, end))
    } catch {
      return undefined
    }
  })
  const fail = (line: number, message: string): Outcome => ({ ok: false, message: `${path}:${line}: ${message}` })
  const copied: Record<string, Array<string>> = {}
  let i = 0
  while (i < texts.length) {
    const line = ++i
    const text = texts[line - 1]
    if (text === undefined) return fail(line, NOT_UTF8)
    const header = parseCopyHeader(text, line)
    if (header === undefined) continue
    if (header._tag === "DumpProblem") return fail(line, header.message)
    if (copied[header.table] !== undefined) return fail(line, `a second COPY block for ${header.table}`)
    const rows: Array<string> = (copied[header.table] = [])
    for (;;) {
      if (i >= texts.length) return fail(texts.length, `the COPY block for ${header.table} ends without its \\. line`)
      const row = ++i
      const data = texts[row - 1]
      if (data === undefined) return fail(row, NOT_UTF8)
      if (data === "\\.") break
      const repaired = repairDataLine(header, data, row)
      if (typeof repaired !== "string") return fail(row, repaired.message)
      rows.push(`${repaired}\n`)
    }
  }
  if (Object.keys(copied).length === 0) return { ok: false, message: `${path} has no "COPY public.<table> (…) FROM stdin;" block for a totesys table; pass a plain-format pg_dump of totesys` }
  return { ok: true, copied }
}

/** `loadSeed` on the fake pool, checked: a success or a SeedError (never a defect), compared with the model. */
const load = async (bytes: Uint8Array) => {
  const path = file(bytes)
  const { pool, copied } = fakePool()
  const started = performance.now()
  const exit = await Effect.runPromiseExit(loadSeed(pool, path))
  expect(performance.now() - started).toBeLessThan(2000)
  const expected = model(path, bytes)
  if (Exit.isSuccess(exit)) {
    expect(expected.ok ? expected.copied : expected.message).toEqual(copied)
    if (expected.ok) expect(exit.value).toEqual(Object.fromEntries(TOTESYS_TABLES.map((t) => [t, expected.copied[t]?.length ?? 0])))
  } else {
    expect(Exit.hasDies(exit)).toBe(false)
    const error = Exit.findErrorOption(exit)
    expect(error._tag === "Some" && error.value._tag).toBe("SeedError")
    expect(expected.ok ? "a load" : expected.message).toBe(error._tag === "Some" ? error.value.message : "")
  }
  return { path, exit }
}

// ---------------------------------------------------------------------------------------

describe("seed loader fuzzing: DumpFormat rules", () => {
  it("parseCopyHeader: any line gives a header of a totesys table, a problem at the line given, or nothing; never a throw", () => {
    const headerish = fc.oneof(
      fc.string({ maxLength: 60 }),
      fc
        .tuple(fc.constantFrom("COPY ", "COPY public.", "copy ", "COPY  public."), fc.oneof(fc.constantFrom(...TOTESYS_TABLES, '"transaction"', "customers"), fc.string({ maxLength: 6 })), fc.array(fc.oneof(fc.constantFrom("currency_id", "created_at", '"x"'), fc.string({ maxLength: 5 })), { maxLength: 4 }), fc.constantFrom(" FROM stdin;", " FROM stdin; ", " FROM STDIN;", ""))
        .map(([copy, table, columns, tail]) => `${copy}${table} (${columns.join(", ")})${tail}`)
    )
    fc.assert(
      fc.property(headerish, fc.nat(), (text, line) => {
        const parsed = parseCopyHeader(text, line)
        if (parsed === undefined) return
        if (parsed._tag === "DumpProblem") expect(parsed.line).toBe(line)
        else {
          expect(TOTESYS_TABLES).toContain(parsed.table)
          for (const column of parsed.columns) expect(COLUMNS[parsed.table]).toContain(column)
        }
      }),
      { numRuns: 2000 }
    )
  })

  it("repairDataLine: a problem at the line given, or the line with only the two documented repairs made", () => {
    const headerOf = (table: TotesysTable) => parseCopyHeader(`COPY public.${table} (${COLUMNS[table].join(", ")}) FROM stdin;`, 1) as CopyHeader
    const field = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom("NULL", "\\N", "2.0", "2.", "-3.000", "2.5", "1e3", "", "007", "+1"))
    fc.assert(
      fc.property(fc.constantFrom(...TOTESYS_TABLES), fc.array(field.filter((f) => !f.includes("\t")), { maxLength: 14 }), fc.nat(), (table, fields, line) => {
        const repaired = repairDataLine(headerOf(table), fields.join("\t"), line)
        if (typeof repaired !== "string") {
          expect(repaired.line).toBe(line)
          return
        }
        const out = repaired.split("\t")
        expect(out.length).toBe(COLUMNS[table].length)
        out.forEach((value, i) => {
          const column = COLUMNS[table][i]!
          const input = fields[i]!
          if (value === input) return
          if (table === "address" && (column === "address_line_2" || column === "district")) expect([input, value]).toEqual(["NULL", "\\N"])
          else {
            expect(INTEGERS.has(column)).toBe(true)
            expect(input).toMatch(/^-?\d+\.0*$/)
            expect(value).toBe(input.slice(0, input.indexOf(".")))
          }
        })
      }),
      { numRuns: 2000 }
    )
  })
})

describe("seed loader fuzzing: loadSeed reading a dump (fake pool)", () => {
  it("round trip: a dump as pg_dump writes it loads every block's rows, repaired, as COPY gets them", async () => {
    await fc.assert(
      fc.asyncProperty(dumpArb, async (text) => {
        const { exit } = await load(utf8Bytes(text))
        if (Exit.isFailure(exit)) expect(text).not.toContain("COPY public.") // a dump of no block is refused
      }),
      { numRuns: 100 }
    )
  })

  it("a damaged dump loads exactly as its lines say: its rows, or a SeedError naming the file and the first line with a problem", async () => {
    await fc.assert(
      fc.asyncProperty(dumpArb, fc.array(mutationArb, { minLength: 1, maxLength: 3 }), async (text, mutations) => {
        await load(mutations.reduce(mutateBytes, utf8Bytes(text)))
      }),
      { numRuns: 300 }
    )
  })

  it("random bytes, and random lines around a COPY header: the same", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc.array(fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom("COPY public.currency (currency_id, currency_code, created_at, last_updated) FROM stdin;", "\\.", "1\tGBP\tx\ty")), { maxLength: 8 }).map((lines) => utf8Bytes(lines.join("\n")))
        ),
        async (bytes) => {
          await load(bytes)
        }
      ),
      { numRuns: 200 }
    )
  })
})

describe("loadSeed, found by fuzzing", () => {
  const CURRENCY = "COPY public.currency (currency_id, currency_code, created_at, last_updated) FROM stdin;"
  const ADDRESS = `COPY public.address (${COLUMNS.address.join(", ")}) FROM stdin;`
  const TS = "2022-11-03 14:20:49.962"

  it("keeps a value holding U+2028 or U+2029 in its row (pg_dump leaves them unescaped; the row was split: '3 fields, expected 10')", async () => {
    const row = ["1", "1 High St\u2028Flat 2", "\\N", "Kent\u2029East", "Town", "AB1", "UK", "0", TS, TS].join("\t")
    const { exit } = await load(utf8Bytes([ADDRESS, row, "\\."].join("\n")))
    expect(Exit.isSuccess(exit) && exit.value.address).toBe(1)
  })

  it("names the line of the file when a line holds a stray \\r (readline split it there and counted a line more)", async () => {
    const bytes = utf8Bytes([CURRENCY, `1\tGBP\t${TS}\r\t${TS}`, `2\tUSD\t${TS}`, "\\."].join("\n"))
    const { path, exit } = await load(bytes)
    expect(Exit.isFailure(exit) && Exit.findErrorOption(exit)).toMatchObject({ _tag: "Some", value: { message: `${path}:3: currency row has 3 fields, expected 4` } })
  })

  it("refuses a line that is not UTF-8, naming it (it was loaded with U+FFFD in the value)", async () => {
    const bytes = Uint8Array.from([...utf8Bytes(`${CURRENCY}\n1\tGB`), 0xff, ...utf8Bytes(`\t${TS}\t${TS}\n\\.\n`)])
    const { path, exit } = await load(bytes)
    expect(Exit.isFailure(exit) && Exit.findErrorOption(exit)).toMatchObject({ _tag: "Some", value: { message: `${path}:2: ${NOT_UTF8}` } })
  })
})
