import { expect, layer } from "@effect/vitest"
import type { PgPool } from "@totes-cdc/platform"
import { emptyTotesys, TOTESYS_DUMP } from "../src/testing/index.ts"
import { Effect } from "effect"
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
