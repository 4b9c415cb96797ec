/**
 * The freshness benchmark's pure parts (FreshnessTraffic.ts): the traffic mix, the
 * schedule, the marker book and the latency statistics.
 */
import { describe, expect, it } from "@effect/vitest"
import {
  dueMs,
  EVENT_CHANGES,
  eventKind,
  flipWritten,
  latencySummary,
  makeMarkerBook,
  makeRandom,
  markerKey,
  OBSERVER_POLL_SQL,
  orderWritten,
  parseIntArray,
  percentile,
  PURCHASE_SQL,
  purchaseParams,
  type ReferenceIds,
  referenceIdsOf,
  SALE_SQL,
  saleParams
} from "./FreshnessTraffic.ts"

const IDS: ReferenceIds = {
  designs: [1, 2, 3],
  staff: [10, 11],
  counterparties: [20],
  addresses: [30, 31, 32, 33],
  currencies: [1, 2, 3],
  salesReceipt: 1,
  purchasePayment: 3
}

describe("traffic", () => {
  it("cycles 4 sales, 2 purchases and 4 flips: 22 row changes in 10 commits", () => {
    const kinds = Array.from({ length: 20 }, (_, k) => eventKind(k))
    const first = kinds.slice(0, 10)
    expect(first.filter((k) => k === "sale")).toHaveLength(4)
    expect(first.filter((k) => k === "purchase")).toHaveLength(2)
    expect(first.filter((k) => k === "flip")).toHaveLength(4)
    expect(kinds.slice(10)).toEqual(first)
    expect(first.reduce((sum, k) => sum + EVENT_CHANGES[k], 0)).toBe(22)
  })

  it("schedules the commit after n changes at n / rate seconds", () => {
    expect(dueMs(0, 100)).toBe(0)
    expect(dueMs(100, 100)).toBe(1_000)
    expect(dueMs(22, 1_000)).toBe(22)
    expect(dueMs(5_000, 5_000)).toBe(1_000)
  })

  it("draws values in the simulator's ranges from the reference ids, the same for the same seed", () => {
    const random = makeRandom(3)
    for (let i = 0; i < 500; i++) {
      const [design, staff, party, units, price, currency, delivery, payment, address, ac1, ac2, type] = saleParams(random, IDS)
      expect(IDS.designs).toContain(design)
      expect(IDS.staff).toContain(staff)
      expect(party).toBe(20)
      expect(units).toBeGreaterThanOrEqual(1_001)
      expect(units).toBeLessThanOrEqual(99_973)
      expect(price).toMatch(/^[234]\.\d\d$/)
      expect(Number(price)).toBeLessThanOrEqual(4)
      expect(IDS.currencies).toContain(currency)
      expect(delivery).toBeGreaterThanOrEqual(0)
      expect(delivery).toBeLessThanOrEqual(7)
      expect(payment).toBeGreaterThanOrEqual(0)
      expect(payment).toBeLessThanOrEqual(6)
      expect(IDS.addresses).toContain(address)
      expect(String(ac1)).toMatch(/^\d{8}$/)
      expect(String(ac2)).toMatch(/^\d{8}$/)
      expect(type).toBe(1)
      const purchase = purchaseParams(random, IDS)
      expect(purchase[2]).toMatch(/^[A-Z0-9]{7}$/)
      expect(Number(purchase[4])).toBeGreaterThanOrEqual(3.33)
      expect(Number(purchase[4])).toBeLessThanOrEqual(998.66)
      expect(purchase[11]).toBe(3)
    }
    const a = makeRandom(9)
    const b = makeRandom(9)
    expect(saleParams(a, IDS)).toEqual(saleParams(b, IDS))
    expect(saleParams(makeRandom(10), IDS)).not.toEqual(saleParams(makeRandom(9), IDS))
  })

  it("reads reference ids from PostgreSQL's array text, and names what a source without reference data lacks", () => {
    expect(parseIntArray("{1,22,333}")).toEqual([1, 22, 333])
    expect(parseIntArray("{}")).toEqual([])
    expect(parseIntArray(null)).toEqual([])
    expect(
      referenceIdsOf({ designs: "{1}", staff: "{2}", counterparties: "{3}", addresses: "{4}", currencies: "{5}", sales_receipt: "1", purchase_payment: "3" })
    ).toEqual({ designs: [1], staff: [2], counterparties: [3], addresses: [4], currencies: [5], salesReceipt: 1, purchasePayment: 3 })
    expect(() =>
      referenceIdsOf({ designs: "{}", staff: "{2}", counterparties: "{3}", addresses: "{4}", currencies: "{5}", sales_receipt: null, purchase_payment: "3" })
    ).toThrow("the source lacks totesys reference data (designs, SALES_RECEIPT); seed it with a totesys dump")
  })

  it("names each fact version of a commit as the warehouse's version key", () => {
    const version = "2026-11-21 08:42:41.377"
    expect(orderWritten("sale", { order_id: "6942", transaction_id: "9900", payment_id: "9901", version })).toEqual({
      markers: ["fact_sales_order:6942:2026-11-21 08:42:41.377", "fact_payment:9901:2026-11-21 08:42:41.377"],
      transactionId: 9900,
      newPayment: 9901
    })
    expect(orderWritten("purchase", { order_id: "7", transaction_id: "8", payment_id: "9", version }).markers[0]).toBe(
      "fact_purchase_order:7:2026-11-21 08:42:41.377"
    )
    expect(flipWritten({ payment_id: "2", version })).toEqual({ markers: ["fact_payment:2:2026-11-21 08:42:41.377"], transactionId: null, newPayment: null })
    expect(markerKey("fact_payment", "2", version)).toBe(flipWritten({ payment_id: "2", version }).markers[0])
  })

  it("writes an order, its transaction and its payment in one statement, with as many parameters as the values drawn", () => {
    const parameters = (sql: string) => Math.max(...[...sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])))
    expect(SALE_SQL).toMatch(/INSERT INTO public\.sales_order \(created_at, last_updated, design_id, staff_id, counterparty_id, units_sold, unit_price,/)
    expect(SALE_SQL).toContain("SELECT 'SALE', order_id")
    expect(PURCHASE_SQL).toMatch(/INSERT INTO public\.purchase_order \(created_at, last_updated, staff_id, counterparty_id, item_code, item_quantity, item_unit_price,/)
    expect(PURCHASE_SQL).toContain("INSERT INTO public.transaction (transaction_type, purchase_order_id, created_at, last_updated)")
    for (const sql of [SALE_SQL, PURCHASE_SQL]) {
      expect(sql).toContain("INSERT INTO public.payment")
      expect(sql.split(";")).toHaveLength(1)
    }
    expect(parameters(SALE_SQL)).toBe(saleParams(makeRandom(1), IDS).length)
    expect(parameters(PURCHASE_SQL)).toBe(purchaseParams(makeRandom(1), IDS).length)
  })

  it("polls each fact table past its own cursor", () => {
    expect(OBSERVER_POLL_SQL).toContain("FROM public.fact_sales_order WHERE sales_record_id > $1")
    expect(OBSERVER_POLL_SQL).toContain("FROM public.fact_purchase_order WHERE purchase_record_id > $2")
    expect(OBSERVER_POLL_SQL).toContain("FROM public.fact_payment WHERE payment_record_id > $3")
  })
})

describe("marker book", () => {
  it("gives visible − committed per marker, whichever was noted first, and the first sighting only", () => {
    const book = makeMarkerBook()
    book.committed("a", 1_000)
    book.visible("a", 2_500)
    book.visible("a", 3_000)
    book.visible("b", 4_000) // the observer can see a row before its commit call returns
    book.committed("b", 3_990)
    expect(book.outcome(["a", "b"])).toEqual({ latencies: [1_500, 10], missing: [] })
    expect(book.lastVisibleAt(["a", "b"])).toBe(4_000)
    expect(book.isVisible("a")).toBe(true)
  })

  it("reports markers never seen (or never committed) as missing, and rows nobody committed as strangers", () => {
    const book = makeMarkerBook()
    book.committed("a", 1)
    book.committed("b", 2)
    book.visible("b", 5)
    book.visible("x", 6)
    expect(book.outcome(["a", "b", "c"])).toEqual({ latencies: [3], missing: ["a", "c"] })
    expect(book.isVisible("a")).toBe(false)
    expect(book.lastVisibleAt(["a", "c"])).toBeNaN()
    expect(book.strangers()).toBe(1)
  })
})

describe("statistics", () => {
  it("takes nearest-rank percentiles", () => {
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1)
    expect(percentile(hundred, 50)).toBe(50)
    expect(percentile(hundred, 95)).toBe(95)
    expect(percentile(hundred, 99)).toBe(99)
    expect(percentile(hundred, 100)).toBe(100)
    expect(percentile([1, 2], 50)).toBe(1)
    expect(percentile([7], 99)).toBe(7)
    expect(percentile([], 50)).toBeNaN()
  })

  it("summarizes latencies whatever their order, rounded to 0.1 ms", () => {
    const latencies = Array.from({ length: 1_000 }, (_, i) => 1_000 - i + 0.04) // 1.04 … 1,000.04 ms, descending
    expect(latencySummary(latencies)).toEqual({ count: 1_000, p50: 500, p95: 950, p99: 990, max: 1_000, mean: 500.5 })
    expect(latencySummary([])).toMatchObject({ count: 0, p50: NaN, max: NaN })
  })
})
