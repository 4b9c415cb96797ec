/**
 * Reading a recording (the file `totes-cdc record` writes, Record.ts): its change records
 * with their line numbers, for a replay of the recording into another stack (issue 15).
 *
 * Invariants:
 *  - gzip is recognised by its magic bytes, not the file name; a gzip file that ends early
 *    or fails its checksum is an error naming the last good line.
 *  - Every line must be a change record (`decodeChangeBytes`, the processor's rule) and the
 *    lines must be in commit order (a position may repeat, never go back); the first line
 *    that is not stops the reading with `RecordingError` naming the file, the line and the
 *    fix. `checkRecording` reads the whole file first, so a replay can refuse a damaged
 *    recording before it feeds anything (nothing half-loaded).
 *  - A plain file cut exactly at a line's end cannot be told from a shorter recording; a
 *    cut inside a line is that line's error.
 *  - Lines are core's `byteLines`: the bytes between "\n"s, so "\r", U+2028 and U+2029
 *    belong to their line (JSON.stringify leaves the last two unescaped in strings), a line
 *    that is not UTF-8 is that line's error (never read as U+FFFD, or dropped), and line
 *    numbers are those of any editor.
 *  - Nothing is left running when the reading stops early (a bad line, an interruption):
 *    the file and the gunzip stream are destroyed, so a gzip error after that is no
 *    unhandled 'error' event.
 *  - Memory: one line at a time.
 */
import { byteLines, type ChangeRecord, comparePosition } from "@totes-cdc/core"
import { Effect, Result, Schema, Stream } from "effect"
import { createReadStream } from "node:fs"
import { open } from "node:fs/promises"
import type { Readable } from "node:stream"
import { createGunzip } from "node:zlib"
import { decodeChangeBytes } from "../processor/DecodeChange.ts"

/** The recording cannot be read: `message` names the file (and line) and the fix. */
export class RecordingError extends Schema.TaggedError<RecordingError>()("RecordingError", { message: Schema.String }) {}

/** One change of a recording and its line (1-based). */
export interface RecordedChange {
  readonly change: ChangeRecord
  readonly line: number
}

/** What a whole recording holds. */
export interface RecordingSummary {
  readonly records: number
  /** Commit times (ms since the epoch) of the first and the last record; undefined when empty. */
  readonly firstCommitMs: number | undefined
  readonly lastCommitMs: number | undefined
}

const GZIP_MAGIC = [0x1f, 0x8b]

const reason = (cause: unknown) => (cause instanceof Error ? ((cause as NodeJS.ErrnoException).code ?? cause.message) : String(cause))

const isGzip = (path: string) =>
  Effect.tryPromise({
    try: async () => {
      const file = await open(path, "r")
      try {
        const head = Buffer.alloc(2)
        const { bytesRead } = await file.read(head, 0, 2, 0)
        return bytesRead === 2 && head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1]
      } finally {
        await file.close()
      }
    },
    catch: (cause) => new RecordingError({ message: `recording ${path} cannot be read (${reason(cause)}); give a file written by totes-cdc record` })
  })

/** The recording's changes in file order. Fails with `RecordingError` (see the header). */
export const readRecording = (path: string): Stream.Stream<RecordedChange, RecordingError> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const gzip = yield* isGzip(path)
      let line = 0
      let previous: ChangeRecord | undefined
      async function* lines(): AsyncGenerator<Uint8Array> {
        const file: Readable = createReadStream(path)
        const input = gzip ? file.pipe(createGunzip()) : file
        if (gzip) file.on("error", (error) => input.destroy(error))
        try {
          yield* byteLines(input)
        } finally {
          input.destroy()
          file.destroy()
        }
      }
      return Stream.fromAsyncIterable(
        lines(),
        (cause) =>
          new RecordingError({
            message: `recording ${path} is damaged after line ${line} (${reason(cause)}${gzip ? ": a truncated or corrupt gzip file" : ""}); record it again`
          })
      ).pipe(
        Stream.mapEffect((bytes) => {
          line += 1
          const decoded = decodeChangeBytes(bytes)
          if (Result.isFailure(decoded)) {
            return Effect.fail(new RecordingError({ message: `recording ${path} line ${line}: ${decoded.failure}; the recording is damaged: record it again` }))
          }
          const change = decoded.success
          if (previous !== undefined && comparePosition(change, previous) < 0) {
            return Effect.fail(
              new RecordingError({
                message: `recording ${path} line ${line} (${change.commitLsn}/${change.commitIdx}) is older than line ${line - 1} (${previous.commitLsn}/${previous.commitIdx}): not in commit order — not a file of totes-cdc record`
              })
            )
          }
          previous = change
          return Effect.succeed({ change, line })
        })
      )
    })
  )

/** Reads the whole recording once: how many records and the commit times they span. Fails with `RecordingError`. */
export const checkRecording = (path: string): Effect.Effect<RecordingSummary, RecordingError> =>
  readRecording(path).pipe(
    Stream.runFold(
      (): RecordingSummary => ({ records: 0, firstCommitMs: undefined, lastCommitMs: undefined }),
      (summary, { change }) => {
        const at = Date.parse(change.commitTs)
        return { records: summary.records + 1, firstCommitMs: summary.firstCommitMs ?? at, lastCommitMs: at }
      }
    )
  )
