/** The processed-object contract: keys round-trip through `parseProcessedKey`; rows carry every column. */
import { describe, expect, it } from "@effect/vitest"
import { type DeadLetter, deadLetterKey, deadLetterObject, parseProcessedKey, PIPELINE_COLUMNS, processedColumns, processedKey, processedRows, WAREHOUSE_TABLES } from "../../src/index.ts"

describe("processed object", () => {
  it("a key names its table, date folder and batch id, and reads back as what made it, for every table", () => {
    const date = new Date("2024-02-23T23:59:59.999Z")
    for (const table of WAREHOUSE_TABLES) {
      const key = processedKey(table, date, "mb-0123abcd")
      expect(key).toBe(`${table}/2024/02/23/mb-0123abcd.parquet`)
      expect(parseProcessedKey(key)).toEqual({ table, folder: "2024/02/23", batchId: "mb-0123abcd" })
    }
  })

  it("no other key reads as a processed object: dead letters, state, other tables, other files", () => {
    for (const key of [
      "dlq/processor/2024/02/23/x.json",
      "state/processor/join-state.json",
      "fact_payment/2024/02/23/x.json",
      "fact_refund/2024/02/23/x.parquet",
      "fact_payment/2024/2/23/x.parquet",
      "raw/2024/02/23/10/totes-cdc-changes-1-2024-02-23-10-00-00-abc"
    ]) {
      expect(parseProcessedKey(key), key).toBeUndefined()
    }
  })

  it("a row holds every warehouse column (null where the change has none) and the pipeline columns", () => {
    const [upsert, deleted] = processedRows(
      "dim_currency",
      [
        { table: "dim_currency", values: { currency_id: 1, currency_code: "GBP", currency_name: "British pound" }, commitLsn: "0/10", commitIdx: 2, op: "upsert" },
        { table: "dim_currency", values: { currency_id: 2 }, commitLsn: "0/20", commitIdx: 0, op: "delete" }
      ],
      new Map([["0/10", "2024-02-23T10:00:00.000Z"]])
    )
    expect(Object.keys(upsert!)).toEqual(processedColumns("dim_currency").map((c) => c.name))
    expect(upsert).toEqual({ currency_id: 1, currency_code: "GBP", currency_name: "British pound", _commit_lsn: "0/10", _commit_idx: 2, _op: "upsert", _commit_ts: "2024-02-23T10:00:00.000Z" })
    expect(deleted).toEqual({ currency_id: 2, currency_code: null, currency_name: null, _commit_lsn: "0/20", _commit_idx: 0, _op: "delete", _commit_ts: null })
    expect(processedColumns("dim_currency").slice(-PIPELINE_COLUMNS.length)).toEqual(PIPELINE_COLUMNS)
  })
})

describe("dead letter", () => {
  const letter: DeadLetter = {
    stage: "processor",
    bytes: new TextEncoder().encode("this is not json {"),
    error: "not a change record",
    position: "shardId-000000000001/49650000/0",
    origin: { shardId: "shardId-000000000001", sequenceNumber: "49650000", subSequenceNumber: 0 },
    filedAt: new Date("2024-02-23T10:00:01.000Z")
  }

  it("is filed under its stage and date, with the same key for the same record and reason, another for another", () => {
    const key = deadLetterKey(letter)
    expect(key).toMatch(/^dlq\/processor\/2024\/02\/23\/[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.json$/)
    expect(deadLetterKey({ ...letter })).toBe(key)
    expect(deadLetterKey({ ...letter, error: "another reason" })).not.toBe(key)
    expect(deadLetterKey({ ...letter, position: "shardId-000000000001/49650000/1" })).not.toBe(key)
  })

  it("holds the original bytes, the error, the position, when it was parked, and the stage's own fields", () => {
    const body = deadLetterObject(letter, new Date("2024-02-23T10:00:02.000Z"))
    expect(body).toEqual({
      stage: "processor",
      error: "not a change record",
      position: "shardId-000000000001/49650000/0",
      parkedAt: "2024-02-23T10:00:02.000Z",
      size: 18,
      encoding: "base64",
      bytes: Buffer.from("this is not json {").toString("base64"),
      shardId: "shardId-000000000001",
      sequenceNumber: "49650000",
      subSequenceNumber: 0
    })
    expect(Buffer.from(body.bytes, "base64").toString()).toBe("this is not json {")
  })
})
