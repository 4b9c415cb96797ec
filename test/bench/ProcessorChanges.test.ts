/**
 * The processor benchmark's generated changes (ProcessorChanges.ts): shaped as the reader
 * emits them, deterministic, in commit order, and a valid input to the transform.
 */
import { describe, expect, it } from "@effect/vitest"
import { COLUMNS, comparePosition, decodeChangeRecord, emptyJoinState, encodeChangeRecord, type TotesysTable, transformBatch } from "@totes-cdc/core"
import { Effect } from "effect"
import { expectedFactPositions, generateChanges, pgTimestampText, SNAPSHOT_LSN } from "./ProcessorChanges.ts"

const REFERENCE_TABLES = ["address", "counterparty", "currency", "department", "design", "payment_type", "staff"]
const { changes } = generateChanges(20_000, 7)

describe("generateChanges", () => {
  it("gives exactly the number asked for, the same for the same seed, a prefix of a longer run", () => {
    expect(changes).toHaveLength(20_000)
    expect(generateChanges(20_000, 7).changes).toEqual(changes)
    expect(generateChanges(12_345, 7).changes).toEqual(changes.slice(0, 12_345))
    expect(generateChanges(20_000, 8).changes).not.toEqual(changes)
    expect(() => generateChanges(10, 7)).toThrow(/fewer than the reference snapshot/)
  })

  it("starts with a snapshot of the reference tables, then replication changes in strictly increasing position", () => {
    const reads = changes.filter((change) => change.op === "read")
    expect(reads.length).toBe(95) // 30 addresses, 3 currencies, 8 departments, 10 designs, 4 payment types, 20 counterparties, 20 staff
    expect(changes.slice(0, 95)).toEqual(reads)
    expect(new Set(reads.map((change) => change.table))).toEqual(new Set(REFERENCE_TABLES))
    for (const read of reads) expect(read).toMatchObject({ source: "snapshot", commitLsn: SNAPSHOT_LSN, xid: null })
    expect(reads.map((read) => read.commitIdx)).toEqual([...Array(95).keys()])
    for (const change of changes.slice(95)) expect(change.source).toBe("replication")
    for (let i = 1; i < changes.length; i++) expect(comparePosition(changes[i - 1]!, changes[i]!)).toBeLessThan(0)
  })

  it("is mostly inserts and updates of the four business tables; updates flip payments to paid", () => {
    const business = changes.filter((change) => ["sales_order", "purchase_order", "payment", "transaction"].includes(change.table))
    expect(business.length / changes.length).toBeGreaterThan(0.95)
    const paymentUpdates = changes.filter((change) => change.op === "update" && change.table === "payment")
    expect(paymentUpdates.length).toBeGreaterThan(1_000)
    for (const update of paymentUpdates) expect(update.after?.["paid"]).toBe("t")
    const otherUpdates = changes.filter((change) => change.op === "update" && change.table !== "payment")
    for (const update of otherUpdates) expect(["address", "department", "counterparty", "staff"]).toContain(update.table)
  })

  it("writes every column of the row, the key, and decodes as envelope v1", () => {
    for (const change of changes) {
      const table = change.table as TotesysTable
      expect(Object.keys(change.after ?? {})).toEqual(COLUMNS[table])
      expect(Object.values(change.key)).toEqual([change.after?.[COLUMNS[table][0]!]])
      expect(Effect.runSync(decodeChangeRecord(encodeChangeRecord(change)))).toEqual(change)
    }
  })

  it("is a valid transform input: no problems, one fact row per sales_order, purchase_order and payment change", () => {
    const result = transformBatch(emptyJoinState, changes)
    expect(result.problems).toEqual([])
    const factRows = (table: string) => result.rows.filter((row) => row.table === table).length
    const count = (table: string) => changes.filter((change) => change.table === table).length
    expect(factRows("fact_sales_order")).toBe(count("sales_order"))
    expect(factRows("fact_purchase_order")).toBe(count("purchase_order"))
    expect(factRows("fact_payment")).toBe(count("payment"))
    const expected = expectedFactPositions(changes)
    expect([...expected.keys()].sort()).toEqual(["fact_payment", "fact_purchase_order", "fact_sales_order"])
    expect(expected.get("fact_payment")).toHaveLength(count("payment"))
  })
})

describe("pgTimestampText", () => {
  it("drops the fraction's trailing zeros as PostgreSQL prints timestamp(3)", () => {
    expect(pgTimestampText("2022-11-03 14:20:49.962")).toBe("2022-11-03 14:20:49.962")
    expect(pgTimestampText("2022-11-03 14:20:49.960")).toBe("2022-11-03 14:20:49.96")
    expect(pgTimestampText("2022-11-03 14:20:49.100")).toBe("2022-11-03 14:20:49.1")
    expect(pgTimestampText("2022-11-03 14:20:50.000")).toBe("2022-11-03 14:20:50")
    expect(pgTimestampText("2022-11-03 14:20:50")).toBe("2022-11-03 14:20:50")
  })
})
