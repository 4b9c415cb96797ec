/**
 * The poll reader (`READER_MODE=poll`, DESIGN.md §6), for read-only credentials: every
 * `intervalMs` it polls each captured table (PollCursor.ts has the rules) and hands the new
 * row versions to replication mode's Kinesis producer as `source: "poll"` records. Deletes,
 * truncates and updates that keep `last_updated` are invisible. Details: cdc-reader/SPEC.md §5.
 *
 * Invariants:
 *  - Preflight: only SELECT on every table (PollAccess.ts), checked before anything is read.
 *  - Durable before saved: a cycle's cursor state is written to S3 only once its `Durable`
 *    marker is reported; a crash re-reads from the last saved state (again, never skipped).
 *  - Bounded: one page (`pageRows`) read at a time; one pending state per cycle in flight.
 *  - One reader per name (like a replication slot): two instances would race on the state.
 *  - All reads go through one reserved connection with `DateStyle = 'ISO, YMD'`.
 */
import { type TotesysTable, compareLsn } from "@totes-cdc/core"
import type { PgPool, PgSession } from "@totes-cdc/platform"
import { Clock, Effect, Option, Result, Schedule, Stream } from "effect"
import type { SourceItem } from "../ProducerPlan.ts"
import { type ProducerConfig, runProducer } from "../KinesisProducer.ts"
import { ReaderError } from "../Reader.ts"
import type { ReaderStateLocation } from "../ReaderStateStore.ts"
import { checkPollAccess } from "./PollAccess.ts"
import {
  type PagePosition,
  type PolledRow,
  type PollState,
  type TableState,
  admit,
  cycleLsn,
  emptyTableState,
  firstPosition,
  nextPosition,
  pageQuery,
  readPolledRow,
  tablesOf,
  toChangeRecord,
  toPollState
} from "./PollCursor.ts"
import { loadPollState, pollStateKey, savePollState } from "./PollStateStore.ts"

export interface PollReaderConfig {
  /** Name of this reader's state object (`READER_SLOT`): `<prefix>poll/<name>.json`. */
  readonly name: string
  readonly tables: ReadonlyArray<TotesysTable>
  readonly state: ReaderStateLocation
  /** Pause between the end of one cycle and the start of the next, ms. */
  readonly intervalMs: number
  /** How far before each table's cursor a cycle starts reading, ms (late commits). */
  readonly overlapMs: number
  /** Rows per SELECT (LIMIT). */
  readonly pageRows: number
  readonly producer: ProducerConfig
}

/** Default `overlapMs`: 5 s. */
export const DEFAULT_POLL_OVERLAP_MS = 5_000
/** Default `pageRows`: 5,000. */
export const DEFAULT_POLL_PAGE_ROWS = 5_000

/** The source's WAL position, if the role may read it (not on a standby, nor where revoked). */
const currentWalLsn = (session: PgSession) =>
  session.query("SELECT pg_current_wal_lsn()::text AS lsn").pipe(Effect.map((rows) => rows[0]?.lsn ?? undefined))

/**
 * Runs the poll reader until interrupted. Fails with `ReaderError` (access, a row without
 * a usable `last_updated`), `ReaderStateError` (corrupt state object), or the errors of
 * PostgreSQL, Kinesis and S3. Needs Kinesis, S3 and DeadLetters.
 */
export const runPollReader = (pool: PgPool, config: PollReaderConfig) =>
  Effect.scoped(
    Effect.gen(function* () {
      if (!(config.pageRows >= 1 && config.overlapMs >= 0 && config.intervalMs >= 0)) {
        return yield* new ReaderError({
          message: `poll settings out of range (page ${config.pageRows} rows, overlap ${config.overlapMs} ms, interval ${config.intervalMs} ms); fix READER_POLL_PAGE_ROWS (≥ 1), READER_POLL_OVERLAP_MS and READER_POLL_INTERVAL_MS (≥ 0)`
        })
      }
      yield* checkPollAccess(pool, config.tables)
      const saved = yield* loadPollState(config.state, config.name)
      const where = `s3://${config.state.bucket}/${pollStateKey(config.state, config.name)}`
      yield* Effect.logInfo(
        saved === undefined
          ? `poll mode: no saved cursor at ${where}; the first cycle reads every row of ${config.tables.length} tables`
          : `poll mode: resuming from ${where} (saved ${saved.savedAt}, cycle ${saved.lsn})`
      )

      const session = yield* pool.reserve
      yield* session.query("SET DateStyle = 'ISO, YMD'")
      const walProbe = yield* Effect.result(currentWalLsn(session))
      const useWal = Result.isSuccess(walProbe) && walProbe.success !== undefined
      yield* Effect.logInfo(
        useWal
          ? "poll mode: records are ordered by the source's WAL position at each cycle's start (pg_current_wal_lsn)"
          : `poll mode: pg_current_wal_lsn() is not available (${Result.isFailure(walProbe) ? walProbe.failure.message : "no value"}); records are ordered by synthetic LSNs from the clock`
      )

      // The read position (moves as rows are read) and what awaits durability.
      const tables = tablesOf(saved, config.tables)
      let lastLsn = saved?.lsn
      const pending: Array<{ readonly lsn: string; readonly tables: ReadonlyMap<TotesysTable, TableState> }> = []

      const readPage = Effect.fn("PollReader.readPage")(function* (table: TotesysTable, position: PagePosition) {
        const { sql, params } = pageQuery(table, position, config.pageRows)
        const rows = yield* session.query(sql, params)
        const polled: Array<PolledRow> = []
        for (const row of rows) {
          const read = readPolledRow(table, row)
          if (Result.isFailure(read)) return yield* new ReaderError({ message: `poll mode: ${read.failure}` })
          polled.push(read.success)
        }
        return polled
      })

      /** One cycle: every table's new versions, then (if any) a marker carrying the cycle's state. */
      const cycle = Stream.unwrap(
        Effect.gen(function* () {
          const lsn = cycleLsn(useWal ? yield* currentWalLsn(session) : undefined, yield* Clock.currentTimeMillis, lastLsn)
          lastLsn = lsn
          let idx = 0
          const perTable = (table: TotesysTable) =>
            Stream.paginate(firstPosition(tables.get(table) ?? emptyTableState, config.overlapMs), (position: PagePosition) =>
              readPage(table, position).pipe(
                Effect.map((rows) => {
                  const { state, fresh } = admit(tables.get(table) ?? emptyTableState, rows, config.overlapMs)
                  tables.set(table, state)
                  const items = fresh.map((row): SourceItem => ({ _tag: "Change", record: toChangeRecord(table, row, lsn, idx++) }))
                  const last = rows.at(-1)
                  return [items, rows.length < config.pageRows || last === undefined ? Option.none() : Option.some(nextPosition(last))] as const
                })
              )
            )
          const marker: Stream.Stream<SourceItem> = Stream.unwrap(
            Effect.gen(function* () {
              yield* Effect.logDebug(`poll cycle ${lsn}: ${idx} changes`)
              if (idx === 0) return Stream.empty
              pending.push({ lsn, tables: new Map(tables) })
              const durable: SourceItem = { _tag: "Durable", lsn }
              return Stream.make(durable)
            })
          )
          return Stream.fromIterable(config.tables).pipe(Stream.flatMap(perTable), Stream.concat(marker))
        })
      )

      /**
       * Saves the latest cycle state not after `lsn` (every change before its marker is
       * durable). One S3 put, retried by the S3 service (`s3RetrySchedule`), not again here.
       */
      const onDurable = (lsn: string) =>
        Effect.gen(function* () {
          let latest: (typeof pending)[number] | undefined
          while (pending.length > 0 && compareLsn(pending[0]!.lsn, lsn) <= 0) latest = pending.shift()
          if (latest === undefined) return
          const savedAt = new Date(yield* Clock.currentTimeMillis).toISOString()
          const state: PollState = toPollState(config.name, latest.lsn, savedAt, latest.tables)
          yield* savePollState(config.state, state)
        })

      const items = cycle.pipe(Stream.repeat(Schedule.spaced(config.intervalMs)))
      yield* runProducer(items, config.producer, onDurable)
      return yield* new ReaderError({ message: `poll reader ${config.name} stopped unexpectedly` })
    })
  ).pipe(Effect.annotateLogs({ component: "cdc-reader", mode: "poll" }))
