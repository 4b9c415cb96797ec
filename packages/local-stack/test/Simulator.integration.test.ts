import { expect, layer } from "@effect/vitest"
import { COLUMNS, PRIMARY_KEY, TOTESYS_TABLES, quoteIdent } from "@totes-cdc/core"
import type { PgPool } from "@totes-cdc/platform"
import { emptyTotesys, TOTESYS_DUMP } from "../src/testing/index.ts"
import { Effect, Fiber, Ref, Schedule } from "effect"
import { LocalStack } from "../src/LocalStack.ts"
import { type SimulatorStats, runSimulator, simulateHistory } from "../src/simulator/Simulator.ts"
import { loadSeed } from "../src/totesys/SeedLoader.ts"

const DUMP = TOTESYS_DUMP
const END = Date.UTC(2024, 1, 23, 12, 0, 0)

/** Every row of every table, ordered by primary key. */
const contents = (db: PgPool) =>
  Effect.forEach(TOTESYS_TABLES, (table) =>
    db.query(`SELECT ${COLUMNS[table].map(quoteIdent).join(", ")} FROM public.${quoteIdent(table)} ORDER BY ${PRIMARY_KEY[table]}`)
  )

/** Rows whose FK points nowhere, per FK, found by anti-joins (0 everywhere when valid). */
const danglingReferences = (db: PgPool) =>
  db
    .query(
      `SELECT c.conrelid::regclass::text AS child, a.attname AS fk, c.confrelid::regclass::text AS parent, p.attname AS pk
         FROM pg_constraint c
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
         JOIN pg_attribute p ON p.attrelid = c.confrelid AND p.attnum = c.confkey[1]
        WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace`
    )
    .pipe(
      Effect.flatMap((fks) =>
        Effect.forEach(fks, (fk) =>
          db
            .query(
              `SELECT count(*) AS n FROM ${fk.child} x WHERE x.${fk.fk} IS NOT NULL
                 AND NOT EXISTS (SELECT 1 FROM ${fk.parent} y WHERE y.${fk.pk} = x.${fk.fk})`
            )
            .pipe(Effect.map((rows) => `${fk.child}.${fk.fk}: ${rows[0]?.n}`))
        )
      )
    )

layer(LocalStack.layer(), { excludeTestServices: true })("simulator on a real totesys", (it) => {
  it.effect("generates the same history for the same seed, another for another seed, with every FK valid", () =>
    Effect.gen(function* () {
      const a = yield* emptyTotesys("sim_a")
      const b = yield* emptyTotesys("sim_b")
      const c = yield* emptyTotesys("sim_c")
      const statsA = yield* simulateHistory(a, { seed: 7, days: 30, end: END })
      yield* simulateHistory(b, { seed: 7, days: 30, end: END })
      yield* simulateHistory(c, { seed: 8, days: 30, end: END })

      const rowsA = yield* contents(a)
      // Every change committed is a row inserted, or a payment flipped to paid (history has no other updates).
      const [paid] = yield* a.query("SELECT count(*) AS n FROM payment WHERE paid")
      expect(statsA.changes).toBe(rowsA.flat().length + Number(paid?.n))
      expect(yield* contents(b)).toEqual(rowsA)
      expect(yield* contents(c)).not.toEqual(rowsA)

      // About 30 business events per weekday (~21 weekdays in 30 days): hundreds of orders.
      const [orders] = yield* a.query(
        "SELECT (SELECT count(*) FROM sales_order) AS sales, (SELECT count(*) FROM purchase_order) AS purchases, (SELECT count(*) FROM transaction) AS transactions, (SELECT count(*) FROM payment) AS payments"
      )
      expect(Number(orders?.sales)).toBeGreaterThan(200)
      expect(Number(orders?.purchases)).toBeGreaterThan(80)
      expect(Number(orders?.transactions)).toBe(Number(orders?.sales) + Number(orders?.purchases))
      expect(orders?.payments).toBe(orders?.transactions)
      for (const line of yield* danglingReferences(a)) expect(line).toMatch(/: 0$/)
    })
  )

  it.effect("keeps adding activity at a rate on top of the real data set, every FK valid", () =>
    Effect.gen(function* () {
      const db = yield* emptyTotesys("sim_live")
      yield* loadSeed(db, DUMP)
      const stats = yield* Ref.make<SimulatorStats>({ transactions: 0, changes: 0 })
      const fiber = yield* Effect.forkChild(runSimulator(db, { seed: 1, rate: 500 }, stats))
      yield* Ref.get(stats).pipe(
        Effect.repeat({ until: (s) => s.changes >= 300, schedule: Schedule.spaced("20 millis") }),
        Effect.timeout("30 seconds")
      )
      yield* Fiber.interrupt(fiber)
      const committed = yield* Ref.get(stats)
      const [counts] = yield* db.query(
        "SELECT (SELECT count(*) FROM sales_order) + (SELECT count(*) FROM purchase_order) AS orders, (SELECT count(*) FROM transaction) AS transactions, (SELECT count(*) FROM payment) AS payments"
      )
      expect(Number(counts?.orders)).toBeGreaterThan(6941 + 2958)
      expect(counts?.transactions).toBe(counts?.orders)
      expect(counts?.payments).toBe(counts?.transactions)
      expect(committed.changes).toBeGreaterThanOrEqual(300)
      for (const line of yield* danglingReferences(db)) expect(line).toMatch(/: 0$/)
    })
  )
})
