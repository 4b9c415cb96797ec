/**
 * Pure logic of poll mode (`READER_MODE=poll`, DESIGN.md §6): per table a cursor, the
 * greatest `(last_updated, pk)` emitted, and a dedupe window; each cycle reads the rows with
 * `last_updated >= cursor - overlap` in `(last_updated, pk)` pages. No I/O (`PollReader.ts`
 * runs it). Details: cdc-reader/SPEC.md §4.
 *
 * Invariants:
 *  - Cursor and page boundaries are the PAIR `(last_updated, pk)`, never the time alone.
 *  - A late commit older than `cursor - overlap` is NOT seen: the overlap bounds how late.
 *  - Dedupe: a version `(key, last_updated)` is emitted once; the window holds one overlap.
 *  - Deletes, truncates and updates that keep `last_updated` are invisible.
 *  - Op: `"insert"` when `created_at = last_updated`, else `"update"`.
 *  - Cycle `commitLsn`s strictly increase (also across restarts); `commitIdx` = position in
 *    the cycle; `commitTs` = the row's `last_updated` as ISO-8601 UTC.
 */
import { type ChangeRecord, LsnString, PRIMARY_KEY, type RowImage, type TotesysTable, formatLsn, parseLsn, quoteIdent } from "@totes-cdc/core"
import { Result, Schema } from "effect"

// ---------------------------------------------------------------- timestamps

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/

/**
 * Microseconds since the Unix epoch of a `timestamp without time zone` in PostgreSQL's
 * ISO text form (`'2022-12-15 11:55:10.28'`, read as UTC); undefined when it is not one
 * (e.g. `infinity`, BC dates, another DateStyle).
 */
export const parseTimestamp = (text: string): number | undefined => {
  const m = TIMESTAMP.exec(text)
  if (m === null) return undefined
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number]
  const date = new Date(0)
  date.setUTCFullYear(year, month - 1, day)
  date.setUTCHours(hour, minute, second, 0)
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) {
    return undefined
  }
  return date.getTime() * 1000 + Number((m[7] ?? "").padEnd(6, "0"))
}

const splitMicros = (micros: number) => {
  const ms = Math.floor(micros / 1000)
  return { iso: new Date(ms).toISOString(), extra: micros - ms * 1000 }
}

/** `'YYYY-MM-DD HH:MM:SS.ffffff'`: a timestamp literal PostgreSQL reads back exactly. */
export const formatTimestamp = (micros: number): string => {
  const { iso, extra } = splitMicros(micros)
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}${String(extra).padStart(3, "0")}`
}

/** ISO-8601 UTC (`2024-02-23T10:11:12.345Z`; six fraction digits only when there are microseconds). */
export const isoUtc = (micros: number): string => {
  const { iso, extra } = splitMicros(micros)
  return extra === 0 ? iso : `${iso.slice(0, -1)}${String(extra).padStart(3, "0")}Z`
}

// ---------------------------------------------------------------- cursor

/** A position in a table's `(last_updated, pk)` order, both in text form. */
export interface Cursor {
  readonly lastUpdated: string
  readonly pk: string
}

const micros = (text: string): number => parseTimestamp(text) ?? Number.NaN

/** Negative, zero or positive as `a` is before, at or after `b`: by time, then by pk as an integer. */
export const compareCursor = (a: Cursor, b: Cursor): number => {
  const byTime = micros(a.lastUpdated) - micros(b.lastUpdated)
  if (byTime !== 0) return Math.sign(byTime)
  const d = BigInt(a.pk) - BigInt(b.pk)
  return d < 0n ? -1 : d > 0n ? 1 : 0
}

// ---------------------------------------------------------------- rows

/** A polled row with what the cursor and the envelope need, parsed once. */
export interface PolledRow {
  /** Primary-key value (text). */
  readonly key: string
  /** `last_updated` as PostgreSQL sent it, and in microseconds. */
  readonly lastUpdated: string
  readonly lastUpdatedMicros: number
  readonly createdAtMicros: number
  /** The whole row, PostgreSQL's text per column. */
  readonly row: RowImage
}

/** Reads the key and timestamps of a row of `table`; fails with a one-line reason. */
export const readPolledRow = (table: TotesysTable, row: RowImage): Result.Result<PolledRow, string> => {
  const pk = PRIMARY_KEY[table]
  const key = row[pk]
  if (key === undefined || key === null || !/^-?\d+$/.test(key)) return Result.fail(`${table}: primary key ${pk} is ${String(key)}, not an integer`)
  const lastUpdated = row.last_updated
  const lastUpdatedMicros = lastUpdated === undefined || lastUpdated === null ? undefined : parseTimestamp(lastUpdated)
  if (lastUpdated === undefined || lastUpdated === null || lastUpdatedMicros === undefined) {
    return Result.fail(`${table} ${pk}=${key}: last_updated is ${String(lastUpdated)}, not an ISO timestamp (poll mode needs it on every row)`)
  }
  const createdAt = row.created_at
  const createdAtMicros = createdAt === undefined || createdAt === null ? undefined : parseTimestamp(createdAt)
  if (createdAtMicros === undefined) return Result.fail(`${table} ${pk}=${key}: created_at is ${String(createdAt)}, not an ISO timestamp`)
  return Result.succeed({ key, lastUpdated, lastUpdatedMicros, createdAtMicros, row })
}

/** `"insert"` when `created_at = last_updated` (never updated since created), else `"update"`. */
export const inferOp = (row: PolledRow): "insert" | "update" =>
  row.createdAtMicros === row.lastUpdatedMicros ? "insert" : "update"

/** The change record (envelope v1, `source: "poll"`) of a polled row version. */
export const toChangeRecord = (table: TotesysTable, row: PolledRow, commitLsn: string, commitIdx: number): ChangeRecord => ({
  v: 1,
  source: "poll",
  op: inferOp(row),
  table,
  key: { [PRIMARY_KEY[table]]: row.key },
  before: null,
  after: row.row,
  unchangedToast: [],
  commitLsn,
  commitIdx,
  xid: null,
  commitTs: isoUtc(row.lastUpdatedMicros)
})

// ---------------------------------------------------------------- table state

/** What the reader knows of one table: the greatest position emitted and the dedupe window. */
export interface TableState {
  readonly cursor: Cursor | null
  /** pk → `last_updated` emitted for it, for the rows inside the overlap window only. */
  readonly window: ReadonlyMap<string, string>
}

export const emptyTableState: TableState = { cursor: null, window: new Map() }

/** Oldest `last_updated` (µs) a cycle reads, and keeps in the window; undefined = from the start. */
const floorMicros = (cursor: Cursor | null, overlapMs: number): number | undefined =>
  cursor === null ? undefined : micros(cursor.lastUpdated) - overlapMs * 1000

/**
 * Takes one page of rows (in `(last_updated, pk)` order) into the table's state: returns
 * the rows to emit (versions not emitted yet) and the new state — cursor moved to the
 * greatest position emitted, window holding the emitted versions and pruned below
 * `cursor - overlapMs`.
 */
export const admit = (
  state: TableState,
  rows: ReadonlyArray<PolledRow>,
  overlapMs: number
): { readonly state: TableState; readonly fresh: ReadonlyArray<PolledRow> } => {
  const window = new Map(state.window)
  let cursor = state.cursor
  const fresh: Array<PolledRow> = []
  for (const row of rows) {
    const emitted = window.get(row.key)
    if (emitted !== undefined && micros(emitted) === row.lastUpdatedMicros) continue
    fresh.push(row)
    window.set(row.key, row.lastUpdated)
    const position = { lastUpdated: row.lastUpdated, pk: row.key }
    if (cursor === null || compareCursor(position, cursor) > 0) cursor = position
  }
  const floor = floorMicros(cursor, overlapMs)
  if (floor !== undefined && cursor !== state.cursor) {
    for (const [key, lastUpdated] of window) if (micros(lastUpdated) < floor) window.delete(key)
  }
  return { state: { cursor, window }, fresh }
}

// ---------------------------------------------------------------- page queries

/** Where a page starts: the whole table, at a time (a cycle's first page), or after a position. */
export type PagePosition =
  | { readonly _tag: "Start" }
  | { readonly _tag: "From"; readonly lastUpdated: string }
  | { readonly _tag: "After"; readonly cursor: Cursor }

/** A cycle's first page of a table: from `cursor.last_updated - overlap`, or the start. */
export const firstPosition = (state: TableState, overlapMs: number): PagePosition => {
  const floor = floorMicros(state.cursor, overlapMs)
  return floor === undefined ? { _tag: "Start" } : { _tag: "From", lastUpdated: formatTimestamp(floor) }
}

/** The position after the last row of a full page (the next page's start). */
export const nextPosition = (last: PolledRow): PagePosition => ({ _tag: "After", cursor: { lastUpdated: last.lastUpdated, pk: last.key } })

/** The SELECT of one page of `table` from `position`, `pageRows` rows at most. */
export const pageQuery = (
  table: TotesysTable,
  position: PagePosition,
  pageRows: number
): { readonly sql: string; readonly params: ReadonlyArray<string | number> } => {
  const pk = quoteIdent(PRIMARY_KEY[table])
  const from = `SELECT * FROM public.${quoteIdent(table)}`
  const order = `ORDER BY last_updated, ${pk}`
  switch (position._tag) {
    case "Start":
      return { sql: `${from} ${order} LIMIT $1`, params: [pageRows] }
    case "From":
      return { sql: `${from} WHERE last_updated >= $1::timestamp ${order} LIMIT $2`, params: [position.lastUpdated, pageRows] }
    case "After":
      return {
        sql: `${from} WHERE (last_updated, ${pk}) > ($1::timestamp, $2::bigint) ${order} LIMIT $3`,
        params: [position.cursor.lastUpdated, position.cursor.pk, pageRows]
      }
  }
}

// ---------------------------------------------------------------- ordering key

/**
 * The `commitLsn` of a cycle: the source's WAL position read at its start (`walLsn`),
 * or without one the synthetic LSN of `nowMs` (µs since the epoch as a 64-bit position);
 * never below `previous` + 1, so cycle LSNs strictly increase.
 */
export const cycleLsn = (walLsn: string | undefined, nowMs: number, previous: string | undefined): string => {
  const source = walLsn === undefined ? BigInt(Math.floor(nowMs)) * 1000n : parseLsn(walLsn)
  const floor = previous === undefined ? 0n : parseLsn(previous) + 1n
  return formatLsn(source > floor ? source : floor)
}

// ---------------------------------------------------------------- saved state

const TimestampText = Schema.String.check(Schema.isPattern(TIMESTAMP, { message: "Expected a timestamp such as 2024-02-23 10:11:12.345" }))
const KeyText = Schema.String.check(Schema.isPattern(/^-?\d+$/, { message: "Expected an integer primary key" }))

/** One table in the saved state. */
export const PollTableStateSchema = Schema.Struct({
  cursor: Schema.NullOr(Schema.Struct({ lastUpdated: TimestampText, pk: KeyText })),
  /**
   * The dedupe window grouped by timestamp: last_updated → the pks emitted with it (rows
   * sharing a timestamp, as after a bulk load, cost a few bytes each).
   */
  window: Schema.Array(Schema.Struct({ lastUpdated: TimestampText, pks: Schema.Array(KeyText) }))
})

/** The poll reader's durable state: one JSON object, written once a cycle's rows are durable. */
export const PollStateSchema = Schema.Struct({
  version: Schema.Literal(1),
  /** The reader's name (READER_SLOT), also in the object's key. */
  name: Schema.String,
  /** `commitLsn` of the last durable cycle: the next cycle's LSN is greater. */
  lsn: LsnString,
  savedAt: Schema.String,
  tables: Schema.Record(Schema.String, PollTableStateSchema)
})
export type PollState = typeof PollStateSchema.Type

/** The state to save after the cycle `lsn`, with each table's cursor and window. */
export const toPollState = (name: string, lsn: string, savedAt: string, tables: ReadonlyMap<TotesysTable, TableState>): PollState => ({
  version: 1,
  name,
  lsn,
  savedAt,
  tables: Object.fromEntries([...tables].map(([table, state]) => [table, { cursor: state.cursor, window: groupByTimestamp(state.window) }]))
})

const groupByTimestamp = (window: ReadonlyMap<string, string>): Array<{ lastUpdated: string; pks: Array<string> }> => {
  const groups = new Map<string, Array<string>>()
  for (const [key, lastUpdated] of window) {
    const pks = groups.get(lastUpdated)
    if (pks === undefined) groups.set(lastUpdated, [key])
    else pks.push(key)
  }
  return [...groups].map(([lastUpdated, pks]) => ({ lastUpdated, pks }))
}

/** Each of `tables` as saved in `state` (a table absent from it starts from the beginning). */
export const tablesOf = (state: PollState | undefined, tables: ReadonlyArray<TotesysTable>): Map<TotesysTable, TableState> =>
  new Map(
    tables.map((table) => {
      const saved = state?.tables[table]
      if (saved === undefined) return [table, emptyTableState]
      const window = new Map<string, string>()
      for (const { lastUpdated, pks } of saved.window) for (const key of pks) window.set(key, lastUpdated)
      return [table, { cursor: saved.cursor, window }]
    })
  )
