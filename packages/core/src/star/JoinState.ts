/**
 * The join state of the star transform: the current version of every row of address,
 * department, counterparty and staff that the joined dimensions need, kept across
 * micro-batches (totesys/transform_rules.md §4 "keep a current-state copy"). Plain JSON,
 * decoded with `JoinState` when restored. Details: packages/core/SPEC.md §2.
 *
 * Invariants:
 *  - An entry holds the newest version seen of one row and its position; an older change
 *    (duplicate, replay, late arrival) never moves it back.
 *  - A delete leaves a tombstone (`row: null`); a truncate drops older entries and records
 *    `truncatedAt`: older changes are not applied afterwards.
 *  - `row` keeps only the columns the warehouse needs, as PostgreSQL text.
 *  - `emitted`: a joined row is never emitted at a position older than its previous one.
 *  - A counterparty (staff) with an unknown or deleted partner is pending (`pendingJoins`).
 */
import { Schema } from "effect"
import { RowImage } from "../contracts/ChangeRecord.ts"
import { compareLsn, LsnString } from "../Lsn.ts"

/** A change's place in the total order of changes (DESIGN.md §3). */
export const Position = Schema.Struct({ commitLsn: LsnString, commitIdx: Schema.Int })
export type Position = typeof Position.Type

/** Negative, zero or positive as `a` is before, at or after `b`, by (commitLsn, commitIdx). */
export const comparePosition = (a: Position, b: Position): number => {
  const byLsn = compareLsn(a.commitLsn, b.commitLsn)
  return byLsn !== 0 ? byLsn : a.commitIdx - b.commitIdx
}

/** The later of two positions (the first when equal). */
export const maxPosition = <P extends Position>(a: P, b: P): P => (comparePosition(b, a) > 0 ? b : a)

/** One source row's newest version; `row: null` is a delete (tombstone). */
export const JoinEntry = Schema.Struct({
  commitLsn: LsnString,
  commitIdx: Schema.Int,
  row: Schema.NullOr(RowImage)
})
export type JoinEntry = typeof JoinEntry.Type

/** The state of one source table: entries by primary-key value (text), and the latest truncate seen. */
export const JoinTable = Schema.Struct({
  rows: Schema.Record(Schema.String, JoinEntry),
  truncatedAt: Schema.NullOr(Position)
})
export type JoinTable = typeof JoinTable.Type

export { JOINED_SOURCE_TABLES, type JoinedSourceTable } from "../Totesys.ts"

/** The join state, format version 1. */
export const JoinState = Schema.Struct({
  v: Schema.Literal(1),
  address: JoinTable,
  department: JoinTable,
  counterparty: JoinTable,
  staff: JoinTable,
  emitted: Schema.Struct({
    dim_counterparty: Schema.Record(Schema.String, Position),
    dim_staff: Schema.Record(Schema.String, Position)
  })
})
export type JoinState = typeof JoinState.Type

const emptyTable: JoinTable = { rows: {}, truncatedAt: null }

/** The state before any change: nothing known. */
export const emptyJoinState: JoinState = {
  v: 1,
  address: emptyTable,
  department: emptyTable,
  counterparty: emptyTable,
  staff: emptyTable,
  emitted: { dim_counterparty: {}, dim_staff: {} }
}

/** Parses and validates a persisted join state from JSON text. Fails with a SchemaError. */
export const decodeJoinState = Schema.decodeUnknownEffect(Schema.fromJsonString(JoinState))

/** The state's JSON text, for persisting. */
export const encodeJoinState = (state: JoinState): string => JSON.stringify(state)

/** A joined dimension row that cannot be emitted yet: its partner row is unknown or deleted. */
export interface PendingJoin {
  readonly table: "dim_counterparty" | "dim_staff"
  readonly id: number
  readonly waitingFor: { readonly table: "address" | "department"; readonly id: number }
}

/** Counterparties waiting for their legal address and staff waiting for their department. */
export const pendingJoins = (state: JoinState): ReadonlyArray<PendingJoin> => {
  const pending: Array<PendingJoin> = []
  const scan = (
    table: "dim_counterparty" | "dim_staff",
    source: JoinTable,
    partnerTable: "address" | "department",
    partner: JoinTable,
    foreignKey: string
  ) => {
    for (const [id, entry] of Object.entries(source.rows)) {
      const partnerId = entry.row?.[foreignKey]
      if (entry.row === null || partnerId === undefined || partnerId === null) continue
      if (partner.rows[Number(partnerId)]?.row) continue
      pending.push({ table, id: Number(id), waitingFor: { table: partnerTable, id: Number(partnerId) } })
    }
  }
  scan("dim_counterparty", state.counterparty, "address", state.address, "legal_address_id")
  scan("dim_staff", state.staff, "department", state.department, "department_id")
  return pending.sort((a, b) => a.table.localeCompare(b.table) || a.id - b.id)
}
