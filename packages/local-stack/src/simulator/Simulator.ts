/**
 * Runs the totesys activity model (SimulatorModel.ts, pure) against a real totesys
 * database: N days of history for an empty database, then live activity at a rate.
 *
 * Invariants:
 *  - Each simulated business event is one source transaction (its ops commit
 *    together), as the real application does; history is written in batches of
 *    events per transaction only to load faster, before any capture starts.
 *  - Primary keys come from the database's sequences (INSERT … RETURNING), so the
 *    simulator coexists with other writers; the model is told the ids it got.
 *  - Live pacing: after t seconds at `rate` changes/s, ⌊rate·t⌋ row changes have
 *    been committed (give or take one event); time comes from Effect's Clock.
 */
import { PRIMARY_KEY, TOTESYS_TABLES, quoteIdent } from "@totes-cdc/core"
import type { PgError, PgPool, PgSession } from "@totes-cdc/platform"
import { Clock, Effect, Ref, Schedule } from "effect"
import {
  type ExistingData,
  type SimState,
  type SimTxn,
  applyAssigned,
  historyConfig,
  initialState,
  liveConfig,
  makeFaker,
  nextHistoryAt,
  nextTxn,
  referenceData
} from "./SimulatorModel.ts"

/** Counters of committed simulated activity. */
export interface SimulatorStats {
  /** Source transactions committed. */
  readonly transactions: number
  /** Row changes (inserts + updates) committed. */
  readonly changes: number
}

const DAY_MS = 86_400_000

/** Reads the ids and unpaid payments the model must know of an existing database. */
export const readExisting = (pool: PgSession): Effect.Effect<ExistingData, PgError> =>
  Effect.gen(function* () {
    const ids = {} as Record<(typeof TOTESYS_TABLES)[number], ReadonlyArray<number>>
    for (const table of TOTESYS_TABLES) {
      const pk = PRIMARY_KEY[table]
      const rows = yield* pool.query(`SELECT ${pk} AS id FROM public.${quoteIdent(table)} ORDER BY ${pk}`)
      ids[table] = rows.map((row) => Number(row.id))
    }
    const unpaid = yield* pool.query(
      `SELECT payment_id AS id, (extract(epoch FROM created_at) * 1000)::bigint AS created_at, payment_date
         FROM public.payment WHERE NOT paid ORDER BY payment_id`
    )
    return {
      ids,
      unpaidPayments: unpaid.map((row) => ({
        id: Number(row.id),
        createdAt: Number(row.created_at),
        ...(row.payment_date === null || row.payment_date === undefined ? {} : { paymentDate: row.payment_date })
      }))
    }
  })

/** Executes one simulated transaction's ops on `session`; returns the PKs assigned to its inserts by ref. */
export const executeOps = (session: PgSession, txn: SimTxn): Effect.Effect<Record<string, number>, PgError> =>
  Effect.gen(function* () {
    const ids: Record<string, number> = {}
    for (const op of txn.ops) {
      const table = quoteIdent(op.table)
      const pk = PRIMARY_KEY[op.table]
      if (op.op === "insert") {
        const columns = Object.keys(op.row)
        const values = columns.map((c) => {
          const value = op.row[c]
          return value !== null && typeof value === "object" ? ids[value.ref] : value
        })
        const placeholders = columns.map((_, i) => `$${i + 1}`).join(", ")
        const [row] = yield* session.query(
          `INSERT INTO public.${table} (${columns.map(quoteIdent).join(", ")}) VALUES (${placeholders}) RETURNING ${pk} AS id`,
          values
        )
        ids[op.ref] = Number(row?.id)
      } else {
        const columns = Object.keys(op.set)
        const assignments = columns.map((c, i) => `${quoteIdent(c)} = $${i + 1}`).join(", ")
        yield* session.query(`UPDATE public.${table} SET ${assignments} WHERE ${pk} = $${columns.length + 1}`, [
          ...columns.map((c) => op.set[c]),
          op.id
        ])
      }
    }
    return ids
  })

/**
 * Fills an EMPTY totesys with `days` of history ending at `end` (epoch ms): the
 * reference tables, then business events at the real data's rates and hours
 * (weekdays 08:00–19:00 UTC) with the daily payment batch (SimulatorModel.ts).
 * Deterministic for (`seed`, `days`, `end`) on an empty database.
 * Returns what it committed. Fails with `PgError`.
 */
export const simulateHistory = (
  pool: PgPool,
  options: { readonly seed: number; readonly days: number; readonly end: number }
): Effect.Effect<SimulatorStats, PgError> =>
  Effect.gen(function* () {
    const faker = makeFaker(options.seed)
    let at = options.end - options.days * DAY_MS
    let state: SimState = initialState(yield* readExisting(pool), historyConfig)
    let stats: SimulatorStats = { transactions: 0, changes: 0 }
    const commit = (tx: PgSession, txn: SimTxn) =>
      executeOps(tx, txn).pipe(
        Effect.tap((ids) =>
          Effect.sync(() => {
            state = applyAssigned(state, txn, ids)
            stats = { transactions: stats.transactions + 1, changes: stats.changes + txn.ops.length }
          })
        )
      )
    yield* pool.transaction((tx) => commit(tx, referenceData(faker, at)))
    // Events are planned one by one (each needs the ids of the last) and committed
    // in batches of up to 500 per transaction: history predates any capture.
    let done = false
    while (!done) {
      yield* pool.transaction((tx) =>
        Effect.gen(function* () {
          for (let n = 0; n < 500; n++) {
            const candidate = nextHistoryAt(state, faker, at)
            if (candidate >= options.end) {
              done = true
              return
            }
            at = candidate
            yield* commit(tx, nextTxn(state, faker, at))
          }
        })
      )
    }
    return stats
  })

/**
 * Runs live activity at `rate` row changes per second until interrupted, each event
 * in its own transaction, counting into `stats`. Fails with `PgError`.
 */
export const runSimulator = (
  pool: PgPool,
  options: { readonly seed: number; readonly rate: number },
  stats: Ref.Ref<SimulatorStats>
): Effect.Effect<never, PgError> =>
  Effect.gen(function* () {
    const faker = makeFaker(options.seed)
    let state = initialState(yield* readExisting(pool), liveConfig)
    const started = yield* Clock.currentTimeMillis
    const tick = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const due = Math.floor((options.rate * (now - started)) / 1000)
      while ((yield* Ref.get(stats)).changes < due) {
        const txn = nextTxn(state, faker, yield* Clock.currentTimeMillis)
        const ids = yield* pool.transaction((tx) => executeOps(tx, txn))
        state = applyAssigned(state, txn, ids)
        yield* Ref.update(stats, (s) => ({ transactions: s.transactions + 1, changes: s.changes + txn.ops.length }))
      }
    })
    return yield* Effect.repeat(tick, Schedule.spaced("100 millis")).pipe(Effect.andThen(Effect.never))
  })
