import { describe, expect, it } from "vitest"
import type { ChangeRecord, RowImage } from "@totes-cdc/core"
import { RecordedSource } from "../../src/verify/RecordedSource.ts"

let idx = 0
const change = (table: string, op: ChangeRecord["op"], key: RowImage, after: RowImage | null, extra: Partial<ChangeRecord> = {}): ChangeRecord => ({
  v: 1,
  source: op === "read" ? "snapshot" : "replication",
  op,
  table,
  key,
  before: null,
  after,
  unchangedToast: [],
  commitLsn: "0/100",
  commitIdx: idx++,
  xid: 1,
  commitTs: "2024-02-23T10:00:00.000Z",
  ...extra
})

const design = (id: string, name: string, location: string | null) => ({ design_id: id, design_name: name, file_location: location })

describe("RecordedSource", () => {
  it("folds snapshot rows, inserts, updates (unchanged TOAST from the earlier image), deletes, a primary-key change and a truncate", () => {
    const source = new RecordedSource()
    for (const c of [
      change("design", "read", { design_id: "10" }, design("10", "Steel", "/big/toasted/value")),
      change("design", "read", { design_id: "2" }, design("2", "Wooden", "/w")),
      change("design", "insert", { design_id: "11" }, design("11", "Granite", "/g")),
      // The TOASTed file_location was not sent: it keeps the snapshot's value.
      change("design", "update", { design_id: "10" }, { design_id: "10", design_name: "Bronze" }, { unchangedToast: ["file_location"] }),
      change("design", "delete", { design_id: "11" }, null),
      change("design", "update", { design_id: "3" }, design("3", "Wooden", "/w"), { before: { design_id: "2" } }),
      change("currency", "read", { currency_id: "1" }, { currency_id: "1", currency_code: "GBP" }),
      change("currency", "truncate", {}, null)
    ]) {
      expect(source.apply(c)).toBeUndefined()
    }
    const rows = source.rows()
    // Primary-key order, numeric: 3 before 10.
    expect(rows.design).toEqual([design("3", "Wooden", "/w"), { file_location: "/big/toasted/value", design_id: "10", design_name: "Bronze" }])
    expect(rows.currency).toEqual([])
    expect(rows.payment).toEqual([])
  })

  it("refuses an update keeping TOASTed columns of a row it never saw, and a table that is not totesys's, applying nothing", () => {
    const source = new RecordedSource()
    const error = source.apply(change("design", "update", { design_id: "7" }, { design_id: "7", design_name: "Soft" }, { unchangedToast: ["file_location"], commitLsn: "0/2A0", commitIdx: 3 }))
    expect(error?.message).toBe(
      "the update of design design_id 7 at 0/2A0/3 keeps TOASTed file_location of a row the recording never showed: record from the snapshot on (without --since)"
    )
    expect(source.apply(change("_prisma_migrations", "insert", { id: "1" }, { id: "1" }, { commitLsn: "0/2B0", commitIdx: 0 }))?.message).toBe(
      "a change of _prisma_migrations at 0/2B0/0: not a totesys table"
    )
    expect(source.rows().design).toEqual([])
  })
})
