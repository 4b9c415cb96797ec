/**
 * `totes-cdc status`: how far behind the pipeline is — replication slot lag and
 * retained WAL, the reader's last metrics report, dead letters per stage, and
 * per-table freshness in the warehouse. Reads a `dev` state file, or the environment.
 */
import { DEAD_LETTER_PREFIX } from "@totes-cdc/core"
import { type ReaderSettings, loadMetricsSnapshot, readerSettings, slotStatus } from "@totes-cdc/cdc-reader"
import { S3, makePgPool } from "@totes-cdc/platform"
import { Console, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { describeConfigError, UsageError } from "./Errors.ts"
import { readerSettingsFromState } from "./LocalSettings.ts"
import { readStateFile } from "./StateFile.ts"

const bytes = (n: number | null | undefined) => (n === null || n === undefined ? "?" : `${n.toLocaleString("en-GB")} bytes`)

/** Slot, reader metrics, dead letters and freshness, as one report. */
const gather = (settings: ReaderSettings, warehouseUrl: string | undefined) =>
  Effect.scoped(
    Effect.gen(function* () {
      const source = yield* makePgPool(settings.sourceUrl, { setting: "SOURCE_URL", max: 1 })
      const slot = yield* slotStatus(source, settings.slot)
      const location = { bucket: settings.stateBucket, prefix: settings.statePrefix }
      const reader = yield* loadMetricsSnapshot(location, settings.slot)
      const s3 = yield* S3
      const letters = yield* s3.listObjects(settings.stateBucket, DEAD_LETTER_PREFIX)
      const deadLetters: Record<string, number> = {}
      for (const letter of letters) {
        const stage = letter.key.split("/")[1] ?? "?"
        deadLetters[stage] = (deadLetters[stage] ?? 0) + 1
      }
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
      return {
        slot: { name: settings.slot, ...slot },
        reader: reader ?? null,
        deadLetters,
        freshness,
        quarantined
      }
    })
  ).pipe(Effect.provide(S3.layer(settings.s3)))

type Report = Effect.Success<ReturnType<typeof gather>>

/** Pure: the report as lines for a terminal. */
export const formatStatus = (report: Report): ReadonlyArray<string> => {
  const { slot, reader } = report
  const lines = [
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
  return lines
}

export const statusCommand = Command.make(
  "status",
  {
    stateFile: Flag.String("state-file").pipe(
      Flag.withMetavar("PATH"),
      Flag.withDescription("state file of a running `totes-cdc dev`; without it, the environment (SOURCE_URL, WAREHOUSE_URL, …)"),
      Flag.optional
    ),
    json: Flag.Boolean("json").pipe(Flag.withDescription("print the report as JSON"), Flag.withDefault(false))
  },
  ({ stateFile, json }) =>
    Effect.gen(function* () {
      const { settings, warehouseUrl } = Option.isSome(stateFile)
        ? yield* readStateFile(stateFile.value).pipe(
            Effect.map((state) => ({ settings: readerSettingsFromState(state), warehouseUrl: state.warehouse.url as string | undefined }))
          )
        : {
            settings: yield* Effect.mapError(readerSettings, (error) => new UsageError({ message: describeConfigError(error.message) })),
            warehouseUrl: process.env.WAREHOUSE_URL
          }
      const report = yield* gather(settings, warehouseUrl)
      yield* Console.log(json ? JSON.stringify(report, null, 2) : formatStatus(report).join("\n"))
    })
).pipe(Command.withDescription("Show replication slot lag, the reader's throughput and lag, dead letters and warehouse freshness"))
