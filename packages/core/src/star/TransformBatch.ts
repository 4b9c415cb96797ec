/**
 * The star-schema transform of one micro-batch: change records (envelope v1) → warehouse
 * rows for the 11 tables, plus the new join state. Pure; the input state is not modified.
 * Rules: totesys/transform_rules.md, DESIGN.md §5; decisions: packages/core/SPEC.md §1.
 *
 * Invariants:
 *  - Dimensions are SCD type 1 rows at their change's position; facts one row per version.
 *  - Every joined key a change touches is re-emitted from the state, once per batch.
 *  - A joined row's position never goes below the previous one emitted for its id, so the
 *    loader applies dim_counterparty/dim_staff rows at a position ≥ the stored one.
 *  - A counterparty (staff) without its partner is pending: not emitted, not a problem.
 *  - Deletes and truncates are explicit rows, never dropped; a missing column never → null.
 *  - A snapshot's resync marker (a truncate whose source is the snapshot) becomes `resync`
 *    rows, never `truncate` rows: it is no source truncate (no quarantine downstream).
 *  - A problem change is reported, not applied; the rest of the batch continues.
 *  - Output: dim_date rows first (ascending date), then (commitLsn, commitIdx) order, stable.
 */
import { Result } from "effect"
import { type ChangeRecord, isResyncMarker, type RowImage } from "../contracts/ChangeRecord.ts"
import { isTotesysTable, PRIMARY_KEY, type TotesysTable } from "../Totesys.ts"
import { dimDateRow } from "./DimDate.ts"
import {
  type JoinedSourceTable,
  type JoinEntry,
  type JoinState,
  type JoinTable,
  maxPosition,
  type Position,
  comparePosition
} from "./JoinState.ts"
import {
  dimCounterparty,
  dimCurrency,
  dimDesign,
  dimLocation,
  dimPaymentType,
  dimStaff,
  dimTransaction,
  FACT_DATE_COLUMNS,
  factPayment,
  factPurchaseOrder,
  factSalesOrder,
  type RowReader,
  rowReader,
  type Values
} from "./Mappings.ts"
import { type Parsed, parseInt4 } from "./PgText.ts"
import { FEEDS, STAR_KEY, type StarRow, type WarehouseTable } from "./StarRow.ts"

export interface TransformProblem {
  readonly change: ChangeRecord
  readonly error: string
}

export interface TransformResult {
  readonly rows: ReadonlyArray<StarRow>
  readonly state: JoinState
  readonly problems: ReadonlyArray<TransformProblem>
}

/** The source columns kept in the join state per joined table, and the check a row must pass to enter it. */
const JOINED: {
  readonly [T in JoinedSourceTable]: {
    readonly columns: ReadonlyArray<string>
    readonly validate: (row: RowReader) => Parsed<unknown>
  }
} = {
  address: {
    columns: ["address_id", "address_line_1", "address_line_2", "district", "city", "postal_code", "country", "phone"],
    validate: dimLocation
  },
  department: {
    columns: ["department_id", "department_name", "location"],
    validate: (row) =>
      Result.all([row.int("department_id"), row.text("department_name"), row.optText("location")])
  },
  counterparty: {
    columns: ["counterparty_id", "counterparty_legal_name", "legal_address_id"],
    validate: (row) =>
      Result.all([row.int("counterparty_id"), row.text("counterparty_legal_name"), row.int("legal_address_id")])
  },
  staff: {
    columns: ["staff_id", "first_name", "last_name", "department_id", "email_address"],
    validate: (row) =>
      Result.all([
        row.int("staff_id"), row.text("first_name"), row.text("last_name"), row.int("department_id"),
        row.text("email_address")
      ])
  }
}

const isJoined = (table: TotesysTable): table is JoinedSourceTable => Object.hasOwn(JOINED, table)

/** Tables without join state: one warehouse table each, mapped row by row. */
const STATELESS: {
  readonly [T in Exclude<TotesysTable, JoinedSourceTable>]: {
    readonly target: WarehouseTable
    readonly map: (row: RowReader) => Parsed<Values>
  }
} = {
  currency: { target: "dim_currency", map: dimCurrency },
  design: { target: "dim_design", map: dimDesign },
  payment_type: { target: "dim_payment_type", map: dimPaymentType },
  transaction: { target: "dim_transaction", map: dimTransaction },
  sales_order: { target: "fact_sales_order", map: factSalesOrder },
  purchase_order: { target: "fact_purchase_order", map: factPurchaseOrder },
  payment: { target: "fact_payment", map: factPayment }
}

const positionOf = (change: ChangeRecord): Position => ({ commitLsn: change.commitLsn, commitIdx: change.commitIdx })

/** Mutable working copy of the join state (the input state is never modified). */
interface WorkTable {
  rows: Record<string, JoinEntry>
  truncatedAt: Position | null
}
type Work = { [T in JoinedSourceTable]: WorkTable } & {
  emitted: { dim_counterparty: Record<string, Position>; dim_staff: Record<string, Position> }
}

const copyTable = (table: JoinTable): WorkTable => ({ rows: { ...table.rows }, truncatedAt: table.truncatedAt })

const workOf = (state: JoinState): Work => ({
  address: copyTable(state.address),
  department: copyTable(state.department),
  counterparty: copyTable(state.counterparty),
  staff: copyTable(state.staff),
  emitted: { dim_counterparty: { ...state.emitted.dim_counterparty }, dim_staff: { ...state.emitted.dim_staff } }
})

const stateOf = (work: Work): JoinState => ({
  v: 1,
  address: work.address,
  department: work.department,
  counterparty: work.counterparty,
  staff: work.staff,
  emitted: work.emitted
})

/** The canonical text of an integer primary-key value. */
const canonicalId = (pk: string, text: string): Parsed<string> =>
  Result.map(Result.mapError(parseInt4(text), (error) => `primary key ${pk}: ${error}`), String)

/** The id a delete is about: its `key`, else its before image. */
const deletedId = (change: ChangeRecord, pk: string): Parsed<string> => {
  const text = change.key[pk] ?? change.before?.[pk] ?? null
  return text === null ? Result.fail(`no value for the primary key ${pk}`) : canonicalId(pk, text)
}

/**
 * The id an insert/update/read carries (its after image, else its `key`), and the ids
 * it replaces: when an update changes the primary key itself, the old id (in `before`
 * or `key`) is gone.
 */
const upsertedIds = (
  change: ChangeRecord,
  pk: string,
  after: RowImage
): Parsed<{ readonly id: string; readonly replaced: ReadonlyArray<string> }> => {
  const text = after[pk] ?? change.key[pk] ?? null
  if (text === null) return Result.fail(`no value for the primary key ${pk}`)
  const id = canonicalId(pk, text)
  if (Result.isFailure(id)) return Result.fail(id.failure)
  const replaced: Array<string> = []
  for (const old of [change.before?.[pk], change.key[pk]]) {
    // The same text is the same id: only a different one is parsed (a hot path: every insert has its key).
    if (old === undefined || old === null || old === text) continue
    const oldId = canonicalId(pk, old)
    if (Result.isFailure(oldId)) return Result.fail(oldId.failure)
    if (oldId.success !== id.success && !replaced.includes(oldId.success)) replaced.push(oldId.success)
  }
  return Result.succeed({ id: id.success, replaced })
}

/**
 * The after image with every unchanged-TOAST column filled from the before image or
 * from `previous` (the state's version), and the names of those it could not fill.
 */
const fillToast = (
  change: ChangeRecord,
  after: RowImage,
  previous: RowImage | null
): { readonly row: RowImage; readonly unsent: ReadonlySet<string> } => {
  const row: Record<string, string | null> = { ...after }
  const unsent = new Set<string>()
  for (const column of change.unchangedToast) {
    if (Object.hasOwn(row, column)) continue
    if (change.before !== null && Object.hasOwn(change.before, column)) row[column] = change.before[column] ?? null
    else if (previous !== null && Object.hasOwn(previous, column)) row[column] = previous[column] ?? null
    else unsent.add(column)
  }
  return { row, unsent }
}

const isNewer = (table: WorkTable, id: string, position: Position): boolean => {
  const current = table.rows[id]
  if (current !== undefined && comparePosition(position, current) <= 0) return false
  return table.truncatedAt === null || comparePosition(position, table.truncatedAt) > 0
}

const project = (row: RowImage, columns: ReadonlyArray<string>): RowImage => {
  const out: Record<string, string | null> = {}
  for (const column of columns) if (Object.hasOwn(row, column)) out[column] = row[column] ?? null
  return out
}

const row = (table: WarehouseTable, values: Values, position: Position, op: StarRow["op"]): StarRow => ({
  table,
  values,
  commitLsn: position.commitLsn,
  commitIdx: position.commitIdx,
  op
})

/** Transforms one micro-batch into star rows and the new join state (see the module comment for the rules). */
export const transformBatch = (state: JoinState, changes: ReadonlyArray<ChangeRecord>): TransformResult => {
  const work = workOf(state)
  const rows: Array<StarRow> = []
  const problems: Array<TransformProblem> = []
  const dates = new Map<string, Position>()
  /** Keys of the joined tables touched in this batch → the last change touching them (to attribute a problem). */
  const dirty: { [T in JoinedSourceTable]: Map<string, ChangeRecord> } = {
    address: new Map(),
    department: new Map(),
    counterparty: new Map(),
    staff: new Map()
  }

  const problem = (change: ChangeRecord, error: string) => problems.push({ change, error })

  const joinedChange = (change: ChangeRecord, table: JoinedSourceTable): void => {
    const position = positionOf(change)
    const pk = PRIMARY_KEY[table]
    const tableState = work[table]
    const remove = (id: string) => {
      if (isNewer(tableState, id, position)) tableState.rows[id] = { ...position, row: null }
      dirty[table].set(id, change)
    }
    if (change.op === "delete") {
      const id = deletedId(change, pk)
      if (Result.isFailure(id)) return void problem(change, `${table} delete: ${id.failure}`)
      return remove(id.success)
    }
    if (change.after === null) return void problem(change, `${table} ${change.op} without an after image`)
    const ids = upsertedIds(change, pk, change.after)
    if (Result.isFailure(ids)) return void problem(change, `${table} ${change.op}: ${ids.failure}`)
    const { id, replaced } = ids.success
    const previousId = replaced[0] ?? id
    const filled = fillToast(change, change.after, tableState.rows[previousId]?.row ?? null)
    const valid = JOINED[table].validate(rowReader(filled.row, filled.unsent))
    if (Result.isFailure(valid)) return void problem(change, `${table} ${id}: ${valid.failure}`)
    for (const old of replaced) remove(old)
    if (isNewer(tableState, id, position)) {
      tableState.rows[id] = { ...position, row: project(filled.row, JOINED[table].columns) }
    }
    dirty[table].set(id, change)
  }

  const statelessChange = (change: ChangeRecord, table: Exclude<TotesysTable, JoinedSourceTable>): void => {
    const position = positionOf(change)
    const { target, map } = STATELESS[table]
    const pk = PRIMARY_KEY[table]
    const key = STAR_KEY[target]
    if (change.op === "delete") {
      const id = deletedId(change, pk)
      if (Result.isFailure(id)) return void problem(change, `${table} delete: ${id.failure}`)
      rows.push(row(target, { [key]: Number(id.success) }, position, "delete"))
      return
    }
    if (change.after === null) return void problem(change, `${table} ${change.op} without an after image`)
    const ids = upsertedIds(change, pk, change.after)
    if (Result.isFailure(ids)) return void problem(change, `${table} ${change.op}: ${ids.failure}`)
    const filled = fillToast(change, change.after, null)
    const values = map(rowReader(filled.row, filled.unsent))
    if (Result.isFailure(values)) return void problem(change, `${table} ${ids.success.id}: ${values.failure}`)
    for (const old of ids.success.replaced) rows.push(row(target, { [key]: Number(old) }, position, "delete"))
    rows.push(row(target, values.success, position, "upsert"))
    for (const column of FACT_DATE_COLUMNS) {
      const date = values.success[column]
      if (typeof date === "string" && !dates.has(date)) dates.set(date, position)
    }
  }

  const truncate = (change: ChangeRecord, table: TotesysTable): void => {
    const position = positionOf(change)
    for (const target of FEEDS[table]) rows.push(row(target, {}, position, "truncate"))
    if (!isJoined(table)) return
    const tableState = work[table]
    if (tableState.truncatedAt !== null && comparePosition(position, tableState.truncatedAt) <= 0) return
    tableState.truncatedAt = position
    const own = table === "counterparty" ? "dim_counterparty" : table === "staff" ? "dim_staff" : undefined
    for (const [id, entry] of Object.entries(tableState.rows)) {
      if (comparePosition(entry, position) >= 0) continue
      delete tableState.rows[id]
      // A joined row already emitted at or after the truncate's position (a partner change
      // that arrived before this truncate) would survive it in the warehouse: delete it
      // explicitly, at that row's own position.
      const emitted = own === undefined ? undefined : work.emitted[own][id]
      if (own !== undefined && emitted !== undefined && comparePosition(emitted, position) >= 0) {
        rows.push(row(own, { [STAR_KEY[own]]: Number(id) }, emitted, "delete"))
      }
    }
    // The emptied dims start over: every later row of theirs is newer than this truncate.
    for (const dim of FEEDS[table]) {
      if (dim !== "dim_counterparty" && dim !== "dim_staff") continue
      for (const [id, emitted] of Object.entries(work.emitted[dim])) {
        if (comparePosition(emitted, position) < 0) delete work.emitted[dim][id]
      }
    }
  }

  /**
   * A snapshot of `table` starts (core's `snapshotStartRecord`): `resync` rows for the
   * warehouse tables it feeds, and the join state forgets the table's older entries (the
   * snapshot brings back every row that still exists, at newer positions; an entry it
   * does not bring back was deleted and must not be joined into a dimension again).
   */
  const resync = (change: ChangeRecord, table: TotesysTable): void => {
    const position = positionOf(change)
    for (const target of FEEDS[table]) rows.push(row(target, {}, position, "resync"))
    if (!isJoined(table)) return
    const tableState = work[table]
    for (const [id, entry] of Object.entries(tableState.rows)) {
      if (comparePosition(entry, position) < 0) delete tableState.rows[id]
    }
  }

  for (const change of changes) {
    const table = change.table
    if (!isTotesysTable(table)) {
      problem(change, `table ${JSON.stringify(table)} is not one of the 11 totesys tables`)
      continue
    }
    if (isResyncMarker(change)) resync(change, table)
    else if (change.op === "truncate") truncate(change, table)
    else if (isJoined(table)) joinedChange(change, table)
    else statelessChange(change, table)
  }

  // Joined dimensions: emit every touched key once, from the state (with the cascades of §4).
  const live = (table: JoinedSourceTable, id: string): { entry: JoinEntry; row: RowImage } | undefined => {
    const entry = work[table].rows[id]
    return entry !== undefined && entry.row !== null ? { entry, row: entry.row } : undefined
  }

  for (const [id, change] of dirty.address) {
    const entry = work.address.rows[id]
    if (entry === undefined) continue
    if (entry.row === null) {
      rows.push(row("dim_location", { location_id: Number(id) }, entry, "delete"))
      continue
    }
    const values = dimLocation(rowReader(entry.row))
    if (Result.isFailure(values)) problem(change, `dim_location ${id}: ${values.failure}`)
    else rows.push(row("dim_location", values.success, entry, "upsert"))
  }

  const emitJoined = (
    dim: "dim_counterparty" | "dim_staff",
    source: "counterparty" | "staff",
    partnerTable: "address" | "department",
    foreignKey: string,
    join: (row: RowReader, partner: RowReader) => Parsed<Values>,
    changedPartners: ReadonlyMap<string, ChangeRecord>
  ) => {
    const targets = new Map(dirty[source])
    if (changedPartners.size > 0) {
      for (const [id, entry] of Object.entries(work[source].rows)) {
        const partnerId = entry.row?.[foreignKey]
        if (partnerId === undefined || partnerId === null) continue
        const partnerKey = String(Number(partnerId))
        const partnerChange = changedPartners.get(partnerKey)
        if (partnerChange !== undefined && !targets.has(id)) targets.set(id, partnerChange)
      }
    }
    const key = STAR_KEY[dim]
    for (const [id, change] of [...targets].sort(([a], [b]) => Number(a) - Number(b))) {
      const entry = work[source].rows[id]
      if (entry === undefined) continue
      const previous = work.emitted[dim][id]
      const at = (position: Position): Position => {
        const p = previous === undefined ? position : maxPosition(position, previous)
        return { commitLsn: p.commitLsn, commitIdx: p.commitIdx }
      }
      if (entry.row === null) {
        const position = at(entry)
        work.emitted[dim][id] = position
        rows.push(row(dim, { [key]: Number(id) }, position, "delete"))
        continue
      }
      const partnerId = entry.row[foreignKey]
      const partner = partnerId === undefined || partnerId === null ? undefined : live(partnerTable, String(Number(partnerId)))
      if (partner === undefined) continue // pending: emitted when the partner arrives
      const values = join(rowReader(entry.row), rowReader(partner.row))
      if (Result.isFailure(values)) {
        problem(change, `${dim} ${id}: ${values.failure}`)
        continue
      }
      const position = at(maxPosition<Position>(entry, partner.entry))
      work.emitted[dim][id] = position
      rows.push(row(dim, values.success, position, "upsert"))
    }
  }

  emitJoined("dim_counterparty", "counterparty", "address", "legal_address_id", dimCounterparty, dirty.address)
  emitJoined("dim_staff", "staff", "department", "department_id", dimStaff, dirty.department)

  const dateRows = [...dates]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([date, position]) => row("dim_date", { ...dimDateRow(date) }, position, "upsert"))
  const ordered = rows
    .map((r, index) => ({ r, index }))
    .sort((a, b) => comparePosition(a.r, b.r) || a.index - b.index)
    .map(({ r }) => r)

  return { rows: [...dateRows, ...ordered], state: stateOf(work), problems }
}
