/**
 * The consistent initial snapshot (DESIGN.md §6): the slot is created with an exported
 * snapshot on a replication connection, every table is read inside that snapshot
 * (`SET TRANSACTION SNAPSHOT`) as `op: "read"` records, and streaming then starts at
 * the slot's consistent point — so every row is captured exactly once across the two.
 *
 * Invariants:
 *  - Every record carries `commitLsn` = the consistent point and a `commitIdx` counting the
 *    whole snapshot's records from 0 in stream order — table load order (core's
 *    LOAD_ORDER), each table's resync marker then its rows by primary key — so the
 *    snapshot is in commit order as a recording must be.
 *  - Each table's rows follow its resync marker (core's `snapshotStartRecord`): in the
 *    warehouse, the snapshot replaces the table's older rows, so a row deleted while no
 *    slot existed does not survive a re-snapshot.
 *  - Rows stream through a server-side cursor in pages, so memory is bounded by the
 *    page size whatever the table size.
 *  - The exporting replication connection stays open (idle) until the last table has
 *    been read: the snapshot is valid only that long.
 *  - The stream ends with one `Durable` marker at the consistent point.
 */
import { PRIMARY_KEY, type TotesysTable, quoteIdent, quoteLiteral, snapshotRecord, snapshotStartRecord } from "@totes-cdc/core"
import { type PgError, type PgPool, Replication, type ReplicationError } from "@totes-cdc/platform"
import { Clock, Effect, Option, Stream } from "effect"
import type { ProducerItem } from "./ProducerPlan.ts"

/** Rows fetched per round trip from a table's cursor. */
const PAGE_ROWS = 5_000

/** Progress of a running snapshot: rows read so far, per table. */
export interface SnapshotProgress {
  readonly table: TotesysTable
  readonly tableRows: number
  readonly totalRows: number
  /** Rows per second since the snapshot started. */
  readonly rowsPerSecond: number
  readonly done: boolean
}

export interface SnapshotOptions {
  readonly slot: string
  readonly tables: ReadonlyArray<TotesysTable>
  /** Called at most about once a second and at the end of each table. */
  readonly onProgress: (progress: SnapshotProgress) => Effect.Effect<void>
  /** Called once the slot exists, with its consistent point (before any row is read). */
  readonly onSlotCreated: (consistentPoint: string) => Effect.Effect<void>
}

/** The rows of `table` as of `snapshotName`, page by page, on one reserved connection. */
const tableRows = (pool: PgPool, snapshotName: string, table: TotesysTable) =>
  Stream.unwrap(
    Effect.gen(function* () {
      const session = yield* pool.reserve
      yield* session.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
      // SET TRANSACTION SNAPSHOT takes no parameter: the server's snapshot name as a literal.
      yield* session.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(snapshotName)}`)
      yield* session.query(
        `DECLARE snapshot_rows NO SCROLL CURSOR FOR SELECT * FROM public.${quoteIdent(table)} ORDER BY ${quoteIdent(PRIMARY_KEY[table])}`
      )
      yield* Effect.addFinalizer(() => Effect.ignore(session.query("ROLLBACK")))
      return Stream.paginate(undefined, () =>
        session
          .query(`FETCH ${PAGE_ROWS} FROM snapshot_rows`)
          .pipe(Effect.map((rows) => [rows, rows.length < PAGE_ROWS ? Option.none() : Option.some(undefined)] as const))
      )
    })
  )

/**
 * Creates slot `options.slot` and streams every row of `options.tables` as of its
 * exported snapshot, then a `Durable` marker at the consistent point.
 * Fails with `ReplicationError` (slot creation) or `PgError` (reading).
 */
export const snapshotStream = (
  pool: PgPool,
  options: SnapshotOptions
): Stream.Stream<ProducerItem, ReplicationError | PgError, Replication> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const { consistentPoint, snapshotName } = yield* (yield* Replication).createSlotWithSnapshot(options.slot)
      yield* options.onSlotCreated(consistentPoint)
      const started = yield* Clock.currentTimeMillis
      const commitTs = new Date(started).toISOString()
      let total = 0
      let lastReport = started
      const report = (table: TotesysTable, tableRows: number, done: boolean) =>
        Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          if (!done && now - lastReport < 1_000) return
          lastReport = now
          const seconds = Math.max((now - started) / 1000, 0.001)
          yield* options.onProgress({ table, tableRows, totalRows: total, rowsPerSecond: Math.round(total / seconds), done })
        })
      /** The next record's index in the snapshot (markers and rows; `total` counts rows only). */
      let index = 0
      const perTable = (table: TotesysTable) => {
        let count = 0
        // The table's resync marker first: rows the snapshot does not bring back are gone (snapshotStartRecord).
        const start = Stream.sync((): ProducerItem => ({ _tag: "Change", record: snapshotStartRecord(table, { commitLsn: consistentPoint, commitIdx: index++ }, commitTs) }))
        const rows = tableRows(pool, snapshotName, table).pipe(
          Stream.map((row): ProducerItem => {
            const record = snapshotRecord(table, row, { commitLsn: consistentPoint, commitIdx: index++ }, commitTs)
            total++
            count++
            return { _tag: "Change", record }
          }),
          Stream.tap(() => report(table, count, false)),
          Stream.onEnd(Effect.suspend(() => report(table, count, true)))
        )
        return Stream.concat(start, rows)
      }
      const marker: ProducerItem = { _tag: "Durable", lsn: consistentPoint }
      return Stream.fromIterable(options.tables).pipe(
        Stream.flatMap(perTable),
        Stream.concat(Stream.make(marker))
      )
    })
  )
