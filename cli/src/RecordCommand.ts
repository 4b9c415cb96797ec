/**
 * `totes-cdc record --out FILE`: the raw archive's change records as one NDJSON file in
 * commit order (stream-processors' Record.ts), gzip-compressed when FILE ends in `.gz`;
 * a progress bar on a terminal (cli-progress, stderr).
 *
 * Invariants: the file appears only complete — written to `FILE.partial-<pid>` and renamed
 * at the end; on any failure (or Ctrl-C) the partial file is removed and FILE is left as it
 * was. Settings: a `dev` state file, or the environment (INGESTION_BUCKET, AWS_REGION,
 * S3_ENDPOINT, AWS credentials).
 */
import { TOTESYS_TABLES, type TotesysTable } from "@totes-cdc/core"
import { S3 } from "@totes-cdc/platform"
import { consumerSettings, DEFAULT_REORDER_WINDOW, recordArchive } from "@totes-cdc/stream-processors"
import { SingleBar } from "cli-progress"
import { Console, Effect, Option, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import { createWriteStream, type WriteStream } from "node:fs"
import { rename, rm, stat } from "node:fs/promises"
import type { Writable } from "node:stream"
import { createGzip } from "node:zlib"
import { describeConfigError, UsageError } from "./Errors.ts"
import { consumerSettingsFromState } from "./LocalSettings.ts"
import { readStateFile, stateFileFlag } from "./StateFile.ts"

/** The output file could not be written; `message` names it and the cause. */
export class RecordingFileError extends Schema.TaggedError<RecordingFileError>()("RecordingFileError", { message: Schema.String }) {}

/** Bytes gathered before one write to the file. */
const CHUNK_BYTES = 1024 * 1024
const NEWLINE = new Uint8Array([0x0a])

/**
 * The recording's file in the current scope: `write` appends a line (and its newline),
 * `finish` flushes, closes and renames it to `path`; closing the scope without `finish`
 * removes the partial file.
 */
const recordingFile = (path: string) =>
  Effect.gen(function* () {
    const partial = `${path}.partial-${process.pid}`
    const fileError = (cause: unknown) => new RecordingFileError({ message: `cannot write ${path}: ${cause instanceof Error ? cause.message : String(cause)}; give a writable --out path` })
    const file: WriteStream = createWriteStream(partial, { mode: 0o644 })
    const gzip = path.endsWith(".gz") ? createGzip() : undefined
    if (gzip !== undefined) gzip.pipe(file)
    const out: Writable = gzip ?? file
    let failure: unknown
    for (const stream of [file, ...(gzip === undefined ? [] : [gzip])] as ReadonlyArray<Writable>) stream.on("error", (error: Error) => (failure ??= error))
    let finished = false
    yield* Effect.addFinalizer(() =>
      finished ? Effect.void : Effect.promise(() => new Promise<void>((resolve) => file.close(() => resolve()))).pipe(Effect.andThen(Effect.promise(() => rm(partial, { force: true }))))
    )
    let chunk: Array<Uint8Array> = []
    let chunkBytes = 0
    const flush = Effect.callback<void, RecordingFileError>((resume) => {
      if (failure !== undefined) return resume(Effect.fail(fileError(failure)))
      const body = Buffer.concat(chunk)
      chunk = []
      chunkBytes = 0
      if (out.write(body)) resume(Effect.void)
      else out.once("drain", () => resume(failure === undefined ? Effect.void : Effect.fail(fileError(failure))))
    })
    const write = (line: Uint8Array) => {
      chunk.push(line, NEWLINE)
      chunkBytes += line.byteLength + 1
      return chunkBytes >= CHUNK_BYTES ? flush : Effect.void
    }
    const finish = Effect.gen(function* () {
      yield* flush
      yield* Effect.callback<void, RecordingFileError>((resume) => {
        file.once("close", () => resume(failure === undefined ? Effect.void : Effect.fail(fileError(failure))))
        out.end()
      })
      yield* Effect.tryPromise({ try: () => rename(partial, path), catch: fileError })
      finished = true
      return (yield* Effect.promise(() => stat(path))).size
    })
    return { write, finish }
  })

const time = (flag: string, value: Option.Option<string>) =>
  Option.isNone(value)
    ? Effect.succeed(undefined)
    : Number.isNaN(Date.parse(value.value))
      ? Effect.fail(new UsageError({ message: `${flag} ${value.value}: not a time; give ISO-8601, e.g. 2024-02-23T00:00:00Z` }))
      : Effect.succeed(new Date(value.value))

const sourceTable = (value: string) =>
  (TOTESYS_TABLES as ReadonlyArray<string>).includes(value)
    ? Effect.succeed(value as TotesysTable)
    : Effect.fail(new UsageError({ message: `--tables: ${value} is not a totesys table; give some of ${TOTESYS_TABLES.join(", ")}` }))

export const recordCommand = Command.make(
  "record",
  {
    out: Flag.String("out").pipe(Flag.withMetavar("FILE"), Flag.withDescription("the recording (NDJSON; gzip-compressed when FILE ends in .gz)")),
    since: Flag.String("since").pipe(Flag.withMetavar("TIME"), Flag.withDescription("changes committed at or after this time (ISO-8601)"), Flag.optional),
    until: Flag.String("until").pipe(Flag.withMetavar("TIME"), Flag.withDescription("changes committed before this time (ISO-8601)"), Flag.optional),
    tables: Flag.String("tables").pipe(Flag.withMetavar("T1,T2"), Flag.withDescription("only changes of these totesys tables (default: all 11)"), Flag.optional),
    reorderWindow: Flag.Int("reorder-window").pipe(
      Flag.withDescription(`records held to restore commit order across archive objects (default ${DEFAULT_REORDER_WINDOW.toLocaleString("en-GB")})`),
      Flag.withDefault(DEFAULT_REORDER_WINDOW)
    ),
    stateFile: stateFileFlag
  },
  ({ out, since, until, tables, reorderWindow, stateFile }) =>
    Effect.gen(function* () {
      const from = yield* time("--since", since)
      const to = yield* time("--until", until)
      const selected = Option.isSome(tables) ? new Set(yield* Effect.forEach(tables.value.split(",").map((t) => t.trim()), sourceTable)) : undefined
      const settings = Option.isSome(stateFile)
        ? consumerSettingsFromState(yield* readStateFile(stateFile.value))
        : yield* Effect.mapError(consumerSettings, (error) => new UsageError({ message: describeConfigError(error.message) }))
      const bar = process.stderr.isTTY
        ? new SingleBar({ format: "record |{bar}| {value}/{total} archive objects · {written} records", stream: process.stderr, hideCursor: true, clearOnComplete: true })
        : undefined
      yield* Effect.scoped(
        Effect.gen(function* () {
          const file = yield* recordingFile(out)
          yield* Effect.addFinalizer(() => Effect.sync(() => bar?.stop()))
          let started = false
          const report = yield* recordArchive(
            {
              ingestionBucket: settings.ingestionBucket,
              reorderWindow,
              ...(from === undefined ? {} : { since: from }),
              ...(to === undefined ? {} : { until: to }),
              ...(selected === undefined ? {} : { tables: selected })
            },
            file.write,
            (progress) =>
              Effect.sync(() => {
                if (bar === undefined) return
                if (!started) bar.start(progress.totalObjects, 0, { written: "0" })
                started = true
                bar.update(progress.objects, { written: progress.written.toLocaleString("en-GB") })
              })
          )
          const bytes = yield* file.finish
          yield* Effect.sync(() => bar?.stop())
          yield* Console.log(
            `recorded ${report.written.toLocaleString("en-GB")} change records in commit order from ${report.totalObjects} archive objects to ${out} (${bytes.toLocaleString("en-GB")} bytes); ${report.duplicates} archived twice and written once, ${report.filteredOut.toLocaleString("en-GB")} outside the filters, ${report.skippedLines} lines that are no change record skipped`
          )
        })
      ).pipe(Effect.provide(S3.layer(settings.s3)))
    })
).pipe(
  Command.withDescription(
    "Write the raw archive's change records (ingestion bucket raw/, local or AWS) to one NDJSON file in commit order, byte for byte as archived — a recording to replay elsewhere. Environment: INGESTION_BUCKET, AWS_REGION, S3_ENDPOINT, AWS credentials"
  )
)
