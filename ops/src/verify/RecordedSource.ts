/**
 * Pure: the source's tables as a recording implies them (issue 15, `verify` against a
 * recording) — every change folded in commit order onto an empty totesys, giving the same
 * `SourceRows` a read of the source gives (`SourceSnapshot.ts`), so the expected warehouse
 * and the reconciliation are verify's own (Expected.ts, Reconcile.ts).
 *
 * Invariants:
 *  - Snapshot rows and inserts set the row; an update replaces it, taking the columns it
 *    lists as unchanged TOAST from the row's earlier image; a delete removes it (also the
 *    old key of an update that changed the primary key); a truncate empties the table.
 *  - An update keeping TOASTed columns of a row the recording never showed cannot be
 *    folded: `apply` answers a `RecordedSourceError` naming the table and key (the recording does not start
 *    at the snapshot). A change of a table that is not totesys's is an error too.
 *  - Rows come out in primary-key order (numeric keys numerically), like the reader's
 *    snapshot and the source read.
 */
import { type ChangeRecord, PRIMARY_KEY, type RowImage, TOTESYS_TABLES, type TotesysTable } from "@totes-cdc/core"
import { Schema } from "effect"
import type { SourceRows } from "./Expected.ts"

/** The recording cannot be folded into source tables; `message` names the change and the fix. */
export class RecordedSourceError extends Schema.TaggedError<RecordedSourceError>()("RecordedSourceError", { message: Schema.String }) {}

const isTotesysTable = (table: string): table is TotesysTable => (TOTESYS_TABLES as ReadonlyArray<string>).includes(table)

const byKey = (a: string, b: string) => {
  const x = Number(a)
  const y = Number(b)
  return Number.isSafeInteger(x) && Number.isSafeInteger(y) ? x - y : a < b ? -1 : a > b ? 1 : 0
}

/** Folds changes (in commit order) into source tables. */
export class RecordedSource {
  private readonly tables = new Map<TotesysTable, Map<string, RowImage>>(TOTESYS_TABLES.map((table) => [table, new Map()]))

  /** Applies one change; answers the error (as data, nothing applied) when it cannot, as the header says. */
  apply(change: ChangeRecord): RecordedSourceError | undefined {
    if (!isTotesysTable(change.table)) return new RecordedSourceError({ message: `a change of ${change.table} at ${change.commitLsn}/${change.commitIdx}: not a totesys table` })
    const rows = this.tables.get(change.table)!
    const column = PRIMARY_KEY[change.table]
    const key = change.key[column] ?? ""
    switch (change.op) {
      case "truncate":
        rows.clear()
        return undefined
      case "delete":
        rows.delete(key)
        return undefined
      case "read":
      case "insert":
        rows.set(key, change.after ?? {})
        return undefined
      case "update": {
        const oldKey = change.before?.[column]
        const earlier = rows.get(oldKey ?? key)
        if (change.unchangedToast.length > 0 && earlier === undefined) {
          return new RecordedSourceError({
            message: `the update of ${change.table} ${column} ${key} at ${change.commitLsn}/${change.commitIdx} keeps TOASTed ${change.unchangedToast.join(", ")} of a row the recording never showed: record from the snapshot on (without --since)`
          })
        }
        const kept = Object.fromEntries(change.unchangedToast.map((name) => [name, earlier?.[name] ?? null]))
        if (oldKey !== undefined && oldKey !== null && oldKey !== key) rows.delete(oldKey)
        rows.set(key, { ...kept, ...change.after })
        return undefined
      }
    }
  }

  /** The tables now, rows in primary-key order. */
  rows(): SourceRows {
    return Object.fromEntries(
      TOTESYS_TABLES.map((table) => {
        const rows = this.tables.get(table)!
        return [table, [...rows.keys()].sort(byKey).map((key) => rows.get(key)!)]
      })
    ) as unknown as SourceRows
  }
}
