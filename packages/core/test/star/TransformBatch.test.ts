import { describe, expect, it } from "@effect/vitest"
import type { ChangeRecord, RowImage } from "../../src/contracts/ChangeRecord.ts"
import { PRIMARY_KEY, type TotesysTable } from "../../src/Totesys.ts"
import { emptyJoinState, type StarRow, transformBatch } from "../../src/star/index.ts"

// Source rows are copied by hand from /work/shared/totesys/totesys-2024-02-23.sql and written as the
// text PostgreSQL gives (envelope v1); expected warehouse rows are written by hand from transform_rules.md.

let nextIdx = 0
const change = (
  table: string,
  op: ChangeRecord["op"],
  after: RowImage | null,
  options: { before?: RowImage; key?: RowImage; lsn?: string; idx?: number; unchangedToast?: ReadonlyArray<string> } = {}
): ChangeRecord => {
  const pk = PRIMARY_KEY[table as TotesysTable] ?? "id"
  const keyValue = after?.[pk] ?? options.before?.[pk] ?? null
  return {
    v: 1,
    source: "replication",
    op,
    table,
    key: options.key ?? (op === "truncate" || keyValue === null ? {} : { [pk]: keyValue }),
    before: options.before ?? null,
    after,
    unchangedToast: [...(options.unchangedToast ?? [])],
    commitLsn: options.lsn ?? "0/1000",
    commitIdx: options.idx ?? nextIdx++,
    xid: 750,
    commitTs: "2024-02-23T10:00:00.000Z"
  }
}

const TS = { created_at: "2022-11-03 14:20:49.962", last_updated: "2022-11-03 14:20:49.962" }

const address1: RowImage = {
  address_id: "1", address_line_1: "6826 Herzog Via", address_line_2: null, district: "Avon", city: "New Patienceburgh",
  postal_code: "28441", country: "Turkey", phone: "1803 637401", ...TS
}
const address15: RowImage = {
  address_id: "15", address_line_1: "605 Haskell Trafficway", address_line_2: "Axel Freeway", district: null,
  city: "East Bobbie", postal_code: "88253-4257", country: "Heard Island and McDonald Islands", phone: "9687 937447", ...TS
}
const counterparty1: RowImage = {
  counterparty_id: "1", counterparty_legal_name: "Fahey and Sons", legal_address_id: "15", commercial_contact: "Micheal Toy",
  delivery_contact: "Mrs. Lucy Runolfsdottir", created_at: "2022-11-03 14:20:51.563", last_updated: "2022-11-03 14:20:51.563"
}
const department2: RowImage = {
  department_id: "2", department_name: "Purchasing", location: "Manchester", manager: "Naomi Lapaglia", ...TS
}
const staff1: RowImage = {
  staff_id: "1", first_name: "Jeremie", last_name: "Franey", department_id: "2", email_address: "jeremie.franey@terrifictotes.com",
  created_at: "2022-11-03 14:20:51.563", last_updated: "2022-11-03 14:20:51.563"
}
const salesOrder1: RowImage = {
  sales_order_id: "1", created_at: "2022-11-03 14:20:52.186", last_updated: "2022-11-03 14:20:52.186", design_id: "9",
  staff_id: "16", counterparty_id: "18", units_sold: "84754", unit_price: "2.43", currency_id: "3",
  agreed_delivery_date: "2022-11-10", agreed_payment_date: "2022-11-03", agreed_delivery_location_id: "4"
}
const purchaseOrder1: RowImage = {
  purchase_order_id: "1", created_at: "2022-11-03 14:20:52.187", last_updated: "2022-11-03 14:20:52.187", staff_id: "12",
  counterparty_id: "11", item_code: "ZDOI5EA", item_quantity: "371", item_unit_price: "361.39", currency_id: "2",
  agreed_delivery_date: "2022-11-09", agreed_payment_date: "2022-11-07", agreed_delivery_location_id: "6"
}
const payment2: RowImage = {
  payment_id: "2", created_at: "2022-11-03 14:20:52.187", last_updated: "2022-11-03 14:20:52.187", transaction_id: "2",
  counterparty_id: "15", payment_amount: "552548.62", currency_id: "2", payment_type_id: "3", paid: "f",
  payment_date: "2022-11-04", company_ac_number: "67305075", counterparty_ac_number: "31622269"
}

const upserts = (rows: ReadonlyArray<StarRow>, table: StarRow["table"]) =>
  rows.filter((row) => row.table === table && row.op === "upsert").map((row) => row.values)

describe("transformBatch: one row per warehouse table, from the 2024-02-23 dump (rules §3)", () => {
  it("dim_location ← address 1 (address_id → location_id, timestamps dropped)", () => {
    const { rows, problems } = transformBatch(emptyJoinState, [change("address", "read", address1, { lsn: "0/2000", idx: 0 })])
    expect(problems).toEqual([])
    expect(rows).toEqual([{
      table: "dim_location", op: "upsert", commitLsn: "0/2000", commitIdx: 0,
      values: {
        location_id: 1, address_line_1: "6826 Herzog Via", address_line_2: null, district: "Avon",
        city: "New Patienceburgh", postal_code: "28441", country: "Turkey", phone: "1803 637401"
      }
    }])
  })

  it("dim_counterparty ← counterparty 1 ⋈ its legal address 15 (renames of §3, contacts dropped)", () => {
    const { rows, problems } = transformBatch(emptyJoinState, [
      change("address", "read", address15, { lsn: "0/2000", idx: 14 }),
      change("counterparty", "read", counterparty1, { lsn: "0/2000", idx: 30 })
    ])
    expect(problems).toEqual([])
    expect(rows.filter((row) => row.table === "dim_counterparty")).toEqual([{
      table: "dim_counterparty", op: "upsert", commitLsn: "0/2000", commitIdx: 30,
      values: {
        counterparty_id: 1, counterparty_legal_name: "Fahey and Sons",
        counterparty_legal_address_line_1: "605 Haskell Trafficway", counterparty_legal_address_line_2: "Axel Freeway",
        counterparty_legal_district: null, counterparty_legal_city: "East Bobbie",
        counterparty_legal_postal_code: "88253-4257", counterparty_legal_country: "Heard Island and McDonald Islands",
        counterparty_legal_phone_number: "9687 937447"
      }
    }])
    expect(upserts(rows, "dim_location").map((values) => values["location_id"])).toEqual([15])
  })

  it("dim_staff ← staff 1 ⋈ department 2", () => {
    const { rows, problems } = transformBatch(emptyJoinState, [
      change("department", "read", department2, { lsn: "0/2000", idx: 1 }),
      change("staff", "read", staff1, { lsn: "0/2000", idx: 2 })
    ])
    expect(problems).toEqual([])
    expect(rows).toEqual([{
      table: "dim_staff", op: "upsert", commitLsn: "0/2000", commitIdx: 2,
      values: {
        staff_id: 1, first_name: "Jeremie", last_name: "Franey", department_name: "Purchasing", location: "Manchester",
        email_address: "jeremie.franey@terrifictotes.com"
      }
    }])
  })

  it("dim_staff: a department without location gets the sentinel 'Undefined' (§3, §8)", () => {
    const { rows } = transformBatch(emptyJoinState, [
      change("department", "insert", { ...department2, location: null }),
      change("staff", "insert", staff1)
    ])
    expect(upserts(rows, "dim_staff")[0]?.["location"]).toBe("Undefined")
  })

  it("dim_currency ← currency 1..3 with the ISO-4217 name (§5)", () => {
    const { rows, problems } = transformBatch(emptyJoinState, [
      change("currency", "read", { currency_id: "1", currency_code: "GBP", ...TS }),
      change("currency", "read", { currency_id: "2", currency_code: "USD", ...TS }),
      change("currency", "read", { currency_id: "3", currency_code: "EUR", ...TS })
    ])
    expect(problems).toEqual([])
    expect(upserts(rows, "dim_currency")).toEqual([
      { currency_id: 1, currency_code: "GBP", currency_name: "Pound Sterling" },
      { currency_id: 2, currency_code: "USD", currency_name: "US Dollar" },
      { currency_id: 3, currency_code: "EUR", currency_name: "Euro" }
    ])
  })

  it("dim_payment_type ← payment_type 1 (enum → text)", () => {
    const { rows } = transformBatch(emptyJoinState, [
      change("payment_type", "read", { payment_type_id: "1", payment_type_name: "SALES_RECEIPT", ...TS })
    ])
    expect(upserts(rows, "dim_payment_type")).toEqual([{ payment_type_id: 1, payment_type_name: "SALES_RECEIPT" }])
  })

  it("dim_design ← design 8 (timestamps dropped)", () => {
    const { rows } = transformBatch(emptyJoinState, [
      change("design", "read", {
        design_id: "8", created_at: "2022-11-03 14:20:49.962", last_updated: "2022-11-03 14:20:49.962",
        design_name: "Wooden", file_location: "/usr", file_name: "wooden-20220717-npgz.json"
      })
    ])
    expect(upserts(rows, "dim_design")).toEqual([
      { design_id: 8, design_name: "Wooden", file_location: "/usr", file_name: "wooden-20220717-npgz.json" }
    ])
  })

  it("dim_transaction ← transaction 1 (PURCHASE, nullable order ids as int; '2.0' from a pandas file also → 2)", () => {
    const { rows } = transformBatch(emptyJoinState, [
      change("transaction", "read", {
        transaction_id: "1", transaction_type: "PURCHASE", sales_order_id: null, purchase_order_id: "2",
        created_at: "2022-11-03 14:20:52.186", last_updated: "2022-11-03 14:20:52.186"
      }),
      change("transaction", "read", {
        transaction_id: "3", transaction_type: "SALE", sales_order_id: "1.0", purchase_order_id: null,
        created_at: "2022-11-03 14:20:52.186", last_updated: "2022-11-03 14:20:52.186"
      })
    ])
    expect(upserts(rows, "dim_transaction")).toEqual([
      { transaction_id: 1, transaction_type: "PURCHASE", sales_order_id: null, purchase_order_id: 2 },
      { transaction_id: 3, transaction_type: "SALE", sales_order_id: 1, purchase_order_id: null }
    ])
  })

  it("fact_sales_order ← sales_order 1 (split, staff_id → sales_staff_id, text dates → date) + its dim_date rows", () => {
    const { rows, problems } = transformBatch(emptyJoinState, [
      change("sales_order", "insert", salesOrder1, { lsn: "0/3000", idx: 5 })
    ])
    expect(problems).toEqual([])
    expect(rows).toEqual([
      {
        table: "dim_date", op: "upsert", commitLsn: "0/3000", commitIdx: 5,
        values: { date_id: "2022-11-03", year: 2022, month: 11, day: 3, day_of_week: 4, day_name: "Thursday", month_name: "November", quarter: 4 }
      },
      {
        table: "dim_date", op: "upsert", commitLsn: "0/3000", commitIdx: 5,
        values: { date_id: "2022-11-10", year: 2022, month: 11, day: 10, day_of_week: 4, day_name: "Thursday", month_name: "November", quarter: 4 }
      },
      {
        table: "fact_sales_order", op: "upsert", commitLsn: "0/3000", commitIdx: 5,
        values: {
          sales_order_id: 1, created_date: "2022-11-03", created_time: "14:20:52.186", last_updated_date: "2022-11-03",
          last_updated_time: "14:20:52.186", sales_staff_id: 16, counterparty_id: 18, units_sold: 84754, unit_price: "2.43",
          currency_id: 3, design_id: 9, agreed_payment_date: "2022-11-03", agreed_delivery_date: "2022-11-10",
          agreed_delivery_location_id: 4
        }
      }
    ])
  })

  it("fact_purchase_order ← purchase_order 1 (staff_id kept, item_unit_price as given)", () => {
    const { rows, problems } = transformBatch(emptyJoinState, [change("purchase_order", "insert", purchaseOrder1)])
    expect(problems).toEqual([])
    expect(upserts(rows, "fact_purchase_order")).toEqual([{
      purchase_order_id: 1, created_date: "2022-11-03", created_time: "14:20:52.187", last_updated_date: "2022-11-03",
      last_updated_time: "14:20:52.187", staff_id: 12, counterparty_id: 11, item_code: "ZDOI5EA", item_quantity: 371,
      item_unit_price: "361.39", currency_id: 2, agreed_delivery_date: "2022-11-09", agreed_payment_date: "2022-11-07",
      agreed_delivery_location_id: 6
    }])
    expect(upserts(rows, "dim_date").map((d) => [d["date_id"], d["day_of_week"], d["day_name"]])).toEqual([
      ["2022-11-03", 4, "Thursday"], ["2022-11-07", 1, "Monday"], ["2022-11-09", 3, "Wednesday"]
    ])
  })

  it("fact_payment ← payment 2 (account numbers dropped, paid boolean), then its paid flip as a second version (§7)", () => {
    const flipped = { ...payment2, paid: "t", last_updated: "2022-11-04 07:55:11.88" }
    const { rows, problems } = transformBatch(emptyJoinState, [
      change("payment", "insert", payment2, { lsn: "0/3000", idx: 1 }),
      change("payment", "update", flipped, { lsn: "0/4000", idx: 0 })
    ])
    expect(problems).toEqual([])
    expect(rows.filter((row) => row.table === "fact_payment")).toEqual([
      {
        table: "fact_payment", op: "upsert", commitLsn: "0/3000", commitIdx: 1,
        values: {
          payment_id: 2, created_date: "2022-11-03", created_time: "14:20:52.187", last_updated_date: "2022-11-03",
          last_updated_time: "14:20:52.187", transaction_id: 2, counterparty_id: 15, payment_amount: "552548.62",
          currency_id: 2, payment_type_id: 3, paid: false, payment_date: "2022-11-04"
        }
      },
      {
        table: "fact_payment", op: "upsert", commitLsn: "0/4000", commitIdx: 0,
        values: {
          payment_id: 2, created_date: "2022-11-03", created_time: "14:20:52.187", last_updated_date: "2022-11-04",
          last_updated_time: "07:55:11.880", transaction_id: 2, counterparty_id: 15, payment_amount: "552548.62",
          currency_id: 2, payment_type_id: 3, paid: true, payment_date: "2022-11-04"
        }
      }
    ])
    expect(upserts(rows, "dim_date").map((d) => [d["date_id"], d["day_name"]])).toEqual([
      ["2022-11-03", "Thursday"], ["2022-11-04", "Friday"]
    ])
  })

  it("fact times from the shortened and ISO text forms: '…10.28' → '10.280', 'T…52.186000' → '52.186'", () => {
    const { rows } = transformBatch(emptyJoinState, [
      change("sales_order", "insert", {
        ...salesOrder1, created_at: "2022-12-15 11:55:10.28", last_updated: "2022-11-03T14:20:52.186000"
      })
    ])
    const [fact] = upserts(rows, "fact_sales_order")
    expect([fact?.["created_date"], fact?.["created_time"], fact?.["last_updated_date"], fact?.["last_updated_time"]])
      .toEqual(["2022-12-15", "11:55:10.280", "2022-11-03", "14:20:52.186"])
    expect(upserts(rows, "dim_date").map((d) => d["date_id"])).toEqual(["2022-11-03", "2022-11-10", "2022-12-15"])
  })

  it("unit_price is a decimal with 2 places (numeric(10,2))", () => {
    const { rows } = transformBatch(emptyJoinState, [change("sales_order", "insert", { ...salesOrder1, unit_price: "3" })])
    expect(upserts(rows, "fact_sales_order")[0]?.["unit_price"]).toBe("3.00")
  })
})

describe("transformBatch: deletes and truncates are explicit rows", () => {
  it("a fact's delete → op delete with the natural id; a dimension's delete → the dimension key", () => {
    const { rows, problems } = transformBatch(emptyJoinState, [
      change("sales_order", "delete", null, { key: { sales_order_id: "1" }, lsn: "0/5000", idx: 0 }),
      change("payment", "delete", null, { before: { payment_id: "2" }, key: {}, lsn: "0/5000", idx: 1 }),
      change("design", "delete", null, { key: { design_id: "8" }, lsn: "0/5000", idx: 2 }),
      change("address", "delete", null, { key: { address_id: "1" }, lsn: "0/5000", idx: 3 }),
      change("counterparty", "delete", null, { key: { counterparty_id: "1" }, lsn: "0/5000", idx: 4 })
    ])
    expect(problems).toEqual([])
    expect(rows).toEqual([
      { table: "fact_sales_order", op: "delete", values: { sales_order_id: 1 }, commitLsn: "0/5000", commitIdx: 0 },
      { table: "fact_payment", op: "delete", values: { payment_id: 2 }, commitLsn: "0/5000", commitIdx: 1 },
      { table: "dim_design", op: "delete", values: { design_id: 8 }, commitLsn: "0/5000", commitIdx: 2 },
      { table: "dim_location", op: "delete", values: { location_id: 1 }, commitLsn: "0/5000", commitIdx: 3 },
      { table: "dim_counterparty", op: "delete", values: { counterparty_id: 1 }, commitLsn: "0/5000", commitIdx: 4 }
    ])
  })

  it("a truncate → op truncate for every warehouse table the source table feeds", () => {
    const { rows } = transformBatch(emptyJoinState, [
      change("address", "truncate", null, { lsn: "0/6000", idx: 0 }),
      change("department", "truncate", null, { lsn: "0/6000", idx: 1 }),
      change("payment", "truncate", null, { lsn: "0/6000", idx: 2 })
    ])
    expect(rows.map((row) => [row.table, row.op, row.values, row.commitIdx])).toEqual([
      ["dim_location", "truncate", {}, 0],
      ["dim_counterparty", "truncate", {}, 0],
      ["dim_staff", "truncate", {}, 1],
      ["fact_payment", "truncate", {}, 2]
    ])
  })

  it("an update that changes the primary key deletes the old key", () => {
    const { rows } = transformBatch(emptyJoinState, [
      change("design", "update", { design_id: "9", created_at: TS.created_at, last_updated: TS.last_updated, design_name: "Wooden", file_location: "/usr", file_name: "w.json" }, {
        before: { design_id: "8" }, key: { design_id: "8" }
      })
    ])
    expect(rows.map((row) => [row.table, row.op, row.values["design_id"]])).toEqual([
      ["dim_design", "delete", 8],
      ["dim_design", "upsert", 9]
    ])
  })
})

describe("transformBatch: problems are reported per change, the rest of the batch goes on", () => {
  it("an unknown table, a bad date, a bad number and a missing TOAST value of a fact are problems", () => {
    const unknown = change("_prisma_migrations", "insert", { id: "x" })
    const badDate = change("sales_order", "insert", { ...salesOrder1, sales_order_id: "2", agreed_delivery_date: "2022-11-31" })
    const badNumber = change("purchase_order", "insert", { ...purchaseOrder1, item_quantity: "many" })
    const { item_code: _dropped, ...withoutItemCode } = purchaseOrder1
    const toast = change("purchase_order", "update", withoutItemCode, { unchangedToast: ["item_code"] })
    const nullInNotNull = change("design", "insert", { design_id: "3", design_name: null, file_location: "/", file_name: "x", ...TS })
    const good = change("sales_order", "insert", salesOrder1)
    const { rows, problems } = transformBatch(emptyJoinState, [unknown, badDate, badNumber, toast, nullInNotNull, good])
    expect(problems.map((p) => p.change)).toEqual([unknown, badDate, badNumber, toast, nullInNotNull])
    expect(problems[0]?.error).toMatch(/_prisma_migrations.*not one of the 11/)
    expect(problems[1]?.error).toMatch(/agreed_delivery_date.*2022-11-31/)
    expect(problems[2]?.error).toMatch(/item_quantity.*many/)
    expect(problems[3]?.error).toMatch(/item_code.*unchanged TOAST/)
    expect(problems[4]?.error).toMatch(/design_name.*NOT NULL/)
    expect(upserts(rows, "fact_sales_order").map((values) => values["sales_order_id"])).toEqual([1])
    // only the good fact's dates: nothing from the rejected ones (2022-11-31 is not a date anyway)
    expect(upserts(rows, "dim_date").map((d) => d["date_id"])).toEqual(["2022-11-03", "2022-11-10"])
  })

  it("an unchanged TOAST column of a fact is taken from the before image when it has it", () => {
    const { item_code: _dropped, ...withoutItemCode } = purchaseOrder1
    const { rows, problems } = transformBatch(emptyJoinState, [
      change("purchase_order", "update", withoutItemCode, { unchangedToast: ["item_code"], before: purchaseOrder1 })
    ])
    expect(problems).toEqual([])
    expect(upserts(rows, "fact_purchase_order")[0]?.["item_code"]).toBe("ZDOI5EA")
  })

  it("an unchanged TOAST column the warehouse does not use is ignored", () => {
    const { commercial_contact: _dropped, ...withoutContact } = counterparty1
    const { rows, problems } = transformBatch(emptyJoinState, [
      change("address", "read", address15),
      change("counterparty", "update", withoutContact, { unchangedToast: ["commercial_contact"] })
    ])
    expect(problems).toEqual([])
    expect(upserts(rows, "dim_counterparty")).toHaveLength(1)
  })

  it("a bad address is a problem and does not enter the join state", () => {
    const bad = change("address", "insert", { ...address1, city: null })
    const { rows, problems, state } = transformBatch(emptyJoinState, [bad])
    expect(problems.map((p) => p.change)).toEqual([bad])
    expect(rows).toEqual([])
    expect(state.address.rows).toEqual({})
  })

  it("does not modify the input state", () => {
    const snapshot = JSON.stringify(emptyJoinState)
    transformBatch(emptyJoinState, [change("address", "read", address15), change("counterparty", "read", counterparty1)])
    expect(JSON.stringify(emptyJoinState)).toBe(snapshot)
  })
})
