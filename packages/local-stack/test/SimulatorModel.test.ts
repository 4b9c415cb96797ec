/**
 * SimulatorModel against a fake database: a sequential id allocator per table that checks
 * every FK, NOT NULL, column set and value format of each generated op, as PostgreSQL
 * would with totesys/oltp_schema.sql. Expected numbers are the real data's (totesys dump
 * of 2024-02-23), written out here, not read from the module.
 */
import { COLUMNS, PRIMARY_KEY, TOTESYS_TABLES, type TotesysTable } from "@totes-cdc/core"
import type { Faker } from "@faker-js/faker"
import { describe, expect, it } from "vitest"
import {
  applyAssigned,
  type ExistingData,
  formatTimestamp,
  historyConfig,
  initialState,
  liveConfig,
  makeFaker,
  nextHistoryAt,
  nextTxn,
  referenceData,
  type SimConfig,
  type SimState,
  type SimTxn,
  type Value
} from "../src/simulator/SimulatorModel.ts"

// ---------------------------------------------------------------- schema facts (oltp_schema.sql)

type ColType = "int" | "text" | "ts" | "num" | "bool" | "date" | "code3" | "ptype" | "ttype"

const TYPES: { readonly [T in TotesysTable]: Readonly<Record<string, ColType>> } = {
  address: {
    address_line_1: "text", address_line_2: "text", district: "text", city: "text", postal_code: "text",
    country: "text", phone: "text", created_at: "ts", last_updated: "ts"
  },
  counterparty: {
    counterparty_legal_name: "text", legal_address_id: "int", commercial_contact: "text", delivery_contact: "text",
    created_at: "ts", last_updated: "ts"
  },
  currency: { currency_code: "code3", created_at: "ts", last_updated: "ts" },
  department: { department_name: "text", location: "text", manager: "text", created_at: "ts", last_updated: "ts" },
  design: { created_at: "ts", design_name: "text", file_location: "text", file_name: "text", last_updated: "ts" },
  staff: {
    first_name: "text", last_name: "text", department_id: "int", email_address: "text", created_at: "ts",
    last_updated: "ts"
  },
  payment_type: { payment_type_name: "ptype", created_at: "ts", last_updated: "ts" },
  sales_order: {
    created_at: "ts", last_updated: "ts", design_id: "int", staff_id: "int", counterparty_id: "int", units_sold: "int",
    unit_price: "num", currency_id: "int", agreed_delivery_date: "date", agreed_payment_date: "date",
    agreed_delivery_location_id: "int"
  },
  purchase_order: {
    created_at: "ts", last_updated: "ts", staff_id: "int", counterparty_id: "int", item_code: "text",
    item_quantity: "int", item_unit_price: "num", currency_id: "int", agreed_delivery_date: "date",
    agreed_payment_date: "date", agreed_delivery_location_id: "int"
  },
  transaction: { transaction_type: "ttype", sales_order_id: "int", purchase_order_id: "int", created_at: "ts", last_updated: "ts" },
  payment: {
    created_at: "ts", last_updated: "ts", transaction_id: "int", counterparty_id: "int", payment_amount: "num",
    currency_id: "int", payment_type_id: "int", paid: "bool", payment_date: "date", company_ac_number: "int",
    counterparty_ac_number: "int"
  }
}

const NULLABLE = new Set([
  "address.address_line_2", "address.district", "counterparty.commercial_contact", "counterparty.delivery_contact",
  "department.location", "department.manager", "transaction.sales_order_id", "transaction.purchase_order_id"
])

const FKS: Partial<{ readonly [T in TotesysTable]: Readonly<Record<string, TotesysTable>> }> = {
  counterparty: { legal_address_id: "address" },
  staff: { department_id: "department" },
  sales_order: {
    design_id: "design", staff_id: "staff", counterparty_id: "counterparty", currency_id: "currency",
    agreed_delivery_location_id: "address"
  },
  purchase_order: {
    staff_id: "staff", counterparty_id: "counterparty", currency_id: "currency", agreed_delivery_location_id: "address"
  },
  transaction: { sales_order_id: "sales_order", purchase_order_id: "purchase_order" },
  payment: { transaction_id: "transaction", counterparty_id: "counterparty", currency_id: "currency", payment_type_id: "payment_type" }
}

const PATTERNS: Readonly<Record<ColType, RegExp>> = {
  int: /^(0|[1-9]\d{0,9})$/,
  text: /^\S(.*\S)?$/,
  ts: /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01]) ([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}$/,
  num: /^(0|[1-9]\d{0,7})\.\d{2}$/,
  bool: /^[tf]$/,
  date: /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/,
  code3: /^[A-Z]{3}$/,
  ptype: /^(SALES_RECEIPT|SALES_REFUND|PURCHASE_PAYMENT|PURCHASE_REFUND)$/,
  ttype: /^(SALE|PURCHASE)$/
}

// ---------------------------------------------------------------- fake database

type Row = Record<string, Value>

interface Flip { readonly id: number; readonly at: number }

interface FakeDb {
  readonly rows: Map<TotesysTable, Map<number, Row>>
  readonly nextId: Map<TotesysTable, number>
  readonly violations: Array<string>
  readonly flips: Array<Flip>
  readonly usedTransactions: Set<string>
  readonly usedOrders: Set<string>
}

const emptyDb = (): FakeDb => ({
  rows: new Map(TOTESYS_TABLES.map((t) => [t, new Map<number, Row>()])),
  nextId: new Map(TOTESYS_TABLES.map((t) => [t, 1])),
  violations: [],
  flips: [],
  usedTransactions: new Set(),
  usedOrders: new Set()
})

const table = (db: FakeDb, t: TotesysTable): Map<number, Row> => db.rows.get(t) ?? new Map()

const tsValid = (text: string): boolean =>
  new Date(`${text.replace(" ", "T")}Z`).toISOString().slice(0, 23).replace("T", " ") === text

const checkValue = (db: FakeDb, t: TotesysTable, column: string, value: Value, where: string) => {
  const type = TYPES[t][column]
  if (type === undefined) return void db.violations.push(`${where}: unknown column ${t}.${column}`)
  if (value === null) {
    if (!NULLABLE.has(`${t}.${column}`)) db.violations.push(`${where}: NULL in NOT NULL ${t}.${column}`)
    return
  }
  if (!PATTERNS[type].test(value)) db.violations.push(`${where}: ${t}.${column} = '${value}' is not ${type}`)
  if (type === "int" && Number(value) > 2_147_483_647) db.violations.push(`${where}: ${t}.${column} overflows`)
  if (type === "ts" && !tsValid(value)) db.violations.push(`${where}: ${t}.${column} = '${value}' invalid`)
  const target = FKS[t]?.[column]
  if (target !== undefined && !table(db, target).has(Number(value))) {
    db.violations.push(`${where}: FK ${t}.${column} = ${value} has no ${target} row`)
  }
}

const checkTransaction = (db: FakeDb, row: Row, where: string) => {
  const sale = row.transaction_type === "SALE"
  const [own, other] = sale ? ["sales_order_id", "purchase_order_id"] : ["purchase_order_id", "sales_order_id"]
  if (row[own] === null || row[other] !== null) db.violations.push(`${where}: ${row.transaction_type} with wrong order ids`)
  const key = `${own}:${row[own]}`
  if (db.usedOrders.has(key)) db.violations.push(`${where}: ${key} used twice`)
  db.usedOrders.add(key)
}

const checkPaymentInsert = (db: FakeDb, row: Row, where: string) => {
  if (row.paid !== "f") db.violations.push(`${where}: payment inserted paid`)
  const tx = String(row.transaction_id)
  if (db.usedTransactions.has(tx)) db.violations.push(`${where}: transaction ${tx} has two payments`)
  db.usedTransactions.add(tx)
}

const insertRow = (db: FakeDb, txn: SimTxn, op: Extract<SimTxn["ops"][number], { op: "insert" }>, refs: Map<string, [TotesysTable, number]>) => {
  const where = `${txn.kind}@${formatTimestamp(txn.at)} ${op.table}(${op.ref})`
  const expected = COLUMNS[op.table].filter((c) => c !== PRIMARY_KEY[op.table]).sort()
  expect(Object.keys(op.row).sort(), where).toEqual(expected)
  if (refs.has(op.ref)) db.violations.push(`${where}: ref reused in txn`)
  const row: Row = {}
  for (const [column, value] of Object.entries(op.row)) {
    if (value !== null && typeof value === "object") {
      const target = refs.get(value.ref)
      if (target === undefined) db.violations.push(`${where}: ${column} refers to unknown ref ${value.ref}`)
      else if (FKS[op.table]?.[column] !== target[0]) db.violations.push(`${where}: ${column} IdRef to ${target[0]}`)
      row[column] = target === undefined ? "0" : String(target[1])
    } else {
      row[column] = value
    }
    checkValue(db, op.table, column, row[column] ?? null, where)
  }
  if (op.table === "transaction") checkTransaction(db, row, where)
  if (op.table === "payment") checkPaymentInsert(db, row, where)
  const id = db.nextId.get(op.table) ?? 1
  db.nextId.set(op.table, id + 1)
  table(db, op.table).set(id, row)
  refs.set(op.ref, [op.table, id])
  return id
}

const updateRow = (db: FakeDb, txn: SimTxn, op: Extract<SimTxn["ops"][number], { op: "update" }>) => {
  const where = `${txn.kind}@${formatTimestamp(txn.at)} ${op.table}#${op.id}`
  const row = table(db, op.table).get(op.id)
  if (row === undefined) return void db.violations.push(`${where}: update of a missing row`)
  if (op.set.last_updated !== formatTimestamp(txn.at)) db.violations.push(`${where}: last_updated not bumped to at`)
  for (const [column, value] of Object.entries(op.set)) checkValue(db, op.table, column, value, where)
  if (op.table === "payment" && op.set.paid === "t") {
    if (row.paid !== "f") db.violations.push(`${where}: payment flipped twice`)
    db.flips.push({ id: op.id, at: txn.at })
  }
  Object.assign(row, op.set)
}

/** Executes a txn on the fake database; returns the ids assigned by ref. */
const execute = (db: FakeDb, txn: SimTxn): Record<string, number> => {
  const refs = new Map<string, [TotesysTable, number]>()
  const ids: Record<string, number> = {}
  for (const op of txn.ops) {
    if (op.op === "insert") ids[op.ref] = insertRow(db, txn, op, refs)
    else updateRow(db, txn, op)
  }
  return ids
}

// ---------------------------------------------------------------- runs

const DAY = 86_400_000
/** The real daily flip batch runs at 07:55:11.495 UTC. */
const FLIP_TIME_OF_DAY = ((7 * 60 + 55) * 60 + 11) * 1_000 + 495
/** Friday 2024-02-23 11:11:10 UTC, the dump's last activity. */
const START = Date.UTC(2024, 1, 23, 11, 11, 10, 72)

const EMPTY_IDS: ExistingData["ids"] = Object.fromEntries(TOTESYS_TABLES.map((t) => [t, []])) as unknown as ExistingData["ids"]
const EMPTY: ExistingData = { ids: EMPTY_IDS, unpaidPayments: [] }

type Clock = (state: SimState, faker: Faker, previous: number, i: number) => number

/** Live pacing: 1.0-2.8 s between calls, fixed pattern. */
const liveClock: Clock = (_s, _f, previous, i) => previous + 1_000 + (i % 7) * 300
const historyClock: Clock = (state, faker, previous) => nextHistoryAt(state, faker, previous)

interface Run {
  readonly txns: ReadonlyArray<SimTxn>
  readonly db: FakeDb
  readonly state: SimState
  readonly end: number
  readonly maxPending: number
  readonly maxUnpaidSlack: number
}

const unpaidCount = (db: FakeDb): number => [...table(db, "payment").values()].filter((r) => r.paid === "f").length

const simulate = (options: {
  readonly seed: number
  readonly config: SimConfig
  readonly events: number
  readonly clock: Clock
  readonly existing?: ExistingData
  readonly db?: FakeDb
}): Run => {
  const faker = makeFaker(options.seed)
  const db = options.db ?? emptyDb()
  let state = initialState(options.existing ?? EMPTY, options.config)
  let at = START
  const txns: Array<SimTxn> = []
  let maxPending = 0
  let maxUnpaidSlack = Number.NEGATIVE_INFINITY
  for (let i = 0; i <= options.events; i++) {
    const txn = nextTxn(state, faker, at)
    txns.push(txn)
    state = applyAssigned(state, txn, execute(db, txn))
    maxPending = Math.max(maxPending, state.pending.length)
    if (i % 250 === 0) maxUnpaidSlack = Math.max(maxUnpaidSlack, state.pending.length - unpaidCount(db))
    at = options.clock(state, faker, at, i)
  }
  return { txns, db, state, end: at, maxPending, maxUnpaidSlack }
}

const rowsOf = (run: Run, t: TotesysTable): Array<Row> => [...table(run.db, t).values()]
type Cell = Value | undefined
const parseTs = (text: Cell): number => Date.parse(`${String(text).replace(" ", "T")}Z`)
const parseDate = (text: Cell): number => Date.parse(`${String(text)}T00:00:00Z`)
const dayOffset = (date: Cell, created: Cell): number =>
  Math.round((parseDate(date) - Math.floor(parseTs(created) / DAY) * DAY) / DAY)
const cents = (text: Cell): bigint => BigInt(String(text).replace(".", ""))

/** The real rule: paid iff payment_date is after the creation day and a weekday. */
const realPays = (row: Row): boolean => {
  const weekday = new Date(parseDate(row.payment_date)).getUTCDay()
  return dayOffset(row.payment_date, row.created_at) >= 1 && weekday !== 0 && weekday !== 6
}

const lazy = <A>(make: () => A): (() => A) => {
  let value: { readonly v: A } | undefined
  return () => {
    value ??= { v: make() }
    return value.v
  }
}

// Shared long runs (each ~1-3 s), made on first use so a model error fails tests, not the file.
const history = lazy(() => simulate({ seed: 2024, config: historyConfig, events: 20_000, clock: historyClock }))
const live = lazy(() => simulate({ seed: 7, config: liveConfig, events: 5_000, clock: liveClock }))
const churn = lazy(() =>
  simulate({ seed: 11, config: { paidDelayMs: [2_000, 60_000], rareChangeProbability: 0.1 }, events: 5_000, clock: liveClock })
)

// ---------------------------------------------------------------- tests

describe("formatTimestamp", () => {
  it("renders UTC with milliseconds", () => {
    expect(formatTimestamp(Date.UTC(2024, 1, 23, 10, 1, 2, 345))).toBe("2024-02-23 10:01:02.345")
    expect(formatTimestamp(0)).toBe("1970-01-01 00:00:00.000")
    expect(formatTimestamp(Date.UTC(2022, 10, 3, 14, 20, 49, 960))).toBe("2022-11-03 14:20:49.960")
  })
})

describe("referenceData", () => {
  const txn = referenceData(makeFaker(1), START)
  const inserts = txn.ops.flatMap((op) => (op.op === "insert" ? [op] : []))
  const of = (t: TotesysTable) => inserts.filter((op) => op.table === t)

  it("is one txn of inserts with the totesys reference tables", () => {
    expect(txn.kind).toBe("reference_data")
    expect(inserts).toHaveLength(txn.ops.length)
    expect(of("address")).toHaveLength(30)
    expect(of("counterparty")).toHaveLength(20)
    expect(of("staff")).toHaveLength(20)
    expect(of("design").length).toBeGreaterThanOrEqual(8)
    expect(of("design").length).toBeLessThanOrEqual(12)
    expect(of("currency").map((op) => op.row.currency_code)).toEqual(["GBP", "USD", "EUR"])
    expect(of("payment_type").map((op) => op.row.payment_type_name)).toEqual([
      "SALES_RECEIPT", "SALES_REFUND", "PURCHASE_PAYMENT", "PURCHASE_REFUND"
    ])
    expect(of("department").map((op) => op.row.department_name)).toEqual([
      "Sales", "Purchasing", "Production", "Dispatch", "Finance", "Facilities", "Communications", "HR"
    ])
    for (const op of of("department")) expect(["Manchester", "Leeds"]).toContain(op.row.location)
  })

  it("inserts without FK or format violations and real-looking e-mails", () => {
    const db = emptyDb()
    execute(db, txn)
    expect(db.violations).toEqual([])
    for (const row of table(db, "staff").values()) {
      expect(row.email_address).toMatch(/^[a-z'-]+\.[a-z'-]+@terrifictotes\.com$/)
    }
  })
})

describe("determinism", () => {
  const run = (seed: number) => simulate({ seed, config: liveConfig, events: 1_500, clock: liveClock }).txns

  it("gives identical txns for the same seed, times and ids", () => {
    expect(run(42)).toEqual(run(42))
  })

  it("differs for another seed", () => {
    expect(run(43)).not.toEqual(run(42))
  })

  it("keeps the state plain JSON", () => {
    expect(JSON.parse(JSON.stringify(live().state))).toEqual(live().state)
  })
})

describe("integrity over long runs", () => {
  it.each([
    ["history", history],
    ["live", live],
    ["rare changes at 10%", churn]
  ])("%s: every FK, NOT NULL and value format holds", (_name, run) => {
    expect(run().db.violations.slice(0, 20)).toEqual([])
    expect(rowsOf(run(), "payment").length).toBeGreaterThan(1_000)
  })

  it("exercises every kind of rare change and keeps their FKs valid", () => {
    const kinds = new Set(churn().txns.map((t) => t.kind))
    for (const kind of ["address_change", "department_change", "counterparty_change", "staff_change"] as const) {
      expect(kinds).toContain(kind)
    }
    const legalMoves = churn().txns.flatMap((t) => t.ops).filter((op) => op.op === "update" && "legal_address_id" in op.set)
    expect(legalMoves.length).toBeGreaterThan(0)
  })

  it("links each SALE to one sales order and each PURCHASE to one purchase order", () => {
    const txs = rowsOf(history(), "transaction")
    expect(txs.filter((r) => r.transaction_type === "SALE")).toHaveLength(rowsOf(history(), "sales_order").length)
    expect(txs.filter((r) => r.transaction_type === "PURCHASE")).toHaveLength(rowsOf(history(), "purchase_order").length)
    for (const r of txs) {
      expect(r.transaction_type === "SALE").toBe(r.sales_order_id !== null)
      expect(r.transaction_type === "PURCHASE").toBe(r.purchase_order_id !== null)
    }
    expect(rowsOf(history(), "payment")).toHaveLength(txs.length)
  })

  it("makes each payment mirror its order as the real data does", () => {
    const types = table(history().db, "payment_type")
    for (const p of rowsOf(history(), "payment")) {
      const tx = table(history().db, "transaction").get(Number(p.transaction_id))
      expect(tx).toBeDefined()
      if (tx === undefined) continue
      const sale = tx.transaction_type === "SALE"
      const order = sale
        ? table(history().db, "sales_order").get(Number(tx.sales_order_id))
        : table(history().db, "purchase_order").get(Number(tx.purchase_order_id))
      if (order === undefined) throw new Error("order missing")
      const amount = sale
        ? BigInt(String(order.units_sold)) * cents(order.unit_price)
        : BigInt(String(order.item_quantity)) * cents(order.item_unit_price)
      expect(cents(p.payment_amount)).toBe(amount)
      expect(p.counterparty_id).toBe(order.counterparty_id)
      expect(p.currency_id).toBe(order.currency_id)
      expect(p.payment_date).toBe(order.agreed_payment_date)
      expect(p.created_at).toBe(order.created_at)
      expect(tx.created_at).toBe(order.created_at)
      expect(types.get(Number(p.payment_type_id))?.payment_type_name).toBe(sale ? "SALES_RECEIPT" : "PURCHASE_PAYMENT")
    }
  })
})

describe("payment flips", () => {
  const flipsById = (run: Run) => {
    const byId = new Map<number, Array<number>>()
    for (const f of run.db.flips) byId.set(f.id, [...(byId.get(f.id) ?? []), f.at])
    return byId
  }

  it("live: each payment the real rule pays flips exactly once, 2-60 s after insert; others never", () => {
    const flips = flipsById(live())
    let checked = 0
    for (const [id, row] of table(live().db, "payment")) {
      const created = parseTs(row.created_at)
      const at = flips.get(id) ?? []
      if (!realPays(row)) expect(at).toEqual([])
      else if (created < live().end - 65_000) {
        checked++
        expect(at).toHaveLength(1)
        // Documented mapping of the real delay (to payment_date 07:55:11.495) onto 2-60 s.
        const realDelay = parseDate(row.payment_date) + FLIP_TIME_OF_DAY - created
        const due = created + 2_000 + Math.round(Math.min(1, realDelay / (6 * DAY)) * 58_000)
        expect(at[0]).toBeGreaterThanOrEqual(due)
        expect(at[0]).toBeLessThan(due + 2_800) // flipped at the first call after due
        expect(row.last_updated).toBe(formatTimestamp(at[0] ?? 0))
        expect(row.paid).toBe("t")
      }
    }
    expect(checked).toBeGreaterThan(1_000)
  })

  it("history: flips happen once, at 07:55:11.495 UTC on payment_date, 0.53-6 days after insert", () => {
    const flips = flipsById(history())
    for (const [id, at] of flips) {
      const row = table(history().db, "payment").get(id)
      expect(at).toHaveLength(1)
      const when = formatTimestamp(at[0] ?? 0)
      expect(when).toBe(`${row?.payment_date} 07:55:11.495`)
      const delay = ((at[0] ?? 0) - parseTs(row?.created_at)) / DAY
      expect(delay).toBeGreaterThanOrEqual(0.53)
      expect(delay).toBeLessThanOrEqual(6)
    }
    for (const [id, row] of table(history().db, "payment")) {
      const created = parseTs(row.created_at)
      if (created < history().end - 7 * DAY) expect(flips.has(id)).toBe(realPays(row))
    }
  })

  it("keeps the state bounded by the unpaid payments", () => {
    for (const run of [history(), live(), churn()]) expect(run.maxUnpaidSlack).toBeLessThanOrEqual(0)
    expect(live().maxPending).toBeLessThan(100)
    expect(history().maxPending).toBeLessThan(400)
  })
})

describe("measured rates (real data: 2022-11-04..2024-02-23, 341 weekdays)", () => {
  // Real row events: 6,936 sales, 2,953 purchases, 314 designs, 6,021 payment flips.
  const REAL = { sale: 6_936, purchase: 2_953, design: 314, flip: 6_021 }
  const realTotal = REAL.sale + REAL.purchase + REAL.design + REAL.flip

  it("mixes row events like the real data", () => {
    const count = (kind: SimTxn["kind"]) => history().txns.filter((t) => t.kind === kind).length
    const flips = history().db.flips.length
    const sim = { sale: count("sale"), purchase: count("purchase"), design: count("new_design"), flip: flips }
    const total = sim.sale + sim.purchase + sim.design + sim.flip
    expect(Math.abs(sim.sale / total - REAL.sale / realTotal)).toBeLessThan(0.02)
    expect(Math.abs(sim.purchase / total - REAL.purchase / realTotal)).toBeLessThan(0.015)
    expect(Math.abs(sim.design / total - REAL.design / realTotal)).toBeLessThan(0.006)
    expect(Math.abs(sim.flip / total - REAL.flip / realTotal)).toBeLessThan(0.02)
    expect(count("address_change") + count("staff_change")).toBe(0)
  })

  it("pays 60.8% of payments (6,021 of 9,899)", () => {
    const payments = rowsOf(history(), "payment").filter((r) => parseTs(r.created_at) < history().end - 7 * DAY)
    const paid = payments.filter((r) => r.paid === "t").length / payments.length
    expect(Math.abs(paid - 0.608)).toBeLessThan(0.02)
  })

  it("generates ~29.98 business events per weekday, on weekdays 08:00-18:59 UTC only", () => {
    const business = history().txns.filter((t) => t.kind === "sale" || t.kind === "purchase" || t.kind === "new_design")
    const days = new Set(business.map((t) => Math.floor(t.at / DAY)))
    for (const t of business) {
      const d = new Date(t.at)
      expect([1, 2, 3, 4, 5]).toContain(d.getUTCDay())
      expect(d.getUTCHours()).toBeGreaterThanOrEqual(8)
      expect(d.getUTCHours()).toBeLessThanOrEqual(18)
    }
    const perDay = business.length / days.size
    expect(perDay).toBeGreaterThan(29.98 * 0.95)
    expect(perDay).toBeLessThan(29.98 * 1.05)
  })

  it("changes dimension rows in ~0.5% of live business events", () => {
    const run = simulate({ seed: 5, config: liveConfig, events: 20_000, clock: liveClock })
    const business = run.txns.filter((t) => t.kind !== "payment_paid" && t.kind !== "reference_data")
    const rare = business.filter((t) => t.kind.endsWith("_change")).length / business.length
    expect(rare).toBeGreaterThan(0.003)
    expect(rare).toBeLessThan(0.007)
  })

  it("draws order values from the measured ranges and shapes", () => {
    const sales = rowsOf(history(), "sales_order")
    const purchases = rowsOf(history(), "purchase_order")
    const num = (r: Row, c: string) => Number(r[c])
    const mean = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) / xs.length
    for (const r of sales) {
      expect(num(r, "units_sold")).toBeGreaterThanOrEqual(1_000)
      expect(num(r, "units_sold")).toBeLessThanOrEqual(100_000)
      expect(num(r, "unit_price")).toBeGreaterThanOrEqual(2)
      expect(num(r, "unit_price")).toBeLessThanOrEqual(4)
    }
    for (const r of purchases) {
      expect(num(r, "item_quantity")).toBeGreaterThanOrEqual(1)
      expect(num(r, "item_quantity")).toBeLessThanOrEqual(1_000)
      expect(num(r, "item_unit_price")).toBeGreaterThanOrEqual(3)
      expect(num(r, "item_unit_price")).toBeLessThanOrEqual(1_000)
      expect(r.item_code).toMatch(/^[A-Z0-9]{7}$/)
    }
    // Real means: units_sold 50,271, unit_price 2.99, item_quantity 498, item_unit_price 505.
    expect(mean(sales.map((r) => num(r, "units_sold"))) / 50_271).toBeCloseTo(1, 1)
    expect(mean(sales.map((r) => num(r, "unit_price")))).toBeCloseTo(2.99, 1)
    expect(mean(purchases.map((r) => num(r, "item_quantity"))) / 498).toBeCloseTo(1, 1)
    expect(mean(purchases.map((r) => num(r, "item_unit_price"))) / 505).toBeCloseTo(1, 1)
    // Real currency shares: GBP 0.316, USD 0.341, EUR 0.343 of all orders.
    const currencies = [...sales, ...purchases].map((r) => r.currency_id)
    for (const [id, share] of [["1", 0.316], ["2", 0.341], ["3", 0.343]] as const) {
      expect(Math.abs(currencies.filter((c) => c === id).length / currencies.length - share)).toBeLessThan(0.02)
    }
  })

  it("agrees delivery mostly within 0-7 days (0.78% far ahead, up to ~14 months) and payment within 0-6 days", () => {
    const orders = [...rowsOf(history(), "sales_order"), ...rowsOf(history(), "purchase_order")]
    const delivery = orders.map((r) => dayOffset(r.agreed_delivery_date, r.created_at))
    const payment = orders.map((r) => dayOffset(r.agreed_payment_date, r.created_at))
    const far = delivery.filter((d) => d > 7)
    expect(Math.min(...delivery)).toBe(0)
    expect(Math.max(...delivery)).toBeLessThanOrEqual(430)
    expect(far.every((d) => d >= 10)).toBe(true)
    expect(Math.abs(far.length / delivery.length - 0.0078)).toBeLessThan(0.004)
    expect(new Set(payment)).toEqual(new Set([0, 1, 2, 3, 4, 5, 6]))
    // Real share of payment offset 0: 738 / 9,899 = 0.075.
    expect(Math.abs(payment.filter((d) => d === 0).length / payment.length - 0.075)).toBeLessThan(0.015)
  })

  it("names designs and their files like totesys", () => {
    const names = ["Bronze", "Soft", "Steel", "Granite", "Plastic", "Frozen", "Concrete", "Cotton", "Wooden", "Fresh", "Rubber", "Metal"]
    const designs = rowsOf(history(), "design")
    expect(designs.length).toBeGreaterThan(100)
    for (const d of designs) {
      expect(names).toContain(d.design_name)
      expect(d.file_location).toMatch(/^(\/[\w.+-]+)+$/)
      const m = /^([a-z]+)-(\d{4})(\d{2})(\d{2})-[a-z0-9]{4}\.json$/.exec(String(d.file_name))
      expect(m?.[1]).toBe(String(d.design_name).toLowerCase())
      const age = (parseTs(d.created_at) - Date.UTC(Number(m?.[2]), Number(m?.[3]) - 1, Number(m?.[4]))) / DAY
      expect(age).toBeGreaterThanOrEqual(2)
      expect(age).toBeLessThanOrEqual(729)
    }
  })
})

describe("an existing database (the real dump's ids)", () => {
  const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1)
  const ids: ExistingData["ids"] = {
    address: range(30), counterparty: range(20), currency: range(3), department: range(8),
    design: range(324).filter((id) => id !== 100 && id !== 200), staff: range(20), payment_type: range(4),
    sales_order: range(6_941), purchase_order: range(2_958), transaction: range(9_899), payment: range(9_899)
  }
  const seeded = (): FakeDb => {
    const db = emptyDb()
    for (const t of TOTESYS_TABLES) {
      for (const id of ids[t]) table(db, t).set(id, t === "payment" ? { paid: "f" } : {})
      db.nextId.set(t, Math.max(0, ...ids[t]) + 1)
      if (t === "transaction" || t === "payment") for (const id of ids[t]) db.usedTransactions.add(String(id))
    }
    return db
  }
  const existing: ExistingData = {
    ids,
    unpaidPayments: [
      { id: 9_001, createdAt: START - DAY, paymentDate: "2024-02-26" }, // a Monday: paid then
      { id: 9_002, createdAt: START - 30 * DAY }, // long overdue: never paid
      { id: 9_003, createdAt: START - DAY, paymentDate: "2024-02-24" } // a Saturday: never paid
    ]
  }
  const run = simulate({ seed: 3, config: historyConfig, events: 2_000, clock: historyClock, existing, db: seeded() })

  it("uses only ids that exist and payment types 1 and 3", () => {
    expect(run.txns[0]?.kind).not.toBe("reference_data")
    expect(run.db.violations.slice(0, 20)).toEqual([])
    const newPayments = [...table(run.db, "payment")].filter(([id]) => id > 9_899).map(([, r]) => r)
    expect(new Set(newPayments.map((r) => r.payment_type_id))).toEqual(new Set(["1", "3"]))
    const designIds = new Set(rowsOf(run, "sales_order").map((r) => r.design_id))
    expect(designIds.has("100") || designIds.has("200")).toBe(false)
  })

  it("flips existing unpaid payments by the real rule", () => {
    const flipped = (id: number) => run.db.flips.filter((f) => f.id === id).map((f) => formatTimestamp(f.at))
    expect(flipped(9_001)).toEqual(["2024-02-26 07:55:11.495"])
    expect(flipped(9_002)).toEqual([])
    expect(flipped(9_003)).toEqual([])
  })
})
