import { describe, expect, it } from "@effect/vitest"
import { partlyAppliedBatches } from "./ChaosWatch.ts"

describe("a micro-batch in the warehouse in part", () => {
  const keys = ["dim_staff/2026/12/05/b1.parquet", "fact_sales_order/2026/12/05/b1.parquet", "dim_staff/2026/12/05/b2.parquet", "fact_payment/2026/12/05/b2.parquet"]

  it("is a batch id with applied and unapplied objects", () => {
    expect(partlyAppliedBatches(keys, new Set(["dim_staff/2026/12/05/b1.parquet"]))).toEqual(["b1"])
  })

  it("is not a batch wholly applied or wholly waiting, nor a key that names no processed object", () => {
    expect(partlyAppliedBatches([...keys, "dlq/processor/2026/12/05/x.json"], new Set(["dim_staff/2026/12/05/b2.parquet", "fact_payment/2026/12/05/b2.parquet"]))).toEqual([])
  })
})
