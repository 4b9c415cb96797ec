/** The one identifier helper and the one literal helper (Sql.ts): exact round trips, nothing escapes. */
import { describe, expect, it } from "vitest"
import { quoteIdent, quoteLiteral } from "../src/Sql.ts"

describe("quoteIdent", () => {
  it("double-quotes every name, keeping its case, and doubles the quotes it holds", () => {
    expect(quoteIdent("transaction")).toBe('"transaction"')
    expect(quoteIdent("Totes CDC")).toBe('"Totes CDC"')
    expect(quoteIdent('a"; DROP TABLE x; --')).toBe('"a""; DROP TABLE x; --"')
  })
})

describe("quoteLiteral", () => {
  it("single-quotes the text and doubles the quotes it holds; backslashes stay as they are", () => {
    expect(quoteLiteral("00000003-00000002-1")).toBe("'00000003-00000002-1'")
    expect(quoteLiteral("it's")).toBe("'it''s'")
    expect(quoteLiteral("a\\'b")).toBe("'a\\''b'")
  })

  it("refuses a NUL character, which no PostgreSQL text holds", () => {
    expect(() => quoteLiteral("a\u0000b")).toThrow(RangeError)
  })
})
