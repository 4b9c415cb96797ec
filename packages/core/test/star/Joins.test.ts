import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type { ChangeRecord, RowImage } from "../../src/contracts/ChangeRecord.ts"
import { PRIMARY_KEY, type TotesysTable } from "../../src/Totesys.ts"
import {
  decodeJoinState,
  emptyJoinState,
  encodeJoinState,
  type JoinState,
  pendingJoins,
  type StarRow,
  transformBatch
} from "../../src/star/index.ts"

// Rules: transform_rules.md §4 (cascades, partner arriving later) and DESIGN.md §5 (SCD 1, newer only).
// Source rows from /work/shared/totesys/totesys-2024-02-23.sql, written as PostgreSQL text by hand.

const change = (
  table: TotesysTable,
  op: ChangeRecord["op"],
  after: RowImage | null,
  lsn: string,
  idx = 0,
  options: { key?: RowImage; unchangedToast?: ReadonlyArray<string> } = {}
): ChangeRecord => ({
  v: 1,
  source: "replication",
  op,
  table,
  key: options.key ?? (after === null ? {} : { [PRIMARY_KEY[table]]: after[PRIMARY_KEY[table]] ?? null }),
  before: null,
  after,
  unchangedToast: [...(options.unchangedToast ?? [])],
  commitLsn: lsn,
  commitIdx: idx,
  xid: 900,
  commitTs: "2024-02-23T10:00:00.000Z"
})
const del = (table: TotesysTable, id: number, lsn: string, idx = 0) =>
  change(table, "delete", null, lsn, idx, { key: { [PRIMARY_KEY[table]]: String(id) } })

const TS = { created_at: "2022-11-03 14:20:49.962", last_updated: "2022-11-03 14:20:49.962" }
const address2: RowImage = {
  address_id: "2", address_line_1: "179 Alexie Cliffs", address_line_2: null, district: null, city: "Aliso Viejo",
  postal_code: "99305-7380", country: "San Marino", phone: "9621 880720", ...TS
}
const address15: RowImage = {
  address_id: "15", address_line_1: "605 Haskell Trafficway", address_line_2: "Axel Freeway", district: null,
  city: "East Bobbie", postal_code: "88253-4257", country: "Heard Island and McDonald Islands", phone: "9687 937447", ...TS
}
const address17: RowImage = {
  address_id: "17", address_line_1: "962 Koch Drives", address_line_2: null, district: null, city: "Hackensack",
  postal_code: "95316-4738", country: "Indonesia", phone: "5507 549583", ...TS
}
const counterparty = (id: number, name: string, addressId: number): RowImage => ({
  counterparty_id: String(id), counterparty_legal_name: name, legal_address_id: String(addressId),
  commercial_contact: null, delivery_contact: null, created_at: "2022-11-03 14:20:51.563", last_updated: "2022-11-03 14:20:51.563"
})
const department = (id: number, name: string, location: string | null): RowImage => ({
  department_id: String(id), department_name: name, location, manager: null, ...TS
})
const staff = (id: number, first: string, last: string, departmentId: number): RowImage => ({
  staff_id: String(id), first_name: first, last_name: last, department_id: String(departmentId),
  email_address: `${first.toLowerCase()}.${last.toLowerCase()}@terrifictotes.com`,
  created_at: "2022-11-03 14:20:51.563", last_updated: "2022-11-03 14:20:51.563"
})

/** Counterparties of the dump using address 2 (3, 20) and address 17 (11, 15, 17, 18). */
const seedCounterparties = (): JoinState =>
  transformBatch(emptyJoinState, [
    change("address", "read", address2, "0/100", 0),
    change("address", "read", address17, "0/100", 1),
    change("counterparty", "read", counterparty(3, "Armstrong Inc", 2), "0/100", 2),
    change("counterparty", "read", counterparty(11, "Corkery - Nienow", 17), "0/100", 3),
    change("counterparty", "read", counterparty(15, "Emmerich, Rohan and Reynolds", 17), "0/100", 4),
    change("counterparty", "read", counterparty(17, "Kihn Group", 17), "0/100", 5),
    change("counterparty", "read", counterparty(18, "Smith and Sons", 17), "0/100", 6),
    change("counterparty", "read", counterparty(20, "Yost, Watsica and Mann", 2), "0/100", 7)
  ]).state

const summary = (rows: ReadonlyArray<StarRow>) =>
  rows.map((row) => [row.table, row.op, row.values[Object.keys(row.values)[0] ?? ""] ?? null, row.commitLsn, row.commitIdx])

describe("cascades (rules §4)", () => {
  it("an address change re-emits dim_location and exactly the dim_counterparty rows whose legal address it is", () => {
    const moved = { ...address17, phone: "5507 000000", last_updated: "2024-02-23 09:00:00.5" }
    const { rows, problems } = transformBatch(seedCounterparties(), [change("address", "update", moved, "0/200", 0)])
    expect(problems).toEqual([])
    expect(summary(rows)).toEqual([
      ["dim_location", "upsert", 17, "0/200", 0],
      ["dim_counterparty", "upsert", 11, "0/200", 0],
      ["dim_counterparty", "upsert", 15, "0/200", 0],
      ["dim_counterparty", "upsert", 17, "0/200", 0],
      ["dim_counterparty", "upsert", 18, "0/200", 0]
    ])
    expect(rows.find((row) => row.values["counterparty_id"] === 17)?.values).toEqual({
      counterparty_id: 17, counterparty_legal_name: "Kihn Group", counterparty_legal_address_line_1: "962 Koch Drives",
      counterparty_legal_address_line_2: null, counterparty_legal_district: null, counterparty_legal_city: "Hackensack",
      counterparty_legal_postal_code: "95316-4738", counterparty_legal_country: "Indonesia",
      counterparty_legal_phone_number: "5507 000000"
    })
  })

  it("a department change re-emits exactly the dim_staff rows in it", () => {
    const seeded = transformBatch(emptyJoinState, [
      change("department", "read", department(2, "Purchasing", "Manchester"), "0/100", 0),
      change("department", "read", department(6, "Facilities", "Manchester"), "0/100", 1),
      ...[
        staff(1, "Jeremie", "Franey", 2), staff(2, "Deron", "Beier", 6), staff(3, "Jeanette", "Erdman", 6),
        staff(7, "Raphael", "Rippin", 2), staff(9, "Brody", "Ratke", 2), staff(10, "Jazmyn", "Kuhn", 2),
        staff(16, "Jett", "Parisian", 6), staff(19, "Pierre", "Sauer", 2)
      ].map((row, i) => change("staff", "read", row, "0/100", 2 + i))
    ])
    expect(seeded.rows.filter((row) => row.table === "dim_staff")).toHaveLength(8)
    const { rows } = transformBatch(seeded.state, [
      change("department", "update", department(2, "Purchasing", "Leeds"), "0/300", 4)
    ])
    expect(summary(rows)).toEqual([1, 7, 9, 10, 19].map((id) => ["dim_staff", "upsert", id, "0/300", 4]))
    expect(rows[0]?.values).toEqual({
      staff_id: 1, first_name: "Jeremie", last_name: "Franey", department_name: "Purchasing", location: "Leeds",
      email_address: "jeremie.franey@terrifictotes.com"
    })
  })

  it("a counterparty that moved to another address no longer follows the old one", () => {
    const first = transformBatch(seedCounterparties(), [
      change("address", "read", address15, "0/150", 0),
      change("counterparty", "update", counterparty(11, "Corkery - Nienow", 15), "0/160", 0)
    ])
    expect(summary(first.rows).filter(([table]) => table === "dim_counterparty")).toEqual([
      ["dim_counterparty", "upsert", 11, "0/160", 0]
    ])
    expect(first.rows.find((row) => row.table === "dim_counterparty")?.values["counterparty_legal_city"]).toBe("East Bobbie")
    const { rows } = transformBatch(first.state, [change("address", "update", { ...address17, city: "Utica" }, "0/170", 0)])
    expect(rows.filter((row) => row.table === "dim_counterparty").map((row) => row.values["counterparty_id"]))
      .toEqual([15, 17, 18])
  })
})

describe("a partner arriving in a later batch (rules §4)", () => {
  it("keeps the counterparty pending, then emits it with the position of the newest contributing change", () => {
    const first = transformBatch(emptyJoinState, [change("counterparty", "insert", counterparty(1, "Fahey and Sons", 15), "0/500", 3)])
    expect(first.rows).toEqual([])
    expect(first.problems).toEqual([])
    expect(pendingJoins(first.state)).toEqual([
      { table: "dim_counterparty", id: 1, waitingFor: { table: "address", id: 15 } }
    ])
    const second = transformBatch(first.state, [change("address", "insert", address15, "0/600", 0)])
    expect(summary(second.rows)).toEqual([
      ["dim_location", "upsert", 15, "0/600", 0],
      ["dim_counterparty", "upsert", 1, "0/600", 0]
    ])
    expect(second.rows[1]?.values["counterparty_legal_address_line_1"]).toBe("605 Haskell Trafficway")
    expect(pendingJoins(second.state)).toEqual([])
  })

  it("joins a counterparty with the address that arrived in an earlier batch, at the counterparty's position when newer", () => {
    const first = transformBatch(emptyJoinState, [change("address", "insert", address15, "0/600", 0)])
    const second = transformBatch(first.state, [change("counterparty", "insert", counterparty(1, "Fahey and Sons", 15), "0/700", 2)])
    expect(summary(second.rows)).toEqual([["dim_counterparty", "upsert", 1, "0/700", 2]])
  })

  it("keeps a staff member pending until the department arrives", () => {
    const first = transformBatch(emptyJoinState, [change("staff", "insert", staff(1, "Jeremie", "Franey", 2), "0/500", 0)])
    expect(first.rows).toEqual([])
    expect(pendingJoins(first.state)).toEqual([{ table: "dim_staff", id: 1, waitingFor: { table: "department", id: 2 } }])
    const second = transformBatch(first.state, [change("department", "insert", department(2, "Purchasing", null), "0/400", 0)])
    // the department's version is older than the staff's: the row carries the staff's position
    expect(summary(second.rows)).toEqual([["dim_staff", "upsert", 1, "0/500", 0]])
    expect(second.rows[0]?.values["location"]).toBe("Undefined")
  })
})

describe("order and idempotency", () => {
  it("an older change arriving after a newer one does not overwrite the state; the current row is re-emitted", () => {
    const v2 = { ...address15, phone: "0000 000002" }
    const v1 = { ...address15, phone: "0000 000001" }
    const seeded = transformBatch(emptyJoinState, [
      change("counterparty", "insert", counterparty(1, "Fahey and Sons", 15), "0/800", 0),
      change("address", "update", v2, "0/900", 0)
    ])
    const late = transformBatch(seeded.state, [change("address", "update", v1, "0/850", 0)])
    expect(late.state).toEqual(seeded.state)
    expect(late.rows.map((row) => [row.table, row.values["phone"] ?? row.values["counterparty_legal_phone_number"], row.commitLsn]))
      .toEqual([["dim_location", "0000 000002", "0/900"], ["dim_counterparty", "0000 000002", "0/900"]])
  })

  it("a delete is not undone by an older insert arriving later", () => {
    const deleted = transformBatch(emptyJoinState, [
      change("address", "insert", address15, "0/100", 0),
      del("address", 15, "0/200")
    ])
    expect(summary(deleted.rows)).toEqual([["dim_location", "delete", 15, "0/200", 0]])
    const late = transformBatch(deleted.state, [change("address", "insert", address15, "0/100", 0)])
    expect(summary(late.rows)).toEqual([["dim_location", "delete", 15, "0/200", 0]])
    expect(late.state).toEqual(deleted.state)
  })

  it("a replayed batch re-emits the same rows", () => {
    const batch = [
      change("address", "insert", address15, "0/100", 0),
      change("counterparty", "insert", counterparty(1, "Fahey and Sons", 15), "0/100", 1)
    ]
    const first = transformBatch(emptyJoinState, batch)
    const again = transformBatch(first.state, batch)
    expect(again.rows).toEqual(first.rows)
    expect(again.state).toEqual(first.state)
  })

  it("changes older than a truncate are not applied; the truncate empties the joined dims too", () => {
    const seeded = transformBatch(emptyJoinState, [
      change("address", "insert", address15, "0/100", 0),
      change("counterparty", "insert", counterparty(1, "Fahey and Sons", 15), "0/100", 1)
    ])
    const truncated = transformBatch(seeded.state, [
      change("counterparty", "truncate", null, "0/300", 0),
      change("address", "truncate", null, "0/300", 1)
    ])
    expect(summary(truncated.rows)).toEqual([
      ["dim_counterparty", "truncate", null, "0/300", 0],
      ["dim_location", "truncate", null, "0/300", 1],
      ["dim_counterparty", "truncate", null, "0/300", 1]
    ])
    expect(truncated.state.address.rows).toEqual({})
    expect(truncated.state.counterparty.rows).toEqual({})
    const late = transformBatch(truncated.state, [change("address", "update", address15, "0/200", 0)])
    expect(late.rows).toEqual([])
    const after = transformBatch(truncated.state, [
      change("address", "insert", address15, "0/400", 0),
      change("counterparty", "insert", counterparty(1, "Fahey and Sons", 15), "0/400", 1)
    ])
    expect(summary(after.rows)).toEqual([
      ["dim_location", "upsert", 15, "0/400", 0],
      ["dim_counterparty", "upsert", 1, "0/400", 1]
    ])
  })

  it("a truncate arriving after a later partner change deletes the joined row that would survive it", () => {
    const first = transformBatch(emptyJoinState, [
      change("address", "insert", address15, "0/5", 0),
      change("counterparty", "insert", counterparty(1, "Fahey and Sons", 15), "0/10", 0)
    ])
    // commit order: truncate counterparty (0/20), then address 15 updated (0/30); delivered the other way round
    const cascaded = transformBatch(first.state, [change("address", "update", { ...address15, city: "Later" }, "0/30", 0)])
    expect(summary(cascaded.rows)).toContainEqual(["dim_counterparty", "upsert", 1, "0/30", 0])
    const { rows, state } = transformBatch(cascaded.state, [change("counterparty", "truncate", null, "0/20", 0)])
    expect(summary(rows)).toEqual([
      ["dim_counterparty", "truncate", null, "0/20", 0],
      ["dim_counterparty", "delete", 1, "0/30", 0]
    ])
    expect(state.counterparty.rows).toEqual({})
  })

  it("a late partner change from another shard never gives a joined row an older position than its previous one", () => {
    // commit order: cp 1 → 15 (0/10), address 15 updated (0/30)… but cp 1 → 2 (0/20) arrives after the 0/30 change
    const first = transformBatch(emptyJoinState, [
      change("address", "insert", address2, "0/5", 0),
      change("address", "insert", address15, "0/5", 1),
      change("counterparty", "insert", counterparty(1, "Fahey and Sons", 15), "0/10", 0),
      change("address", "update", { ...address15, city: "Newer City" }, "0/30", 0)
    ])
    expect(summary(first.rows).filter(([table]) => table === "dim_counterparty")).toEqual([["dim_counterparty", "upsert", 1, "0/30", 0]])
    const late = transformBatch(first.state, [change("counterparty", "update", counterparty(1, "Fahey and Sons", 2), "0/20", 0)])
    expect(summary(late.rows)).toEqual([["dim_counterparty", "upsert", 1, "0/30", 0]])
    expect(late.rows[0]?.values["counterparty_legal_city"]).toBe("Aliso Viejo")
  })
})

describe("deletes of joined source rows", () => {
  it("deleting an address deletes dim_location only; a counterparty still using it becomes pending", () => {
    const seeded = transformBatch(emptyJoinState, [
      change("address", "insert", address15, "0/100", 0),
      change("counterparty", "insert", counterparty(1, "Fahey and Sons", 15), "0/100", 1)
    ])
    const { rows, state } = transformBatch(seeded.state, [del("address", 15, "0/200")])
    expect(summary(rows)).toEqual([["dim_location", "delete", 15, "0/200", 0]])
    expect(pendingJoins(state)).toEqual([{ table: "dim_counterparty", id: 1, waitingFor: { table: "address", id: 15 } }])
  })

  it("deleting a staff member deletes its dim_staff row; deleting a department emits nothing of its own", () => {
    const seeded = transformBatch(emptyJoinState, [
      change("department", "insert", department(2, "Purchasing", "Manchester"), "0/100", 0),
      change("staff", "insert", staff(1, "Jeremie", "Franey", 2), "0/100", 1)
    ])
    const { rows } = transformBatch(seeded.state, [del("staff", 1, "0/200", 0), del("department", 2, "0/200", 1)])
    expect(summary(rows)).toEqual([["dim_staff", "delete", 1, "0/200", 0]])
  })
})

describe("unchanged TOAST in the joined tables", () => {
  it("takes the value from the join state", () => {
    const seeded = transformBatch(emptyJoinState, [change("address", "insert", address15, "0/100", 0)])
    const { address_line_1: _dropped, ...rest } = address15
    const { rows, problems } = transformBatch(seeded.state, [
      change("address", "update", { ...rest, phone: "1111 111111" }, "0/200", 0, { unchangedToast: ["address_line_1"] })
    ])
    expect(problems).toEqual([])
    expect([rows[0]?.values["address_line_1"], rows[0]?.values["phone"]]).toEqual(["605 Haskell Trafficway", "1111 111111"])
  })

  it("is a problem when the state does not have the row", () => {
    const { address_line_1: _dropped, ...rest } = address15
    const toast = change("address", "update", rest, "0/200", 0, { unchangedToast: ["address_line_1"] })
    const { rows, problems } = transformBatch(emptyJoinState, [toast])
    expect(rows).toEqual([])
    expect(problems).toEqual([{ change: toast, error: expect.stringMatching(/address_line_1.*unchanged TOAST/) }])
  })
})

describe("the join state is plain JSON", () => {
  it.effect("round-trips through encodeJoinState / decodeJoinState", () =>
    Effect.gen(function*() {
      const state = seedCounterparties()
      const restored = yield* decodeJoinState(encodeJoinState(state))
      expect(restored).toEqual(state)
      const moved = change("address", "update", { ...address2, city: "Elsewhere" }, "0/900", 0)
      expect(transformBatch(restored, [moved])).toEqual(transformBatch(state, [moved]))
    }))
})

describe("a snapshot's resync marker (a re-snapshot after a lost slot)", () => {
  const marker = (table: TotesysTable, lsn: string, idx: number): ChangeRecord => ({ ...change(table, "truncate", null, lsn, idx), source: "snapshot" })

  it("becomes resync rows for the warehouse tables the table feeds, never a truncate", () => {
    const { rows, problems } = transformBatch(seedCounterparties(), [marker("address", "0/500", 0), marker("payment", "0/500", 40)])
    expect(problems).toEqual([])
    expect(summary(rows)).toEqual([
      ["dim_location", "resync", null, "0/500", 0],
      ["dim_counterparty", "resync", null, "0/500", 0],
      ["fact_payment", "resync", null, "0/500", 40]
    ])
  })

  it("the join state forgets what the snapshot does not bring back: a staff row deleted while no slot existed is not re-emitted by a later department change", () => {
    const seeded = transformBatch(emptyJoinState, [
      change("department", "insert", department(2, "Purchasing", "Manchester"), "0/100", 0),
      change("staff", "insert", staff(1, "Jeremie", "Franey", 2), "0/100", 1),
      change("staff", "insert", staff(2, "Deron", "Beier", 2), "0/100", 2)
    ]).state
    // The new snapshot: its markers, then the rows that still exist (staff 2 was deleted in the gap).
    const resnapshot = transformBatch(seeded, [
      marker("department", "0/900", 0),
      { ...change("department", "read", department(2, "Purchasing", "Manchester"), "0/900", 1), source: "snapshot" },
      marker("staff", "0/900", 2),
      { ...change("staff", "read", staff(1, "Jeremie", "Franey", 2), "0/900", 3), source: "snapshot" }
    ])
    expect(Object.keys(resnapshot.state.staff.rows)).toEqual(["1"])
    const moved = transformBatch(resnapshot.state, [change("department", "update", department(2, "Purchasing", "Leeds"), "0/a00", 0)])
    expect(summary(moved.rows)).toEqual([["dim_staff", "upsert", 1, "0/a00", 0]])
  })

  it("keeps the entries the snapshot brought back before its marker was processed (rows of other shards come in any order)", () => {
    const seeded = seedCounterparties()
    const early = transformBatch(seeded, [{ ...change("address", "read", address2, "0/900", 1), source: "snapshot" }])
    const marked = transformBatch(early.state, [marker("address", "0/900", 0)])
    expect(Object.keys(marked.state.address.rows)).toEqual(["2"])
  })
})
