import { describe, expect, it } from "@effect/vitest"
import { formatStatus } from "../src/status/PipelineStatus.ts"

describe("formatStatus", () => {
  it("shows each table's freshness (snapshot-only tables by LSN) and every quarantined table with the command that releases it", () => {
    const lines = formatStatus({
      slot: { name: "totes_cdc", exists: false },
      reader: null,
      deadLetters: { processor: 2 },
      freshness: [
        { warehouse_table: "dim_currency", last_commit_lsn: "0/2714A38", last_commit_ts: null, last_loaded_at: "2026-11-21 08:19:10+00" },
        { warehouse_table: "fact_payment", last_commit_lsn: "0/2800000", last_commit_ts: "2026-11-21 08:20:01+00", last_loaded_at: "2026-11-21 08:20:02+00" }
      ],
      quarantined: [{ warehouse_table: "dim_currency", commit_lsn: "0/2900000", recorded_at: "2026-11-21 08:21:00+00" }]
    })
    expect(lines.slice(2)).toEqual([
      "dead letters: processor 2",
      "freshness:\n  dim_currency: last commit (snapshot only) at 0/2714A38, loaded 2026-11-21 08:19:10+00\n  fact_payment: last commit 2026-11-21 08:20:01+00, loaded 2026-11-21 08:20:02+00",
      "QUARANTINED dim_currency: source truncate at 0/2900000 (seen 2026-11-21 08:21:00+00); its objects wait — decide with `totes-cdc loader release dim_currency --as apply|ignore`"
    ])
  })
})
