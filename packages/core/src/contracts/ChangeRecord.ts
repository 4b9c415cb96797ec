/**
 * The change record, envelope v1 (DESIGN.md §3): one JSON object per row change, the
 * wire format between the reader, the archive and the processors.
 *
 * Invariants:
 *  - Every row value is PostgreSQL's text form (or null): numeric, int8 and timestamps
 *    stay strings, so nothing loses precision or drifts in time zone.
 *  - Columns PostgreSQL did not send (an unchanged TOASTed value) are listed in
 *    `unchangedToast` and absent from `after`: never written as null.
 *  - (`commitLsn`, `commitIdx`) is a total order of changes and their idempotency key;
 *    snapshot rows carry the slot's consistent point as `commitLsn`.
 *  - The partition key is the table plus the primary key, so every change of one row
 *    lands on one shard, in order.
 */
import { Schema } from "effect"
import { LSN_PATTERN, LsnString } from "../Lsn.ts"
import { isJoinedSourceTable, PRIMARY_KEY, type TotesysTable } from "../Totesys.ts"

/** A row image: column → text value or null. */
export const RowImage = Schema.Record(Schema.String, Schema.NullOr(Schema.String))
export type RowImage = typeof RowImage.Type

export const ChangeOp = Schema.Literals(["insert", "update", "delete", "truncate", "read"])
export type ChangeOp = typeof ChangeOp.Type

export const ChangeSource = Schema.Literals(["replication", "snapshot", "poll"])
export type ChangeSource = typeof ChangeSource.Type

/** Envelope v1. Decode with `decodeChangeRecord` at every boundary. */
export const ChangeRecord = Schema.Struct({
  v: Schema.Literal(1),
  source: ChangeSource,
  op: ChangeOp,
  table: Schema.String,
  /** Primary-key column → text value; `{}` for a truncate. */
  key: RowImage,
  before: Schema.NullOr(RowImage),
  after: Schema.NullOr(RowImage),
  unchangedToast: Schema.Array(Schema.String),
  commitLsn: LsnString,
  commitIdx: Schema.Int,
  xid: Schema.NullOr(Schema.Int),
  /** Commit time, ISO-8601 UTC (snapshot rows: the snapshot's start). */
  commitTs: Schema.String
})
export type ChangeRecord = typeof ChangeRecord.Type

/** Parses and validates one change record from JSON text. Fails with a SchemaError. */
export const decodeChangeRecord = Schema.decodeUnknownEffect(Schema.fromJsonString(ChangeRecord))

const SOURCES: ReadonlySet<unknown> = new Set(ChangeSource.literals)
const OPS: ReadonlySet<unknown> = new Set(ChangeOp.literals)

const isImage = (value: unknown): boolean => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false
  for (const column in value) {
    const v = (value as Record<string, unknown>)[column]
    if (v !== null && typeof v !== "string") return false
  }
  return true
}

const isSafeIntOrNull = (value: unknown) => value === null || Number.isSafeInteger(value)

/**
 * A quick structural check of a parsed JSON value against envelope v1, for hot paths
 * (the processor decodes every change): `true` only for values `ChangeRecord` accepts
 * too (a property test holds it to that); `false` says nothing — decode with
 * `decodeChangeRecord` then, for the verdict and its message. Unlike a decode, a value
 * that passes keeps any extra properties it has.
 */
export const looksLikeChangeRecord = (value: unknown): value is ChangeRecord => {
  if (typeof value !== "object" || value === null) return false
  const r = value as Record<string, unknown>
  return (
    r["v"] === 1 &&
    SOURCES.has(r["source"]) &&
    OPS.has(r["op"]) &&
    typeof r["table"] === "string" &&
    isImage(r["key"]) &&
    (r["before"] === null || isImage(r["before"])) &&
    (r["after"] === null || isImage(r["after"])) &&
    Array.isArray(r["unchangedToast"]) &&
    r["unchangedToast"].every((c) => typeof c === "string") &&
    typeof r["commitLsn"] === "string" &&
    LSN_PATTERN.test(r["commitLsn"]) &&
    Number.isSafeInteger(r["commitIdx"]) &&
    isSafeIntOrNull(r["xid"]) &&
    typeof r["commitTs"] === "string"
  )
}

/** The record's JSON text (the Kinesis payload and the archive's line). */
export const encodeChangeRecord = (record: ChangeRecord): string => JSON.stringify(record)

/**
 * The partition key of every change of the joined source tables (address, department,
 * counterparty, staff): they all land on ONE shard, in commit order, so the join state is
 * only ever changed by the micro-batches of one shard, one after another — also when a
 * Lambda per shard (ParallelizationFactor > 1 included: it keeps a key's order) processes
 * the stream (stream-processors/SPEC.md §3). Their volume is that of dimension changes.
 */
export const JOINED_PARTITION_KEY = "joined-dimensions"

/**
 * The Kinesis partition key of a change: `JOINED_PARTITION_KEY` for the joined source
 * tables; otherwise `<table>:<pk values joined by ,>`, and a truncate, which has no row,
 * `<table>:*`. Either way every change of a row (and a truncate of its table, for the
 * joined tables) stays on one shard in commit order.
 */
export const partitionKeyOf = (record: Pick<ChangeRecord, "table" | "key" | "op">): string =>
  isJoinedSourceTable(record.table)
    ? JOINED_PARTITION_KEY
    : record.op === "truncate"
      ? `${record.table}:*`
      : `${record.table}:${Object.values(record.key).join(",")}`

/**
 * One row of an initial snapshot as a change record (DESIGN.md §6): `op: "read"`,
 * `source: "snapshot"`, the row (every column in PostgreSQL's text form) as `after`,
 * keyed by the table's primary key, at `commitLsn`/`commitIdx` (the reader: the slot's
 * consistent point and the row's index in the whole snapshot). `commitTs`: ISO-8601 UTC.
 */
export const snapshotRecord = (
  table: TotesysTable,
  row: RowImage,
  position: { readonly commitLsn: string; readonly commitIdx: number },
  commitTs: string
): ChangeRecord => ({
  v: 1,
  source: "snapshot",
  op: "read",
  table,
  key: { [PRIMARY_KEY[table]]: row[PRIMARY_KEY[table]] ?? null },
  before: null,
  after: row,
  unchangedToast: [],
  commitLsn: position.commitLsn,
  commitIdx: position.commitIdx,
  xid: null,
  commitTs
})

/**
 * The start of one table's snapshot (DESIGN.md §6), a resync marker: `op: "truncate"`,
 * `source: "snapshot"`, no key or row, at the slot's consistent point and the index just
 * before the table's first snapshot row (the reader counts markers and rows together, so
 * the snapshot stays in commit order). It says "the rows of this snapshot replace every
 * older row of the table": a row the snapshot does not bring back was deleted while no
 * slot captured it (a re-snapshot after a lost slot). The processor emits it as a
 * `resync` star row, which the loader applies without losing history (facts keep their
 * rows, flagged deleted; README "The slot"), never as a source truncate.
 */
export const snapshotStartRecord = (
  table: TotesysTable,
  position: { readonly commitLsn: string; readonly commitIdx: number },
  commitTs: string
): ChangeRecord => ({
  v: 1,
  source: "snapshot",
  op: "truncate",
  table,
  key: {},
  before: null,
  after: null,
  unchangedToast: [],
  commitLsn: position.commitLsn,
  commitIdx: position.commitIdx,
  xid: null,
  commitTs
})

/** Whether `record` is a snapshot's resync marker (`snapshotStartRecord`), not a source truncate. */
export const isResyncMarker = (record: Pick<ChangeRecord, "op" | "source">): boolean => record.op === "truncate" && record.source === "snapshot"
