/**
 * The raw archive read line by line, for `replay` and `record`: the lines of one archive
 * object, with every snapshot chunk's pointer line (core's SnapshotChunk.ts) replaced by the
 * chunk's own lines.
 *
 * Invariants:
 *  - A chunk's lines are read where its pointer stands — in the order the stream carried
 *    them, as when snapshot rows travelled as records — and never as an object of their own:
 *    `isReadAsArchiveObject` leaves chunk objects out of a listing.
 *  - A pointer whose chunk is missing, or is not the chunk it names, fails with
 *    `failure(message)`: nothing is skipped silently. A line that starts like a pointer
 *    but is not one is handed on as a line (the caller counts it as not a change record).
 *  - Memory: the object's body and one chunk at a time. `f` is called per run of lines, not
 *    per line: no Effect per line on replay's hot path.
 */
import { archiveLines, chunkLines, decodeSnapshotChunk, isSnapshotChunkKey } from "@totes-cdc/core"
import { S3, type S3Error } from "@totes-cdc/platform"
import { Effect, Option, Result } from "effect"

/** Consecutive lines to read: an archive object's run between pointers, or one chunk's lines; `key` and `first` (0-based index of `lines[0]` there) say where they are. */
export interface ArchiveRun {
  readonly key: string
  readonly first: number
  readonly lines: ReadonlyArray<Uint8Array>
}

/** Pure: whether a listed key is read as an archive object (a snapshot chunk is read through its pointer instead). */
export const isReadAsArchiveObject = (key: string): boolean => !isSnapshotChunkKey(key)

/**
 * Calls `f` with the lines of archive object `key` (`body`) in order, run by run (one call
 * per run, not per line: the caller loops over a run's lines), a chunk pointer's line
 * replaced by the chunk's lines. Fails with `failure(message)` for a chunk that is missing or
 * not the one its pointer names, with `S3Error`, or with `f`'s error.
 */
export const forEachArchiveRun = <E, R, E2>(
  key: string,
  body: Uint8Array,
  failure: (message: string) => E2,
  f: (run: ArchiveRun) => Effect.Effect<void, E, R>
): Effect.Effect<void, E | E2 | S3Error, R | S3> =>
  Effect.gen(function* () {
    const lines = archiveLines(body)
    let first = 0
    for (let index = 0; index < lines.length; index++) {
      const pointer = decodeSnapshotChunk(lines[index]!)
      if (pointer === undefined || Result.isFailure(pointer)) continue
      if (index > first) yield* f({ key, first, lines: lines.slice(first, index) })
      first = index + 1
      const { bucket, key: chunkKey } = pointer.success.snapshotChunk
      const where = `the snapshot chunk that ${key} line ${index + 1} points at`
      const chunk = yield* (yield* S3).getObject(bucket, chunkKey)
      if (Option.isNone(chunk)) return yield* Effect.fail(failure(`${where}, s3://${bucket}/${chunkKey}, does not exist: restore it into the archive`))
      const chunkLinesRead = chunkLines(pointer.success, chunk.value)
      if (Result.isFailure(chunkLinesRead)) return yield* Effect.fail(failure(`${where}: ${chunkLinesRead.failure}; restore it into the archive`))
      yield* f({ key: chunkKey, first: 0, lines: chunkLinesRead.success })
    }
    if (lines.length > first) yield* f({ key, first, lines: lines.slice(first) })
  })
