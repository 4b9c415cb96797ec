import { Result, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { describeAccessProblems } from "../src/poll/PollAccess.ts"
import {
  type PolledRow,
  type TableState,
  PollStateSchema,
  admit,
  compareCursor,
  cycleLsn,
  emptyTableState,
  firstPosition,
  formatTimestamp,
  inferOp,
  isoUtc,
  nextPosition,
  pageQuery,
  parseTimestamp,
  readPolledRow,
  tablesOf,
  toChangeRecord,
  toPollState
} from "../src/poll/PollCursor.ts"

/** A payment row as PostgreSQL's text, polled. */
const payment = (id: number, lastUpdated: string, createdAt = lastUpdated): PolledRow => {
  const read = readPolledRow("payment", { payment_id: String(id), created_at: createdAt, last_updated: lastUpdated, paid: "f" })
  if (Result.isFailure(read)) throw new Error(read.failure)
  return read.success
}

const T = "2024-02-23 10:11:12.345"
const keys = (rows: ReadonlyArray<PolledRow>) => rows.map((r) => r.key)

describe("timestamps", () => {
  it("reads PostgreSQL's text (trimmed milliseconds, ISO T, microseconds) as UTC microseconds", () => {
    expect(parseTimestamp("2022-12-15 11:55:10.28")).toBe(1_671_105_310_280_000)
    expect(parseTimestamp("2022-12-15 11:55:10")).toBe(1_671_105_310_000_000)
    expect(parseTimestamp("2022-11-03T14:20:52.186000")).toBe(1_667_485_252_186_000)
    expect(parseTimestamp("2022-11-03 14:20:52.000001")).toBe(1_667_485_252_000_001)
  })

  it("rejects what is not an ISO timestamp", () => {
    expect(parseTimestamp("infinity")).toBeUndefined()
    expect(parseTimestamp("15/12/2022 11:55:10")).toBeUndefined()
    expect(parseTimestamp("2022-02-30 00:00:00")).toBeUndefined()
    expect(parseTimestamp("2022-12-15 24:00:00")).toBeUndefined()
    expect(parseTimestamp("")).toBeUndefined()
  })

  it("writes a literal PostgreSQL reads back exactly, and ISO-8601 UTC for commitTs", () => {
    expect(formatTimestamp(1_671_105_310_280_000)).toBe("2022-12-15 11:55:10.280000")
    expect(formatTimestamp(1_671_105_310_280_123)).toBe("2022-12-15 11:55:10.280123")
    expect(isoUtc(1_671_105_310_280_000)).toBe("2022-12-15T11:55:10.280Z")
    expect(isoUtc(1_671_105_310_280_123)).toBe("2022-12-15T11:55:10.280123Z")
  })
})

describe("compareCursor", () => {
  it("orders by last_updated, then by primary key as an integer", () => {
    expect(compareCursor({ lastUpdated: T, pk: "9" }, { lastUpdated: T, pk: "10" })).toBe(-1)
    expect(compareCursor({ lastUpdated: "2022-12-15 11:55:10.28", pk: "1" }, { lastUpdated: "2022-12-15 11:55:10.275", pk: "99" })).toBe(1)
    expect(compareCursor({ lastUpdated: "2022-12-15 11:55:10.28", pk: "7" }, { lastUpdated: "2022-12-15 11:55:10.280", pk: "7" })).toBe(0)
  })
})

describe("admit and page positions", () => {
  it("loses nothing when rows sharing one last_updated straddle a page boundary", () => {
    const first = admit(emptyTableState, [payment(1, T), payment(2, T)], 5_000)
    expect(keys(first.fresh)).toEqual(["1", "2"])
    const position = nextPosition(payment(2, T))
    expect(position).toEqual({ _tag: "After", cursor: { lastUpdated: T, pk: "2" } })
    expect(pageQuery("payment", position, 2)).toEqual({
      sql: 'SELECT * FROM public."payment" WHERE (last_updated, "payment_id") > ($1::timestamp, $2::bigint) ORDER BY last_updated, "payment_id" LIMIT $3',
      params: [T, "2", 2]
    })
    const second = admit(first.state, [payment(3, T), payment(4, T)], 5_000)
    expect(keys(second.fresh)).toEqual(["3", "4"])
    expect(second.state.cursor).toEqual({ lastUpdated: T, pk: "4" })
  })

  it("does not emit again a row re-read in the overlap with the same last_updated, but does emit its next version", () => {
    const seen = admit(emptyTableState, [payment(1, T), payment(2, T)], 5_000).state
    expect(admit(seen, [payment(1, T), payment(2, "2024-02-23 10:11:12.3450")], 5_000).fresh).toEqual([])
    const updated = admit(seen, [payment(2, T), payment(1, "2024-02-23 10:11:13.001", T)], 5_000)
    expect(keys(updated.fresh)).toEqual(["1"])
    expect(updated.state.cursor).toEqual({ lastUpdated: "2024-02-23 10:11:13.001", pk: "1" })
  })

  it("re-reads from cursor minus the overlap, so a late commit inside it is emitted", () => {
    const state = admit(emptyTableState, [payment(1, "2024-02-23 12:00:10")], 5_000).state
    expect(firstPosition(state, 5_000)).toEqual({ _tag: "From", lastUpdated: "2024-02-23 12:00:05.000000" })
    expect(pageQuery("payment", firstPosition(state, 5_000), 5_000)).toEqual({
      sql: 'SELECT * FROM public."payment" WHERE last_updated >= $1::timestamp ORDER BY last_updated, "payment_id" LIMIT $2',
      params: ["2024-02-23 12:00:05.000000", 5_000]
    })
    // Committed late: older than the cursor, inside the overlap.
    const late = admit(state, [payment(50, "2024-02-23 12:00:07"), payment(1, "2024-02-23 12:00:10")], 5_000)
    expect(keys(late.fresh)).toEqual(["50"])
    expect(late.state.cursor).toEqual({ lastUpdated: "2024-02-23 12:00:10", pk: "1" })
  })

  it("reads a table from its start when it has no cursor", () => {
    expect(firstPosition(emptyTableState, 5_000)).toEqual({ _tag: "Start" })
    expect(pageQuery("transaction", { _tag: "Start" }, 1_000)).toEqual({
      sql: 'SELECT * FROM public."transaction" ORDER BY last_updated, "transaction_id" LIMIT $1',
      params: [1_000]
    })
  })

  it("keeps in the window only the versions inside the overlap, pruned as the cursor moves", () => {
    const state = admit(
      emptyTableState,
      [payment(1, "2024-02-23 12:00:00"), payment(2, "2024-02-23 12:00:05"), payment(3, "2024-02-23 12:00:10")],
      5_000
    ).state
    expect([...state.window]).toEqual([
      ["2", "2024-02-23 12:00:05"],
      ["3", "2024-02-23 12:00:10"]
    ])
    const moved = admit(state, [payment(4, "2024-02-23 12:01:00")], 5_000).state
    expect([...moved.window]).toEqual([["4", "2024-02-23 12:01:00"]])
  })
})

describe("change records", () => {
  it("infers insert when created_at equals last_updated, else update", () => {
    expect(inferOp(payment(1, T))).toBe("insert")
    expect(inferOp(payment(1, "2024-02-23 10:11:12.3450", T))).toBe("insert")
    expect(inferOp(payment(1, "2024-02-25 09:00:00", T))).toBe("update")
  })

  it("builds a poll record: text row as after, no before, last_updated as commitTs, the cycle's position", () => {
    expect(toChangeRecord("payment", payment(7, "2024-02-25 09:00:00.5", T), "16/B374D848", 3)).toEqual({
      v: 1,
      source: "poll",
      op: "update",
      table: "payment",
      key: { payment_id: "7" },
      before: null,
      after: { payment_id: "7", created_at: T, last_updated: "2024-02-25 09:00:00.5", paid: "f" },
      unchangedToast: [],
      commitLsn: "16/B374D848",
      commitIdx: 3,
      xid: null,
      commitTs: "2024-02-25T09:00:00.500Z"
    })
  })

  it("refuses a row without a usable last_updated, naming the table and key", () => {
    const read = readPolledRow("payment", { payment_id: "7", created_at: T, last_updated: "infinity" })
    expect(Result.isFailure(read) && read.failure).toBe(
      "payment payment_id=7: last_updated is infinity, not an ISO timestamp (poll mode needs it on every row)"
    )
  })
})

describe("cycleLsn", () => {
  it("uses the source's WAL position read at the cycle's start", () => {
    expect(cycleLsn("16/B374D848", 0, undefined)).toBe("16/B374D848")
    expect(cycleLsn("16/B374D900", 0, "16/B374D848")).toBe("16/B374D900")
  })

  it("never repeats or goes back: at least the previous cycle's LSN + 1", () => {
    expect(cycleLsn("16/B374D848", 0, "16/B374D848")).toBe("16/B374D849")
    expect(cycleLsn("16/0", 0, "16/B374D848")).toBe("16/B374D849")
    expect(cycleLsn("0/FFFFFFFF", 0, "0/FFFFFFFF")).toBe("1/0")
  })

  it("without pg_current_wal_lsn, is the cycle's start in microseconds since the epoch", () => {
    // 2024-02-23T10:11:12.345Z = 1,708,683,072,345,000 µs = 0x61209_C78F93A8
    expect(cycleLsn(undefined, 1_708_683_072_345, undefined)).toBe("61209/C78F93A8")
    expect(cycleLsn(undefined, 1_708_683_072_345, "61209/C78F93A8")).toBe("61209/C78F93A9")
  })
})

describe("saved state", () => {
  const tables = new Map<"payment" | "staff", TableState>([
    ["payment", { cursor: { lastUpdated: T, pk: "4" }, window: new Map([["3", T], ["4", T]]) }],
    ["staff", emptyTableState]
  ])

  it("round-trips cursors and windows (grouped by timestamp) through the JSON object", () => {
    const state = toPollState("totes_cdc", "16/B374D848", "2024-02-23T10:11:13.000Z", tables)
    expect(state).toEqual({
      version: 1,
      name: "totes_cdc",
      lsn: "16/B374D848",
      savedAt: "2024-02-23T10:11:13.000Z",
      tables: { payment: { cursor: { lastUpdated: T, pk: "4" }, window: [{ lastUpdated: T, pks: ["3", "4"] }] }, staff: { cursor: null, window: [] } }
    })
    const decoded = Schema.decodeUnknownSync(Schema.fromJsonString(PollStateSchema))(JSON.stringify(state))
    const restored = tablesOf(decoded, ["payment", "staff", "address"])
    expect(restored.get("payment")).toEqual(tables.get("payment"))
    expect(restored.get("staff")).toEqual(emptyTableState)
    expect(restored.get("address")).toEqual(emptyTableState)
  })

  it("rejects a state whose window holds something other than a timestamp", () => {
    const corrupt = { version: 1, name: "x", lsn: "0/1", savedAt: "", tables: { payment: { cursor: null, window: [{ lastUpdated: "yesterday", pks: ["1"] }] } } }
    expect(() => Schema.decodeUnknownSync(PollStateSchema)(corrupt)).toThrow(/Expected a timestamp/)
  })
})

describe("describeAccessProblems", () => {
  const table = (name: string, over: Partial<{ exists: boolean; canSelect: boolean; timestampColumns: Array<string> }> = {}) => ({
    table: name,
    exists: true,
    canSelect: true,
    timestampColumns: ["created_at", "last_updated"],
    ...over
  })

  it("has nothing to say when the role can SELECT every table", () => {
    expect(describeAccessProblems({ role: "r", database: "totesys", schemaUsage: true, tables: [table("payment"), table("staff")] })).toBeUndefined()
  })

  it("names every missing table and privilege on one line with the fix", () => {
    const line = describeAccessProblems({
      role: "r",
      database: "totesys",
      schemaUsage: true,
      tables: [table("payment", { canSelect: false }), table("staff", { exists: false, canSelect: false, timestampColumns: [] }), table("design", { timestampColumns: ["created_at"] })]
    })
    expect(line).toBe(
      "poll mode cannot read the source: table public.staff does not exist in database totesys (fix: point SOURCE_URL at the totesys database); " +
        'role r may not SELECT public.payment (fix: GRANT SELECT ON public."payment" TO "r"); ' +
        "table public.design has no last_updated column, which poll mode reads (fix: point SOURCE_URL at the totesys database)"
    )
  })

  it("gives fixes that run as written for any role name (quoted: case and spaces kept)", () => {
    const line = describeAccessProblems({ role: "Poll Reader", database: "totesys", schemaUsage: false, tables: [table("transaction", { canSelect: false })] })
    expect(line).toBe(
      'poll mode cannot read the source: role Poll Reader has no USAGE on schema public (fix: GRANT USAGE ON SCHEMA public TO "Poll Reader"); ' +
        'role Poll Reader may not SELECT public.transaction (fix: GRANT SELECT ON public."transaction" TO "Poll Reader")'
    )
  })
})
