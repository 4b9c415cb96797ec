/**
 * The dead letter (DESIGN.md §4): a record a stage cannot pass on, parked with what it
 * takes to inspect and replay it, as one JSON object at `dlq/<stage>/YYYY/MM/DD/<id>.json`
 * in the ingestion bucket. One format and one id policy for every stage; the writer is
 * platform's `DeadLetters` service, the readers are `totes-cdc status` and operators.
 *
 * Invariants:
 *  - The body holds the ORIGINAL bytes (base64, so any bytes survive), the error, the
 *    position, the time it was parked, and the stage's own locating fields (`origin`:
 *    e.g. shard, sequence number), never anything else.
 *  - The id is name-based (RFC 9562 version 5 layout: SHA-1 of stage, position and error)
 *    and the date folder is the caller's `filedAt` (a date of the record, not of the
 *    attempt): parking the same record again for the same reason — a retried micro-batch,
 *    a restarted reader — overwrites its letter instead of adding a copy.
 */
import { createHash } from "node:crypto"

/** Where parked records go in the ingestion bucket. */
export const DEAD_LETTER_PREFIX = "dlq/"

/** A record a stage cannot pass on. */
export interface DeadLetter {
  /** The stage that parks it, e.g. "reader", "processor". */
  readonly stage: string
  /** The original bytes (the change record's JSON, or whatever the Kinesis record held). */
  readonly bytes: Uint8Array
  /** Why it was parked, one line. */
  readonly error: string
  /** Where it comes from, one line (e.g. `sales_order 7 at 0/1A2B/3`, `shardId-…/<seq>/<sub>`). */
  readonly position: string
  /** The stage's own locating fields, written into the body as they are. */
  readonly origin?: Readonly<Record<string, string | number | null>>
  /** The date its folder is named after (UTC): a date of the record, so a retry files it in the same place. */
  readonly filedAt: Date
}

/** The JSON body of a letter's object. */
export interface DeadLetterObject {
  readonly stage: string
  readonly error: string
  readonly position: string
  /** When it was parked, ISO-8601 UTC. */
  readonly parkedAt: string
  /** Length of the original bytes. */
  readonly size: number
  readonly encoding: "base64"
  /** The original bytes, base64. */
  readonly bytes: string
  readonly [origin: string]: string | number | null
}

const pad2 = (n: number) => String(n).padStart(2, "0")

/** `YYYY/MM/DD` of `date` in UTC: the date folder of processed objects and dead letters. */
export const datePath = (date: Date): string => `${date.getUTCFullYear()}/${pad2(date.getUTCMonth() + 1)}/${pad2(date.getUTCDate())}`

/** A name-based UUID (RFC 9562 version 5 layout: SHA-1 of `name`): the same name always gives the same id. */
export const nameBasedUuid = (name: string): string => {
  const hash = createHash("sha1").update(name, "utf8").digest()
  hash[6] = (hash[6]! & 0x0f) | 0x50
  hash[8] = (hash[8]! & 0x3f) | 0x80
  const hex = hash.subarray(0, 16).toString("hex")
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/** Pure: the object key of `letter`: `dlq/<stage>/YYYY/MM/DD/<name-based id>.json`. */
export const deadLetterKey = (letter: Pick<DeadLetter, "stage" | "position" | "error" | "filedAt">): string =>
  `${DEAD_LETTER_PREFIX}${letter.stage}/${datePath(letter.filedAt)}/${nameBasedUuid(`${letter.stage}\n${letter.position}\n${letter.error}`)}.json`

/** Pure: the body of `letter` parked at `parkedAt`. */
export const deadLetterObject = (letter: DeadLetter, parkedAt: Date): DeadLetterObject => ({
  stage: letter.stage,
  error: letter.error,
  position: letter.position,
  parkedAt: parkedAt.toISOString(),
  size: letter.bytes.byteLength,
  encoding: "base64",
  bytes: Buffer.from(letter.bytes.buffer, letter.bytes.byteOffset, letter.bytes.byteLength).toString("base64"),
  ...letter.origin
})
