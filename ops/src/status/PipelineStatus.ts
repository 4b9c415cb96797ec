/**
 * How far behind the pipeline is (`totes-cdc status`): replication slot lag and retained
 * WAL, the reader's last metrics report, dead letters per stage, per-table freshness in
 * the warehouse, and truncates held in quarantine. `dev`'s live status line
 * (StatusLine.ts) reads the slot and the dead letters through the same functions.
 * Gathering (I/O) is separate from formatting (`formatStatus`, pure).
 */
import { loadMetricsSnapshot, type ReaderSettings, slotStatus } from "@totes-cdc/cdc-reader"
import { DEAD_LETTER_PREFIX } from "@totes-cdc/core"
import { makePgPool, S3, type S3Error } from "@totes-cdc/platform"
import { Effect } from "effect"

/** Pure: the number of letters per stage from their keys (`dlq/<stage>/…`). */
export const lettersByStage = (keys: ReadonlyArray<string>): Readonly<Record<string, number>> => {
  const out: Record<string, number> = {}
  for (const key of keys) {
    const stage = key.split("/")[1] ?? "?"
    out[stage] = (out[stage] ?? 0) + 1
  }
  return out
}

/** Dead letters per stage in `bucket` (every stage parks under `dlq/`). Fails with `S3Error`. */
export const deadLetterCounts = (bucket: string): Effect.Effect<Readonly<Record<string, number>>, S3Error, S3> =>
  S3.use((s3) => s3.listObjects(bucket, DEAD_LETTER_PREFIX)).pipe(Effect.map((letters) => lettersByStage(letters.map((letter) => letter.key))))

/** Slot, reader metrics, dead letters, freshness and quarantines, as one report. `warehouseUrl` absent: no warehouse part. */
export const gatherStatus = (settings: ReaderSettings, warehouseUrl: string | undefined) =>
  Effect.scoped(
    Effect.gen(function* () {
      const source = yield* makePgPool(settings.sourceUrl, { setting: "SOURCE_URL", max: 1 })
      const slot = yield* slotStatus(source, settings.slot)
      const reader = yield* loadMetricsSnapshot({ bucket: settings.stateBucket, prefix: settings.statePrefix }, settings.slot)
      const deadLetters = yield* deadLetterCounts(settings.stateBucket)
      let freshness: ReadonlyArray<Record<string, string | null>> = []
      let quarantined: ReadonlyArray<Record<string, string | null>> = []
      if (warehouseUrl !== undefined) {
        const warehouse = yield* makePgPool(warehouseUrl, { setting: "WAREHOUSE_URL", max: 1 })
        freshness = yield* warehouse
          .query(
            `SELECT warehouse_table, last_commit_lsn::text AS last_commit_lsn, last_commit_ts::text AS last_commit_ts, last_loaded_at::text AS last_loaded_at
               FROM totes_cdc.freshness ORDER BY warehouse_table`
          )
          .pipe(Effect.orElseSucceed(() => []))
        quarantined = yield* warehouse
          .query(
            `SELECT warehouse_table, commit_lsn::text AS commit_lsn, recorded_at::text AS recorded_at
               FROM totes_cdc.truncations WHERE in_force ORDER BY warehouse_table, commit_lsn`
          )
          .pipe(Effect.orElseSucceed(() => []))
      }
      return { slot: { name: settings.slot, ...slot }, reader: reader ?? null, deadLetters, freshness, quarantined }
    })
  ).pipe(Effect.provide(S3.layer(settings.s3)))

/** What `gatherStatus` answers. */
export type StatusReport = Effect.Success<ReturnType<typeof gatherStatus>>

const bytes = (n: number | null | undefined) => (n === null || n === undefined ? "?" : `${n.toLocaleString("en-GB")} bytes`)

/** Pure: the report as lines for a terminal. */
export const formatStatus = (report: StatusReport): ReadonlyArray<string> => {
  const { slot, reader } = report
  return [
    slot.exists
      ? `slot ${slot.name}: ${slot.active ? "active" : "INACTIVE"}, wal_status ${slot.walStatus}, confirmed ${slot.confirmedFlushLsn}, lag ${bytes(slot.confirmedLagBytes)}, retained WAL ${bytes(slot.retainedWalBytes)}`
      : `slot ${slot.name}: does not exist (the reader has not started, or it was dropped)`,
    reader === null
      ? "reader: no metrics report yet"
      : `reader (report at ${reader.at}): ${reader.changesWritten.toLocaleString("en-GB")} changes in ${reader.kinesisRecordsWritten.toLocaleString("en-GB")} Kinesis records, ${reader.changesPerSecond.toLocaleString("en-GB")} changes/s, commit→Kinesis lag ${reader.commitToKinesisLagMs} ms, ${reader.putRetries} retries, ${reader.deadLetters} dead letters`,
    `dead letters: ${Object.keys(report.deadLetters).length === 0 ? "none" : Object.entries(report.deadLetters).map(([stage, n]) => `${stage} ${n}`).join(", ")}`,
    report.freshness.length === 0
      ? "freshness: no table loaded into the warehouse yet"
      : `freshness:\n${report.freshness.map((f) => `  ${f.warehouse_table}: last commit ${f.last_commit_ts ?? `(snapshot only) at ${f.last_commit_lsn}`}, loaded ${f.last_loaded_at}`).join("\n")}`,
    ...report.quarantined.map(
      (q) => `QUARANTINED ${q.warehouse_table}: source truncate at ${q.commit_lsn} (seen ${q.recorded_at}); its objects wait — decide with \`totes-cdc loader release ${q.warehouse_table} --as apply|ignore\``
    )
  ]
}
