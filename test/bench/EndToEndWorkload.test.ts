/**
 * The end-to-end benchmark's pure parts: the drain plan and batch parameters
 * (EndToEndWorkload.ts), the enlarged snapshot seed, and the limiting-stage rule
 * (EndToEndReport.ts).
 */
import { describe, expect, it } from "@effect/vitest"
import { TOTESYS_DUMP } from "@totes-cdc/local-stack/testing"
import { readFileSync } from "node:fs"
import { batchParams, bigSeed, copyBlockIds, drainPlan, salesOrderRow, type SalesReferences } from "./EndToEndWorkload.ts"
import { limitingStage } from "./EndToEndReport.ts"

const refs: SalesReferences = { designs: [8, 9], staff: [1], counterparties: [3, 4, 5], currencies: [2], addresses: [7] }

/** The real data set, read from ../shared/totesys/ (never copied into the repository). */
const DUMP = readFileSync(TOTESYS_DUMP, "utf8")

describe("drainPlan", () => {
  it("splits the changes into 1,000-change transactions of 700 inserts and 300 updates", () => {
    expect(drainPlan(1_000_000, 1_000, 0.7)).toEqual({ transactions: 1_000, inserts: 700, updates: 300, totalInserts: 700_000, totalUpdates: 300_000 })
    expect(() => drainPlan(1_500, 1_000, 0.7)).toThrow(/not a whole number/)
  })
})

describe("batchParams", () => {
  it("numbers the inserts of batch k after those of the batches before it and updates distinct payments, cycling", () => {
    const payments = [10, 11, 12, 13, 14]
    const first = batchParams(0, 700, 3, refs, payments)
    const third = batchParams(2, 700, 3, refs, payments)
    expect(first.slice(0, 2)).toEqual([1, 700])
    expect(third.slice(0, 2)).toEqual([1_401, 2_100])
    expect(first[7]).toEqual([10, 11, 12])
    expect(third[7]).toEqual([11, 12, 13])
    expect(() => batchParams(0, 10, 6, refs, payments)).toThrow(/at least as many payments/)
  })
})

describe("bigSeed", () => {
  it("reads a COPY block's ids", () => {
    // totesys/README.md: 6,941 sales orders, 4 payment types (ids 1–4).
    expect(copyBlockIds(DUMP, "sales_order")).toHaveLength(6_941)
    expect(copyBlockIds(DUMP, "payment_type")).toEqual([1, 2, 3, 4])
    expect(() => copyBlockIds(DUMP, "no_such_table")).toThrow(/no COPY block for no_such_table/)
  })

  it("extends the sales_order block to the asked rows with ids after the largest, leaving the rest of the dump as it was", () => {
    const before = copyBlockIds(DUMP, "sales_order")
    const { text, added } = bigSeed(DUMP, 6_944)
    expect(added).toBe(3)
    const largest = Math.max(...before)
    expect(copyBlockIds(text, "sales_order")).toEqual([...before, largest + 1, largest + 2, largest + 3])
    expect(copyBlockIds(text, "design")).toEqual(copyBlockIds(DUMP, "design"))
    expect(text.replace(/\n\d+\t2024-02-23 12:00:00\.000[^\n]*/g, "")).toBe(DUMP)
    expect(() => bigSeed(DUMP, 6_941)).toThrow(/already holds 6941 sales orders/)
  })

  it("writes rows in the dump's column order with existing references", () => {
    expect(salesOrderRow(6, { ...refs, designs: [8] }).split("\t")).toEqual([
      "6",
      "2024-02-23 12:00:00.000",
      "2024-02-23 12:00:00.000",
      "8",
      "1",
      "5", // counterparties[floor(6 / 3) % 3]
      String(1001 + ((6 * 7919) % 98973)),
      "3.86",
      "2",
      "2024-03-01",
      "2024-03-02",
      "7"
    ])
  })
})

describe("limitingStage", () => {
  it("names the reader when it finished with the warehouse, else the slower of processor and loader bound", () => {
    expect(limitingStage(1.1, 15_000, 200_000)).toMatch(/^reader/)
    expect(limitingStage(3, 15_000, 200_000)).toMatch(/^processor/)
    expect(limitingStage(3, 300_000, 200_000)).toMatch(/^loader/)
    expect(limitingStage(3, null, 200_000)).toMatch(/^processor or loader/)
    expect(limitingStage(null, null, null)).toMatch(/^unknown/)
  })
})
