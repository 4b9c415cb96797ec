import { type Pgoutput, parseXLogData, type ReplicationMessage, TextPgoutputPlugin } from "@totes-cdc/platform"
import { Cause, Effect, Exit, Option, Result, Stream } from "effect"
import { describe, expect, it } from "vitest"
import { DecodeError, type DecoderState, canonicalLsn, decode, decodeMessages, decodeStream, initialDecoderState, isoFromMicros } from "../src/Decoder.ts"
import type { SourceItem } from "../src/ProducerPlan.ts"
import { beginMessage, commitMessage, insertMessage, relationMessage, truncateMessage, updateMessage } from "./PgoutputWire.ts"

const relation = (name: string, columns: ReadonlyArray<string>, keyColumns: ReadonlyArray<string>): Pgoutput.MessageRelation => ({
  tag: "relation",
  relationOid: 1,
  schema: "public",
  name,
  replicaIdentity: "default",
  columns: columns.map((c) => ({ name: c, flags: keyColumns.includes(c) ? 1 : 0, typeOid: 25, typeMod: -1, typeSchema: null, typeName: null, parser: (v: unknown) => v })),
  keyColumns: [...keyColumns]
})

const payment = relation("payment", ["payment_id", "paid", "last_updated"], ["payment_id"])
const design = relation("design", ["design_id", "design_name", "file_name"], ["design_id"])

// 2024-02-23T10:01:02.345678Z in microseconds since the Unix epoch
const COMMIT_TIME = 1708682462345678n

const run = (messages: ReadonlyArray<Pgoutput.Message>): ReadonlyArray<SourceItem> => {
  let state: DecoderState = initialDecoderState
  const out: Array<SourceItem> = []
  for (const message of messages) {
    const [next, items] = Result.getOrThrow(decode(state, { lsn: "0/0", message }))
    state = next
    out.push(...items)
  }
  return out
}

const begin: Pgoutput.MessageBegin = { tag: "begin", commitLsn: "00000016/B374D848", commitTime: COMMIT_TIME, xid: 901 }
const commit: Pgoutput.MessageCommit = { tag: "commit", flags: 0, commitLsn: "00000016/B374D848", commitEndLsn: "00000016/B374D878", commitTime: COMMIT_TIME }

describe("decode", () => {
  it("turns a transaction into change records in WAL order, then one Durable marker at the commit's end", () => {
    const items = run([
      begin,
      payment,
      { tag: "insert", relation: payment, new: { payment_id: "7", paid: "f", last_updated: "2024-02-23 10:01:02.345" } },
      { tag: "update", relation: payment, key: null, old: null, new: { payment_id: "7", paid: "t", last_updated: "2024-02-23 10:05:00.000" } },
      { tag: "delete", relation: payment, key: { payment_id: "7" }, old: null },
      commit
    ])
    expect(items).toEqual([
      {
        _tag: "Change",
        record: {
          v: 1, source: "replication", op: "insert", table: "payment", key: { payment_id: "7" }, before: null,
          after: { payment_id: "7", paid: "f", last_updated: "2024-02-23 10:01:02.345" }, unchangedToast: [],
          commitLsn: "16/B374D848", commitIdx: 0, xid: 901, commitTs: "2024-02-23T10:01:02.345678Z"
        }
      },
      {
        _tag: "Change",
        record: {
          v: 1, source: "replication", op: "update", table: "payment", key: { payment_id: "7" }, before: null,
          after: { payment_id: "7", paid: "t", last_updated: "2024-02-23 10:05:00.000" }, unchangedToast: [],
          commitLsn: "16/B374D848", commitIdx: 1, xid: 901, commitTs: "2024-02-23T10:01:02.345678Z"
        }
      },
      {
        _tag: "Change",
        record: {
          v: 1, source: "replication", op: "delete", table: "payment", key: { payment_id: "7" }, before: { payment_id: "7" },
          after: null, unchangedToast: [], commitLsn: "16/B374D848", commitIdx: 2, xid: 901, commitTs: "2024-02-23T10:01:02.345678Z"
        }
      },
      { _tag: "Durable", lsn: "16/B374D878" }
    ])
  })

  it("lists an unchanged TOASTed column instead of writing null for it", () => {
    const [update] = run([
      begin,
      { tag: "update", relation: design, key: null, old: null, new: { design_id: "3", design_name: "Steel", file_name: undefined } },
      commit
    ])
    expect(update).toMatchObject({ record: { after: { design_id: "3", design_name: "Steel" }, unchangedToast: ["file_name"] } })
    expect(update?._tag === "Change" && "file_name" in (update.record.after ?? {})).toBe(false)
  })

  it("keeps a real SQL NULL as null", () => {
    const [insert] = run([begin, { tag: "insert", relation: design, new: { design_id: "4", design_name: null, file_name: "x.json" } }, commit])
    expect(insert).toMatchObject({ record: { after: { design_id: "4", design_name: null, file_name: "x.json" }, unchangedToast: [] } })
  })

  it("emits one truncate record per truncated table, keyed by nothing", () => {
    const items = run([begin, { tag: "truncate", cascade: false, restartIdentity: false, relations: [payment, design] }, commit])
    expect(items.map((i) => (i._tag === "Change" ? [i.record.op, i.record.table, i.record.key, i.record.commitIdx] : i.lsn))).toEqual([
      ["truncate", "payment", {}, 0],
      ["truncate", "design", {}, 1],
      "16/B374D878"
    ])
  })

  it("gives a heartbeat transaction (a logical message only) just its Durable marker", () => {
    const items = run([
      begin,
      { tag: "message", flags: 1, transactional: true, messageLsn: "00000016/B374D850", prefix: "totes-cdc-heartbeat", content: new Uint8Array() },
      commit
    ])
    expect(items).toEqual([{ _tag: "Durable", lsn: "16/B374D878" }])
  })

  it("answers a change outside a transaction as a DecodeError value naming its position, without throwing", () => {
    const step = decode(initialDecoderState, {
      lsn: "00000016/B374D900",
      message: { tag: "insert", relation: payment, new: { payment_id: "1", paid: "f", last_updated: "x" } }
    })
    expect(Result.isFailure(step)).toBe(true)
    const error = Result.isFailure(step) ? step.failure : undefined
    expect(error).toBeInstanceOf(DecodeError)
    expect(error).toMatchObject({ _tag: "DecodeError", lsn: "16/B374D900", messageTag: "insert" })
    expect(error?.message).toBe("pgoutput insert at 16/B374D900 outside a transaction")
  })

  it("decodes a chunk of messages as one step, in order, or fails it at the first message out of place", () => {
    const messages = (list: ReadonlyArray<Pgoutput.Message>): ReadonlyArray<ReplicationMessage> => list.map((message) => ({ lsn: "0/0", message }))
    const insert: Pgoutput.Message = { tag: "insert", relation: payment, new: { payment_id: "7", paid: "f", last_updated: "x" } }
    const whole = decodeMessages(initialDecoderState, messages([begin, insert, commit, begin]))
    expect(Result.isSuccess(whole) && whole.success[1].map((item) => item._tag)).toEqual(["Change", "Durable"])
    expect(Result.isSuccess(whole) && whole.success[0].txn?.xid).toBe(901)
    const broken = decodeMessages(initialDecoderState, messages([begin, insert, commit, insert]))
    expect(Result.isFailure(broken) && broken.failure._tag).toBe("DecodeError")
  })
})

describe("decodeStream", () => {
  const at = (lsn: string, message: Pgoutput.Message): ReplicationMessage => ({ lsn, message })
  const insert = (id: string): Pgoutput.Message => ({ tag: "insert", relation: payment, new: { payment_id: id, paid: "f", last_updated: "x" } })

  it("decodes a message stream across chunks, keeping the transaction between them", async () => {
    const items = await Effect.runPromise(
      Stream.fromIterable([at("0/1", begin), at("0/2", insert("1")), at("0/3", insert("2")), at("0/4", commit)]).pipe(
        Stream.rechunk(1),
        decodeStream,
        Stream.runCollect
      )
    )
    expect(items.map((item) => (item._tag === "Change" ? item.record.commitIdx : item.lsn))).toEqual([0, 1, "16/B374D878"])
  })

  it("fails the stream with a typed DecodeError (a Fail in the Cause, not a Die) on a malformed message", async () => {
    const exit = await Effect.runPromiseExit(
      Stream.fromIterable([at("0/1", begin), at("0/2", insert("1")), at("0/3", commit), at("00000016/B374D900", insert("2"))]).pipe(
        decodeStream,
        Stream.runCollect
      )
    )
    expect(Exit.isFailure(exit)).toBe(true)
    if (Exit.isSuccess(exit)) return
    expect(Cause.hasDies(exit.cause)).toBe(false)
    expect(Cause.hasFails(exit.cause)).toBe(true)
    const error = Option.getOrUndefined(Cause.findErrorOption(exit.cause))
    expect(error).toBeInstanceOf(DecodeError)
    expect(error).toMatchObject({ _tag: "DecodeError", lsn: "16/B374D900", messageTag: "insert" })
  })
})

describe("isoFromMicros", () => {
  it("keeps microseconds", () => {
    expect(isoFromMicros(COMMIT_TIME)).toBe("2024-02-23T10:01:02.345678Z")
    expect(isoFromMicros(1708682462000001n)).toBe("2024-02-23T10:01:02.000001Z")
  })

  it("gives the same text for consecutive commits within and across seconds (the memo of the last second)", () => {
    expect(
      [1708682462999999n, 1708682462000000n, 1708682463000000n, 1708682462500000n, 1708682399000042n, 0n, 946684800000000n].map(isoFromMicros)
    ).toEqual([
      "2024-02-23T10:01:02.999999Z",
      "2024-02-23T10:01:02.000000Z",
      "2024-02-23T10:01:03.000000Z",
      "2024-02-23T10:01:02.500000Z",
      "2024-02-23T09:59:59.000042Z",
      "1970-01-01T00:00:00.000000Z",
      "2000-01-01T00:00:00.000000Z"
    ])
  })
})

describe("canonicalLsn", () => {
  it("drops the parser's zero padding, as formatLsn writes LSNs", () => {
    expect(canonicalLsn("00000016/B374D848")).toBe("16/B374D848")
    expect(canonicalLsn("00000000/00000000")).toBe("0/0")
    expect(canonicalLsn("00000000/0A000010")).toBe("0/A000010")
  })
})

/**
 * Defects PgoutputFuzz.test.ts found, each through the bytes PostgreSQL would send (the
 * library's parser, as the reader runs it): every one threw or decoded wrongly before its fix.
 */
describe("decode, found by fuzzing", () => {
  const options = { protoVersion: 1 as const, publicationNames: ["p"], messages: true }
  const decodeAll = (payloads: ReadonlyArray<Buffer>) => {
    const plugin = new TextPgoutputPlugin(options)
    let state: DecoderState = initialDecoderState
    const items: Array<SourceItem> = []
    for (const [i, bytes] of payloads.entries()) {
      const step = decode(state, Result.getOrThrow(parseXLogData(plugin, `16/B374D8${40 + i}`, bytes)))
      if (Result.isFailure(step)) return { items, error: step.failure }
      state = step.success[0]
      items.push(...step.success[1])
    }
    return { items, error: undefined }
  }
  const changes = (items: ReadonlyArray<SourceItem>) => items.flatMap((item) => (item._tag === "Change" ? [item.record] : []))
  const BEGIN = beginMessage(0x16b374d848n, COMMIT_TIME, 901)

  it("a truncate of a relation no Relation message described is a DecodeError naming its LSN (it threw a TypeError)", () => {
    // counterexample: Truncate of 1 relation, OID 0x4001, never described
    const { error } = decodeAll([BEGIN, truncateMessage([0x4001])])
    expect(error).toBeInstanceOf(DecodeError)
    expect(error).toMatchObject({ lsn: "16/B374D841", messageTag: "truncate", message: "pgoutput truncate at 16/B374D841 names a relation no Relation message described" })
  })

  it("a begin whose commit time no Date can hold is a DecodeError naming its LSN (it threw a RangeError)", () => {
    // counterexample: a Begin whose commit time is 0xEF02B50867FBD9CE µs after 2000-01-01 (a flipped high byte)
    const bytes = Buffer.from("4200000016b374d848ef02b50867fbd9ce00000385", "hex")
    const { error } = decodeAll([bytes])
    expect(error).toBeInstanceOf(DecodeError)
    expect(error).toMatchObject({ lsn: "16/B374D840", messageTag: "begin" })
    expect(error?.message).toBe("pgoutput begin at 16/B374D840 has commit time 17223473657527122382 µs since 1970, which no ISO-8601 date can hold")
    // the last microsecond a Date holds still decodes
    expect(decodeAll([beginMessage(1n, 8_640_000_000_000_000_999n, 1)]).error).toBeUndefined()
  })

  it("keeps a transaction id of 2^31 or more unsigned, as PostgreSQL numbers it (it came out negative)", () => {
    // counterexample: xid 2147483648
    const { items } = decodeAll([beginMessage(0n, 946684800000000n, 2147483648), relationMessage(1, "a", ["_"], []), updateMessage(1, [null]), commitMessage(0n, 0n, 946684800000000n)])
    expect(changes(items).map((change) => change.xid)).toEqual([2147483648])
  })

  it("keeps a column named __proto__ in the row images (it was dropped)", () => {
    // counterexample: relation payment_type (__l, __proto__), an update whose __l is unchanged TOAST
    const { items } = decodeAll([
      BEGIN,
      relationMessage(16384, "payment_type", ["__l", "__proto__"], []),
      updateMessage(16384, [undefined, ""]),
      insertMessage(16384, ["1", "x"])
    ])
    const [update, insert] = changes(items)
    expect(JSON.stringify(update?.after)).toBe('{"__proto__":""}')
    expect(update?.unchangedToast).toEqual(["__l"])
    expect(JSON.stringify(insert?.after)).toBe('{"__l":"1","__proto__":"x"}')
  })
})
