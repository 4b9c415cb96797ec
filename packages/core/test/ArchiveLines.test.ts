import { describe, expect, it } from "@effect/vitest"
import { archiveLines } from "../src/ByteLines.ts"

const text = (lines: ReadonlyArray<Uint8Array>) => lines.map((line) => new TextDecoder().decode(line))
const bytes = (s: string) => new TextEncoder().encode(s)

describe("archiveLines", () => {
  it("splits at every newline; the final newline ends the last line", () => {
    expect(text(archiveLines(bytes("a\nbb\n")))).toEqual(["a", "bb"])
    expect(text(archiveLines(bytes("a\nbb")))).toEqual(["a", "bb"])
    expect(text(archiveLines(bytes("a\n\nb\n")))).toEqual(["a", "", "b"])
    expect(text(archiveLines(bytes("\n")))).toEqual([""])
    expect(archiveLines(new Uint8Array())).toEqual([])
  })
})
