/**
 * `looksLikeChangeRecord` may only accept what the ChangeRecord schema accepts (it is the
 * processor's fast path; the schema stays the rule), and accepts the records the reader writes.
 */
import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import { ChangeRecord, looksLikeChangeRecord } from "../src/contracts/ChangeRecord.ts"
import { formatLsn } from "../src/Lsn.ts"

const isChangeRecord = Schema.is(ChangeRecord)

const { commitLsn: _, ...otherFields } = ChangeRecord.fields
const u32 = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 0xffffffff }))
/** A record the schema accepts: every field but the LSN from the schema itself, the LSN from two 32-bit halves. */
const Valid = Schema.Struct({ ...otherFields, lsnHigh: u32, lsnLow: u32 })
const recordOf = ({ lsnHigh, lsnLow, ...rest }: typeof Valid.Type) => ({ ...rest, commitLsn: formatLsn((BigInt(lsnHigh) << 32n) | BigInt(lsnLow)) })
const FIELDS = Object.keys(ChangeRecord.fields)

describe("looksLikeChangeRecord", () => {
  it.prop("accepts the records the schema accepts, as JSON.parse gives them back", [Valid], ([valid]) => {
    const record = recordOf(valid)
    expect(isChangeRecord(record)).toBe(true)
    expect(looksLikeChangeRecord(JSON.parse(JSON.stringify(record)))).toBe(true)
  })

  it.prop(
    "accepts nothing the schema rejects: a field replaced by any JSON value or removed, or any JSON value",
    [Valid, Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: FIELDS.length - 1 })), Schema.Json, Schema.Boolean, Schema.Json],
    ([valid, field, value, remove, any]) => {
      const mutated: Record<string, unknown> = { ...recordOf(valid) }
      if (remove) delete mutated[FIELDS[field]!]
      else mutated[FIELDS[field]!] = value
      for (const candidate of [mutated, any]) {
        const parsed: unknown = JSON.parse(JSON.stringify(candidate) ?? "null")
        if (looksLikeChangeRecord(parsed)) expect(isChangeRecord(parsed)).toBe(true)
      }
    },
    { arbitrary: { runs: 2_000 } }
  )

  it("rejects the usual faults: a wrong version, an LSN that is not one, a fractional index, a number as a row value, an array as an image", () => {
    const good = {
      v: 1, source: "replication", op: "insert", table: "payment", key: { payment_id: "1" }, before: null, after: { payment_id: "1" },
      unchangedToast: [], commitLsn: "0/16B3748", commitIdx: 0, xid: 7, commitTs: "2024-02-23T10:00:00.000Z"
    }
    expect(looksLikeChangeRecord(good)).toBe(true)
    expect(looksLikeChangeRecord({ ...good, v: 2 })).toBe(false)
    expect(looksLikeChangeRecord({ ...good, commitLsn: "0-16B3748" })).toBe(false)
    expect(looksLikeChangeRecord({ ...good, commitIdx: 1.5 })).toBe(false)
    expect(looksLikeChangeRecord({ ...good, after: { payment_id: 1 } })).toBe(false)
    expect(looksLikeChangeRecord({ ...good, key: ["1"] })).toBe(false)
  })
})
