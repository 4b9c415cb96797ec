/**
 * PostgreSQL log sequence numbers (LSN): the text form `"16/B374D848"` (two hex
 * halves of a 64-bit WAL position) and its value as a bigint, for ordering and math.
 *
 * Invariants: `format(parse(x))` is the canonical upper-case form of `x`; comparison
 * is numeric, never textual ("9/0" < "10/0").
 */
import { Schema } from "effect"

/** PostgreSQL's LSN text form: two hex halves of at most 8 digits. */
export const LSN_PATTERN = /^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/

/** An LSN in PostgreSQL's text form, e.g. "16/B374D848". */
export const LsnString = Schema.String.check(Schema.isPattern(LSN_PATTERN, { message: "Expected an LSN such as 16/B374D848" }))

/** The WAL position of `lsn` ("16/B374D848") as a 64-bit unsigned bigint. Throws on a malformed LSN. */
export const parseLsn = (lsn: string): bigint => {
  if (!LSN_PATTERN.test(lsn)) throw new Error(`not an LSN: ${lsn}`)
  const [high = "0", low = "0"] = lsn.split("/")
  return (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`)
}

/** The canonical text form ("16/B374D848") of a WAL position. */
export const formatLsn = (position: bigint): string =>
  `${(position >> 32n).toString(16).toUpperCase()}/${(position & 0xffffffffn).toString(16).toUpperCase()}`

/** The high (`16` of "16/B374D848") or low half of a valid LSN as a number (each half < 2^32, exact). Throws on a malformed LSN. */
const halfOf = (lsn: string, high: boolean): number => {
  if (!LSN_PATTERN.test(lsn)) throw new Error(`not an LSN: ${lsn}`)
  const slash = lsn.indexOf("/")
  return Number.parseInt(high ? lsn.slice(0, slash) : lsn.slice(slash + 1), 16)
}

/** The two 32-bit halves of `lsn` ("16/B374D848" → 0x16, 0xB374D848) as numbers, to sort many positions by numbers alone. Throws on a malformed LSN. */
export const lsnHalves = (lsn: string): { readonly high: number; readonly low: number } => ({ high: halfOf(lsn, true), low: halfOf(lsn, false) })

/**
 * Negative, zero or positive as `a` is before, at or after `b` (-1, 0, 1). Throws on a
 * malformed LSN. Compares the two 32-bit halves as numbers: no bigint and no array per call
 * (it orders every micro-batch's changes; the same order as `parseLsn(a) - parseLsn(b)`).
 */
export const compareLsn = (a: string, b: string): number => {
  // The same text is the same position (a transaction's changes share one): checked, not parsed.
  if (a === b) {
    if (!LSN_PATTERN.test(a)) throw new Error(`not an LSN: ${a}`)
    return 0
  }
  const high = halfOf(a, true) - halfOf(b, true)
  if (high !== 0) return high < 0 ? -1 : 1
  const low = halfOf(a, false) - halfOf(b, false)
  return low < 0 ? -1 : low > 0 ? 1 : 0
}

/** The later of two LSNs. */
export const maxLsn = (a: string, b: string): string => (compareLsn(a, b) >= 0 ? a : b)

/** Bytes of WAL from `from` to `to` (0 when `to` is not after `from`). */
export const lsnDistance = (from: string, to: string): bigint => {
  const d = parseLsn(to) - parseLsn(from)
  return d > 0n ? d : 0n
}

/** The zero LSN, before any WAL. */
export const ZERO_LSN = "0/0"
