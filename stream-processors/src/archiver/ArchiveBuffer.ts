/**
 * Pure parts of the archiver (the local stand-in for Firehose, DESIGN.md §1, §4): turning
 * a page into NDJSON lines, how a micro-batch's lines are cut into objects, and the
 * objects' keys in Firehose's naming.
 *
 * Invariants:
 *  - A line is a user record's bytes exactly as put on the stream (the change record JSON,
 *    unchanged), followed by `\n`; lines keep the order they were appended in.
 *  - An object holds whole lines only, at most `bufferBytes` bytes unless one line alone
 *    is larger (it is then an object by itself); cutting keeps every line exactly once, in order.
 *  - Keys: `<prefix>YYYY/MM/DD/HH/<stream>-1-YYYY-MM-DD-HH-MM-SS-<uuid>` in UTC, as Firehose
 *    names its objects (`1` is Firehose's delivery-stream version).
 */
import { INGESTION_LAYOUT } from "@totes-cdc/core"
import { Result } from "effect"
import { deaggregate, type DeaggregationError, type ShardPage } from "../consumer/MicroBatch.ts"

/** Default size threshold of a window: 5 MiB (Firehose's default buffer size). */
export const DEFAULT_BUFFER_BYTES = 5 * 1024 * 1024

/** Default interval threshold of a window: 60 s (Firehose's default buffer interval). */
export const DEFAULT_BUFFER_INTERVAL_MS = 60_000

/** Default key prefix of the archive. */
export const DEFAULT_ARCHIVE_PREFIX = INGESTION_LAYOUT.rawPrefix

/** The lines of a page, up to (excluding) its first record that is not a valid KPL aggregate. */
export interface PageLines {
  readonly lines: ReadonlyArray<Uint8Array>
  /** The first malformed record's error, when there is one; `lines` are those of the records before it. */
  readonly failed?: DeaggregationError
}

/** Pure: de-aggregates every record of `page`, in shard order, into one line per user record. */
export const pageLines = (page: ShardPage): PageLines => {
  const lines: Array<Uint8Array> = []
  for (const record of page.records) {
    const users = deaggregate(record)
    if (Result.isFailure(users)) return { lines, failed: users.failure }
    for (const user of users.success) lines.push(user.data)
  }
  return { lines }
}

/**
 * Pure: the bodies of the objects holding `lines`: NDJSON, each at most `bufferBytes`
 * bytes unless one line alone is larger. Every line exactly once, in order.
 */
export const cutObjects = (lines: ReadonlyArray<Uint8Array>, bufferBytes: number): ReadonlyArray<Uint8Array> => {
  const objects: Array<Uint8Array> = []
  let group: Array<Uint8Array> = []
  let size = 0
  const close = () => {
    if (group.length === 0) return
    const body = new Uint8Array(size)
    let at = 0
    for (const line of group) {
      body.set(line, at)
      body[at + line.byteLength] = 0x0a
      at += line.byteLength + 1
    }
    objects.push(body)
    group = []
    size = 0
  }
  for (const line of lines) {
    const bytes = line.byteLength + 1
    if (group.length > 0 && size + bytes > bufferBytes) close()
    group.push(line)
    size += bytes
  }
  close()
  return objects
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0")

/**
 * Pure: Firehose's key of an object written at `at` (UTC):
 * `<prefix>YYYY/MM/DD/HH/<stream>-1-YYYY-MM-DD-HH-MM-SS-<uuid>`.
 */
export const archiveObjectKey = (prefix: string, stream: string, at: Date, uuid: string): string => {
  const [y, mo, d, h, mi, s] = [at.getUTCFullYear(), at.getUTCMonth() + 1, at.getUTCDate(), at.getUTCHours(), at.getUTCMinutes(), at.getUTCSeconds()]
  const date = `${pad(y, 4)}-${pad(mo)}-${pad(d)}-${pad(h)}`
  return `${prefix}${pad(y, 4)}/${pad(mo)}/${pad(d)}/${pad(h)}/${stream}-1-${date}-${pad(mi)}-${pad(s)}-${uuid}`
}
