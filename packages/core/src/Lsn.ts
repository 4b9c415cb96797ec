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

/** Negative, zero or positive as `a` is before, at or after `b`. */
export const compareLsn = (a: string, b: string): number => {
  const d = parseLsn(a) - parseLsn(b)
  return d < 0n ? -1 : d > 0n ? 1 : 0
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
