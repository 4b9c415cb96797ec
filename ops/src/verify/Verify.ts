/**
 * `totes-cdc verify` as one program (I/O, composed of the modules of this folder):
 *  1. read the source in one snapshot, with its WAL window (`SourceSnapshot.ts`);
 *  2. transform it into the warehouse rows it should produce (`Expected.ts`);
 *  3. optionally wait until the pipeline has applied everything up to the window's end
 *     (`awaitPipeline`, given by the caller: it needs the reader's slot and the stream);
 *  4. read the warehouse in one snapshot (`WarehouseContents.ts`);
 *  5. reconcile (`Reconcile.ts`).
 * The source is read before the warehouse, so a warehouse row can only be newer than the
 * source snapshot, never older than a change the snapshot holds once step 3 has passed.
 * `verifyAgainstRecording` runs steps 2–5 with a recording folded into source tables as
 * step 1 (RecordedSource.ts).
 */
import { ZERO_LSN } from "@totes-cdc/core"
import type { PgError, PgPool } from "@totes-cdc/platform"
import { readRecording, type RecordingError } from "@totes-cdc/stream-processors"
import { Effect, Stream } from "effect"
import type { WarehouseTargetError } from "@totes-cdc/loader"
import { expectedWarehouse, type SourceRows } from "./Expected.ts"
import { RecordedSource, RecordedSourceError } from "./RecordedSource.ts"
import { reconcile, type VerifyReport } from "./Reconcile.ts"
import { readSourceSnapshot, type SourceSnapshotError } from "./SourceSnapshot.ts"
import { readWarehouseContents } from "./WarehouseContents.ts"

export interface VerifyOptions<E, R> {
  readonly source: PgPool
  readonly warehouse: PgPool
  /** Target schema of the star schema, e.g. `public`. */
  readonly schema: string
  /** Longest wait for transactions running when the source snapshot is taken, ms. */
  readonly timeoutMs: number
  /** Waits until the pipeline has applied every change committed before the given LSN (the snapshot's end). */
  readonly awaitPipeline?: (lsn: string) => Effect.Effect<void, E, R>
}

/** Runs steps 1–5. Fails with the errors of the steps (database, missing table, wait). */
export const verifyWarehouse = <E = never, R = never>(
  options: VerifyOptions<E, R>
): Effect.Effect<VerifyReport, PgError | SourceSnapshotError | WarehouseTargetError | E, R> =>
  Effect.gen(function* () {
    const snapshot = yield* readSourceSnapshot(options.source, options.timeoutMs)
    const expected = expectedWarehouse(snapshot.rows, snapshot.window.to, snapshot.takenAt)
    if (options.awaitPipeline !== undefined) yield* options.awaitPipeline(snapshot.window.to)
    const { contents } = yield* readWarehouseContents(options.warehouse, options.schema)
    return reconcile(expected.rows, contents, snapshot.window, expected.rejected)
  })

/** A recording folded into source tables: the rows and the last record's position. */
export interface FoldedRecording {
  readonly rows: SourceRows
  readonly records: number
  /** The last record's commit LSN and time (undefined for an empty recording). */
  readonly last: { readonly commitLsn: string; readonly commitTs: string } | undefined
}

/** Reads the recording at `path` and folds it (`RecordedSource`). Fails with `RecordingError` or `RecordedSourceError`. */
export const foldRecording = (path: string): Effect.Effect<FoldedRecording, RecordingError | RecordedSourceError> =>
  Effect.gen(function* () {
    const source = new RecordedSource()
    let records = 0
    let last: FoldedRecording["last"]
    yield* readRecording(path).pipe(
      Stream.runForEach(({ change, line }) => {
        const error = source.apply(change)
        if (error !== undefined) return Effect.fail(new RecordedSourceError({ message: `recording ${path} line ${line}: ${error.message}` }))
        records += 1
        last = { commitLsn: change.commitLsn, commitTs: change.commitTs }
        return Effect.void
      })
    )
    return { rows: source.rows(), records, last }
  })

/** A position after every LSN: reconciling against a recording, no row is in flight. */
const AFTER_EVERY_LSN = "FFFFFFFF/FFFFFFFF"

/** Verify's options without a source; `awaitPipeline` is given the recording's last LSN. */
export interface RecordingVerifyOptions<E, R> extends Omit<VerifyOptions<E, R>, "source" | "timeoutMs"> {
  /** The recording (`totes-cdc record`'s file, plain or gzip). */
  readonly path: string
}

/**
 * `totes-cdc verify --against-recording` (issue 15): the warehouse against what a
 * recording implies — the recording folded onto an empty totesys (`foldRecording`), then
 * steps 2–5 above with that as the source, nothing counted in flight. Answers the report
 * and the folded recording's size. Fails with `RecordingError`, `RecordedSourceError`,
 * the warehouse's errors or the wait's.
 */
export const verifyAgainstRecording = <E = never, R = never>(
  options: RecordingVerifyOptions<E, R>
): Effect.Effect<{ readonly report: VerifyReport; readonly recording: FoldedRecording }, RecordingError | RecordedSourceError | PgError | WarehouseTargetError | E, R> =>
  Effect.gen(function* () {
    const recording = yield* foldRecording(options.path)
    const at = recording.last?.commitLsn ?? ZERO_LSN
    const expected = expectedWarehouse(recording.rows, at, recording.last?.commitTs ?? new Date(0).toISOString())
    if (options.awaitPipeline !== undefined && recording.last !== undefined) yield* options.awaitPipeline(at)
    const { contents } = yield* readWarehouseContents(options.warehouse, options.schema)
    return { report: reconcile(expected.rows, contents, { from: AFTER_EVERY_LSN, to: at }, expected.rejected), recording }
  })
