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
 *  - A page of a table outside the joined source tables is a snapshot chunk (core's
 *    SnapshotChunk.ts, cdc-reader/SPEC.md "Snapshots"): stored in the raw archive first, then only
 *    its pointer goes to the producer. The joined tables' rows go as records (their
 *    changes keep to their one shard, and the join state is rebuilt from them).
 *  - The exporting replication connection stays open (idle) until the last table has
 *    been read: the snapshot is valid only that long.
 *  - The stream ends with one `Durable` marker at the consistent point.
 */
import {
  isJoinedSourceTable,
  makeSnapshotChunk,
  PRIMARY_KEY,
  type RowImage,
  snapshotChunkKey,
  snapshotRecord,
  snapshotStartRecord,
  type TotesysTable,
  quoteIdent,
  quoteLiteral
} from "@totes-cdc/core"
import { type PgError, type PgPool, Replication, type ReplicationError, S3, type S3Error } from "@totes-cdc/platform"
import { Clock, Effect, Option, Stream } from "effect"
import type { ProducerItem } from "./ProducerPlan.ts"

/** Rows fetched per round trip from a table's cursor: also the rows of a snapshot chunk (~2–3 MB of totesys change JSON). */
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
  /** Where snapshot chunks are stored: the ingestion bucket and its raw archive's prefix (core's `INGESTION_LAYOUT.rawPrefix`). */
  readonly chunks: { readonly bucket: string; readonly prefix: string }
}

/** The rows of `table` as of `snapshotName`, one element per page of at most `PAGE_ROWS`, on one reserved connection. */
const tablePages = (pool: PgPool, snapshotName: string, table: TotesysTable): Stream.Stream<ReadonlyArray<RowImage>, PgError> =>
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
          .pipe(Effect.map((rows) => [rows.length === 0 ? [] : [rows], rows.length < PAGE_ROWS ? Option.none() : Option.some(undefined)] as const))
      )
    })
  )

/**
 * Creates slot `options.slot` and streams every row of `options.tables` as of its
 * exported snapshot — the joined tables' rows as change records, every other table's as
 * chunk pointers (each chunk stored in `options.chunks` first) — then a `Durable` marker at
 * the consistent point. Fails with `ReplicationError` (slot creation), `PgError` (reading)
 * or `S3Error` (storing a chunk, after the S3 service's retries).
 */
export const snapshotStream = (
  pool: PgPool,
  options: SnapshotOptions
): Stream.Stream<ProducerItem, ReplicationError | PgError | S3Error, Replication | S3> =>
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
      const s3 = yield* S3
      const perTable = (table: TotesysTable) => {
        let count = 0
        let chunk = 0
        // The table's resync marker first: rows the snapshot does not bring back are gone (snapshotStartRecord).
        const start = Stream.sync((): ProducerItem => ({ _tag: "Change", record: snapshotStartRecord(table, { commitLsn: consistentPoint, commitIdx: index++ }, commitTs) }))
        const records = (page: ReadonlyArray<RowImage>) => {
          total += page.length
          count += page.length
          return page.map((row) => snapshotRecord(table, row, { commitLsn: consistentPoint, commitIdx: index++ }, commitTs))
        }
        const items = isJoinedSourceTable(table)
          ? (page: ReadonlyArray<RowImage>) => Effect.succeed(records(page).map((record): ProducerItem => ({ _tag: "Change", record })))
          : (page: ReadonlyArray<RowImage>) =>
              Effect.gen(function* () {
                const key = snapshotChunkKey(options.chunks.prefix, new Date(started), options.slot, consistentPoint, table, chunk++)
                const { body, pointer } = makeSnapshotChunk(options.chunks.bucket, key, records(page))
                yield* s3.putObject(options.chunks.bucket, key, body, "application/x-ndjson")
                return [{ _tag: "Chunk", pointer } satisfies ProducerItem]
              })
        const rows = tablePages(pool, snapshotName, table).pipe(
          Stream.mapEffect((page) => Effect.tap(items(page), () => report(table, count, false))),
          Stream.flattenIterable,
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
