import { describe, expect, it } from "@effect/vitest"
import type { ChangeRecord, StarRow } from "@totes-cdc/core"
import { decodeParquet } from "@totes-cdc/platform"
import { Effect } from "effect"
import { encodeMicroBatch } from "../src/processor/MicroBatchWriter.ts"

const payment: StarRow = {
  table: "fact_payment",
  values: {
    payment_id: 2, created_date: "2022-11-03", created_time: "14:20:52.187", last_updated_date: "2022-11-03",
    last_updated_time: "14:20:52.187", transaction_id: 2, counterparty_id: 15, payment_amount: "552548.62", currency_id: 2,
    payment_type_id: 3, paid: false, payment_date: "2022-11-04"
  },
  commitLsn: "0/1A2B",
  commitIdx: 4,
  op: "upsert"
}
const currency: StarRow = { table: "dim_currency", values: { currency_id: 1, currency_code: "GBP", currency_name: "British pound" }, commitLsn: "0/1A2B", commitIdx: 0, op: "upsert" }
const change = { source: "stream", commitLsn: "0/1A2B", commitTs: "2024-02-23T10:00:00.000Z" } as unknown as ChangeRecord

describe("encodeMicroBatch", () => {
  it.effect("hands over with each object the rows it encoded, which are what decoding its bytes gives", () =>
    Effect.gen(function* () {
      const encoded = yield* encodeMicroBatch([payment, currency, { ...payment, values: { ...payment.values, paid: true }, commitIdx: 5 }], [change], (table, message) => `${table}: ${message}`)
      expect(encoded.map((object) => [object.table, object.rows, object.values.length])).toEqual([["dim_currency", 1, 1], ["fact_payment", 2, 2]])
      for (const object of encoded) expect(object.values).toEqual((yield* decodeParquet(object.bytes)).rows)
      expect(encoded[1]!.values[1]).toMatchObject({ paid: true, _commit_lsn: "0/1A2B", _commit_idx: 5, _op: "upsert", _commit_ts: "2024-02-23T10:00:00.000Z" })
    })
  )
})
