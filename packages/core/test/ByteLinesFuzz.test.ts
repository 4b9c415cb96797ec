/**
 * core's `byteLines` (issue 16): whatever the bytes and however they arrive in chunks, the
 * lines are the file's "\n"-separated lines, byte for byte — "\r", U+2028, U+2029 and bytes
 * that are not UTF-8 included — a last line without "\n" included and no empty last line.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { byteLines } from "../src/index.ts"

/** The reference: split at every "\n"; an empty last piece is no line. */
const reference = (bytes: Uint8Array): Array<Array<number>> => {
  const pieces = Buffer.from(bytes).toString("latin1").split("\n")
  if (pieces.at(-1) === "") pieces.pop()
  return pieces.map((piece) => [...Buffer.from(piece, "latin1")])
}

async function* chunked(bytes: Uint8Array, cuts: ReadonlyArray<number>): AsyncGenerator<Uint8Array> {
  let start = 0
  for (const cut of [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)) {
    yield bytes.subarray(start, cut)
    start = cut
  }
  yield bytes.subarray(start)
}

const collect = async (lines: AsyncIterable<Uint8Array>) => {
  const out: Array<Array<number>> = []
  for await (const line of lines) out.push([...line])
  return out
}

describe("byteLines fuzzing", () => {
  it("gives the \"\\n\"-separated lines of any bytes, in any chunking", async () => {
    const byte = fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 255 }) }, { weight: 1, arbitrary: fc.constantFrom(0x0a, 0x0d) })
    await fc.assert(
      fc.asyncProperty(fc.array(byte, { maxLength: 60 }).map((b) => Uint8Array.from(b)), fc.array(fc.nat(), { maxLength: 8 }), async (bytes, cuts) => {
        expect(await collect(byteLines(chunked(bytes, cuts)))).toEqual(reference(bytes))
      }),
      { numRuns: 2000 }
    )
  })

  it("keeps \"\\r\", U+2028 and U+2029 inside their line", async () => {
    const text = "a\rb\u2028c\u2029d\r\ne\n\nf"
    expect((await collect(byteLines(chunked(Buffer.from(text), [3, 5])))).map((line) => Buffer.from(line).toString())).toEqual(["a\rb\u2028c\u2029d\r", "e", "", "f"])
  })
})
