/**
 * The processor's order of a micro-batch (`inCommitOrder`, Processor.ts): by commit LSN as a
 * 64-bit number, then commit index, ties in arrival order — checked against a reference that
 * sorts on `parseLsn`'s bigint with a stable sort, over random batches whose LSNs repeat (a
 * transaction's changes share one) and differ only in one half or in their digits' case.
 */
import { type ChangeRecord, parseLsn } from "@totes-cdc/core"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { inCommitOrder } from "../src/processor/Processor.ts"

const half = fc.constantFrom(0, 1, 0x16, 0xb374d848, 0xffffffff)
const lsn = fc
  .tuple(half, half, fc.boolean())
  .map(([high, low, upper]) => {
    const text = `${high.toString(16)}/${low.toString(16)}`
    return upper ? text.toUpperCase() : text
  })
const entry = fc.record({ commitLsn: lsn, commitIdx: fc.nat({ max: 3 }) })

/** Only the fields the order reads; `arrival` tells entries with the same position apart. */
const entriesOf = (positions: ReadonlyArray<{ readonly commitLsn: string; readonly commitIdx: number }>) =>
  positions.map((position, arrival) => ({ change: position as unknown as ChangeRecord, arrival }))

describe("inCommitOrder", () => {
  it("orders by (commit LSN as a number, commit index), ties in arrival order", () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 60 }), (positions) => {
        const entries = entriesOf(positions)
        const expected = [...entries].sort((a, b) => {
          const lsns = parseLsn(a.change.commitLsn) - parseLsn(b.change.commitLsn)
          return lsns < 0n ? -1 : lsns > 0n ? 1 : a.change.commitIdx - b.change.commitIdx
        })
        expect(inCommitOrder(entries).map((e) => e.arrival)).toEqual(expected.map((e) => e.arrival))
      }),
      { numRuns: 1_000 }
    )
  })

  it("compares LSNs as numbers, not as text", () => {
    const entries = entriesOf([
      { commitLsn: "10/0", commitIdx: 0 },
      { commitLsn: "9/FFFFFFFF", commitIdx: 1 },
      { commitLsn: "9/FFFFFFFF", commitIdx: 0 }
    ])
    expect(inCommitOrder(entries).map((e) => e.arrival)).toEqual([2, 1, 0])
  })

  it("throws on a malformed commit LSN", () => {
    expect(() => inCommitOrder(entriesOf([{ commitLsn: "16", commitIdx: 0 }]))).toThrow("not an LSN: 16")
  })
})
