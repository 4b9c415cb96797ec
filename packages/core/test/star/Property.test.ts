import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import type { ChangeRecord, RowImage } from "../../src/contracts/ChangeRecord.ts"
import { formatLsn } from "../../src/Lsn.ts"
import { comparePosition, emptyJoinState, type StarRow, transformBatch } from "../../src/star/index.ts"

/*
 * Property (rules §4, DESIGN.md §5): whatever the sequence of address/counterparty changes and however it is
 * cut into micro-batches (and re-delivered, or interleaved across shards with each row's changes in order),
 * the newest dim_counterparty row per id — by (commitLsn, commitIdx), ties to the later emitted, a truncate
 * removing every older row — equals the join of the final source state.
 *
 * The generated sequences respect the source's foreign key (counterparty.legal_address_id → address,
 * ON DELETE RESTRICT; TRUNCATE address only together with counterparty), as totesys itself does: a
 * command that would break it is skipped.
 */

const small = (maximum: number) => Schema.Int.check(Schema.isBetween({ minimum: 0, maximum }))
const Command = Schema.Struct({
  kind: small(9),
  address: small(3),
  counterparty: small(4),
  value: small(9),
  cut: Schema.Boolean
})
type Command = typeof Command.Type

interface Address { readonly line1: string; readonly line2: string | null; readonly district: string | null; readonly city: string }
interface Counterparty { readonly name: string; readonly addressId: number }

const addressOf = (id: number, value: number): Address => ({
  line1: `${id}${value} Some Street`,
  line2: value % 2 === 0 ? null : `Flat ${value}`,
  district: value % 3 === 0 ? null : `District ${value}`,
  city: `City ${id}-${value}`
})

const addressRow = (id: number, a: Address): RowImage => ({
  address_id: String(id), address_line_1: a.line1, address_line_2: a.line2, district: a.district, city: a.city,
  postal_code: `PC${id}`, country: "Turkey", phone: `0000 00000${id}`,
  created_at: "2022-11-03 14:20:49.962", last_updated: "2022-11-03 14:20:49.962"
})
const counterpartyRow = (id: number, c: Counterparty): RowImage => ({
  counterparty_id: String(id), counterparty_legal_name: c.name, legal_address_id: String(c.addressId),
  commercial_contact: null, delivery_contact: null,
  created_at: "2022-11-03 14:20:51.563", last_updated: "2022-11-03 14:20:51.563"
})

const record = (
  table: "address" | "counterparty",
  op: ChangeRecord["op"],
  id: number | null,
  after: RowImage | null,
  txn: number,
  idx: number
): ChangeRecord => ({
  v: 1,
  source: "replication",
  op,
  table,
  key: id === null ? {} : { [table === "address" ? "address_id" : "counterparty_id"]: String(id) },
  before: null,
  after,
  unchangedToast: [],
  commitLsn: formatLsn(0x1_0000_0000n + BigInt(txn) * 0x100n),
  commitIdx: idx,
  xid: txn,
  commitTs: "2024-02-23T10:00:00.000Z"
})

/** Interprets the commands as FK-respecting source changes; answers the changes, batch cuts and the final state. */
const simulate = (commands: ReadonlyArray<Command>) => {
  const addresses = new Map<number, Address>()
  const counterparties = new Map<number, Counterparty>()
  const changes: Array<ChangeRecord> = []
  const cuts = new Set<number>()
  let txn = 0
  for (const c of commands) {
    const a = c.address + 1
    const cp = c.counterparty + 1
    txn += 1
    switch (c.kind) {
      case 0:
      case 1:
      case 2: {
        const op = addresses.has(a) ? "update" : "insert"
        addresses.set(a, addressOf(a, c.value))
        changes.push(record("address", op, a, addressRow(a, addresses.get(a)!), txn, 0))
        break
      }
      case 3: {
        const used = [...counterparties.values()].some((x) => x.addressId === a)
        if (!addresses.has(a) || used) break
        addresses.delete(a)
        changes.push(record("address", "delete", a, null, txn, 0))
        break
      }
      case 4:
      case 5:
      case 6: {
        if (!addresses.has(a)) break
        const op = counterparties.has(cp) ? "update" : "insert"
        counterparties.set(cp, { name: `Counterparty ${cp}/${c.value}`, addressId: a })
        changes.push(record("counterparty", op, cp, counterpartyRow(cp, counterparties.get(cp)!), txn, 0))
        break
      }
      case 7: {
        if (!counterparties.has(cp)) break
        counterparties.delete(cp)
        changes.push(record("counterparty", "delete", cp, null, txn, 0))
        break
      }
      case 8: {
        counterparties.clear()
        changes.push(record("counterparty", "truncate", null, null, txn, 0))
        break
      }
      case 9: {
        if (c.value > 2) break // rarer: TRUNCATE counterparty, address in one transaction
        counterparties.clear()
        addresses.clear()
        changes.push(record("counterparty", "truncate", null, null, txn, 0))
        changes.push(record("address", "truncate", null, null, txn, 1))
        break
      }
    }
    if (c.cut) cuts.add(changes.length)
  }
  const expected = new Map<number, Record<string, string | number | null>>()
  for (const [id, c] of counterparties) {
    const a = addresses.get(c.addressId)!
    expected.set(id, {
      counterparty_id: id,
      counterparty_legal_name: c.name,
      counterparty_legal_address_line_1: a.line1,
      counterparty_legal_address_line_2: a.line2,
      counterparty_legal_district: a.district,
      counterparty_legal_city: a.city,
      counterparty_legal_postal_code: `PC${c.addressId}`,
      counterparty_legal_country: "Turkey",
      counterparty_legal_phone_number: `0000 00000${c.addressId}`
    })
  }
  return { changes, cuts, expected }
}

/** The newest dim_counterparty row per id as the loader would keep it (newer-or-equal wins; truncate empties older rows). */
const warehouseOf = (rows: ReadonlyArray<StarRow>) => {
  const latest = new Map<number, StarRow>()
  const truncates: Array<StarRow> = []
  for (const row of rows) {
    if (row.table !== "dim_counterparty") continue
    if (row.op === "truncate") {
      truncates.push(row)
      continue
    }
    const id = row.values["counterparty_id"] as number
    const current = latest.get(id)
    if (current === undefined || comparePosition(row, current) >= 0) latest.set(id, row)
  }
  const result = new Map<number, Readonly<Record<string, unknown>>>()
  for (const [id, row] of latest) {
    if (row.op === "delete") continue
    if (truncates.some((t) => comparePosition(t, row) > 0)) continue
    result.set(id, row.values)
  }
  return result
}

const run = (batches: ReadonlyArray<ReadonlyArray<ChangeRecord>>) => {
  let state = emptyJoinState
  const rows: Array<StarRow> = []
  for (const batch of batches) {
    const result = transformBatch(state, batch)
    expect(result.problems).toEqual([])
    rows.push(...result.rows)
    state = JSON.parse(JSON.stringify(result.state)) // persisted and restored between batches
  }
  return rows
}

const split = (changes: ReadonlyArray<ChangeRecord>, cuts: ReadonlySet<number>) => {
  const batches: Array<Array<ChangeRecord>> = [[]]
  changes.forEach((change, i) => {
    if (cuts.has(i) && batches[batches.length - 1]!.length > 0) batches.push([])
    batches[batches.length - 1]!.push(change)
  })
  return batches
}

describe("dim_counterparty converges to the join of the final source state", () => {
  it.prop("in commit order, cut into arbitrary batches, with re-delivered batches", [Schema.Array(Command)], ([commands]) => {
    const { changes, cuts, expected } = simulate(commands)
    const batches = split(changes, cuts)
    // at-least-once delivery: every third batch is delivered again right after the next one
    const delivered = batches.flatMap((batch, i) => (i % 3 === 2 && i > 0 ? [batch, batches[i - 1]!] : [batch]))
    const warehouse = warehouseOf(run(delivered))
    expect(Object.fromEntries(warehouse)).toEqual(Object.fromEntries(expected))
  }, { timeout: 60_000, arbitrary: { runs: 300, size: 80 } })

  it.prop(
    "with each row's changes in order but rows interleaved across shards",
    [Schema.Array(Command), Schema.Array(small(2))],
    ([commands, picks]) => {
      const { changes, expected } = simulate(commands)
      // Kinesis: same partition key (table + id; a truncate: table + '*') → same shard, in order
      const shards: Array<Array<ChangeRecord>> = [[], [], []]
      for (const change of changes) {
        const id = Number(Object.values(change.key)[0] ?? 0)
        const shard = (change.table === "address" ? id : id * 7 + 1) % 3
        shards[shard]!.push(change)
      }
      const batches: Array<Array<ChangeRecord>> = []
      // each step: a batch of 1–2 records from the picked shard (or the next one that has records)
      for (let p = 0; shards.some((s) => s.length > 0); p++) {
        const pick = picks[p % Math.max(picks.length, 1)] ?? 0
        const shard = [0, 1, 2].map((k) => shards[(pick + k) % 3]!).find((s) => s.length > 0)!
        batches.push(shard.splice(0, 1 + (p % 2)))
      }
      const warehouse = warehouseOf(run(batches))
      expect(Object.fromEntries(warehouse)).toEqual(Object.fromEntries(expected))
    },
    { timeout: 60_000, arbitrary: { runs: 300, size: 80 } }
  )
})
