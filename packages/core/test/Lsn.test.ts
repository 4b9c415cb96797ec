/** LSN order (Lsn.ts): `compareLsn` agrees with the bigint positions `parseLsn` defines, for any pair, and refuses what is not an LSN. */
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { compareLsn, formatLsn, lsnHalves, parseLsn } from "../src/Lsn.ts"

const half = fc.oneof(fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff), fc.nat({ max: 0xffffffff }))
/** A half as LSN text: hex in either case, with leading zeros up to 8 digits or none. */
const hex = (value: number, lower: boolean, zeros: number) => {
  const digits = value.toString(16)
  const text = digits.padStart(Math.min(8, digits.length + zeros), "0")
  return lower ? text.toLowerCase() : text.toUpperCase()
}
const lsn = fc
  .tuple(half, half, fc.boolean(), fc.nat({ max: 3 }))
  .map(([high, low, lower, zeros]) => `${hex(high, lower, zeros)}/${hex(low, !lower, zeros)}`)

describe("compareLsn", () => {
  it("orders as the 64-bit positions do, numerically and never as text", () => {
    fc.assert(
      fc.property(lsn, lsn, (a, b) => {
        const d = parseLsn(a) - parseLsn(b)
        expect(compareLsn(a, b)).toBe(d < 0n ? -1 : d > 0n ? 1 : 0)
      }),
      { numRuns: 2_000 }
    )
    expect(compareLsn("9/0", "10/0")).toBe(-1)
    expect(compareLsn("0/FF", "0/100")).toBe(-1)
    expect(compareLsn("1/0", "0/FFFFFFFF")).toBe(1)
    expect(compareLsn("0/a", "0/A")).toBe(0)
    fc.assert(fc.property(lsn, (a) => compareLsn(a, a) === 0))
    expect(compareLsn(formatLsn(parseLsn("00000016/00B374D8")), "16/B374D8")).toBe(0)
  })

  it("throws on a malformed LSN, whichever side it is on", () => {
    for (const bad of ["", "16", "16/", "/1", "16/B374D848X", "G/0", "1/2/3", "123456789/0"]) {
      expect(() => compareLsn(bad, "0/0"), bad).toThrow(`not an LSN: ${bad}`)
      expect(() => compareLsn("0/0", bad), bad).toThrow(`not an LSN: ${bad}`)
      expect(() => compareLsn(bad, bad), bad).toThrow(`not an LSN: ${bad}`)
    }
  })

  it("lsnHalves: ordering by (high, low) as numbers is compareLsn's order", () => {
    fc.assert(
      fc.property(lsn, lsn, (a, b) => {
        const [x, y] = [lsnHalves(a), lsnHalves(b)]
        expect(Math.sign(x.high - y.high || x.low - y.low)).toBe(compareLsn(a, b))
      }),
      { numRuns: 2_000 }
    )
    expect(lsnHalves("16/B374D848")).toEqual({ high: 0x16, low: 0xb374d848 })
    expect(() => lsnHalves("16")).toThrow("not an LSN: 16")
  })
})
