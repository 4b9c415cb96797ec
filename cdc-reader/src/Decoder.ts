/**
 * Pure: pgoutput messages → change records (envelope v1, DESIGN.md §3) and durability
 * markers, one transaction at a time. Details: cdc-reader/SPEC.md §1.
 *
 * Invariants:
 *  - Decode failures are data, never thrown: `decode` answers a `Result` (`DecodeError`:
 *    message + WAL position); `decodeStream` fails with it (typed, not a defect). Whatever
 *    message pg-logical-replication's parser makes of any bytes decodes or fails so — a
 *    change outside a transaction, a truncate of a relation no Relation message described,
 *    a commit time no ISO-8601 date can hold (cdc-reader/test/PgoutputFuzz.test.ts).
 *  - `xid` is PostgreSQL's unsigned 32-bit transaction id (the library reads it signed).
 *  - Every column of a tuple is in its row image, whatever its name (`__proto__` too).
 *  - Every change carries its commit LSN and a 0-based `commitIdx` in WAL order:
 *    (commitLsn, commitIdx) is unique and totally ordered.
 *  - After a transaction's last change comes one `Durable` marker at the commit's end LSN.
 *  - Keys are the table's primary key (core's PRIMARY_KEY), whatever the replica identity.
 *  - An unchanged TOASTed column is listed in `unchangedToast`, never written as null.
 *  - Logical messages (heartbeats) produce no change, only their transaction's marker.
 */
import { PRIMARY_KEY, type RowImage, formatLsn, isTotesysTable, parseLsn } from "@totes-cdc/core"
import type { Pgoutput, ReplicationMessage } from "@totes-cdc/platform"
import { Effect, Result, Schema, Stream } from "effect"

import type { SourceItem } from "./ProducerPlan.ts"

/** The transaction being decoded, if any. */
export interface DecoderState {
  readonly txn: { readonly commitLsn: string; readonly commitTs: string; readonly xid: number; readonly nextIdx: number } | null
}

export const initialDecoderState: DecoderState = { txn: null }

/**
 * A protocol message arrived where it cannot (e.g. a change outside BEGIN … COMMIT).
 * `message`: one line naming the problem; `lsn`: the WAL position (canonical text form,
 * e.g. "16/B374D848") of the XLogData that carried the message; `messageTag`: the
 * pgoutput message's tag (`insert`, `update`, …).
 */
export class DecodeError extends Schema.TaggedError<DecodeError>()("DecodeError", {
  message: Schema.String,
  lsn: Schema.String,
  messageTag: Schema.String
}) {}

/** The decoder's state after a message, and the items (change records, markers) the message produced, in order. */
export type DecodeStep = readonly [state: DecoderState, items: ReadonlyArray<SourceItem>]

const stripZeros = (hex: string): string => {
  let i = 0
  while (i < hex.length - 1 && hex[i] === "0") i++
  return i === 0 ? hex : hex.slice(i)
}

/** "00000016/B374D848" (the parser's padded, upper-case form) → "16/B374D848" (core's formatLsn form). */
export const canonicalLsn = (lsn: string): string => {
  const slash = lsn.indexOf("/")
  return slash < 0 ? formatLsn(parseLsn(lsn)) : `${stripZeros(lsn.slice(0, slash))}/${stripZeros(lsn.slice(slash + 1))}`
}

/** The last whole second `isoFromMicros` formatted, and its "YYYY-MM-DDTHH:MM:SS." (a memo: consecutive commits share it). */
let memoSecond = Number.NaN
let memoPrefix = ""

/** The last microsecond since the Unix epoch a Date, and so `isoFromMicros`, can hold (+275760-09-13T00:00:00.000999Z). */
const MAX_DATE_MICROS = 8_640_000_000_000_000_999n

/** Whether `isoFromMicros` formats `micros`: from the epoch to the last millisecond of a Date. */
export const isIsoMicros = (micros: bigint): boolean => micros >= 0n && micros <= MAX_DATE_MICROS

/** Microseconds since the Unix epoch → ISO-8601 UTC with microseconds. Only for `isIsoMicros` values (others throw a RangeError or come out wrong). */
export const isoFromMicros = (micros: bigint): string => {
  const n = Number(micros)
  if (n >= 0 && n <= Number.MAX_SAFE_INTEGER) {
    // exact in doubles (years 1970–2255)
    const second = Math.floor(n / 1_000_000)
    if (second !== memoSecond) {
      memoPrefix = new Date(second * 1000).toISOString().slice(0, 20)
      memoSecond = second
    }
    return `${memoPrefix}${String(n - second * 1_000_000).padStart(6, "0")}Z`
  }
  const iso = new Date(Number(micros / 1000n)).toISOString()
  const extra = (micros % 1000n).toString().padStart(3, "0")
  return `${iso.slice(0, -1)}${extra}Z`
}

type Tuple = Record<string, unknown>

/** Sets `column` of a row image being built, as an own property even when it is named `__proto__`. */
const setColumn = (image: Record<string, string | null>, column: string, value: string | null): void => {
  if (column === "__proto__") Object.defineProperty(image, column, { value, enumerable: true, writable: true, configurable: true })
  else image[column] = value
}

/**
 * Whether `tuple` can be the row image as it is: an ordinary object (the platform's
 * text tuples) whose every value is text or null, i.e. no unchanged TOAST column.
 */
const isTextImage = (tuple: Tuple): tuple is RowImage => {
  if (Object.getPrototypeOf(tuple) !== Object.prototype) return false
  for (const column in tuple) {
    const value = tuple[column]
    if (value !== null && typeof value !== "string") return false
  }
  return true
}

/**
 * Text image of a tuple; columns PostgreSQL left out (unchanged TOAST) go to `missing`.
 * A tuple that already is a text image is used as it is (not copied: nothing mutates it).
 */
const image = (tuple: Tuple, missing?: Array<string>): RowImage => {
  if (isTextImage(tuple)) return tuple
  const out: Record<string, string | null> = {}
  for (const column in tuple) {
    const value = tuple[column]
    if (value === undefined) missing?.push(column)
    else setColumn(out, column, value === null ? null : String(value))
  }
  return out
}

const keyOf = (relation: Pgoutput.MessageRelation, first: Tuple | null, second: Tuple | null = null): RowImage => {
  const columns = isTotesysTable(relation.name) ? [PRIMARY_KEY[relation.name]] : relation.keyColumns
  const key: Record<string, string | null> = {}
  for (const column of columns) {
    const value = first?.[column] ?? second?.[column]
    setColumn(key, column, value === undefined || value === null ? null : String(value))
  }
  return key
}

type Op = "insert" | "update" | "delete" | "truncate"

/** The `unchangedToast` of every change without unchanged TOAST columns (shared, frozen). */
const NO_COLUMNS: ReadonlyArray<string> = Object.freeze([])

const change = (
  txn: NonNullable<DecoderState["txn"]>,
  idx: number,
  table: string,
  op: Op,
  key: RowImage,
  before: RowImage | null,
  after: RowImage | null,
  unchangedToast: ReadonlyArray<string>
): SourceItem => ({
  _tag: "Change",
  record: {
    v: 1,
    source: "replication",
    op,
    table,
    key,
    before,
    after,
    unchangedToast,
    commitLsn: txn.commitLsn,
    commitIdx: idx,
    xid: txn.xid,
    commitTs: txn.commitTs
  }
})

/** The items of a step that emits nothing (shared, frozen). */
const NO_ITEMS: ReadonlyArray<SourceItem> = Object.freeze([])

/** The WAL position of a failed message, canonical when it has PostgreSQL's form (never throws). */
const positionOf = (lsn: string): string => (lsn.includes("/") ? canonicalLsn(lsn) : lsn)

/**
 * Decodes one message (`lsn`: the WAL position of its XLogData; `message`: the parsed
 * pgoutput message) in `state`. Answers `Result.succeed([next state, items])` — items in
 * WAL order, possibly none — or `Result.fail(DecodeError)` on a change (insert, update,
 * delete, truncate) outside a transaction, a truncate of a relation the stream never
 * described, or a begin whose commit time is outside what an ISO-8601 date can hold.
 * Never throws.
 */
export const decode = (state: DecoderState, { lsn, message }: ReplicationMessage): Result.Result<DecodeStep, DecodeError> => {
  const failure = (problem: string) => {
    const at = positionOf(lsn)
    return Result.fail(new DecodeError({ message: `pgoutput ${message.tag} at ${at} ${problem}`, lsn: at, messageTag: message.tag }))
  }
  switch (message.tag) {
    case "begin": {
      const micros = message.commitTime as bigint
      if (!isIsoMicros(micros)) return failure(`has commit time ${micros} µs since 1970, which no ISO-8601 date can hold`)
      return Result.succeed([
        {
          txn: {
            commitLsn: canonicalLsn(message.commitLsn ?? "0/0"),
            commitTs: isoFromMicros(micros),
            xid: message.xid >>> 0,
            nextIdx: 0
          }
        },
        NO_ITEMS
      ])
    }
    case "commit":
      return Result.succeed([{ txn: null }, [{ _tag: "Durable", lsn: canonicalLsn(message.commitEndLsn ?? message.commitLsn ?? "0/0") }]])
    case "insert":
    case "update":
    case "delete":
    case "truncate": {
      const txn = state.txn
      if (txn === null) return failure("outside a transaction")
      // the library answers undefined for a relation OID no Relation message described
      if (message.tag === "truncate" && message.relations.some((relation) => relation === undefined)) {
        return failure("names a relation no Relation message described")
      }
      const items = changesOf(txn, message)
      return Result.succeed([{ txn: { ...txn, nextIdx: txn.nextIdx + items.length } }, items])
    }
    default:
      // relation, type, origin, message (heartbeats): nothing to emit
      return Result.succeed([state, NO_ITEMS])
  }
}

/**
 * Decodes `messages` (a chunk, in WAL order) from `state`: the state after the last one
 * and every item they produced, in order — or the `DecodeError` of the first message that
 * does not decode (the items of the messages before it in the chunk are dropped with it).
 */
export const decodeMessages = (state: DecoderState, messages: ReadonlyArray<ReplicationMessage>): Result.Result<DecodeStep, DecodeError> => {
  let current = state
  const out: Array<SourceItem> = []
  for (let i = 0; i < messages.length; i++) {
    const step = decode(current, messages[i]!)
    if (Result.isFailure(step)) return step
    const [next, items] = step.success
    current = next
    for (let j = 0; j < items.length; j++) out.push(items[j]!)
  }
  return Result.succeed([current, out])
}

/**
 * The items of a slot's message stream (`ReplicationMessage`s in WAL order, starting
 * outside any transaction), decoded one chunk at a time. Fails with the messages' own
 * error `E`, or with `DecodeError` — a typed failure, never a defect — at the first
 * message that does not decode.
 */
export const decodeStream = <E, R>(messages: Stream.Stream<ReplicationMessage, E, R>): Stream.Stream<SourceItem, E | DecodeError, R> =>
  Stream.mapAccumArrayEffect(messages, (): DecoderState => initialDecoderState, (state, chunk) => Effect.fromResult(decodeMessages(state, chunk)))

const changesOf = (
  txn: NonNullable<DecoderState["txn"]>,
  message: Pgoutput.MessageInsert | Pgoutput.MessageUpdate | Pgoutput.MessageDelete | Pgoutput.MessageTruncate
): ReadonlyArray<SourceItem> => {
  const idx = txn.nextIdx
  switch (message.tag) {
    case "insert":
      return [change(txn, idx, message.relation.name, "insert", keyOf(message.relation, message.new), null, image(message.new), NO_COLUMNS)]
    case "update": {
      const unchanged: Array<string> = []
      const after = image(message.new, unchanged)
      const old = message.old ?? message.key
      return [
        change(
          txn,
          idx,
          message.relation.name,
          "update",
          keyOf(message.relation, message.new, old),
          old === null ? null : image(old),
          after,
          unchanged.length === 0 ? NO_COLUMNS : unchanged
        )
      ]
    }
    case "delete": {
      const old = message.old ?? message.key ?? {}
      return [change(txn, idx, message.relation.name, "delete", keyOf(message.relation, old), image(old), null, NO_COLUMNS)]
    }
    case "truncate":
      return message.relations.map((relation, i) => change(txn, idx + i, relation.name, "truncate", {}, null, null, NO_COLUMNS))
  }
}
