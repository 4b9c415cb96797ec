/**
 * The processor benchmark reads each micro-batch's size from the processor's Debug line
 * (`MICRO_BATCH_LINE` against Processor.ts's `microBatchLine`): the two must agree, or the
 * benchmark fails at its first repetition ("the processor logged no micro-batch line") —
 * as it did for two stops once the line lost its page count.
 */
import { microBatchLine } from "@totes-cdc/stream-processors"
import { describe, expect, it } from "vitest"
import { MICRO_BATCH_LINE } from "./ProcessorThroughput.ts"

describe("MICRO_BATCH_LINE", () => {
  it("reads pages, changes and rows from the line of a micro-batch read from pages", () => {
    const line = microBatchLine("0000012-abc", "3 pages", { changes: 37_500, rows: 38_012, objects: 11, deadLetters: 0 })
    const match = MICRO_BATCH_LINE.exec(line)
    expect(match?.slice(1)).toEqual(["0000012-abc", "3", "37500", "38012", "11", "0"])
  })

  it("does not take a snapshot chunk's micro-batch for one read from pages", () => {
    expect(MICRO_BATCH_LINE.test(microBatchLine("chunk-1", "1 snapshot chunk", { changes: 5_000, rows: 5_000, objects: 1, deadLetters: 0 }))).toBe(false)
  })
})
