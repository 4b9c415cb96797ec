/**
 * The star-schema transform of one micro-batch: change records (envelope v1) → warehouse
 * rows for the 11 warehouse tables, plus the new join state. Pure: no I/O, the input
 * state is not modified.
 *
 * Rules: totesys/transform_rules.md (cited by §), DESIGN.md §5. Decisions where the
 * rules leave a choice:
 *
 *  - Dimensions are SCD type 1 (§7): the rows carry the change's position and the loader
 *    applies one only if newer. Facts get one row per source-row version (insert,
 *    update or snapshot read), no surrogate key (§7 "let the sequence assign it").
 *  - Joins (§4 "keep a current-state copy of every source table"): address, department,
 *    counterparty and staff are kept in the `JoinState`. A change to one of them is
 *    applied to the state only if newer than the state's version of that row (or than
 *    the table's last truncate). Every key a change touches is *re-emitted from the
 *    state* at the end of the batch, whether or not the change was applied: one row per
 *    key per batch, always the newest known values, so a replayed batch re-emits the
 *    current rows (harmless: same position) instead of stale ones.
 *  - Cascades (§4): an address change re-emits dim_location and every dim_counterparty
 *    whose counterparty's `legal_address_id` is that address; a department change
 *    re-emits every dim_staff in it.
 *  - Missing partner (§4): a counterparty whose address (a staff member whose
 *    department) is not known yet, or is deleted, is *pending*: nothing is emitted for
 *    it and it is not a problem; it is emitted when the partner arrives (`pendingJoins`
 *    lists them). totesys's FKs (`ON DELETE RESTRICT`) make a missing partner a
 *    transient effect of delivery order, so the warehouse keeps the row it has rather
 *    than losing it (and the facts that reference it).
 *  - Position of a joined row: the position of the newest change that contributed
 *    (the counterparty's or its address's version), and never older than the previous
 *    row emitted for that id (`JoinState.emitted`). With delivery in commit order the
 *    second term never matters; when a partner change from another shard arrives late,
 *    it keeps the row's positions monotone, so the newest row per id by position (ties:
 *    the later emitted) is always the freshest join. Consequence for the loader: a
 *    cascaded row can repeat the previous position with newer partner values, so
 *    dim_counterparty/dim_staff rows must be applied when their position is ≥ the
 *    stored one.
 *  - Deletes are explicit rows, never dropped: a delete of a dimension's source row →
 *    op "delete" with the dimension key; of a fact's source row → op "delete" with the
 *    natural id. A delete of an address deletes dim_location only; a delete of a
 *    department has no row of its own (dim_staff has no department key): the rows that
 *    used them become pending, as above (with RESTRICT FKs none do in a consistent
 *    source). A delete of a counterparty or staff member deletes its dim row.
 *  - Truncates: op "truncate" for every warehouse table the source table feeds
 *    (`FEEDS`): address → dim_location and dim_counterparty, department → dim_staff
 *    (PostgreSQL cannot truncate address without counterparty, nor department without
 *    staff, so those dims are emptied either way). "Truncate" means: every row of the
 *    table older than the truncate's position goes. A dim_counterparty/dim_staff row
 *    already emitted at or after the truncate's position for a row the truncate removes
 *    (a partner change delivered before the truncate) gets an explicit delete at that
 *    row's position, since the truncate alone would not remove it.
 *  - Unchanged TOAST (DESIGN.md §3): a column listed in `unchangedToast` takes its value
 *    from the change's `before` image when that has it, else (for the 4 joined tables)
 *    from the join state's version of the row. When neither has it and the warehouse
 *    needs the column, the change is a problem (the processor dead-letters it): a
 *    missing column never becomes null. Unchanged columns the warehouse does not use
 *    are ignored.
 *  - A change for a table outside the 11, a value that does not parse, or a null in a
 *    NOT NULL warehouse column → a problem for that change; the rest of the batch
 *    continues. A problem change is not applied to the join state.
 *  - dim_date (§6): one row for every date an emitted fact row references, at the
 *    position of the first change referencing it; the loader inserts them with
 *    `ON CONFLICT DO NOTHING` before the facts.
 *  - Output order: dim_date rows first (ascending date), then every other row in
 *    (commitLsn, commitIdx) order, stable.
 */
import { Result } from "effect"
import type { ChangeRecord, RowImage } from "../contracts/ChangeRecord.ts"
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
): Parsed<{ readonly id: string; readonly replaced: ReadonlyArray<string> }> =>
  Result.gen(function*() {
    const text = after[pk] ?? change.key[pk] ?? null
    if (text === null) return yield* Result.fail(`no value for the primary key ${pk}`)
    const id = yield* canonicalId(pk, text)
    const replaced = new Set<string>()
    for (const old of [change.before?.[pk], change.key[pk]]) {
      if (old === undefined || old === null) continue
      const oldId = yield* canonicalId(pk, old)
      if (oldId !== id) replaced.add(oldId)
    }
    return { id, replaced: [...replaced] }
  })

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

  for (const change of changes) {
    const table = change.table
    if (!isTotesysTable(table)) {
      problem(change, `table ${JSON.stringify(table)} is not one of the 11 totesys tables`)
      continue
    }
    if (change.op === "truncate") truncate(change, table)
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
