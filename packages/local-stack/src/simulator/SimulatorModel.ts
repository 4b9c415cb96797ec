/**
 * SimulatorModel: a pure, deterministic generator of totesys business activity, its
 * parameters measured on the totesys pg_dump of 2024-02-23 (packages/local-stack/SPEC.md §6).
 * A driver runs: txn = nextTxn(state, faker, at) -> execute txn.ops in one DB transaction,
 * collecting each insert's assigned PK -> state = applyAssigned(state, txn, ids).
 *
 * Invariants:
 *  - No I/O, no clock, no Math.random (Faker and `at` come from the caller): same seed,
 *    same `at` sequence and same assigned ids give equal txns.
 *  - Every FK value is an id in SimState or an IdRef to an earlier insert of the same txn.
 *  - transaction.sales_order_id iff SALE, purchase_order_id iff PURCHASE; one payment each.
 *  - A payment is flipped at most once, never before its due time, only while not stale;
 *    SimState holds only payments still to flip.
 *  - SimState is plain immutable JSON data; functions never mutate their inputs.
 */
import type { TotesysTable } from "@totes-cdc/core"
import { base, en, Faker } from "@faker-js/faker"

// ---------------------------------------------------------------- public types

/** A column value in PostgreSQL's text form ('2024-02-23 10:01:02.345', '2.43', 't'), or SQL NULL. */
export type Value = string | null

/** The primary key the database assigned to a row inserted earlier in the same transaction. */
export interface IdRef {
  readonly ref: string
}

/**
 * One statement. `insert.row` holds every column except the PK (the database assigns it
 * from its sequence); `ref` names the row so later ops and `applyAssigned` can use its id.
 * `update.set` holds the changed columns, always including last_updated.
 */
export type SimOp =
  | {
    readonly op: "insert"
    readonly table: TotesysTable
    readonly ref: string
    readonly row: Readonly<Record<string, Value | IdRef>>
  }
  | { readonly op: "update"; readonly table: TotesysTable; readonly id: number; readonly set: Readonly<Record<string, Value>> }

/** Kinds of generated source transactions. */
export type SimEventKind =
  | "reference_data"
  | "new_design"
  | "sale"
  | "purchase"
  | "payment_paid"
  | "address_change"
  | "department_change"
  | "counterparty_change"
  | "staff_change"

/** One source transaction: its ops commit together, in order. `at` is epoch ms, UTC. */
export interface SimTxn {
  readonly kind: SimEventKind
  readonly at: number
  readonly ops: ReadonlyArray<SimOp>
}

/** An unpaid payment row already in the database. */
export interface ExistingUnpaidPayment {
  readonly id: number
  /** created_at, epoch ms UTC. */
  readonly createdAt: number
  /** payment_date 'YYYY-MM-DD'; when given the real flip rule applies, else it flips paidDelayMs[1] after createdAt. */
  readonly paymentDate?: string
}

/** What the model must know of a database it did not fill itself. */
export interface ExistingData {
  /** PKs present per table. */
  readonly ids: { readonly [T in TotesysTable]: ReadonlyArray<number> }
  /** Payment rows with paid = false. */
  readonly unpaidPayments: ReadonlyArray<ExistingUnpaidPayment>
  /**
   * Ids of SALES_RECEIPT and PURCHASE_PAYMENT; default: the 1st and 3rd smallest
   * payment_type ids (totesys: 1 and 3). Currencies are assumed to be GBP, USD, EUR in
   * ascending id order (totesys: 1, 2, 3).
   */
  readonly paymentTypeIds?: PaymentTypeIds
}

/** payment_type ids the generated payments use. */
export interface PaymentTypeIds {
  readonly salesReceipt: number
  readonly purchasePayment: number
}

/** Tunables that differ between generating history and a live session. */
export interface SimConfig {
  /**
   * [min, max] ms. The real flip delay d (0.54..6 days, set by payment_date's 07:55:11
   * batch) is mapped linearly onto this range: delay = min + (d / 6 days) * (max - min).
   * [0, 6 days] keeps real times. A payment not flipped within max after its due time
   * is stale and is never flipped.
   */
  readonly paidDelayMs: readonly [min: number, max: number]
  /** Per generated business event (not flips): chance it is an address/department/counterparty/staff update. */
  readonly rareChangeProbability: number
}

/** A payment that will flip to paid at `dueAt` (epoch ms). */
export interface PendingPayment {
  readonly id: number
  readonly dueAt: number
}

/** Ids the model may use as FK values (currency in GBP, USD, EUR order). */
export interface KnownIds {
  readonly address: ReadonlyArray<number>
  readonly counterparty: ReadonlyArray<number>
  readonly currency: ReadonlyArray<number>
  readonly department: ReadonlyArray<number>
  readonly design: ReadonlyArray<number>
  readonly staff: ReadonlyArray<number>
}

/** The model's whole memory: plain, immutable, JSON-serialisable. */
export interface SimState {
  readonly config: SimConfig
  readonly ids: KnownIds
  readonly paymentTypes: PaymentTypeIds | null
  /** Payments still to flip, ascending by (dueAt, id). */
  readonly pending: ReadonlyArray<PendingPayment>
}

// ---------------------------------------------------------------- measured parameters

const SECOND_MS = 1_000
const MINUTE_MS = 60 * SECOND_MS
const HOUR_MS = 60 * MINUTE_MS
const DAY_MS = 24 * HOUR_MS

/** The measured numbers the model uses (see the header); counts are weights. */
export const MEASURED = {
  /** Business events per weekday (08:00-18:59 UTC, Mon..Fri). */
  perWeekday: { sale: 20.38, purchase: 8.68, new_design: 0.92 },
  businessHoursUtc: { start: 8, end: 19 },
  /** Mean gap between business events in business time, ms (11 h / 29.98). */
  meanGapMs: 22.01 * MINUTE_MS,
  eventWeights: { sale: 6_936, purchase: 2_953, new_design: 314 },
  /** Payment flips observed (6,021) and the daily flip batch's time of day, UTC. */
  paidFlips: 6_021,
  flipTimeOfDayMs: 7 * HOUR_MS + 55 * MINUTE_MS + 11_495,
  maxFlipDelayMs: 6 * DAY_MS,
  deliveryOffsetWeights: [605, 1_440, 1_352, 1_468, 1_407, 1_367, 1_376, 807],
  deliveryFarWeight: 77,
  deliveryFarDays: { min: 10, max: 428 },
  paymentOffsetWeights: [738, 1_667, 1_595, 1_631, 1_667, 1_664, 937],
  saleCurrencyWeights: [2_206, 2_380, 2_355],
  purchaseCurrencyWeights: [919, 996, 1_043],
  units: { min: 1_000, max: 100_000 },
  unitPriceCents: { min: 200, max: 400 },
  itemQuantity: { min: 1, max: 1_000 },
  itemUnitPriceCents: { min: 300, max: 100_000 },
  accountNumber: { min: 10_000_000, max: 99_999_999 },
  designNameWeights: {
    Bronze: 35, Soft: 35, Steel: 33, Granite: 30, Plastic: 29, Frozen: 29,
    Concrete: 26, Cotton: 26, Wooden: 23, Fresh: 21, Rubber: 19, Metal: 18
  },
  designFileAgeDays: { min: 3, max: 728 }
} as const

/** History: the real flip timing (0-6 days); no dimension changes (real data has none). */
export const historyConfig: SimConfig = { paidDelayMs: [0, MEASURED.maxFlipDelayMs], rareChangeProbability: 0 }

/** Live session: flips compressed to 2-60 s so they show up; 0.5% of events change a dimension row. */
export const liveConfig: SimConfig = { paidDelayMs: [2 * SECOND_MS, 60 * SECOND_MS], rareChangeProbability: 0.005 }

const DEPARTMENTS: ReadonlyArray<readonly [name: string, location: string]> = [
  ["Sales", "Manchester"], ["Purchasing", "Manchester"], ["Production", "Leeds"], ["Dispatch", "Leeds"],
  ["Finance", "Manchester"], ["Facilities", "Manchester"], ["Communications", "Leeds"], ["HR", "Leeds"]
]
const CURRENCY_CODES = ["GBP", "USD", "EUR"] as const
const PAYMENT_TYPE_NAMES = ["SALES_RECEIPT", "SALES_REFUND", "PURCHASE_PAYMENT", "PURCHASE_REFUND"] as const
const COUNTIES = ["Buckinghamshire", "Bedfordshire", "Borders", "Berkshire", "Avon", "Cambridgeshire"] as const
const COUNTY_WEIGHTS = [6, 4, 2, 2, 1, 1] as const
const REFERENCE_COUNTS = { address: 30, counterparty: 20, staff: 20, design: 10 } as const
const RARE_KINDS = ["address_change", "department_change", "counterparty_change", "staff_change"] as const
const BUSINESS_KINDS = ["sale", "purchase", "new_design"] as const

// ---------------------------------------------------------------- text formats

/** Timestamp text as totesys stores it: 'YYYY-MM-DD HH:MM:SS.mmm' UTC. */
export const formatTimestamp = (epochMs: number): string =>
  new Date(epochMs).toISOString().slice(0, 23).replace("T", " ")

/** Date text 'YYYY-MM-DD' (UTC) of an epoch-ms instant. */
const formatDate = (epochMs: number): string => new Date(epochMs).toISOString().slice(0, 10)

/** Epoch ms of a 'YYYY-MM-DD' date's UTC midnight. */
const parseDate = (text: string): number => Date.parse(`${text}T00:00:00Z`)

const dayStart = (epochMs: number): number => Math.floor(epochMs / DAY_MS) * DAY_MS

const isWeekday = (epochMs: number): boolean => {
  const day = new Date(epochMs).getUTCDay()
  return day !== 0 && day !== 6
}

/** numeric(10,2) text of an integer number of cents. */
const formatCents = (cents: number): string => `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, "0")}`

// ---------------------------------------------------------------- random helpers

/** A seeded Faker (English names and places). */
export const makeFaker = (seed: number): Faker => {
  const faker = new Faker({ locale: [en, base] })
  faker.seed(seed)
  return faker
}

const pickWeighted = <A>(faker: Faker, values: ReadonlyArray<A>, weights: ReadonlyArray<number>): A =>
  faker.helpers.weightedArrayElement(values.map((value, i) => ({ value, weight: weights[i] ?? 0 })))

const pickId = (faker: Faker, ids: ReadonlyArray<number>, table: string): string => {
  if (ids.length === 0) throw new Error(`SimulatorModel: no ${table} ids known; cannot pick an FK value`)
  return String(faker.helpers.arrayElement(ids))
}

const chance = (faker: Faker, probability: number): boolean => faker.number.float() < probability

const intText = (faker: Faker, range: { readonly min: number; readonly max: number }): string =>
  String(faker.number.int(range))

const personName = (faker: Faker): string => `${faker.person.firstName()} ${faker.person.lastName()}`

/** Offset in days of agreed_delivery_date: 0..7 per histogram, or rarely 10..428 log-uniform. */
const deliveryOffsetDays = (faker: Faker): number => {
  const near = MEASURED.deliveryOffsetWeights
  const offsets = [...near.keys(), -1]
  const offset = pickWeighted(faker, offsets, [...near, MEASURED.deliveryFarWeight])
  if (offset >= 0) return offset
  const { min, max } = MEASURED.deliveryFarDays
  return Math.round(Math.exp(Math.log(min) + faker.number.float() * Math.log(max / min)))
}

const paymentOffsetDays = (faker: Faker): number => {
  const weights = MEASURED.paymentOffsetWeights
  return pickWeighted(faker, [...weights.keys()], weights)
}

const dateAfter = (at: number, days: number): string => formatDate(dayStart(at) + days * DAY_MS)

// ---------------------------------------------------------------- reference data

const refOf = (table: string, n: number): IdRef => ({ ref: `${table}#${n}` })

const insert = (table: TotesysTable, ref: string, row: Record<string, Value | IdRef>): SimOp =>
  ({ op: "insert", table, ref, row })

const stamps = (at: number) => ({ created_at: formatTimestamp(at), last_updated: formatTimestamp(at) })

const addressRow = (faker: Faker, at: number): Record<string, Value> => ({
  address_line_1: faker.location.streetAddress(),
  address_line_2: chance(faker, 10 / 30) ? faker.location.street() : null,
  district: chance(faker, 16 / 30) ? pickWeighted(faker, COUNTIES, COUNTY_WEIGHTS) : null,
  city: faker.location.city(),
  postal_code: faker.location.zipCode(),
  country: faker.location.country(),
  phone: `${faker.string.numeric(4)} ${faker.string.numeric(6)}`,
  ...stamps(at)
})

const designRow = (faker: Faker, at: number): Record<string, Value> => {
  const names = Object.keys(MEASURED.designNameWeights)
  const name = pickWeighted(faker, names, Object.values(MEASURED.designNameWeights))
  const fileDay = formatDate(at - faker.number.int(MEASURED.designFileAgeDays) * DAY_MS).replaceAll("-", "")
  const suffix = faker.string.alphanumeric({ length: 4, casing: "lower" })
  return {
    created_at: formatTimestamp(at),
    design_name: name,
    file_location: faker.system.directoryPath(),
    file_name: `${name.toLowerCase()}-${fileDay}-${suffix}.json`,
    last_updated: formatTimestamp(at)
  }
}

const staffRow = (faker: Faker, at: number): Record<string, Value | IdRef> => {
  const first = faker.person.firstName()
  const last = faker.person.lastName()
  return {
    first_name: first,
    last_name: last,
    department_id: refOf("department", faker.number.int({ min: 1, max: DEPARTMENTS.length })),
    email_address: `${first}.${last}@terrifictotes.com`.toLowerCase().replaceAll(" ", ""),
    ...stamps(at)
  }
}

const counterpartyRow = (faker: Faker, at: number): Record<string, Value | IdRef> => ({
  counterparty_legal_name: faker.company.name(),
  legal_address_id: refOf("address", faker.number.int({ min: 1, max: REFERENCE_COUNTS.address })),
  commercial_contact: faker.person.fullName(),
  delivery_contact: faker.person.fullName(),
  ...stamps(at)
})

const times = <A>(n: number, f: (i: number) => A): Array<A> => Array.from({ length: n }, (_, i) => f(i + 1))

/**
 * The static reference tables for an EMPTY database, as one txn in FK order: 30
 * addresses, GBP/USD/EUR, 8 departments, 10 designs, the 4 payment types (in enum
 * order), 20 counterparties (legal addresses among the 30) and 20 staff. Refs are
 * '<table>#<n>', n from 1.
 */
export const referenceData = (faker: Faker, at: number): SimTxn => {
  const ops: Array<SimOp> = [
    ...times(REFERENCE_COUNTS.address, (i) => insert("address", `address#${i}`, addressRow(faker, at))),
    ...CURRENCY_CODES.map((code, i) => insert("currency", `currency#${i + 1}`, { currency_code: code, ...stamps(at) })),
    ...DEPARTMENTS.map(([name, location], i) =>
      insert("department", `department#${i + 1}`, { department_name: name, location, manager: personName(faker), ...stamps(at) })
    ),
    ...times(REFERENCE_COUNTS.design, (i) => insert("design", `design#${i}`, designRow(faker, at))),
    ...PAYMENT_TYPE_NAMES.map((name, i) =>
      insert("payment_type", `payment_type#${i + 1}`, { payment_type_name: name, ...stamps(at) })
    ),
    ...times(REFERENCE_COUNTS.counterparty, (i) => insert("counterparty", `counterparty#${i}`, counterpartyRow(faker, at))),
    ...times(REFERENCE_COUNTS.staff, (i) => insert("staff", `staff#${i}`, staffRow(faker, at)))
  ]
  return { kind: "reference_data", at, ops }
}

// ---------------------------------------------------------------- state

const sortedIds = (ids: ReadonlyArray<number>): Array<number> => [...ids].sort((a, b) => a - b)

const defaultPaymentTypes = (ids: ReadonlyArray<number>): PaymentTypeIds | null => {
  const sorted = sortedIds(ids)
  const [salesReceipt, , purchasePayment] = sorted
  return salesReceipt === undefined || purchasePayment === undefined ? null : { salesReceipt, purchasePayment }
}

const byDue = (a: PendingPayment, b: PendingPayment): number => a.dueAt - b.dueAt || a.id - b.id

/**
 * Due time of a payment created at `createdAt` with `paymentDate`, or null if the real
 * rule never pays it (payment_date not after the creation day, or on a weekend).
 */
const dueAtFor = (config: SimConfig, createdAt: number, paymentDate: string): number | null => {
  const day = parseDate(paymentDate)
  if (Number.isNaN(day) || day <= dayStart(createdAt) || !isWeekday(day)) return null
  const realDelay = day + MEASURED.flipTimeOfDayMs - createdAt
  const [min, max] = config.paidDelayMs
  const fraction = Math.min(1, Math.max(0, realDelay / MEASURED.maxFlipDelayMs))
  return createdAt + min + Math.round(fraction * (max - min))
}

const existingPending = (config: SimConfig, p: ExistingUnpaidPayment): PendingPayment | null => {
  const dueAt = p.paymentDate === undefined ? p.createdAt + config.paidDelayMs[1] : dueAtFor(config, p.createdAt, p.paymentDate)
  return dueAt === null ? null : { id: p.id, dueAt }
}

/** The state for a database holding `existing` (all-empty ids: nextTxn first emits referenceData). */
export const initialState = (existing: ExistingData, config: SimConfig): SimState => ({
  config,
  ids: {
    address: sortedIds(existing.ids.address),
    counterparty: sortedIds(existing.ids.counterparty),
    currency: sortedIds(existing.ids.currency),
    department: sortedIds(existing.ids.department),
    design: sortedIds(existing.ids.design),
    staff: sortedIds(existing.ids.staff)
  },
  paymentTypes: existing.paymentTypeIds ?? defaultPaymentTypes(existing.ids.payment_type),
  pending: existing.unpaidPayments
    .map((p) => existingPending(config, p))
    .filter((p): p is PendingPayment => p !== null)
    .sort(byDue)
})

const isStale = (config: SimConfig, p: PendingPayment, at: number): boolean => at - p.dueAt > config.paidDelayMs[1]

const duePayments = (state: SimState, at: number): ReadonlyArray<PendingPayment> =>
  state.pending.filter((p) => p.dueAt <= at && !isStale(state.config, p, at))

// ---------------------------------------------------------------- business events

const paymentTypeIds = (state: SimState): PaymentTypeIds => {
  if (state.paymentTypes === null) throw new Error("SimulatorModel: payment_type ids unknown")
  return state.paymentTypes
}

const pickCurrency = (state: SimState, faker: Faker, weights: ReadonlyArray<number>): string => {
  const ids = state.ids.currency.slice(0, weights.length)
  if (ids.length === 0) throw new Error("SimulatorModel: no currency ids known")
  return String(pickWeighted(faker, ids, weights))
}

interface OrderCommon {
  readonly counterparty: string
  readonly currency: string
  readonly paymentDate: string
}

/** Columns a sales and a purchase order share; the caller adds the kind's own columns. */
const orderCommon = (state: SimState, faker: Faker, at: number, weights: ReadonlyArray<number>) => {
  const common: OrderCommon = {
    counterparty: pickId(faker, state.ids.counterparty, "counterparty"),
    currency: pickCurrency(state, faker, weights),
    paymentDate: dateAfter(at, paymentOffsetDays(faker))
  }
  const row = {
    ...stamps(at),
    staff_id: pickId(faker, state.ids.staff, "staff"),
    counterparty_id: common.counterparty,
    currency_id: common.currency,
    agreed_delivery_date: dateAfter(at, deliveryOffsetDays(faker)),
    agreed_payment_date: common.paymentDate,
    agreed_delivery_location_id: pickId(faker, state.ids.address, "address")
  }
  return { common, row }
}

const transactionRow = (type: "SALE" | "PURCHASE", at: number): Record<string, Value | IdRef> => ({
  transaction_type: type,
  sales_order_id: type === "SALE" ? { ref: "sales_order" } : null,
  purchase_order_id: type === "PURCHASE" ? { ref: "purchase_order" } : null,
  ...stamps(at)
})

const paymentRow = (
  faker: Faker, at: number, common: OrderCommon, amountCents: number, paymentTypeId: number
): Record<string, Value | IdRef> => ({
  ...stamps(at),
  transaction_id: { ref: "transaction" },
  counterparty_id: common.counterparty,
  payment_amount: formatCents(amountCents),
  currency_id: common.currency,
  payment_type_id: String(paymentTypeId),
  paid: "f",
  payment_date: common.paymentDate,
  company_ac_number: intText(faker, MEASURED.accountNumber),
  counterparty_ac_number: intText(faker, MEASURED.accountNumber)
})

const saleTxn = (state: SimState, faker: Faker, at: number): SimTxn => {
  const { common, row } = orderCommon(state, faker, at, MEASURED.saleCurrencyWeights)
  const units = faker.number.int(MEASURED.units)
  const priceCents = faker.number.int(MEASURED.unitPriceCents)
  const order = {
    ...row,
    design_id: pickId(faker, state.ids.design, "design"),
    units_sold: String(units),
    unit_price: formatCents(priceCents)
  }
  const payment = paymentRow(faker, at, common, units * priceCents, paymentTypeIds(state).salesReceipt)
  const ops = [
    insert("sales_order", "sales_order", order),
    insert("transaction", "transaction", transactionRow("SALE", at)),
    insert("payment", "payment", payment)
  ]
  return { kind: "sale", at, ops }
}

const purchaseTxn = (state: SimState, faker: Faker, at: number): SimTxn => {
  const { common, row } = orderCommon(state, faker, at, MEASURED.purchaseCurrencyWeights)
  const quantity = faker.number.int(MEASURED.itemQuantity)
  const priceCents = faker.number.int(MEASURED.itemUnitPriceCents)
  const order = {
    ...row,
    item_code: faker.string.alphanumeric({ length: 7, casing: "upper" }),
    item_quantity: String(quantity),
    item_unit_price: formatCents(priceCents)
  }
  const payment = paymentRow(faker, at, common, quantity * priceCents, paymentTypeIds(state).purchasePayment)
  const ops = [
    insert("purchase_order", "purchase_order", order),
    insert("transaction", "transaction", transactionRow("PURCHASE", at)),
    insert("payment", "payment", payment)
  ]
  return { kind: "purchase", at, ops }
}

const designTxn = (_state: SimState, faker: Faker, at: number): SimTxn =>
  ({ kind: "new_design", at, ops: [insert("design", "design", designRow(faker, at))] })

const paidTxn = (due: ReadonlyArray<PendingPayment>, at: number): SimTxn => ({
  kind: "payment_paid",
  at,
  ops: [...due].sort((a, b) => a.id - b.id).map((p) => ({
    op: "update", table: "payment", id: p.id, set: { paid: "t", last_updated: formatTimestamp(at) }
  }))
})

// ---------------------------------------------------------------- rare dimension changes

const update = (table: TotesysTable, id: string, set: Record<string, Value>): SimOp =>
  ({ op: "update", table, id: Number(id), set })

const addressChange = (state: SimState, faker: Faker, at: number): SimOp =>
  update("address", pickId(faker, state.ids.address, "address"), {
    address_line_1: faker.location.streetAddress(),
    postal_code: faker.location.zipCode(),
    phone: `${faker.string.numeric(4)} ${faker.string.numeric(6)}`,
    last_updated: formatTimestamp(at)
  })

const departmentChange = (state: SimState, faker: Faker, at: number): SimOp =>
  update("department", pickId(faker, state.ids.department, "department"), {
    manager: personName(faker),
    last_updated: formatTimestamp(at)
  })

/** A counterparty moves its legal address (an FK change) or changes its contacts. */
const counterpartyChange = (state: SimState, faker: Faker, at: number): SimOp => {
  const id = pickId(faker, state.ids.counterparty, "counterparty")
  const set = chance(faker, 0.5)
    ? { legal_address_id: pickId(faker, state.ids.address, "address") }
    : { commercial_contact: faker.person.fullName(), delivery_contact: faker.person.fullName() }
  return update("counterparty", id, { ...set, last_updated: formatTimestamp(at) })
}

/** A staff member transfers to a (possibly the same) department. */
const staffChange = (state: SimState, faker: Faker, at: number): SimOp =>
  update("staff", pickId(faker, state.ids.staff, "staff"), {
    department_id: pickId(faker, state.ids.department, "department"),
    last_updated: formatTimestamp(at)
  })

const RARE_CHANGES = {
  address_change: addressChange,
  department_change: departmentChange,
  counterparty_change: counterpartyChange,
  staff_change: staffChange
} as const

const rareTxn = (state: SimState, faker: Faker, at: number): SimTxn => {
  const kind = faker.helpers.arrayElement(RARE_KINDS)
  return { kind, at, ops: [RARE_CHANGES[kind](state, faker, at)] }
}

const BUSINESS_EVENTS = { sale: saleTxn, purchase: purchaseTxn, new_design: designTxn } as const

const businessTxn = (state: SimState, faker: Faker, at: number): SimTxn => {
  if (chance(faker, state.config.rareChangeProbability)) return rareTxn(state, faker, at)
  const weights = BUSINESS_KINDS.map((k) => MEASURED.eventWeights[k])
  return BUSINESS_EVENTS[pickWeighted(faker, BUSINESS_KINDS, weights)](state, faker, at)
}

/**
 * The next source transaction at `at` (epoch ms): referenceData when the state knows no
 * currency (empty database); else, if payments are due, one 'payment_paid' txn flipping
 * all of them (UPDATE payment SET paid='t', last_updated=at), as the real daily batch
 * does; else a business event drawn by the measured weights (sale 68.0%, purchase
 * 28.9%, new_design 3.1%), replaced with probability config.rareChangeProbability by an
 * address/department/counterparty/staff update. Sales and purchases insert order,
 * transaction and an unpaid payment with FKs by IdRef ('sales_order' | 'purchase_order',
 * 'transaction', 'payment').
 */
export const nextTxn = (state: SimState, faker: Faker, at: number): SimTxn => {
  if (state.ids.currency.length === 0) return referenceData(faker, at)
  const due = duePayments(state, at)
  return due.length > 0 ? paidTxn(due, at) : businessTxn(state, faker, at)
}

// ---------------------------------------------------------------- feeding back ids

const TRACKED = ["address", "counterparty", "currency", "department", "design", "staff"] as const
type Tracked = (typeof TRACKED)[number]
const isTracked = (table: TotesysTable): table is Tracked => (TRACKED as ReadonlyArray<string>).includes(table)

type Insert = Extract<SimOp, { op: "insert" }>

const assignedId = (ids: Readonly<Record<string, number>>, op: Insert): number => {
  const id = ids[op.ref]
  if (id === undefined) throw new Error(`SimulatorModel: no id assigned for ref '${op.ref}' (${op.table})`)
  return id
}

const addKnownIds = (known: KnownIds, inserts: ReadonlyArray<Insert>, ids: Readonly<Record<string, number>>): KnownIds => {
  const added = (table: Tracked) => inserts.filter((op) => op.table === table).map((op) => assignedId(ids, op))
  const grow = (table: Tracked) => {
    const more = added(table)
    return more.length === 0 ? known[table] : [...known[table], ...more]
  }
  return {
    address: grow("address"),
    counterparty: grow("counterparty"),
    currency: grow("currency"),
    department: grow("department"),
    design: grow("design"),
    staff: grow("staff")
  }
}

const paymentTypesFrom = (
  current: PaymentTypeIds | null, inserts: ReadonlyArray<Insert>, ids: Readonly<Record<string, number>>
): PaymentTypeIds | null => {
  const idOf = (name: string) => {
    const op = inserts.find((o) => o.table === "payment_type" && o.row.payment_type_name === name)
    return op === undefined ? undefined : assignedId(ids, op)
  }
  const salesReceipt = idOf("SALES_RECEIPT")
  const purchasePayment = idOf("PURCHASE_PAYMENT")
  return salesReceipt === undefined || purchasePayment === undefined ? current : { salesReceipt, purchasePayment }
}

const newPending = (
  config: SimConfig, inserts: ReadonlyArray<Insert>, ids: Readonly<Record<string, number>>, at: number
): Array<PendingPayment> =>
  inserts.filter((op) => op.table === "payment").flatMap((op) => {
    const paymentDate = op.row.payment_date
    const dueAt = typeof paymentDate === "string" ? dueAtFor(config, at, paymentDate) : null
    return dueAt === null ? [] : [{ id: assignedId(ids, op), dueAt }]
  })

/**
 * Feed back the PKs the database assigned to `txn`'s inserts (ref -> id); returns the new
 * state: new reference/design ids become usable FK values, a new payment that the real
 * rule pays is queued with its due time, flipped payments leave the queue and payments
 * stale at txn.at are dropped unflipped. Throws if an insert's ref has no id.
 */
export const applyAssigned = (state: SimState, txn: SimTxn, ids: Readonly<Record<string, number>>): SimState => {
  const inserts = txn.ops.filter((op): op is Insert => op.op === "insert")
  const flipped = new Set(txn.ops.flatMap((op) => op.op === "update" && op.table === "payment" ? [op.id] : []))
  const pending = [...state.pending, ...newPending(state.config, inserts, ids, txn.at)]
    .filter((p) => !flipped.has(p.id) && !isStale(state.config, p, txn.at))
    .sort(byDue)
  return {
    config: state.config,
    ids: inserts.some((op) => isTracked(op.table)) ? addKnownIds(state.ids, inserts, ids) : state.ids,
    paymentTypes: paymentTypesFrom(state.paymentTypes, inserts, ids),
    pending
  }
}

// ---------------------------------------------------------------- history scheduling

const { start: OPEN_HOUR, end: CLOSE_HOUR } = MEASURED.businessHoursUtc

/** The first instant >= t inside business hours (weekday, 08:00 <= time < 19:00 UTC). */
const toBusinessTime = (t: number): number => {
  let day = dayStart(t)
  let cur = t
  while (!isWeekday(day) || cur >= day + CLOSE_HOUR * HOUR_MS) {
    day += DAY_MS
    cur = day
  }
  return Math.max(cur, day + OPEN_HOUR * HOUR_MS)
}

/** t advanced by `duration` ms of business time. */
const addBusinessTime = (t: number, duration: number): number => {
  let cur = toBusinessTime(t)
  let left = duration
  for (;;) {
    const close = dayStart(cur) + CLOSE_HOUR * HOUR_MS
    if (cur + left < close) return cur + left
    left -= close - cur
    cur = toBusinessTime(close)
  }
}

/**
 * For generating history with historyConfig: the epoch ms of the next event after
 * `after`. Business events arrive as a Poisson process over weekday business hours
 * (08:00-19:00 UTC, mean gap MEASURED.meanGapMs); a due payment batch (07:55:11.495 on
 * payment dates) comes first when it is earlier. Never less than `after`.
 */
export const nextHistoryAt = (state: SimState, faker: Faker, after: number): number => {
  const gap = Math.max(1, Math.round(-Math.log(1 - faker.number.float()) * MEASURED.meanGapMs))
  const arrival = addBusinessTime(after, gap)
  const due = state.pending.find((p) => !isStale(state.config, p, after))
  return due !== undefined && due.dueAt <= arrival ? Math.max(after, due.dueAt) : arrival
}
