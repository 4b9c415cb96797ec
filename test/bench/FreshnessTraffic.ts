/**
 * The freshness benchmark's pure parts (Freshness.ts runs them): the totesys-shaped
 * traffic its load generator commits, the schedule it keeps, the marker rows its observer
 * looks for in the warehouse, and the latency statistics.
 *
 * Traffic: business events in a fixed cycle of 10 (`EVENT_CYCLE`), one source
 * transaction each — a single statement, so one round trip commits it:
 *  - sale: sales_order + transaction + payment (3 row changes, one data-modifying CTE);
 *  - purchase: purchase_order + transaction + payment (3 row changes);
 *  - flip: `UPDATE payment SET paid = true, last_updated = now()` of one unpaid payment
 *    (1 row change) — the daily batch's change, one payment per commit.
 * Per cycle: 4 sales, 2 purchases, 4 flips = 22 row changes in 10 commits (2.2 per commit;
 * the real data: 68% sales / 29% purchases, 61% of payments flipped — SimulatorModel.ts),
 * with the simulator's value ranges. Every row written carries `last_updated = now()`.
 *
 * Invariants:
 *  - The schedule is by row changes: the commit that follows `n` changes is due at
 *    `n / rate` seconds after the start, whatever the event kinds, so a steady `rate`
 *    changes/s is offered (a commit is never delayed by how long the previous one took).
 *  - Each fact change is one marker, `table:natural id:last_updated text` — the warehouse
 *    fact table's version key (natural id, last_updated_date, last_updated_time, both as
 *    PostgreSQL's text form on both sides), so a marker names exactly one fact row.
 *  - Percentiles are nearest-rank (the value below which at least p% of the samples lie).
 *  - Values are deterministic for a seed (mulberry32); no Math.random, no clock.
 */

/** A business event: one source transaction. */
export type EventKind = "sale" | "purchase" | "flip"

/** The repeating order of events (see the module header). */
export const EVENT_CYCLE: ReadonlyArray<EventKind> = ["sale", "flip", "sale", "purchase", "flip", "sale", "flip", "sale", "purchase", "flip"]

/** Row changes each event commits. */
export const EVENT_CHANGES: Readonly<Record<EventKind, number>> = { sale: 3, purchase: 3, flip: 1 }

/** The kind of the `k`-th event (0-based) of a run. */
export const eventKind = (k: number): EventKind => EVENT_CYCLE[k % EVENT_CYCLE.length]!

/** Milliseconds after the start at which the commit following `changesBefore` row changes is due, at `rate` changes/s. */
export const dueMs = (changesBefore: number, rate: number): number => (changesBefore * 1000) / rate

/** The fact tables the observer watches: natural id and surrogate key columns. */
export const FACT_TABLES = {
  fact_sales_order: { naturalId: "sales_order_id", recordId: "sales_record_id" },
  fact_purchase_order: { naturalId: "purchase_order_id", recordId: "purchase_record_id" },
  fact_payment: { naturalId: "payment_id", recordId: "payment_record_id" }
} as const
export type FactTable = keyof typeof FACT_TABLES
export const FACT_TABLE_NAMES = Object.keys(FACT_TABLES) as ReadonlyArray<FactTable>

/** The marker of one fact version: `fact_payment:9900:2026-11-21 08:42:44.465`. */
export const markerKey = (table: FactTable, naturalId: string | number, version: string): string => `${table}:${naturalId}:${version}`

/** SQL: a `timestamp` expression as the text the warehouse's date + time columns give (`version` below). */
const versionOf = (column: string) => `${column}::date::text || ' ' || ${column}::time::text`

/** Reference ids the events pick from (read from the source once). */
export interface ReferenceIds {
  readonly designs: ReadonlyArray<number>
  readonly staff: ReadonlyArray<number>
  readonly counterparties: ReadonlyArray<number>
  readonly addresses: ReadonlyArray<number>
  readonly currencies: ReadonlyArray<number>
  /** payment_type_id of SALES_RECEIPT and PURCHASE_PAYMENT. */
  readonly salesReceipt: number
  readonly purchasePayment: number
}

/** SQL reading `ReferenceIds` as one row of int arrays (text form `{1,2,3}`). */
export const REFERENCE_IDS_SQL = `SELECT
  ARRAY(SELECT design_id FROM public.design ORDER BY 1)::text AS designs,
  ARRAY(SELECT staff_id FROM public.staff ORDER BY 1)::text AS staff,
  ARRAY(SELECT counterparty_id FROM public.counterparty ORDER BY 1)::text AS counterparties,
  ARRAY(SELECT address_id FROM public.address ORDER BY 1)::text AS addresses,
  ARRAY(SELECT currency_id FROM public.currency ORDER BY 1)::text AS currencies,
  (SELECT payment_type_id FROM public.payment_type WHERE payment_type_name = 'SALES_RECEIPT' ORDER BY 1 LIMIT 1)::text AS sales_receipt,
  (SELECT payment_type_id FROM public.payment_type WHERE payment_type_name = 'PURCHASE_PAYMENT' ORDER BY 1 LIMIT 1)::text AS purchase_payment`

/** PostgreSQL's text form of an int array (`{1,2,3}`, `{}`) → numbers. */
export const parseIntArray = (text: string | null | undefined): ReadonlyArray<number> =>
  text === null || text === undefined || text === "{}" ? [] : text.slice(1, -1).split(",").map(Number)

/** `ReferenceIds` from the row of `REFERENCE_IDS_SQL`; throws naming what the source lacks (it must hold totesys reference data). */
export const referenceIdsOf = (row: Readonly<Record<string, string | null>> | undefined): ReferenceIds => {
  const ids: ReferenceIds = {
    designs: parseIntArray(row?.designs),
    staff: parseIntArray(row?.staff),
    counterparties: parseIntArray(row?.counterparties),
    addresses: parseIntArray(row?.addresses),
    currencies: parseIntArray(row?.currencies),
    salesReceipt: Number(row?.sales_receipt ?? NaN),
    purchasePayment: Number(row?.purchase_payment ?? NaN)
  }
  const empty = (["designs", "staff", "counterparties", "addresses", "currencies"] as const).filter((name) => ids[name].length === 0)
  if (empty.length > 0 || Number.isNaN(ids.salesReceipt) || Number.isNaN(ids.purchasePayment)) {
    throw new Error(
      `the source lacks totesys reference data (${[...empty, ...(Number.isNaN(ids.salesReceipt) ? ["SALES_RECEIPT"] : []), ...(Number.isNaN(ids.purchasePayment) ? ["PURCHASE_PAYMENT"] : [])].join(", ")}); seed it with a totesys dump`
    )
  }
  return ids
}

/**
 * An order event in one statement: the order row, its transaction, its unpaid payment
 * (amount = quantity × price, the order's counterparty, currency and agreed payment date).
 * Returns `order_id, transaction_id, payment_id, version` (one row). $1–$5 the order's
 * own columns (`columns`), $6 currency, $7 delivery days, $8 payment days, $9 delivery
 * address, $10 company account, $11 counterparty account, $12 payment type.
 */
const orderEventSql = (order: {
  readonly table: "sales_order" | "purchase_order"
  readonly columns: string
  readonly amount: string
  readonly transactionType: "SALE" | "PURCHASE"
}) => `WITH o AS (
  INSERT INTO public.${order.table} (created_at, last_updated, ${order.columns},
    currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id)
  VALUES (now(), now(), $1, $2, $3, $4, $5, $6, (current_date + $7::int)::text, (current_date + $8::int)::text, $9)
  RETURNING ${order.table}_id AS order_id, last_updated, counterparty_id, currency_id, ${order.amount} AS amount, agreed_payment_date),
t AS (
  INSERT INTO public.transaction (transaction_type, ${order.table}_id, created_at, last_updated)
  SELECT '${order.transactionType}', order_id, now(), now() FROM o RETURNING transaction_id),
p AS (
  INSERT INTO public.payment (created_at, last_updated, transaction_id, counterparty_id, payment_amount, currency_id,
                              payment_type_id, paid, payment_date, company_ac_number, counterparty_ac_number)
  SELECT now(), now(), t.transaction_id, o.counterparty_id, o.amount, o.currency_id, $12, false, o.agreed_payment_date, $10, $11 FROM o, t
  RETURNING payment_id)
SELECT o.order_id, t.transaction_id, p.payment_id, ${versionOf("o.last_updated")} AS version FROM o, t, p`

/** A sale (`orderEventSql`): $1 design, $2 staff, $3 counterparty, $4 units, $5 unit price. */
export const SALE_SQL = orderEventSql({
  table: "sales_order",
  columns: "design_id, staff_id, counterparty_id, units_sold, unit_price",
  amount: "units_sold * unit_price",
  transactionType: "SALE"
})

/** A purchase (`orderEventSql`): $1 staff, $2 counterparty, $3 item code, $4 quantity, $5 unit price. */
export const PURCHASE_SQL = orderEventSql({
  table: "purchase_order",
  columns: "staff_id, counterparty_id, item_code, item_quantity, item_unit_price",
  amount: "item_quantity * item_unit_price",
  transactionType: "PURCHASE"
})

/** A payment flipped to paid, as the daily batch does. $1 payment_id. Returns `payment_id, version`; no row when it was already paid. */
export const FLIP_SQL = `UPDATE public.payment SET paid = true, last_updated = now() WHERE payment_id = $1 AND NOT paid
RETURNING payment_id, ${versionOf("last_updated")} AS version`

/** SQL: the unpaid payments of the source, oldest first (what flips start with). */
export const UNPAID_PAYMENTS_SQL = "SELECT payment_id FROM public.payment WHERE NOT paid ORDER BY payment_id"

/** A deterministic PRNG in [0, 1) (mulberry32). */
export const makeRandom = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const pick = <A>(random: () => number, values: ReadonlyArray<A>): A => values[Math.floor(random() * values.length)]!
const between = (random: () => number, min: number, max: number) => min + Math.floor(random() * (max - min + 1))
const ITEM_CODE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

/** Parameters $6–$12 of an order event (`orderEventSql`): currency, delivery in 0..7 days, payment in 0..6 days, address, two 8-digit accounts, the payment type. */
const orderTail = (random: () => number, ids: ReferenceIds, paymentType: number): ReadonlyArray<number> => [
  pick(random, ids.currencies),
  between(random, 0, 7),
  between(random, 0, 6),
  pick(random, ids.addresses),
  between(random, 10_000_000, 99_999_999),
  between(random, 10_000_000, 99_999_999),
  paymentType
]

/** Parameters of `SALE_SQL`: the simulator's ranges (units 1,001..99,973 at 2.00..4.00), then `orderTail`. */
export const saleParams = (random: () => number, ids: ReferenceIds): ReadonlyArray<number | string> => [
  pick(random, ids.designs),
  pick(random, ids.staff),
  pick(random, ids.counterparties),
  between(random, 1_001, 99_973),
  (between(random, 200, 400) / 100).toFixed(2),
  ...orderTail(random, ids, ids.salesReceipt)
]

/** Parameters of `PURCHASE_SQL`: item code 7 × [A-Z0-9], quantity 1..999 at 3.33..998.66, then `orderTail`. */
export const purchaseParams = (random: () => number, ids: ReferenceIds): ReadonlyArray<number | string> => [
  pick(random, ids.staff),
  pick(random, ids.counterparties),
  Array.from({ length: 7 }, () => pick(random, [...ITEM_CODE_CHARS])).join(""),
  between(random, 1, 999),
  (between(random, 333, 99_866) / 100).toFixed(2),
  ...orderTail(random, ids, ids.purchasePayment)
]

/** What a committed event wrote: its fact markers, and the transaction id of an order (a dimension row, checked at the end). */
export interface Written {
  readonly markers: ReadonlyArray<string>
  readonly transactionId: number | null
  /** The payment a sale or purchase created (unpaid: a later flip's candidate). */
  readonly newPayment: number | null
}

/** The markers of an order event's result row (`SALE_SQL` / `PURCHASE_SQL`). */
export const orderWritten = (kind: "sale" | "purchase", row: Readonly<Record<string, string | null>> | undefined): Written => {
  const version = row?.version ?? ""
  const table: FactTable = kind === "sale" ? "fact_sales_order" : "fact_purchase_order"
  return {
    markers: [markerKey(table, row?.order_id ?? "?", version), markerKey("fact_payment", row?.payment_id ?? "?", version)],
    transactionId: Number(row?.transaction_id),
    newPayment: Number(row?.payment_id)
  }
}

/** The marker of a flip's result row (`FLIP_SQL`). */
export const flipWritten = (row: Readonly<Record<string, string | null>>): Written => ({
  markers: [markerKey("fact_payment", row.payment_id ?? "?", row.version ?? "")],
  transactionId: null,
  newPayment: null
})

/**
 * SQL of one observer poll: the fact rows added after the given surrogate keys ($1 sales,
 * $2 purchases, $3 payments), as `fact_table, record_id, natural_id, version`. Facts are
 * append-only and their surrogate keys come from sequences in the loader's transactions,
 * which run one at a time (Processor.ts: one micro-batch at a time; Loader.ts: an
 * advisory lock), so a key above the cursor is a row the observer has not seen yet.
 */
export const OBSERVER_POLL_SQL = FACT_TABLE_NAMES.map((table, i) => {
  const { naturalId, recordId } = FACT_TABLES[table]
  return `SELECT '${table}' AS fact_table, ${recordId} AS record_id, ${naturalId} AS natural_id,
       last_updated_date::text || ' ' || last_updated_time::text AS version
  FROM public.${table} WHERE ${recordId} > $${i + 1}`
}).join("\nUNION ALL\n")

/** SQL: the largest surrogate key of each fact table (the observer's starting cursor). */
export const OBSERVER_START_SQL = `SELECT ${FACT_TABLE_NAMES.map((table) => `(SELECT coalesce(max(${FACT_TABLES[table].recordId}), 0) FROM public.${table})::text AS ${table}`).join(", ")}`

/** SQL: rows per fact table of the warehouse, and per source table of totesys (the snapshot is loaded when they agree). */
export const WAREHOUSE_FACT_COUNTS_SQL = `SELECT ${FACT_TABLE_NAMES.map((table) => `(SELECT count(*) FROM public.${table})::text AS ${table}`).join(", ")}`
export const SOURCE_FACT_COUNTS_SQL =
  "SELECT (SELECT count(*) FROM public.sales_order)::text AS fact_sales_order, (SELECT count(*) FROM public.purchase_order)::text AS fact_purchase_order, (SELECT count(*) FROM public.payment)::text AS fact_payment"

/**
 * SQL: which of the transaction ids $1 (int[]) are in dim_transaction as real rows (an
 * inferred member, made for a fact whose transaction had not arrived, says `Unknown`).
 */
export const TRANSACTIONS_PRESENT_SQL =
  "SELECT transaction_id FROM public.dim_transaction WHERE transaction_id = ANY($1::int[]) AND transaction_type <> 'Unknown'"

/** SQL: which of the fact versions in $1 (text[] of `markerKey`s) are in the warehouse (the final check of markers the observer did not see). */
export const MARKERS_PRESENT_SQL = FACT_TABLE_NAMES.map(
  (table) =>
    `SELECT '${table}:' || ${FACT_TABLES[table].naturalId} || ':' || last_updated_date::text || ' ' || last_updated_time::text AS marker
  FROM public.${table} WHERE ('${table}:' || ${FACT_TABLES[table].naturalId} || ':' || last_updated_date::text || ' ' || last_updated_time::text) = ANY($1::text[])`
).join("\nUNION ALL\n")

// ---------------------------------------------------------------------------------------
// Marker book: when each marker was committed and when it became visible.

/** Times (ms, one monotonic clock) of one marker; either may come first (the observer can see a row before the generator records its commit). */
interface MarkerTimes {
  committedAt?: number
  visibleAt?: number
}

export interface MarkerBook {
  /** The generator's commit of `key` returned at `at`. */
  readonly committed: (key: string, at: number) => void
  /** The observer first saw `key` at `at` (later sightings are ignored). */
  readonly visible: (key: string, at: number) => void
  readonly isVisible: (key: string) => boolean
  /** Latencies (visible − committed, ms) of `keys`, and the keys not visible (or never committed). */
  readonly outcome: (keys: Iterable<string>) => { readonly latencies: ReadonlyArray<number>; readonly missing: ReadonlyArray<string> }
  /** When the last of the visible `keys` became visible (ms); NaN when none is. */
  readonly lastVisibleAt: (keys: Iterable<string>) => number
  /** Rows seen that no commit of the generator made (so far). */
  readonly strangers: () => number
}

export const makeMarkerBook = (): MarkerBook => {
  const book = new Map<string, MarkerTimes>()
  const entry = (key: string) => {
    let times = book.get(key)
    if (times === undefined) book.set(key, (times = {}))
    return times
  }
  return {
    committed: (key, at) => {
      entry(key).committedAt = at
    },
    visible: (key, at) => {
      const times = entry(key)
      if (times.visibleAt === undefined) times.visibleAt = at
    },
    isVisible: (key) => book.get(key)?.visibleAt !== undefined,
    outcome: (keys) => {
      const latencies: Array<number> = []
      const missing: Array<string> = []
      for (const key of keys) {
        const times = book.get(key)
        if (times?.committedAt === undefined || times.visibleAt === undefined) missing.push(key)
        else latencies.push(times.visibleAt - times.committedAt)
      }
      return { latencies, missing }
    },
    lastVisibleAt: (keys) => {
      let last = NaN
      for (const key of keys) {
        const at = book.get(key)?.visibleAt
        if (at !== undefined && !(at <= last)) last = at
      }
      return last
    },
    strangers: () => {
      let n = 0
      for (const times of book.values()) if (times.committedAt === undefined) n += 1
      return n
    }
  }
}

// ---------------------------------------------------------------------------------------
// Statistics.

/** Nearest-rank percentile `p` (0–100] of `sorted` (ascending); NaN when empty. */
export const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!

export interface LatencySummary {
  readonly count: number
  readonly p50: number
  readonly p95: number
  readonly p99: number
  readonly max: number
  readonly mean: number
}

/** p50/p95/p99/max/mean of latencies in ms (rounded to 0.1 ms); NaN figures when there are none. */
export const latencySummary = (latencies: ReadonlyArray<number>): LatencySummary => {
  const sorted = [...latencies].sort((a, b) => a - b)
  const round = (x: number) => Math.round(x * 10) / 10
  return {
    count: sorted.length,
    p50: round(percentile(sorted, 50)),
    p95: round(percentile(sorted, 95)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.length === 0 ? NaN : sorted[sorted.length - 1]!),
    mean: round(sorted.length === 0 ? NaN : sorted.reduce((a, b) => a + b, 0) / sorted.length)
  }
}
