/**
 * Test support (no production code imports it): damage done to bytes by the fuzz tests of
 * the readers of untrusted input (`*Fuzz.test.ts` in core, local-stack, stream-processors) —
 * a fast-check arbitrary of mutations and the pure function applying one.
 *
 * Invariants:
 *  - `mutateBytes` never throws and never changes its input; positions are taken modulo the
 *    input's length (any `at` is valid), and an empty input stays empty except by `insert`.
 *  - Line mutations work on "\n"-separated lines (`linesOf`) and write every line back with
 *    its "\n" (`joinLines`).
 */
import fc from "fast-check"

/** One damage to a byte string. */
export type ByteMutation =
  | { readonly kind: "truncate"; readonly at: number }
  | { readonly kind: "flip"; readonly at: number; readonly mask: number }
  | { readonly kind: "set"; readonly at: number; readonly value: number }
  | { readonly kind: "insert"; readonly at: number; readonly bytes: Uint8Array }
  | { readonly kind: "delete"; readonly at: number; readonly length: number }
  | { readonly kind: "swap"; readonly at: number; readonly other: number; readonly length: number }
  | { readonly kind: "swapLines"; readonly at: number; readonly other: number }
  | { readonly kind: "dropLine"; readonly at: number }
  | { readonly kind: "repeatLine"; readonly at: number }

/** Which damage `byteMutations` generates, beyond truncate, flip, insert and delete. */
export interface ByteMutationOptions {
  /** Pieces inserted besides random bytes (e.g. "\n", a UTF-8 lead byte, a gzip magic). */
  readonly pieces?: ReadonlyArray<Uint8Array>
  /** Longest random insert and delete, bytes. Default 6. */
  readonly maxLength?: number
  /** Values a byte may be set to (`set`); none: no `set`. */
  readonly setValues?: ReadonlyArray<number>
  /** Runs of bytes exchanged (`swap`). */
  readonly swaps?: boolean
  /** Lines swapped, dropped and repeated. */
  readonly lines?: boolean
}

/** The "\n"-separated lines of `bytes`, a last one without "\n" included (an empty last piece is no line). */
export const linesOf = (bytes: Uint8Array): Array<Uint8Array> => {
  const lines: Array<Uint8Array> = []
  let start = 0
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0x0a) {
      lines.push(bytes.subarray(start, i))
      start = i + 1
    }
  }
  if (start < bytes.length) lines.push(bytes.subarray(start))
  return lines
}

/** Every line followed by "\n". */
export const joinLines = (lines: ReadonlyArray<Uint8Array>): Uint8Array => Uint8Array.from(lines.flatMap((line) => [...line, 0x0a]))

/** The UTF-8 bytes of `text`. */
export const utf8Bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "utf8"))

/** A fast-check arbitrary of the mutations `options` asks for. */
export const byteMutations = (options: ByteMutationOptions = {}): fc.Arbitrary<ByteMutation> => {
  const maxLength = options.maxLength ?? 6
  const random = fc.uint8Array({ minLength: 1, maxLength })
  const arbitraries: Array<fc.Arbitrary<ByteMutation>> = [
    fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
    fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
    fc.record({
      kind: fc.constant("insert" as const),
      at: fc.nat(),
      bytes: options.pieces === undefined || options.pieces.length === 0 ? random : fc.oneof(random, fc.constantFrom(...options.pieces))
    }),
    fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), length: fc.integer({ min: 1, max: maxLength }) })
  ]
  if (options.setValues !== undefined && options.setValues.length > 0) {
    arbitraries.push(fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: fc.constantFrom(...options.setValues) }))
  }
  if (options.swaps === true) {
    arbitraries.push(fc.record({ kind: fc.constant("swap" as const), at: fc.nat(), other: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }))
  }
  if (options.lines === true) {
    arbitraries.push(
      fc.record({ kind: fc.constant("swapLines" as const), at: fc.nat(), other: fc.nat() }),
      fc.record({ kind: fc.constant("dropLine" as const), at: fc.nat() }),
      fc.record({ kind: fc.constant("repeatLine" as const), at: fc.nat() })
    )
  }
  return fc.oneof(...arbitraries)
}

/** Pure: `bytes` with `m` applied (a copy). */
export const mutateBytes = (bytes: Uint8Array, m: ByteMutation): Uint8Array => {
  const n = bytes.length
  const at = n === 0 ? 0 : m.at % n
  const copy = Uint8Array.from(bytes)
  switch (m.kind) {
    case "truncate":
      return copy.subarray(0, at)
    case "flip":
      if (n > 0) copy[at] = copy[at]! ^ m.mask
      return copy
    case "set":
      if (n > 0) copy[at] = m.value
      return copy
    case "insert":
      return Uint8Array.from([...copy.subarray(0, at), ...m.bytes, ...copy.subarray(at)])
    case "delete":
      return Uint8Array.from([...copy.subarray(0, at), ...copy.subarray(at + m.length)])
    case "swap": {
      // Two runs of bytes exchanged (a record moved before a table entry, …).
      if (n === 0) return copy
      const other = m.other % n
      const length = Math.min(m.length, n - Math.max(at, other))
      const run = copy.slice(at, at + length)
      copy.copyWithin(at, other, other + length)
      copy.set(run, other)
      return copy
    }
    case "swapLines":
    case "dropLine":
    case "repeatLine": {
      const lines = linesOf(copy)
      if (lines.length === 0) return copy
      const i = m.at % lines.length
      if (m.kind === "dropLine") lines.splice(i, 1)
      else if (m.kind === "repeatLine") lines.splice(i, 0, lines[i]!)
      else {
        const j = m.other % lines.length
        ;[lines[i], lines[j]] = [lines[j]!, lines[i]!]
      }
      return joinLines(lines)
    }
  }
}
