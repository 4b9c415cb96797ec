/**
 * The partition key contract (contracts/ChangeRecord.ts): every change of a row on one
 * key; every change of the four joined source tables on ONE key, so one shard holds them
 * in commit order and only its micro-batches change the join state.
 */
import { describe, expect, it } from "@effect/vitest"
import { JOINED_PARTITION_KEY, JOINED_SOURCE_TABLES, partitionKeyOf, TOTESYS_TABLES } from "../../src/index.ts"

describe("partitionKeyOf", () => {
  it("keys a row of a table that is not joined by its table and primary key, a truncate by its table", () => {
    expect(partitionKeyOf({ table: "sales_order", key: { sales_order_id: "15" }, op: "update" })).toBe("sales_order:15")
    expect(partitionKeyOf({ table: "payment", key: { payment_id: "7" }, op: "delete" })).toBe("payment:7")
    expect(partitionKeyOf({ table: "design", key: {}, op: "truncate" })).toBe("design:*")
  })

  it("gives every change of address, department, counterparty and staff the one joined key, truncates included", () => {
    expect([...JOINED_SOURCE_TABLES].sort()).toEqual(["address", "counterparty", "department", "staff"])
    for (const table of JOINED_SOURCE_TABLES) {
      for (const op of ["read", "insert", "update", "delete", "truncate"] as const) {
        expect(partitionKeyOf({ table, key: op === "truncate" ? {} : { [`${table}_id`]: "3" }, op })).toBe(JOINED_PARTITION_KEY)
      }
    }
    const others = TOTESYS_TABLES.filter((table) => !(JOINED_SOURCE_TABLES as ReadonlyArray<string>).includes(table))
    expect(others).toHaveLength(7)
    for (const table of others) expect(partitionKeyOf({ table, key: { id: "1" }, op: "insert" })).not.toBe(JOINED_PARTITION_KEY)
  })
})
