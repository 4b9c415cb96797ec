/**
 * The join state of the star transform: the current version of every row of the four
 * small source tables that the joined dimensions need (address, department,
 * counterparty, staff; totesys/transform_rules.md §4 "keep a current-state copy"),
 * kept across micro-batches. Plain JSON, decoded with `JoinState` when restored.
 *
 * Invariants:
 *  - Each entry holds the newest version seen of one source row and that version's
 *    position (`commitLsn`, `commitIdx`); a change is applied only when it is newer, so
 *    duplicates, replays and older changes arriving late never move an entry back.
 *  - A delete leaves a tombstone (`row: null`) at its position, so an older insert or
 *    update arriving later cannot resurrect the row.
 *  - A truncate drops every entry older than it and records its position
 *    (`truncatedAt`); changes older than that position are not applied afterwards.
 *  - `row` keeps only the source columns the warehouse needs (the join key and the
 *    dimension's columns), as PostgreSQL text.
 *  - `emitted` remembers the position of the last dim_counterparty / dim_staff row
 *    emitted per id: a joined row is never emitted with a position older than its
 *    previous one (TransformBatch.ts explains why).
 *  - A counterparty (staff) whose address (department) is unknown or deleted is
 *    *pending*: it stays in the state and is emitted when the partner arrives
 *    (`pendingJoins` lists them).
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

export const JOINED_SOURCE_TABLES = ["address", "department", "counterparty", "staff"] as const
export type JoinedSourceTable = (typeof JOINED_SOURCE_TABLES)[number]

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
