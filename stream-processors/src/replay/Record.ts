/**
 * Recording (`totes-cdc record`, issue 15): the change records of the raw archive (the
 * ingestion bucket's `raw/…`, local archiver or Firehose) as one NDJSON stream in commit
 * order, each line byte for byte as archived — the input of a replay on another stack.
 *
 * Invariants:
 *  - Archive objects are read in key order (Firehose and the archiver name them by arrival
 *    time), `READ_CONCURRENCY` at a time; across objects a shard's records may interleave
 *    with another's, so a min-heap of at most `reorderWindow` records restores commit order
 *    (commitLsn, commitIdx). A record older than one already written — the archive out of
 *    order by more than the window — fails the recording naming the object and line, never
 *    a silently misordered output.
 *  - A record archived twice (the reader delivers at least once) is written once: same
 *    position, same change.
 *  - Filters: commit time in [since, until), source table in `tables`. A line that is not a
 *    change record is skipped and counted (the live processor dead-lettered it).
 *  - An object listed but gone when read fails the recording (the archive is append-only),
 *    never a silently shorter file.
 *  - Memory: the window plus the objects being read.
 */
import { type ChangeRecord, comparePosition, type TotesysTable } from "@totes-cdc/core"
import { S3, type S3Error } from "@totes-cdc/platform"
import { Effect, Result, Schema, Stream } from "effect"
import { Heap } from "heap-js"
import { DEFAULT_ARCHIVE_PREFIX } from "../archiver/ArchiveBuffer.ts"
import { forEachArchiveRun, isReadAsArchiveObject } from "./ArchiveObjects.ts"
import { decodeChangeBytes } from "../processor/DecodeChange.ts"

/** The archive cannot be recorded as asked: `message` names the object and line, or the setting, and the fix. */
export class RecordError extends Schema.TaggedError<RecordError>()("RecordError", { message: Schema.String }) {}

/** Archive objects read at once. */
const READ_CONCURRENCY = 4

/** Records held to restore commit order across archive objects (default of `reorderWindow`). */
export const DEFAULT_REORDER_WINDOW = 200_000

export interface RecordConfig {
  readonly ingestionBucket: string
  /** Default `raw/`. */
  readonly archivePrefix?: string
  /** Changes committed at or after this time (default: from the first). */
  readonly since?: Date
  /** Changes committed before this time (default: to the last). */
  readonly until?: Date
  /** Source tables to keep (default: all). */
  readonly tables?: ReadonlySet<TotesysTable>
  readonly reorderWindow?: number
}

/** After each archive object: how far the recording is. */
export interface RecordProgress {
  readonly objects: number
  readonly totalObjects: number
  readonly written: number
}

export interface RecordReport extends RecordProgress {
  readonly skippedLines: number
  readonly duplicates: number
  readonly filteredOut: number
}

interface Held {
  readonly change: ChangeRecord
  readonly line: Uint8Array
  readonly where: string
}

const byPosition = (a: Held, b: Held) => comparePosition(a.change, b.change)

/** Pure: whether `change` passes the recording's filters. */
export const isRecorded = (change: ChangeRecord, config: Pick<RecordConfig, "since" | "until" | "tables">): boolean => {
  const at = Date.parse(change.commitTs)
  return (
    (config.since === undefined || at >= config.since.getTime()) &&
    (config.until === undefined || at < config.until.getTime()) &&
    (config.tables === undefined || (config.tables as ReadonlySet<string>).has(change.table))
  )
}

/**
 * Writes the recording through `write` (one archived line, without its newline, per call,
 * in commit order) and answers what it did. `onProgress` hears after each archive object.
 * Fails with `RecordError` (bad settings, an archive out of order beyond the window),
 * `S3Error`, or `write`'s error.
 */
export const recordArchive = <E, R>(
  config: RecordConfig,
  write: (line: Uint8Array) => Effect.Effect<void, E, R>,
  onProgress: (progress: RecordProgress) => Effect.Effect<void> = () => Effect.void
): Effect.Effect<RecordReport, RecordError | S3Error | E, S3 | R> =>
  Effect.gen(function* () {
    const window = config.reorderWindow ?? DEFAULT_REORDER_WINDOW
    if (!Number.isInteger(window) || window < 1) return yield* new RecordError({ message: `--reorder-window ${window}: give a whole number of records >= 1` })
    for (const [name, time] of [["--since", config.since], ["--until", config.until]] as const) {
      if (time !== undefined && Number.isNaN(time.getTime())) return yield* new RecordError({ message: `${name} is not a time: give ISO-8601, e.g. 2024-02-23T10:00:00Z` })
    }
    const s3 = yield* S3
    const prefix = config.archivePrefix ?? DEFAULT_ARCHIVE_PREFIX
    const keys = (yield* s3.listObjects(config.ingestionBucket, prefix)).map((object) => object.key).filter(isReadAsArchiveObject).sort()
    const heap = new Heap<Held>(byPosition)
    let last: Held | undefined
    let report: RecordReport = { objects: 0, totalObjects: keys.length, written: 0, skippedLines: 0, duplicates: 0, filteredOut: 0 }

    const emit = (held: Held) =>
      Effect.gen(function* () {
        if (last !== undefined) {
          const order = comparePosition(held.change, last.change)
          if (order === 0) {
            report = { ...report, duplicates: report.duplicates + 1 }
            return
          }
          if (order < 0) {
            return yield* new RecordError({
              message: `${held.where} (${held.change.commitLsn}/${held.change.commitIdx}) is older than ${last.where} (${last.change.commitLsn}/${last.change.commitIdx}), already written: the archive is out of commit order by more than ${window.toLocaleString("en-GB")} records; record again with a larger --reorder-window`
            })
          }
        }
        yield* write(held.line)
        last = held
        report = { ...report, written: report.written + 1 }
      })

    yield* Stream.fromIterable(keys).pipe(
      Stream.mapEffect((key) => s3.getObject(config.ingestionBucket, key).pipe(Effect.map((body) => ({ key, body }))), { concurrency: READ_CONCURRENCY }),
      Stream.runForEach(({ key, body }) =>
        Effect.gen(function* () {
          // Listed a moment ago, and the archive is append-only: gone now means someone deleted it (as Replay.ts and the join-state rebuild say too).
          if (body._tag === "None") {
            return yield* new RecordError({ message: `archive object s3://${config.ingestionBucket}/${key} was listed but is gone; the archive is append-only: restore it, then record again` })
          }
          yield* forEachArchiveRun(key, body.value, (message) => new RecordError({ message }), ({ key: at, first, lines }) =>
            Effect.gen(function* () {
              for (const [i, line] of lines.entries()) {
                const decoded = decodeChangeBytes(line)
                if (Result.isFailure(decoded)) {
                  report = { ...report, skippedLines: report.skippedLines + 1 }
                  continue
                }
                if (!isRecorded(decoded.success, config)) {
                  report = { ...report, filteredOut: report.filteredOut + 1 }
                  continue
                }
                heap.push({ change: decoded.success, line, where: `s3://${config.ingestionBucket}/${at} line ${first + i + 1}` })
                if (heap.size() > window) yield* emit(heap.pop()!)
              }
            })
          )
          report = { ...report, objects: report.objects + 1 }
          yield* onProgress(report)
        })
      )
    )
    while (heap.size() > 0) yield* emit(heap.pop()!)
    return report
  })
