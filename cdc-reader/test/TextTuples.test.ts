/**
 * The reader's pgoutput parser (platform's TextPgoutputPlugin) reads tuples itself, for
 * speed: it must give exactly what pg-logical-replication's own parser gives with text
 * values kept as text — same columns, same order, same values (UTF-8, a leading BOM
 * dropped as TextDecoder drops it, SQL NULL, unchanged TOAST, binary) — so the change
 * records on the wire do not change.
 */
import { TextPgoutputPlugin } from "@totes-cdc/platform"
import { PgoutputPlugin } from "pg-logical-replication"
import { Result } from "effect"
import { describe, expect, it } from "vitest"
import { decode, initialDecoderState } from "../src/Decoder.ts"
import { encodeChangeRecord } from "@totes-cdc/core"
import { beginMessage, commitMessage, deleteMessage, insertMessage, relationMessage, updateMessage, type WireValue } from "./PgoutputWire.ts"

const options = { protoVersion: 1 as const, publicationNames: ["p"], messages: true }
const columns = ["id", "name", "note", "data"]
const values: ReadonlyArray<WireValue> = ["7", "é€😀 \"quoted\"\n", "\uFEFFbom first", ""]

/** Both parsers, having seen the same relation message. */
const parsers = () => {
  const ours = new TextPgoutputPlugin(options)
  const stock = new PgoutputPlugin(options) // text (OID 25) values: node-postgres' text parser, the identity
  for (const plugin of [ours, stock]) plugin.parse(relationMessage(16384, "gadget", columns, ["id"]))
  return { ours, stock }
}

const entries = (tuple: Record<string, unknown> | null | undefined) => (tuple == null ? tuple : Object.entries(tuple))

describe("TextPgoutputPlugin tuples", () => {
  it("reads an insert as an ordinary object with the library's columns, order and values", () => {
    const { ours, stock } = parsers()
    const message = insertMessage(16384, values)
    const mine = ours.parse(message)
    const theirs = stock.parse(message)
    if (mine.tag !== "insert" || theirs.tag !== "insert") throw new Error("not an insert")
    expect(Object.getPrototypeOf(mine.new)).toBe(Object.prototype)
    expect(entries(mine.new)).toEqual(entries(theirs.new))
    expect(entries(mine.new)).toEqual([
      ["id", "7"],
      ["name", "é€😀 \"quoted\"\n"],
      ["note", "bom first"], // TextDecoder drops a leading BOM; so must we
      ["data", ""]
    ])
  })

  it("keeps SQL NULL as null, unchanged TOAST as undefined (or the old tuple's value), binary as bytes", () => {
    const { ours, stock } = parsers()
    const cases = [
      updateMessage(16384, ["7", null, undefined, Uint8Array.of(1, 2, 3)]),
      updateMessage(16384, ["7", "new", undefined, null], ["7", "old", "kept", null]),
      deleteMessage(16384, ["7", null, null, null])
    ]
    for (const message of cases) {
      const mine = ours.parse(message)
      const theirs = stock.parse(message)
      expect(mine.tag).toBe(theirs.tag)
      if (mine.tag === "update" && theirs.tag === "update") {
        expect(entries(mine.new)).toEqual(entries(theirs.new))
        expect(entries(mine.old)).toEqual(entries(theirs.old))
      } else if (mine.tag === "delete" && theirs.tag === "delete") {
        expect({ ...mine.key }).toEqual({ ...theirs.key })
      } else throw new Error(`unexpected ${mine.tag}`)
    }
    const [first, second] = cases.map((message) => ours.parse(message))
    expect(first?.tag === "update" && entries(first.new)).toEqual([
      ["id", "7"],
      ["name", null],
      ["note", undefined],
      ["data", Buffer.from([1, 2, 3])]
    ])
    expect(second?.tag === "update" && second.new.note).toBe("kept")
  })

  it("gives the same change record JSON as the library's parser", () => {
    const { ours, stock } = parsers()
    const messages = [beginMessage(0x16b374d848n, 1708682462345678n, 901), insertMessage(16384, values), commitMessage(0x16b374d848n, 0x16b374d878n, 1708682462345678n)]
    const json = (plugin: PgoutputPlugin) => {
      let state = initialDecoderState
      const out: Array<string> = []
      for (const bytes of messages) {
        const [next, items] = Result.getOrThrow(decode(state, { lsn: "0/0", message: plugin.parse(bytes) }))
        state = next
        for (const item of items) if (item._tag === "Change") out.push(encodeChangeRecord(item.record))
      }
      return out
    }
    const mine = json(ours)
    expect(mine).toEqual(json(stock))
    expect(mine).toEqual([
      '{"v":1,"source":"replication","op":"insert","table":"gadget","key":{"id":"7"},"before":null,' +
        '"after":{"id":"7","name":"é€😀 \\"quoted\\"\\n","note":"bom first","data":""},"unchangedToast":[],' +
        '"commitLsn":"16/B374D848","commitIdx":0,"xid":901,"commitTs":"2024-02-23T10:01:02.345678Z"}'
    ])
  })

  it("keeps a column named __proto__ (the library's own reader handles that relation)", () => {
    const ours = new TextPgoutputPlugin(options)
    ours.parse(relationMessage(16385, "odd", ["id", "__proto__"], ["id"]))
    const message = ours.parse(insertMessage(16385, ["1", "x"]))
    expect(message.tag === "insert" && Object.getOwnPropertyDescriptor(message.new, "__proto__")?.value).toBe("x")
  })

  // Found by fuzzing (PgoutputFuzz.test.ts): a tuple with fewer columns than its relation
  // gave an object without them, and the decoder read a missing key column named toString
  // from Object.prototype: key {"toString":"function toString() { [native code] }"}.
  it("refuses a tuple whose width is not its relation's", () => {
    const ours = new TextPgoutputPlugin(options)
    ours.parse(relationMessage(16386, "odd", ["toString", "b"], ["toString"]))
    expect(() => ours.parse(insertMessage(16386, []))).toThrow("a tuple of 0 columns for a relation of 2")
    expect(() => ours.parse(insertMessage(16386, ["1", "2", "3"]))).toThrow("a tuple of 3 columns for a relation of 2")
    expect(ours.parse(insertMessage(16386, ["1", null]))).toMatchObject({ tag: "insert", new: { toString: "1", b: null } })
  })

  it("fails on a truncated tuple instead of reading past the message", () => {
    const { ours } = parsers()
    const message = insertMessage(16384, values)
    expect(() => ours.parse(message.subarray(0, message.length - 3))).toThrow("unexpected end of message")
  })
})
