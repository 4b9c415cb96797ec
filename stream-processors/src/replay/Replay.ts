/**
 * Replay (DESIGN.md §7 `totes-cdc replay --since …`): re-runs the processor's transform
 * over the raw archive (the ingestion bucket's `raw/…`, DESIGN.md §4 — the source of
 * truth, append-only) and hands the Parquet objects it writes to `onObjects` (the loader).
 * Because the loader applies by position and deduplicates fact versions, replaying over a
 * populated warehouse changes nothing and replaying into an empty one rebuilds it.
 *
 * Invariants:
 *  - Archive objects are read in key order (Firehose keys sort by arrival hour), a few at
 *    a time; memory holds one micro-batch of changes (`batchChanges`) plus the join state.
 *  - Changes committed before `since` (and every change of an object whose hour folder
 *    ends before `since`) only build the join state (their rows are not written): a
 *    dim_counterparty/dim_staff row emitted after `since` still joins a partner that
 *    arrived earlier. Snapshot rows count as committed at the snapshot's start.
 *  - Each micro-batch is ordered by (commitLsn, commitIdx) and transformed with the
 *    running join state (`transformBatch`, the live processor's rules); rows of tables
 *    outside `tables` are dropped; one Parquet object per table per micro-batch at
 *    `<table>/YYYY/MM/DD/replay-<id>.parquet` (date: the micro-batch's first commit), then
 *    its manifest (MicroBatchWriter.ts: a polling loader applies it whole), the
 *    id a function of `since`, `tables` and the archive positions the micro-batch covers —
 *    so the same replay rewrites the same objects, and the loader skips them.
 *  - A line that is not a change record is counted and skipped (the live processor
 *    dead-lettered the same bytes); transform problems are counted (they were
 *    dead-lettered live). Any S3 failure or Parquet encoding failure fails the replay;
 *    objects handed to `onObjects` before that stay applied (re-running is harmless).
 */
import {
  type ChangeRecord,
  comparePosition,
  emptyJoinState,
  type JoinState,
  transformBatch,
  type WarehouseTable
} from "@totes-cdc/core"
import { S3, type S3Error } from "@totes-cdc/platform"
import { Clock, Effect, Result, Schema } from "effect"
import { createHash } from "node:crypto"
import { DEFAULT_ARCHIVE_PREFIX } from "../archiver/ArchiveBuffer.ts"
import { decodeChangeBytes } from "../processor/DecodeChange.ts"
import { encodeMicroBatch, writeMicroBatch } from "../processor/MicroBatchWriter.ts"
import { forEachArchiveRun, isReadAsArchiveObject } from "./ArchiveObjects.ts"
import type { ProcessedObject } from "../processor/ProcessedObjects.ts"

export class ReplayError extends Schema.TaggedError<ReplayError>()("ReplayError", { message: Schema.String }) {}

export interface ReplayConfig {
  readonly ingestionBucket: string
  /** Default `raw/`. */
  readonly archivePrefix?: string
  readonly processedBucket: string
  /** Rows of changes committed at or after this time are written. */
  readonly since: Date
  /** Warehouse tables to write (default: all 11). */
  readonly tables?: ReadonlySet<WarehouseTable>
  /** Changes per micro-batch (default 100,000). */
  readonly batchChanges?: number
}

export interface ReplayReport {
  readonly archiveObjects: number
  /** Changes that only built the join state (committed before `since`). */
  readonly folded: number
  /** Changes transformed into rows. */
  readonly replayed: number
  readonly rows: number
  readonly objects: number
  readonly skippedLines: number
  readonly problems: number
  readonly elapsedMs: number
}

/** Pure: the end (exclusive) of the hour folder of an archive key `raw/YYYY/MM/DD/HH/…`, or undefined. */
export const archiveHourEnd = (key: string, prefix: string): Date | undefined => {
  const match = /^(\d{4})\/(\d{2})\/(\d{2})\/(\d{2})\//.exec(key.slice(prefix.length))
  if (match === null) return undefined
  const [, y, m, d, h] = match
  return new Date(Date.UTC(Number(y), Number(m) - 1, Number(d), Number(h) + 1))
}

/** Pure: whether `change` is replayed (committed at/after `since`) rather than only folded. */
export const isReplayed = (change: ChangeRecord, since: Date): boolean => Date.parse(change.commitTs) >= since.getTime()

const sortByPosition = (changes: ReadonlyArray<ChangeRecord>) =>
  changes
    .map((change, index) => ({ change, index }))
    .sort((a, b) => comparePosition(a.change, b.change) || a.index - b.index)
    .map(({ change }) => change)

/**
 * Replays the archive from `config.since`; `onObjects` hears of each micro-batch's
 * objects once they are in the processed bucket. Fails with ReplayError (bad settings,
 * an object that does not encode), S3Error, or `onObjects`' error.
 */
export const replayArchive = <E, R>(
  config: ReplayConfig,
  onObjects: (objects: ReadonlyArray<ProcessedObject>) => Effect.Effect<void, E, R>
): Effect.Effect<ReplayReport, ReplayError | S3Error | E, S3 | R> =>
  Effect.gen(function* () {
    const s3 = yield* S3
    const started = yield* Clock.currentTimeMillis
    const prefix = config.archivePrefix ?? DEFAULT_ARCHIVE_PREFIX
    const batchChanges = config.batchChanges ?? 100_000
    if (Number.isNaN(config.since.getTime())) return yield* new ReplayError({ message: "--since is not a time: give ISO-8601, e.g. 2024-02-23T10:00:00Z" })
    const tableFilter = config.tables === undefined ? "all" : [...config.tables].sort().join(",")

    let state: JoinState = emptyJoinState
    let report: Omit<ReplayReport, "elapsedMs"> = { archiveObjects: 0, folded: 0, replayed: 0, rows: 0, objects: 0, skippedLines: 0, problems: 0 }
    let pending: Array<ChangeRecord> = []
    // Archive positions (`<key>:<line index>`) of the first and last change of `pending`.
    let pendingFrom = ""
    let pendingThrough = ""

    const fold = (changes: ReadonlyArray<ChangeRecord>) => {
      if (changes.length === 0) return
      const result = transformBatch(state, sortByPosition(changes))
      state = result.state
      report = { ...report, folded: report.folded + changes.length, problems: report.problems + result.problems.length }
    }

    const flush = Effect.gen(function* () {
        if (pending.length === 0) return
        const changes = sortByPosition(pending)
        const result = transformBatch(state, changes)
        state = result.state
        const rows = result.rows.filter((row) => config.tables === undefined || config.tables.has(row.table))
        const id = `replay-${createHash("sha1").update(`${config.since.toISOString()}|${tableFilter}|${pendingFrom}|${pendingThrough}`).digest("hex").slice(0, 32)}`
        const date = new Date(Date.parse(changes[0]!.commitTs))
        const encoded = yield* encodeMicroBatch(
          rows,
          changes,
          (table, message) => new ReplayError({ message: `${table} rows of replay batch ${id} do not encode as Parquet: ${message}` })
        )
        const objects = yield* writeMicroBatch(config.processedBucket, id, date, encoded, rows.map((row) => row.commitLsn))
        yield* onObjects(objects)
        report = {
          ...report,
          replayed: report.replayed + changes.length,
          rows: report.rows + rows.length,
          objects: report.objects + objects.length,
          problems: report.problems + result.problems.length
        }
        pending = []
      })

    const listing = (yield* s3.listObjects(config.ingestionBucket, prefix)).filter((summary) => isReadAsArchiveObject(summary.key))
    for (const summary of listing) {
      const hourEnd = archiveHourEnd(summary.key, prefix)
      if (hourEnd === undefined) continue
      const body = yield* s3.getObject(config.ingestionBucket, summary.key)
      if (body._tag === "None") return yield* new ReplayError({ message: `archive object s3://${config.ingestionBucket}/${summary.key} vanished while replaying; run the replay again` })
      report = { ...report, archiveObjects: report.archiveObjects + 1 }
      const before: Array<ChangeRecord> = []
      yield* forEachArchiveRun(summary.key, body.value, (message) => new ReplayError({ message }), ({ key, first, lines }) =>
        Effect.gen(function* () {
          for (const [i, line] of lines.entries()) {
            const decoded = decodeChangeBytes(line)
            if (Result.isFailure(decoded)) {
              report = { ...report, skippedLines: report.skippedLines + 1 }
              continue
            }
            const change = decoded.success
            if (hourEnd.getTime() <= config.since.getTime() || !isReplayed(change, config.since)) before.push(change)
            else {
              if (pending.length === 0) pendingFrom = `${key}:${first + i}`
              pendingThrough = `${key}:${first + i}`
              pending.push(change)
              if (pending.length >= batchChanges) {
                fold(before.splice(0))
                yield* flush
              }
            }
          }
        })
      )
      fold(before)
    }
    yield* flush
    return { ...report, elapsedMs: (yield* Clock.currentTimeMillis) - started }
  })
