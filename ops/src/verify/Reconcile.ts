/**
 * Pure reconciliation for `totes-cdc verify` (issue 5): the rows the warehouse should hold
 * (`Expected.ts`) against the rows it holds (`WarehouseContents.ts`) → one report per
 * warehouse table. No I/O. Rules in full (DESIGN.md §5): ops/SPEC.md §6.
 *
 * Invariants:
 *  - Values compare as canonical text per column type (`canonicalValue`), every column of
 *    `STAR_COLUMNS`; null only equals null.
 *  - A row whose `row_versions` position is ≥ the window's `from` is "in flight", not drift.
 *  - Dimensions: missing / extra / different / dup by key; rows flagged `deleted` or
 *    `inferred` are not extra. Facts: the latest version per natural id is compared.
 *  - dim_date: extra dates are never drift (history).
 *  - A table drifts when missing + extra + different + dup + fk > 0, or rows were rejected.
 *  - Samples: at most `SAMPLE_LIMIT` per kind per table, in key order.
 */
import {
  compareLsn,
  dimDateRow,
  isFactTable,
  parseDate,
  STAR_COLUMNS,
  STAR_KEY,
  type StarColumnType,
  type StarValue,
  WAREHOUSE_TABLES,
  type WarehouseTable
} from "@totes-cdc/core"
import { Result } from "effect"

/** A row read from PostgreSQL: column → text form, or null. */
export type TextRow = Readonly<Record<string, string | null>>

/** A row the transform emits: column → typed value (StarRow.ts). */
export type ExpectedRow = Readonly<Record<string, StarValue>>

/** Expected rows per warehouse table (dimensions and dim_date: every row; facts: one per natural id). */
export type ExpectedRows = { readonly [T in WarehouseTable]: ReadonlyArray<ExpectedRow> }

/** `totes_cdc.row_versions`: the position of the newest change applied to a dimension row or a fact's natural id. */
export interface RowVersion {
  readonly table: WarehouseTable
  readonly naturalId: string
  readonly commitLsn: string
  readonly commitIdx: number
  readonly deleted: boolean
  readonly inferred: boolean
}

/** A (natural id, last_updated_date, last_updated_time) of a fact held by more than one row. */
export interface DuplicateVersion {
  readonly table: WarehouseTable
  readonly naturalId: string
  readonly lastUpdatedDate: string
  readonly lastUpdatedTime: string
  readonly rows: number
}

/** A value of a fact's foreign-key column whose target row does not exist (target column names). */
export interface ForeignKeyViolation {
  readonly table: WarehouseTable
  readonly column: string
  readonly references: WarehouseTable
  readonly referencedColumn: string
  readonly value: string
  readonly rows: number
}

/** What the warehouse holds, read in one snapshot (WarehouseContents.ts). */
export interface WarehouseContents {
  /**
   * Per table, under the transform's column names, as PostgreSQL text with DateStyle ISO:
   * dimensions and dim_date every row; facts the latest version of each natural id.
   */
  readonly rows: { readonly [T in WarehouseTable]: ReadonlyArray<TextRow> }
  /** Rows per table (facts: every version). */
  readonly counts: { readonly [T in WarehouseTable]: number }
  readonly duplicates: ReadonlyArray<DuplicateVersion>
  readonly foreignKeyViolations: ReadonlyArray<ForeignKeyViolation>
  /** Empty when the warehouse has no `totes_cdc.row_versions`. */
  readonly versions: ReadonlyArray<RowVersion>
}

/**
 * The source snapshot's place in the WAL: every transaction that committed before `from`
 * is in the snapshot, none that committed after `to` is; rows changed at positions from
 * `from` on are "in flight" (SourceSnapshot.ts says how both are read).
 */
export interface SnapshotWindow {
  readonly from: string
  readonly to: string
}

/** A source row the transform rejects (it would be a dead letter in the pipeline). */
export interface RejectedRow {
  readonly table: string
  readonly key: string
  readonly error: string
}

export interface ValueDifference {
  readonly key: string
  readonly column: string
  readonly expected: string | null
  readonly actual: string | null
}

export interface TableReport {
  readonly table: WarehouseTable
  /** Expected rows (dim_date: dates the expected facts reference). */
  readonly source: number
  /** Rows in the warehouse table (facts: every version). */
  readonly warehouse: number
  readonly missing: number
  readonly extra: number
  readonly different: number
  readonly duplicates: number
  readonly foreignKeyViolations: number
  readonly inFlight: number
  readonly keptDeleted: number
  /** Rows compared value by value. */
  readonly compared: number
  readonly drift: boolean
  readonly samples: {
    readonly missing: ReadonlyArray<string>
    readonly extra: ReadonlyArray<string>
    readonly different: ReadonlyArray<ValueDifference>
    readonly duplicates: ReadonlyArray<string>
    readonly foreignKeyViolations: ReadonlyArray<ForeignKeyViolation>
  }
}

export interface VerifyReport {
  readonly window: SnapshotWindow
  readonly tables: ReadonlyArray<TableReport>
  readonly rejected: { readonly count: number; readonly samples: ReadonlyArray<RejectedRow> }
  readonly rowsCompared: number
  /** Tables that drift, in WAREHOUSE_TABLES order. */
  readonly driftTables: ReadonlyArray<WarehouseTable>
  readonly drift: boolean
}

/** Samples kept per kind per table. */
export const SAMPLE_LIMIT = 5

const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?$/
const TIME = /^(\d{2}:\d{2}:\d{2})(?:\.(\d+))?$/

/** `007.50` → `7.5`, `-0.00` → `0`; anything else unchanged. */
const canonicalDecimal = (text: string): string => {
  const match = DECIMAL.exec(text.trim())
  if (match === null || (match[2] === "" && (match[3] ?? "") === "")) return text
  const whole = (match[2] ?? "").replace(/^0+/, "") || "0"
  const fraction = (match[3] ?? "").replace(/0+$/, "")
  const body = fraction === "" ? whole : `${whole}.${fraction}`
  return match[1] === "-" && body !== "0" ? `-${body}` : body
}

/** `10:00:00.100` → `10:00:00.1`, `10:00:00.000` → `10:00:00`; anything else unchanged. */
const canonicalTime = (text: string): string => {
  const match = TIME.exec(text.trim())
  if (match === null) return text
  const fraction = (match[2] ?? "").replace(/0+$/, "")
  return fraction === "" ? match[1]! : `${match[1]}.${fraction}`
}

/**
 * The canonical text of a value of a column of `type`, from the transform (typed) or from
 * PostgreSQL (text), so equal values compare equal: see the module header. null stays null.
 */
export const canonicalValue = (type: StarColumnType, value: StarValue | undefined): string | null => {
  if (value === null || value === undefined) return null
  const text = String(value)
  switch (type) {
    case "int":
    case "decimal(10,2)":
    case "numeric":
      return canonicalDecimal(text)
    case "time":
      return canonicalTime(text)
    case "boolean":
      return text === "t" || text === "true" ? "true" : text === "f" || text === "false" ? "false" : text
    case "date":
    case "varchar":
      return text
  }
}

/** The canonical key text of a row of `table` (its dimension key or natural id), or undefined. */
const keyOf = (table: WarehouseTable, row: Readonly<Record<string, StarValue>>): string | undefined => {
  const type = STAR_COLUMNS[table].find((c) => c.name === STAR_KEY[table])?.type ?? "int"
  return canonicalValue(type, row[STAR_KEY[table]]) ?? undefined
}

const byKey = (a: string, b: string): number => {
  const [x, y] = [Number(a), Number(b)]
  return Number.isNaN(x) || Number.isNaN(y) ? (a < b ? -1 : a > b ? 1 : 0) : x - y
}

/** The columns of `expected` and `actual` that differ (all transform columns of `table`). */
const differences = (table: WarehouseTable, key: string, expected: ExpectedRow, actual: TextRow): ReadonlyArray<ValueDifference> =>
  STAR_COLUMNS[table].flatMap((column) => {
    const want = canonicalValue(column.type, expected[column.name])
    const got = canonicalValue(column.type, actual[column.name])
    return want === got ? [] : [{ key, column: column.name, expected: want, actual: got }]
  })

interface Tally {
  missing: Array<string>
  extra: Array<string>
  different: Array<ValueDifference>
  differentRows: number
  duplicates: Array<string>
  inFlight: number
  keptDeleted: number
  compared: number
}

const emptyTally = (): Tally => ({
  missing: [],
  extra: [],
  different: [],
  differentRows: 0,
  duplicates: [],
  inFlight: 0,
  keptDeleted: 0,
  compared: 0
})

/** Dimension rows and facts' latest versions: expected vs held, by key (module header). */
const compareKeyed = (
  table: WarehouseTable,
  expected: ReadonlyArray<ExpectedRow>,
  held: ReadonlyArray<TextRow>,
  versions: ReadonlyMap<string, RowVersion>,
  window: SnapshotWindow
): Tally => {
  const tally = emptyTally()
  const inFlight = (key: string) => {
    const version = versions.get(key)
    return version !== undefined && compareLsn(version.commitLsn, window.from) >= 0
  }
  const warehouse = new Map<string, TextRow>()
  for (const row of held) {
    const key = keyOf(table, row) ?? ""
    if (warehouse.has(key)) tally.duplicates.push(key)
    else warehouse.set(key, row)
  }
  const expectedKeys = new Set<string>()
  for (const row of expected) {
    const key = keyOf(table, row) ?? ""
    expectedKeys.add(key)
    const actual = warehouse.get(key)
    if (inFlight(key)) {
      tally.inFlight++
      continue
    }
    if (actual === undefined) {
      tally.missing.push(key)
      continue
    }
    tally.compared++
    const found = [...differences(table, key, row, actual)]
    if (versions.get(key)?.deleted === true) found.push({ key, column: "(row_versions.deleted)", expected: "false", actual: "true" })
    if (found.length > 0) {
      tally.differentRows++
      tally.different.push(...found)
    }
  }
  for (const key of [...warehouse.keys()].filter((k) => !expectedKeys.has(k)).sort(byKey)) {
    if (inFlight(key) || versions.get(key)?.inferred === true) tally.inFlight++
    else if (versions.get(key)?.deleted === true) tally.keptDeleted++
    else tally.extra.push(key)
  }
  return tally
}

/** dim_date rows: each must be `dimDateRow` of its date. */
const compareDates = (held: ReadonlyArray<TextRow>): Tally => {
  const tally = emptyTally()
  const seen = new Set<string>()
  for (const row of held) {
    const key = row.date_id ?? ""
    if (seen.has(key)) {
      tally.duplicates.push(key)
      continue
    }
    seen.add(key)
    tally.compared++
    const date = parseDate(key)
    const found = Result.isSuccess(date)
      ? differences("dim_date", key, { ...dimDateRow(date.success) }, row)
      : [{ key, column: "date_id", expected: "a date (YYYY-MM-DD)", actual: key }]
    if (found.length > 0) {
      tally.differentRows++
      tally.different.push(...found)
    }
  }
  return tally
}

const emptyByTable = <A>(): Record<WarehouseTable, Array<A>> =>
  Object.fromEntries(WAREHOUSE_TABLES.map((table) => [table, []])) as unknown as Record<WarehouseTable, Array<A>>

/**
 * Reconciles `expected` (the transform of the source snapshot at `window`) with what the
 * warehouse holds (`contents`), plus the source rows the transform rejected. Pure.
 */
export const reconcile = (
  expected: ExpectedRows,
  contents: WarehouseContents,
  window: SnapshotWindow,
  rejected: ReadonlyArray<RejectedRow> = []
): VerifyReport => {
  const versions = new Map<WarehouseTable, Map<string, RowVersion>>(WAREHOUSE_TABLES.map((table) => [table, new Map()]))
  for (const version of contents.versions) versions.get(version.table)?.set(canonicalDecimal(version.naturalId), version)
  const violations = emptyByTable<ForeignKeyViolation>()
  for (const violation of contents.foreignKeyViolations) violations[violation.table].push(violation)
  const duplicates = emptyByTable<DuplicateVersion>()
  for (const duplicate of contents.duplicates) duplicates[duplicate.table].push(duplicate)
  const missingDates = [
    ...new Set(contents.foreignKeyViolations.filter((v) => v.references === "dim_date").map((v) => v.value))
  ].sort()

  const tables = WAREHOUSE_TABLES.map((table): TableReport => {
    const isFact = isFactTable(table)
    const tally =
      table === "dim_date"
        ? compareDates(contents.rows.dim_date)
        : compareKeyed(table, expected[table], contents.rows[table], versions.get(table)!, window)
    const missing = table === "dim_date" ? missingDates : tally.missing
    const duplicateSamples = isFact
      ? duplicates[table].map((d) => `${d.naturalId} at ${d.lastUpdatedDate} ${d.lastUpdatedTime} (${d.rows} rows)`)
      : tally.duplicates
    const fk = violations[table].reduce((sum, v) => sum + v.rows, 0)
    const counts = {
      missing: missing.length,
      extra: tally.extra.length,
      different: tally.differentRows,
      duplicates: isFact ? duplicates[table].length : tally.duplicates.length,
      foreignKeyViolations: fk
    }
    return {
      table,
      source: expected[table].length,
      warehouse: contents.counts[table],
      ...counts,
      inFlight: tally.inFlight,
      keptDeleted: tally.keptDeleted,
      compared: tally.compared,
      drift: Object.values(counts).some((n) => n > 0),
      samples: {
        missing: missing.slice(0, SAMPLE_LIMIT),
        extra: tally.extra.slice(0, SAMPLE_LIMIT),
        different: tally.different.slice(0, SAMPLE_LIMIT),
        duplicates: duplicateSamples.slice(0, SAMPLE_LIMIT),
        foreignKeyViolations: violations[table].slice(0, SAMPLE_LIMIT)
      }
    }
  })
  const driftTables = tables.filter((t) => t.drift).map((t) => t.table)
  return {
    window,
    tables,
    rejected: { count: rejected.length, samples: rejected.slice(0, SAMPLE_LIMIT) },
    rowsCompared: tables.reduce((sum, t) => sum + t.compared, 0),
    driftTables,
    drift: driftTables.length > 0 || rejected.length > 0
  }
}
