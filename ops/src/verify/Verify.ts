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
 */
import type { PgError, PgPool } from "@totes-cdc/platform"
import { Effect } from "effect"
import type { WarehouseTargetError } from "@totes-cdc/loader"
import { expectedWarehouse } from "./Expected.ts"
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
