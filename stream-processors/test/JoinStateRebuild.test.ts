/**
 * The pure parts of the join-state rebuild (JoinStateRebuild.ts): splitting archive
 * objects into lines, decoding them, folding archived changes into a state, raising
 * `emitted`, and moving the processor's checkpoints back to the archiver's. Expected
 * states are written by hand from the transform's rules (TransformBatch.ts). The rebuild
 * on the local stack (real archiver and processor) is tested in Processor.integration.test.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import { type ChangeRecord, emptyJoinState, encodeChangeRecord, encodeSnapshotChunk, type JoinState, makeSnapshotChunk, type RowImage } from "@totes-cdc/core"
import { Effect, Option } from "effect"
import { decodeArchiveObject, foldJoinState, raiseEmitted, rewinds, rowsPerTable } from "../src/processor/JoinStateRebuild.ts"

const bytes = (s: string) => new TextEncoder().encode(s)

const change = (
  table: string,
  op: ChangeRecord["op"],
  key: RowImage,
  after: RowImage | null,
  commitLsn: string,
  commitIdx = 0,
  unchangedToast: ReadonlyArray<string> = []
): ChangeRecord => ({
  v: 1,
  source: "replication",
  op,
  table,
  key,
  before: null,
  after,
  unchangedToast,
  commitLsn,
  commitIdx,
  xid: 7,
  commitTs: "2024-02-23T10:00:00.000Z"
})

const address15: RowImage = {
  address_id: "15", address_line_1: "605 Haskell Trafficway", address_line_2: null, district: null, city: "East Bobbie",
  postal_code: "88253-4257", country: "Chad", phone: "9687 937447", created_at: "2022-11-03 14:20:49.962", last_updated: "2022-11-03 14:20:49.962"
}
const address1: RowImage = { ...address15, address_id: "1", city: "New Patienceburgh" }
const counterparty1: RowImage = {
  counterparty_id: "1", counterparty_legal_name: "Fahey and Sons", legal_address_id: "15", commercial_contact: "Micheal Toy",
  delivery_contact: null, created_at: "2022-11-03 14:20:51.563", last_updated: "2022-11-03 14:20:51.563"
}

describe("decodeArchiveObject", () => {
  it.effect("keeps the joined tables' changes, counts every line, and names each line that is not a change record", () =>
    Effect.gen(function* () {
      const address = change("address", "insert", { address_id: "15" }, address15, "0/10")
      const order = change("sales_order", "insert", { sales_order_id: "1" }, { sales_order_id: "1" }, "0/11")
      const body = new Uint8Array([
        ...bytes(`${encodeChangeRecord(address)}\n${encodeChangeRecord(order)}\nthis is not json {\n`),
        0xff, 0xfe, 0x0a
      ])
      const decoded = yield* decodeArchiveObject(body)
      expect(decoded.joined).toEqual([address])
      expect(decoded.lines).toBe(4)
      expect(decoded.skipped).toHaveLength(2)
      expect(decoded.skipped[0]?.line).toBe(3)
      expect(decoded.skipped[0]?.error).toMatch(/^not a change record: /)
      expect(decoded.skipped[1]).toEqual({ line: 4, error: "not a change record: 2 bytes that are not UTF-8" })
    })
  )

  it.effect("passes over a snapshot chunk's pointer line: a chunk holds no joined table's rows, and the pointer is no bad line", () =>
    Effect.gen(function* () {
      const address = change("address", "insert", { address_id: "15" }, address15, "0/10")
      const order = change("sales_order", "read", { sales_order_id: "1" }, { sales_order_id: "1" }, "0/11")
      const { pointer } = makeSnapshotChunk("ingestion", "raw/2024/02/23/10/totes-cdc-snapshot-x.ndjson", [order])
      const decoded = yield* decodeArchiveObject(bytes(`${encodeSnapshotChunk(pointer)}\n${encodeChangeRecord(address)}\n`))
      expect(decoded).toEqual({ joined: [address], lines: 2, skipped: [] })
    })
  )
})

describe("foldJoinState", () => {
  // The address's insert, a TOAST update (phone not sent) and a duplicate of it, the counterparty, an unrelated address.
  const insert15 = change("address", "insert", { address_id: "15" }, address15, "0/10")
  const address15Moved: RowImage = Object.fromEntries(Object.entries({ ...address15, city: "Lagtown" }).filter(([column]) => column !== "phone"))
  const update15 = change("address", "update", { address_id: "15" }, address15Moved, "0/20", 0, ["phone"])
  const counterparty = change("counterparty", "insert", { counterparty_id: "1" }, counterparty1, "0/15")
  const insert1 = change("address", "insert", { address_id: "1" }, address1, "0/30")
  const inOrder = [insert15, counterparty, update15, update15, insert1]

  const projected = (row: RowImage, columns: ReadonlyArray<string>) => Object.fromEntries(columns.map((c) => [c, row[c] ?? null]))
  const addressColumns = ["address_id", "address_line_1", "address_line_2", "district", "city", "postal_code", "country", "phone"]
  const expected: JoinState = {
    ...emptyJoinState,
    address: {
      rows: {
        "1": { commitLsn: "0/30", commitIdx: 0, row: projected(address1, addressColumns) },
        "15": { commitLsn: "0/20", commitIdx: 0, row: projected({ ...address15, city: "Lagtown" }, addressColumns) }
      },
      truncatedAt: null
    },
    counterparty: {
      rows: { "1": { commitLsn: "0/15", commitIdx: 0, row: { counterparty_id: "1", counterparty_legal_name: "Fahey and Sons", legal_address_id: "15" } } },
      truncatedAt: null
    },
    // Emitted at 0/20 (the address update's cascade), raised to the newest change folded, 0/30.
    emitted: { dim_counterparty: { "1": { commitLsn: "0/30", commitIdx: 0 } }, dim_staff: {} }
  }

  it("folds in (commitLsn, commitIdx) order whatever the archive's order, duplicates included, in any chunk size", () => {
    const shuffled = [insert1, update15, counterparty, update15, insert15]
    for (const changes of [inOrder, shuffled]) {
      for (const chunk of [1, 2, 10_000]) {
        expect(foldJoinState(changes, chunk)).toEqual({ state: expected, problems: 0 })
      }
    }
  })

  it("does not apply a change the transform rejects, and counts it", () => {
    const bad = change("counterparty", "insert", { counterparty_id: "2" }, { ...counterparty1, counterparty_id: "2", legal_address_id: "x" }, "0/40")
    const folded = foldJoinState([...inOrder, bad])
    expect(folded.problems).toBe(1)
    expect(Object.keys(folded.state.counterparty.rows)).toEqual(["1"])
  })

  it("is the empty state for no changes", () => {
    expect(foldJoinState([])).toEqual({ state: emptyJoinState, problems: 0 })
  })

  it("counts live rows per table, not tombstones", () => {
    const deleted = change("address", "delete", { address_id: "1" }, null, "0/50")
    expect(rowsPerTable(foldJoinState([...inOrder, deleted]).state)).toEqual({ address: 1, department: 0, counterparty: 1, staff: 0 })
  })
})

describe("raiseEmitted", () => {
  it("raises the positions below the floor to it and keeps the others", () => {
    const state: JoinState = {
      ...emptyJoinState,
      emitted: {
        dim_counterparty: { "1": { commitLsn: "0/10", commitIdx: 3 }, "2": { commitLsn: "0/20", commitIdx: 1 } },
        dim_staff: { "7": { commitLsn: "0/20", commitIdx: 0 } }
      }
    }
    expect(raiseEmitted(state, { commitLsn: "0/20", commitIdx: 0 }).emitted).toEqual({
      dim_counterparty: { "1": { commitLsn: "0/20", commitIdx: 0 }, "2": { commitLsn: "0/20", commitIdx: 1 } },
      dim_staff: { "7": { commitLsn: "0/20", commitIdx: 0 } }
    })
  })
})

describe("rewinds", () => {
  const at = (sequenceNumber: string | null, shardEnded = false) => Option.some({ sequenceNumber, shardEnded })
  it("moves the processor back to the archiver where the archiver is behind or absent, comparing sequence numbers as integers", () => {
    expect(
      rewinds([
        { shardId: "behind", processor: at("49650000000000000000000000000000000000000000000000000010"), archiver: at("49650000000000000000000000000000000000000000000000000009") },
        { shardId: "shorter", processor: at("10"), archiver: at("9") },
        { shardId: "absent", processor: at("10", true), archiver: Option.none() },
        { shardId: "equal", processor: at("10", true), archiver: at("10") },
        { shardId: "ahead", processor: at("10"), archiver: at("11") },
        { shardId: "never-processed", processor: Option.none(), archiver: at("11") },
        { shardId: "empty", processor: at(null, true), archiver: Option.none() }
      ])
    ).toEqual([
      {
        shardId: "behind",
        from: { sequenceNumber: "49650000000000000000000000000000000000000000000000000010", shardEnded: false },
        to: { sequenceNumber: "49650000000000000000000000000000000000000000000000000009", shardEnded: false }
      },
      { shardId: "shorter", from: { sequenceNumber: "10", shardEnded: false }, to: { sequenceNumber: "9", shardEnded: false } },
      { shardId: "absent", from: { sequenceNumber: "10", shardEnded: true }, to: { sequenceNumber: null, shardEnded: false } }
    ])
  })
})
