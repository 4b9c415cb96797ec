/**
 * The source side of `totes-cdc verify` (I/O): the 11 totesys tables read in ONE
 * `REPEATABLE READ READ ONLY` transaction, with the WAL window [from, to] that snapshot
 * stands for (both `pg_current_wal_insert_lsn()`). Why it holds: ops/SPEC.md §4.
 *
 * Invariants:
 *  - Every transaction whose commit record precedes `from` is in the snapshot (retaken
 *    every 20 ms, up to `timeoutMs`, while one older than its fresh xid still runs).
 *  - Every transaction visible in the snapshot has a commit LSN < `to`.
 *  - Changes between `from` and `to` may or may not be there ("in flight", Reconcile.ts).
 *  - Rows are read as the reader's snapshot reads them: `SELECT *` per table in primary-key
 *    order, every value as PostgreSQL text.
 *  - Requires PostgreSQL ≥ 13 on a primary (not a standby).
 */
import { PRIMARY_KEY, quoteIdent, TOTESYS_TABLES, type TotesysTable } from "@totes-cdc/core"
import type { PgError, PgPool, Row } from "@totes-cdc/platform"
import { Effect, Schedule, Schema } from "effect"
import type { SourceRows } from "./Expected.ts"
import type { SnapshotWindow } from "./Reconcile.ts"

/** A consistent read of the source, with its window. */
export interface SourceSnapshot {
  readonly window: SnapshotWindow
  /** The transaction's start, ISO-8601 UTC. */
  readonly takenAt: string
  readonly rows: SourceRows
}

/** The source could not be read consistently; `message` says why and what to do. */
export class SourceSnapshotError extends Schema.TaggedError<SourceSnapshotError>()("SourceSnapshotError", {
  message: Schema.String
}) {}

/** A snapshot was taken while transactions that had ids before it was asked for still ran: take it again. */
class Unsettled extends Schema.TaggedError<Unsettled>()("Unsettled", { running: Schema.Array(Schema.String) }) {}

const one = (rows: ReadonlyArray<Row>, column: string): string => rows[0]?.[column] ?? ""

/** One attempt: the transaction, if no transaction with an id below `next` runs in its snapshot. */
const attempt = (pool: PgPool, next: string) =>
  pool.transaction((tx) =>
    Effect.gen(function* () {
      yield* tx.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
      const first = yield* tx.query(
        `SELECT pg_current_wal_insert_lsn()::text AS lsn,
                to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS taken_at,
                (SELECT string_agg(x::text, ',') FROM pg_snapshot_xip(pg_current_snapshot()) AS x
                  WHERE x < $1::xid8) AS running`,
        [next]
      )
      const running = first[0]?.running ?? null
      if (running !== null) return yield* new Unsettled({ running: running.split(",") })
      const rows = {} as Record<TotesysTable, ReadonlyArray<Row>>
      for (const table of TOTESYS_TABLES) {
        rows[table] = yield* tx.query(`SELECT * FROM public.${quoteIdent(table)} ORDER BY ${quoteIdent(PRIMARY_KEY[table])}`)
      }
      return { to: one(first, "lsn"), takenAt: one(first, "taken_at"), rows }
    })
  )

/**
 * Reads the 11 tables of the source behind `pool` consistently, with the snapshot's WAL
 * window (module header). Waits at most `timeoutMs` for transactions running at the start
 * to finish. Fails with `PgError`, or `SourceSnapshotError` when they do not finish in time.
 */
export const readSourceSnapshot = (pool: PgPool, timeoutMs: number): Effect.Effect<SourceSnapshot, PgError | SourceSnapshotError> =>
  Effect.gen(function* () {
    const from = one(yield* pool.query("SELECT pg_current_wal_insert_lsn()::text AS lsn"), "lsn")
    const next = one(yield* pool.query("SELECT pg_current_xact_id()::text AS next"), "next")
    const read = yield* attempt(pool, next).pipe(
      Effect.retry({
        schedule: Schedule.spaced("20 millis").pipe(Schedule.upTo({ duration: `${Math.max(timeoutMs, 0)} millis` })),
        while: (error) => error._tag === "Unsettled"
      }),
      Effect.catchTag("Unsettled", (error) =>
        Effect.fail(
          new SourceSnapshotError({
            message: `source snapshot: transaction(s) ${error.running.join(", ")} running at ${from} still not finished after ${Math.round(timeoutMs / 1000)} s; end them (pg_stat_activity shows them, backend_xid) or raise --timeout`
          })
        )
      )
    )
    return { window: { from, to: read.to }, takenAt: read.takenAt, rows: read.rows }
  })
