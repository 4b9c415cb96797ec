import { expect, layer } from "@effect/vitest"
import type { PgPool } from "@totes-cdc/platform"
import { emptyTotesys, TOTESYS_DUMP } from "../src/testing/index.ts"
import { Effect } from "effect"
import fc from "fast-check"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { LocalStack } from "../src/LocalStack.ts"
import { loadSeed } from "../src/totesys/SeedLoader.ts"

const DUMP = TOTESYS_DUMP
const SCHEMA_FILE = fileURLToPath(new URL("../../../../shared/totesys/oltp_schema.sql", import.meta.url))

const tempFile = (content: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const dir = await mkdtemp(join(tmpdir(), "seed-test-"))
      await writeFile(join(dir, "dump.sql"), content)
      return dir
    }),
    (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
  ).pipe(Effect.map((dir) => join(dir, "dump.sql")))

const rowCount = (db: PgPool, table: string) =>
  db.query(`SELECT count(*) AS n FROM public."${table}"`).pipe(Effect.map((rows) => rows[0]?.n))

const CURRENCIES = [
  "COPY public.currency (currency_id, currency_code, created_at, last_updated) FROM stdin;",
  "1\tGBP\t2022-11-03 14:20:49.962\t2022-11-03 14:20:49.962",
  "\\."
]

layer(LocalStack.layer(), { excludeTestServices: true })("seed loader", (it) => {
  it.effect("loads totesys-2024-02-23.sql with the row counts of totesys/README.md", () =>
    Effect.gen(function* () {
      const db = yield* emptyTotesys("seed_real")
      const counts = yield* loadSeed(db, DUMP)
      const expected = {
        address: 30, counterparty: 20, currency: 3, department: 8, design: 324, staff: 20,
        payment_type: 4, sales_order: 6941, purchase_order: 2958, transaction: 9899, payment: 9899
      }
      expect(counts).toEqual(expected)
      for (const [table, n] of Object.entries(expected)) expect(yield* rowCount(db, table)).toBe(String(n))

      // Quirks of the dump (totesys/README.md): 34 literal NULL cells in address, 6,021 paid payments.
      const [nulls] = yield* db.query(
        "SELECT count(*) FILTER (WHERE address_line_2 IS NULL) + count(*) FILTER (WHERE district IS NULL) AS n FROM address"
      )
      expect(nulls?.n).toBe("34")
      const [paid] = yield* db.query("SELECT count(*) AS n FROM payment WHERE paid")
      expect(paid?.n).toBe("6021")
      const [first] = yield* db.query("SELECT purchase_order_id FROM transaction WHERE transaction_id = 1")
      expect(first?.purchase_order_id).toBe("2")

      // Every FK is back (and so was re-validated) and sequences continue past the largest id.
      const [fks] = yield* db.query("SELECT count(*) AS n FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace")
      expect(fks?.n).toBe("17")
      const [next] = yield* db.query(
        "SELECT nextval('sales_order_sales_order_id_seq') AS so, nextval('payment_payment_id_seq') > (SELECT max(payment_id) FROM payment) AS after"
      )
      expect(next).toEqual({ so: "6942", after: "t" })
    })
  )

  it.effect("refuses a missing file, naming it and the fix", () =>
    Effect.gen(function* () {
      const db = yield* emptyTotesys("seed_missing")
      const error = yield* Effect.flip(loadSeed(db, "/no/such/dump.sql"))
      expect(error.message).toBe(
        "seed file /no/such/dump.sql does not exist or cannot be read; pass a pg_dump of totesys such as ../shared/totesys/totesys-2024-02-23.sql"
      )
    })
  )

  it.effect("refuses a file that is not a pg_dump with COPY blocks", () =>
    Effect.gen(function* () {
      const db = yield* emptyTotesys("seed_not_dump")
      const error = yield* Effect.flip(loadSeed(db, SCHEMA_FILE))
      expect(error._tag).toBe("SeedError")
      expect(error.message).toContain("has no \"COPY public.<table> (…) FROM stdin;\" block for a totesys table")
    })
  )

  it.effect("loads nothing when a row is bad, and names the line", () =>
    Effect.gen(function* () {
      const db = yield* emptyTotesys("seed_bad_row")
      const file = yield* tempFile(
        [
          ...CURRENCIES,
          'COPY public."transaction" (transaction_id, transaction_type, sales_order_id, purchase_order_id, created_at, last_updated) FROM stdin;',
          "1\tSALE\t1.5\t\\N\t2022-11-03 14:20:52.186\t2022-11-03 14:20:52.186",
          "\\."
        ].join("\n")
      )
      const error = yield* Effect.flip(loadSeed(db, file))
      expect(error.message).toBe(`${file}:5: transaction.sales_order_id = "1.5" is not an integer`)
      expect(yield* rowCount(db, "currency")).toBe("0")
    })
  )

  it.effect("loads nothing when the data breaks a foreign key", () =>
    Effect.gen(function* () {
      const db = yield* emptyTotesys("seed_bad_fk")
      const file = yield* tempFile(
        [
          ...CURRENCIES,
          "COPY public.staff (staff_id, first_name, last_name, department_id, email_address, created_at, last_updated) FROM stdin;",
          "1\tAda\tLovelace\t99\tada@terrifictotes.com\t2022-11-03 14:20:49.962\t2022-11-03 14:20:49.962",
          "\\."
        ].join("\n")
      )
      const error = yield* Effect.flip(loadSeed(db, file))
      expect(error.message).toContain("the data breaks staff_department_id_fkey")
      expect(yield* rowCount(db, "currency")).toBe("0")
      expect(yield* rowCount(db, "staff")).toBe("0")
    })
  )

  // Found by fuzzing (issue 16): a value PostgreSQL refused was named at the line the
  // reading had got to when the server's error came back — here the block's "\." line, 303.
  it.effect("names the line of a value PostgreSQL refuses, not the line the reading had got to", () =>
    Effect.gen(function* () {
      const db = yield* emptyTotesys("seed_refused_line")
      const rows = Array.from({ length: 300 }, (_, i) => `${i + 1}\tC${String(i).padStart(2, "0")}\t2022-11-03 14:20:49.962\t2022-11-03 14:20:49.962`)
      rows[2] = "3\tGBP\tnot a time\t2022-11-03 14:20:49.962"
      const file = yield* tempFile(["-- dump", CURRENCIES[0]!, ...rows, "\\."].join("\n"))
      const error = yield* Effect.flip(loadSeed(db, file))
      expect(error.message).toBe(`${file}:5: currency: invalid input syntax for type timestamp: "not a time" (SQLSTATE 22007)`)
      expect(yield* rowCount(db, "currency")).toBe("0")
    })
  )

  it.effect("fuzz: a value PostgreSQL refuses, anywhere in a block, is named at its own line (a few runs on the real server)", () =>
    Effect.gen(function* () {
      const db = yield* emptyTotesys("seed_refused_fuzz")
      const refused = fc.constantFrom(
        { column: 2, value: "not a time", sqlstate: "22007" },
        { column: 2, value: "2022-02-30 10:00:00", sqlstate: "22008" },
        { column: 0, value: "99999999999", sqlstate: "22003" },
        { column: 1, value: "GBPX", sqlstate: "22001" }
      )
      // fc.assert prints the seed and the shrunk case of a failure; each run loads into the same
      // database (every load fails and rolls back)
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(fc.integer({ min: 1, max: 400 }), fc.nat(), refused, fc.nat({ max: 3 }), (count, at, bad, preamble) =>
            Effect.runPromise(
              Effect.scoped(
                Effect.gen(function* () {
                  const rows = Array.from({ length: count }, (_, i) => [`${i + 1}`, `C${i % 100}`, "2022-11-03 14:20:49.962", "2022-11-03 14:20:49.962"])
                  const index = at % count
                  rows[index]![bad.column] = bad.value
                  const lines = [...Array.from({ length: preamble }, () => "--"), CURRENCIES[0]!, ...rows.map((r) => r.join("\t")), "\\.", ""]
                  const file = yield* tempFile(lines.join("\n"))
                  const error = yield* Effect.flip(loadSeed(db, file))
                  expect(error.message).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:${preamble + 2 + index}: currency: .*\\(SQLSTATE ${bad.sqlstate}\\)$`))
                })
              )
            )
          ),
          { numRuns: 20 }
        )
      )
      expect(yield* rowCount(db, "currency")).toBe("0")
    })
  )

  it.effect("refuses to seed a database that already holds rows", () =>
    Effect.gen(function* () {
      const db = yield* emptyTotesys("seed_twice")
      const file = yield* tempFile(CURRENCIES.join("\n"))
      expect((yield* loadSeed(db, file)).currency).toBe(1)
      const error = yield* Effect.flip(loadSeed(db, file))
      expect(error.message).toContain("already holds rows (currency: 1); seed only an empty database")
    })
  )
})
