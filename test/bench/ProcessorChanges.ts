/**
 * The change records of the processor benchmark: totesys-shaped traffic as the reader
 * would emit it (envelope v1, DESIGN.md §3), generated in memory from the simulator's
 * pure model (packages/local-stack/src/simulator/SimulatorModel.ts) — no database.
 *
 * What is generated, in commit order:
 *  1. A snapshot of the model's reference data: 30 addresses, 3 currencies, 8
 *     departments, 10 designs, 4 payment types, 20 counterparties, 20 staff — `op: "read"`,
 *     `source: "snapshot"`, all at one consistent point (`SNAPSHOT_LSN`), `commitIdx` 0…,
 *     `xid` null, as `Snapshot.ts` writes them.
 *  2. Business events from the model's history mode (`nextHistoryAt`, `nextTxn`): sales
 *     and purchases (order + transaction + unpaid payment, 3 inserts), new designs, the
 *     daily batch flipping due payments to paid (updates), and — at the live mode's rate
 *     (0.5% of events) — an address, department, counterparty or staff update, so the
 *     transform's join cascades run too. One event = one source transaction: its own
 *     `commitLsn` (strictly increasing), `commitIdx` 0… within it, `xid`, `commitTs` =
 *     the event's time, `source: "replication"`, as `Decoder.ts` writes them.
 *
 * Invariants:
 *  - Exactly `count` change records (the last transaction is cut to fit: a prefix of its
 *    ops, which keeps its foreign keys valid).
 *  - Deterministic for (`count`, `seed`): no clock, no Math.random. A shorter run is a
 *    prefix of a longer one with the same seed.
 *  - (commitLsn, commitIdx) is unique and increasing in array order.
 *  - Row images hold every column of the table (`COLUMNS` order) as PostgreSQL's text
 *    form: integers and numerics as strings, booleans `t`/`f`, timestamps
 *    `YYYY-MM-DD HH:MM:SS[.fff]` with trailing zeros of the fraction dropped as
 *    PostgreSQL prints them. Updates carry the whole new row and `before: null`
 *    (REPLICA IDENTITY DEFAULT, key unchanged), no unchanged TOAST.
 *  - Primary keys are assigned 1, 2, … per table, as fresh sequences would.
 */
import { type ChangeRecord, COLUMNS, FEEDS, formatLsn, isFactTable, PRIMARY_KEY, type RowImage, type TotesysTable } from "@totes-cdc/core"
import {
  historyConfig,
  initialState,
  liveConfig,
  makeFaker,
  nextHistoryAt,
  nextTxn,
  referenceData,
  type SimConfig,
  type SimState,
  applyAssigned
} from "../../packages/local-stack/src/simulator/SimulatorModel.ts"

/** The consistent point of the generated snapshot. */
export const SNAPSHOT_LSN = "0/1000000"

/** The snapshot's time, and the start of the generated history: totesys' own initial load (2022-11-03 14:20:49.962 UTC). */
export const HISTORY_START = Date.parse("2022-11-03T14:20:49.962Z")

/** WAL bytes between two generated commits (any positive step keeps the order; ~ a 3-insert transaction). */
const LSN_STEP = 0x600n

/**
 * The model's history timing (the real daily payment batch) with the live mode's rare
 * dimension updates: the real data has none, live traffic has a few, and they exercise
 * the transform's joins.
 */
export const BENCH_SIM_CONFIG: SimConfig = { paidDelayMs: historyConfig.paidDelayMs, rareChangeProbability: liveConfig.rareChangeProbability }

/** Counts of what was generated. */
export interface ChangeCounts {
  readonly total: number
  /** Snapshot reads (reference data). */
  readonly reads: number
  readonly inserts: number
  readonly updates: number
  /** Source transactions after the snapshot. */
  readonly transactions: number
  readonly byTable: Readonly<Record<string, number>>
}

export interface GeneratedChanges {
  readonly changes: ReadonlyArray<ChangeRecord>
  readonly counts: ChangeCounts
}

const EMPTY_IDS = {
  address: [],
  counterparty: [],
  currency: [],
  department: [],
  design: [],
  staff: [],
  payment_type: [],
  sales_order: [],
  purchase_order: [],
  transaction: [],
  payment: []
} as const

/** Tables whose rows are updated later (payment flips, rare dimension updates): their current rows are kept. */
const UPDATED_TABLES: ReadonlySet<TotesysTable> = new Set(["payment", "address", "department", "counterparty", "staff"])

/** `2022-11-03 14:20:49.960` → `2022-11-03 14:20:49.96`; `…:50.000` → `…:50` (PostgreSQL's text form of timestamp(3)). */
export const pgTimestampText = (text: string): string => text.replace(/\.(\d*?)0+$/, (_, kept: string) => (kept === "" ? "" : `.${kept}`))

const TIMESTAMP_COLUMNS: ReadonlySet<string> = new Set(["created_at", "last_updated"])

/** A full row image in the table's column order, values in PostgreSQL's text form. */
const rowImage = (table: TotesysTable, values: Readonly<Record<string, string | null>>): RowImage => {
  const out: Record<string, string | null> = {}
  for (const column of COLUMNS[table]) {
    const value = values[column]
    if (value === undefined) throw new Error(`ProcessorChanges: no value for ${table}.${column}`)
    out[column] = value !== null && TIMESTAMP_COLUMNS.has(column) ? pgTimestampText(value) : value
  }
  return out
}

/**
 * `count` change records shaped like totesys traffic (module header), from the seeded
 * simulator model. `count` ≥ the reference snapshot (95 rows); throws otherwise.
 */
export const generateChanges = (count: number, seed: number): GeneratedChanges => {
  const faker = makeFaker(seed)
  let state: SimState = initialState({ ids: EMPTY_IDS, unpaidPayments: [] }, BENCH_SIM_CONFIG)
  const nextId: Record<string, number> = {}
  const rows = new Map<TotesysTable, Map<number, Record<string, string | null>>>()
  const changes: Array<ChangeRecord> = []
  const byTable: Record<string, number> = {}
  let inserts = 0
  let updates = 0
  let transactions = 0

  const keep = (table: TotesysTable, id: number, row: Record<string, string | null>) => {
    if (!UPDATED_TABLES.has(table)) return
    let ofTable = rows.get(table)
    if (ofTable === undefined) rows.set(table, (ofTable = new Map()))
    ofTable.set(id, row)
  }
  const push = (record: ChangeRecord) => {
    changes.push(record)
    byTable[record.table] = (byTable[record.table] ?? 0) + 1
  }

  // 1. The snapshot of the reference data.
  const reference = referenceData(faker, HISTORY_START)
  const referenceIds: Record<string, number> = {}
  const snapshotTs = new Date(HISTORY_START).toISOString()
  for (const op of reference.ops) {
    if (op.op !== "insert") throw new Error("ProcessorChanges: the reference data holds an update")
    const id = (nextId[op.table] = (nextId[op.table] ?? 0) + 1)
    referenceIds[op.ref] = id
    const values: Record<string, string | null> = { [PRIMARY_KEY[op.table]]: String(id) }
    for (const [column, value] of Object.entries(op.row)) {
      values[column] = value !== null && typeof value === "object" ? String(referenceIds[value.ref]) : value
    }
    keep(op.table, id, values)
    push({
      v: 1,
      source: "snapshot",
      op: "read",
      table: op.table,
      key: { [PRIMARY_KEY[op.table]]: String(id) },
      before: null,
      after: rowImage(op.table, values),
      unchangedToast: [],
      commitLsn: SNAPSHOT_LSN,
      commitIdx: changes.length,
      xid: null,
      commitTs: snapshotTs
    })
  }
  if (changes.length > count) throw new Error(`ProcessorChanges: ${count} changes is fewer than the reference snapshot (${changes.length}); ask for more`)
  state = applyAssigned(state, reference, referenceIds)

  // 2. Business events, one source transaction each, until `count` changes.
  let lsn = BigInt(`0x${SNAPSHOT_LSN.split("/")[1]}`)
  let xid = 1_000
  let at = HISTORY_START
  while (changes.length < count) {
    at = nextHistoryAt(state, faker, at)
    const txn = nextTxn(state, faker, at)
    lsn += LSN_STEP
    xid += 1
    transactions += 1
    const commitLsn = formatLsn(lsn)
    const commitTs = new Date(at).toISOString()
    const assigned: Record<string, number> = {}
    const ops = txn.ops.slice(0, count - changes.length)
    ops.forEach((op, commitIdx) => {
      const pk = PRIMARY_KEY[op.table]
      let id: number
      let values: Record<string, string | null>
      if (op.op === "insert") {
        id = nextId[op.table] = (nextId[op.table] ?? 0) + 1
        assigned[op.ref] = id
        values = { [pk]: String(id) }
        for (const [column, value] of Object.entries(op.row)) {
          values[column] = value !== null && typeof value === "object" ? String(assigned[value.ref]) : value
        }
        inserts += 1
      } else {
        id = op.id
        const current = rows.get(op.table)?.get(id)
        if (current === undefined) throw new Error(`ProcessorChanges: update of ${op.table} ${id}, a row never generated`)
        values = { ...current, ...op.set }
        updates += 1
      }
      // A payment is flipped at most once (SimulatorModel invariant): forget it once paid.
      if (op.table === "payment" && values["paid"] === "t") rows.get("payment")?.delete(id)
      else keep(op.table, id, values)
      push({
        v: 1,
        source: "replication",
        op: op.op,
        table: op.table,
        key: { [pk]: String(id) },
        before: null,
        after: rowImage(op.table, values),
        unchangedToast: [],
        commitLsn,
        commitIdx,
        xid,
        commitTs
      })
    })
    if (ops.length === txn.ops.length) state = applyAssigned(state, txn, assigned)
  }
  return {
    changes,
    counts: { total: changes.length, reads: reference.ops.length, inserts, updates, transactions, byTable }
  }
}

/** Source tables that feed a fact table (sales_order, purchase_order, payment): `FEEDS`. */
export const FACT_SOURCES: ReadonlyMap<TotesysTable, string> = new Map(
  (Object.entries(FEEDS) as ReadonlyArray<readonly [TotesysTable, ReadonlyArray<string>]>).flatMap(([table, feeds]) =>
    feeds.filter(isFactTable).map((fact) => [table, fact] as const)
  )
)

/**
 * The position (`<commitLsn>#<commitIdx>`) of every change that must give one fact row,
 * per fact table: every insert, update and read of a fact's source table (rules §7: one
 * row per source-row version).
 */
export const expectedFactPositions = (changes: ReadonlyArray<ChangeRecord>): ReadonlyMap<string, ReadonlyArray<string>> => {
  const out = new Map<string, Array<string>>()
  for (const change of changes) {
    const fact = FACT_SOURCES.get(change.table as TotesysTable)
    if (fact === undefined || change.op === "delete" || change.op === "truncate") continue
    let positions = out.get(fact)
    if (positions === undefined) out.set(fact, (positions = []))
    positions.push(`${change.commitLsn}#${change.commitIdx}`)
  }
  return out
}
