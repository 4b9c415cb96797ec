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
 *  - Memory: the object's body and one chunk at a time.
 */
import { archiveLines, chunkLines, decodeSnapshotChunk, isSnapshotChunkKey } from "@totes-cdc/core"
import { S3, type S3Error } from "@totes-cdc/platform"
import { Effect, Option, Result } from "effect"

/** One line to read: its bytes and where it is (the archive object's key, or the chunk's, and its 0-based index there). */
export interface ArchiveLine {
  readonly line: Uint8Array
  readonly key: string
  readonly index: number
}

/** Pure: whether a listed key is read as an archive object (a snapshot chunk is read through its pointer instead). */
export const isReadAsArchiveObject = (key: string): boolean => !isSnapshotChunkKey(key)

/**
 * Calls `f` with every line of archive object `key` (`body`), a chunk pointer's line
 * replaced by the chunk's lines, in order. Fails with `failure(message)` for a chunk that is
 * missing or not the one its pointer names, with `S3Error`, or with `f`'s error.
 */
export const forEachArchiveLine = <E, R, E2>(
  key: string,
  body: Uint8Array,
  failure: (message: string) => E2,
  f: (line: ArchiveLine) => Effect.Effect<void, E, R>
): Effect.Effect<void, E | E2 | S3Error, R | S3> =>
  Effect.gen(function* () {
    const lines = archiveLines(body)
    for (let index = 0; index < lines.length; index++) {
      const line = lines[index]!
      const pointer = decodeSnapshotChunk(line)
      if (pointer === undefined || Result.isFailure(pointer)) {
        yield* f({ line, key, index })
        continue
      }
      const { bucket, key: chunkKey } = pointer.success.snapshotChunk
      const where = `the snapshot chunk that ${key} line ${index + 1} points at`
      const chunk = yield* (yield* S3).getObject(bucket, chunkKey)
      if (Option.isNone(chunk)) return yield* Effect.fail(failure(`${where}, s3://${bucket}/${chunkKey}, does not exist: restore it into the archive`))
      const chunkLinesRead = chunkLines(pointer.success, chunk.value)
      if (Result.isFailure(chunkLinesRead)) return yield* Effect.fail(failure(`${where}: ${chunkLinesRead.failure}; restore it into the archive`))
      for (const [chunkIndex, chunkLine] of chunkLinesRead.success.entries()) yield* f({ line: chunkLine, key: chunkKey, index: chunkIndex })
    }
  })
