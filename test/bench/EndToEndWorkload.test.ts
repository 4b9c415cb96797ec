/**
 * The end-to-end benchmark's pure parts: the drain plan and batch parameters
 * (EndToEndWorkload.ts), the enlarged snapshot seed, and the limiting-stage rule
 * (EndToEndReport.ts).
 */
import { describe, expect, it } from "@effect/vitest"
import { batchParams, bigSeed, copyBlockIds, drainPlan, salesOrderRow, type SalesReferences } from "./EndToEndWorkload.ts"
import { limitingStage } from "./EndToEndReport.ts"

const refs: SalesReferences = { designs: [8, 9], staff: [1], counterparties: [3, 4, 5], currencies: [2], addresses: [7] }

const DUMP = [
  "COPY public.design (design_id, created_at, last_updated, design_name, file_location, file_name) FROM stdin;",
  "8\t2022-11-03 14:20:49.962\t2022-11-03 14:20:49.962\tWooden\t/usr\twooden.json",
  "\\.",
  "",
  "COPY public.sales_order (sales_order_id, created_at, last_updated, design_id, staff_id, counterparty_id, units_sold, unit_price, currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id) FROM stdin;",
  "1\t2022-11-03 14:20:52.186\t2022-11-03 14:20:52.186\t8\t1\t3\t84754\t2.43\t2\t2022-11-10\t2022-11-03\t7",
  "5\t2022-11-03 14:20:52.186\t2022-11-03 14:20:52.186\t8\t1\t3\t42972\t3.94\t2\t2022-11-07\t2022-11-08\t7",
  "\\.",
  "",
  ...["staff", "counterparty", "currency", "address"].flatMap((table) => [`COPY public.${table} (${table}_id, x) FROM stdin;`, "1\tx", "\\.", ""])
].join("\n")

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
    expect(copyBlockIds(DUMP, "sales_order")).toEqual([1, 5])
    expect(() => copyBlockIds(DUMP, "payment")).toThrow(/no COPY block for payment/)
  })

  it("extends the sales_order block to the asked rows with ids after the largest, leaving the rest of the dump as it was", () => {
    const { text, added } = bigSeed(DUMP, 5)
    expect(added).toBe(3)
    expect(copyBlockIds(text, "sales_order")).toEqual([1, 5, 6, 7, 8])
    expect(copyBlockIds(text, "design")).toEqual([8])
    expect(text.replace(/\n\d+\t2024-02-23 12:00:00\.000[^\n]*/g, "")).toBe(DUMP)
    expect(() => bigSeed(DUMP, 2)).toThrow(/already holds 2 sales orders/)
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
