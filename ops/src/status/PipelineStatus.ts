/**
 * How far behind the pipeline is (`totes-cdc status`): replication slot lag and retained
 * WAL, the reader's last metrics report, the Kinesis stream's summary and (on AWS) the
 * Firehose delivery stream's, dead letters per stage, per-table freshness in the
 * warehouse, and truncates held in quarantine. `dev`'s live status line
 * (StatusLine.ts) reads the slot and the dead letters through the same functions.
 * Gathering (I/O) is separate from formatting (`formatStatus`, pure).
 */
import { connectSource, loadMetricsSnapshot, type ReaderSettings, slotStatus } from "@totes-cdc/cdc-reader"
import { DEAD_LETTER_PREFIX } from "@totes-cdc/core"
import { openWarehouse, type WarehouseSettings } from "@totes-cdc/loader"
import { type AwsEndpoint, Firehose, type FirehoseDescription, Kinesis, type PgPool, S3, type S3Error, type StreamSummary } from "@totes-cdc/platform"
import { Effect, Layer } from "effect"

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

/** The Kinesis stream's summary, or why it could not be read (one line naming the problem and the fix). */
export interface KinesisStreamReport {
  readonly name: string
  readonly summary: StreamSummary | null
  readonly error: string | null
}

/**
 * The Firehose delivery stream's description, or why it could not be read; `null` when no
 * delivery stream is configured (locally: the archiver stands in for Firehose).
 */
export type FirehoseReport = {
  readonly name: string
  readonly description: FirehoseDescription | null
  readonly error: string | null
} | null

/**
 * The Kinesis stream's summary and, when `deliveryStream` is given, the delivery stream's
 * description. Never fails: a missing or failing stream is reported by its error message.
 */
export const gatherStreams = (
  streamName: string,
  deliveryStream: string | undefined
): Effect.Effect<{ readonly kinesis: KinesisStreamReport; readonly firehose: FirehoseReport }, never, Kinesis | Firehose> =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis.use((k) => k.describeStreamSummary(streamName)).pipe(
      Effect.match({
        onSuccess: (summary): KinesisStreamReport => ({ name: streamName, summary, error: null }),
        onFailure: (error): KinesisStreamReport => ({ name: streamName, summary: null, error: error.message })
      })
    )
    if (deliveryStream === undefined) return { kinesis, firehose: null }
    const firehose = yield* Firehose.use((f) => f.describeDeliveryStream(deliveryStream)).pipe(
      Effect.match({
        onSuccess: (description): FirehoseReport => ({ name: deliveryStream, description, error: null }),
        onFailure: (error): FirehoseReport => ({ name: deliveryStream, description: null, error: error.message })
      })
    )
    return { kinesis, firehose }
  })

/** Where Firehose is: AWS in the Kinesis stream's region, with its credentials (never the Kinesis emulator's endpoint). */
const firehoseTarget = ({ endpoint: _endpoint, ...rest }: AwsEndpoint): AwsEndpoint => rest

/** What `gatherStatus` reads besides the reader's settings. */
export interface StatusOptions {
  /** The Firehose delivery stream archiving the Kinesis stream (FIREHOSE_DELIVERY_STREAM); absent locally. */
  readonly deliveryStream?: string
  /** The recording a `dev --replay` stack is fed from: no reader runs, so no slot is expected. */
  readonly replay?: string
}

/** `FIREHOSE_DELIVERY_STREAM`'s value as options (unset or empty: none). */
export const deliveryStreamOption = (value: string | undefined): StatusOptions => (value === undefined || value === "" ? {} : { deliveryStream: value })

/**
 * Slot, reader metrics (`replay`: the recording a `dev --replay` stack is fed from, or null), the Kinesis stream's summary, the delivery stream's description
 * (`options.deliveryStream` set), dead letters, freshness and quarantines, as one report,
 * over open pools (the dashboard keeps its pools; `gatherStatus` opens them per call).
 * `warehouse` undefined: no warehouse part. Fails with the errors of the source and S3.
 */
export const gatherStatusWith = (source: PgPool, warehouse: PgPool | undefined, settings: ReaderSettings, options: StatusOptions = {}) =>
  Effect.gen(function* () {
    const slot = yield* slotStatus(source, settings.slot)
    const reader = yield* loadMetricsSnapshot({ bucket: settings.stateBucket, prefix: settings.statePrefix }, settings.slot)
    const streams = yield* gatherStreams(settings.streamName, options.deliveryStream)
    const deadLetters = yield* deadLetterCounts(settings.stateBucket)
    let freshness: ReadonlyArray<Record<string, string | null>> = []
    let quarantined: ReadonlyArray<Record<string, string | null>> = []
    if (warehouse !== undefined) {
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
    return { slot: { name: settings.slot, ...slot }, reader: reader ?? null, replay: options.replay ?? null, ...streams, deadLetters, freshness, quarantined }
  })

/** The AWS services `gatherStatusWith` calls, for the reader's settings (Firehose: AWS itself, never the Kinesis emulator). */
export const statusServices = (settings: ReaderSettings) =>
  Layer.mergeAll(
    S3.layer(settings.s3),
    Kinesis.layer(settings.kinesis),
    // Making the client calls nothing; without a delivery stream `gatherStreams` never uses it.
    Firehose.layer(firehoseTarget(settings.kinesis))
  )

/**
 * `gatherStatusWith` on pools opened for this one report: the source's as the reader's
 * (`connectSource`: SOURCE_URL, TLS of SOURCE_CA_FILE), the warehouse's as the loader's
 * (loader `openWarehouse`: WAREHOUSE_URL, TLS of WAREHOUSE_CA_FILE, the password of
 * WAREHOUSE_PASSWORD_SECRET_ARN). `warehouse` absent: no warehouse part. Fails with
 * `PgError`, `PgTlsError` or `WarehouseConnectionError`, one line naming the setting.
 */
export const gatherStatus = (settings: ReaderSettings, warehouse: WarehouseSettings | undefined, options: StatusOptions = {}) =>
  Effect.scoped(
    Effect.gen(function* () {
      const source = yield* connectSource(settings, { max: 1 })
      const warehousePool = warehouse === undefined ? undefined : yield* openWarehouse(warehouse, { max: 1 })
      return yield* gatherStatusWith(source, warehousePool, settings, options)
    })
  ).pipe(Effect.provide(statusServices(settings)))

/** What `gatherStatus` answers. */
export type StatusReport = Effect.Success<ReturnType<typeof gatherStatusWith>>

/** Pure: the Kinesis stream's line. */
export const formatKinesisStream = (report: KinesisStreamReport): string => {
  const { summary } = report
  if (summary === null) return `kinesis stream ${report.name}: ${report.error ?? "no summary"}`
  const consumers = summary.consumers === undefined ? "" : `, ${summary.consumers} enhanced fan-out consumer${summary.consumers === 1 ? "" : "s"}`
  const state = summary.status === "ACTIVE" ? "ACTIVE" : `${summary.status} (not ACTIVE: reads and writes may fail until it is)`
  return `kinesis stream ${report.name}: ${state}, ${summary.mode === "ON_DEMAND" ? "on-demand" : "provisioned"}, ${summary.openShards} open shard${summary.openShards === 1 ? "" : "s"}, retention ${summary.retentionHours} h, encryption ${summary.encryption === "KMS" ? "KMS" : "none"}${consumers}`
}

/** Pure: the Firehose line (locally: the archiver stands in). */
export const formatFirehose = (report: FirehoseReport): string => {
  if (report === null) return "firehose: none configured (FIREHOSE_DELIVERY_STREAM unset) — the archiver is the local stand-in for Firehose"
  const { description } = report
  if (description === null) return `firehose delivery stream ${report.name}: ${report.error ?? "no description"}`
  const source = description.source === undefined ? "Direct PUT (not the Kinesis stream)" : description.source.kinesisStreamArn
  const { destination } = description
  const to =
    destination === undefined
      ? "no S3 destination"
      : `${destination.bucketArn}/${destination.prefix} (errors → ${destination.errorOutputPrefix === "" ? "(no error prefix)" : destination.errorOutputPrefix}), buffering ${destination.bufferingSeconds} s / ${destination.bufferingMiB} MiB`
  const failure =
    description.status === "CREATING_FAILED" || description.status === "DELETING_FAILED" || description.failure !== undefined
      ? `; FAILED: ${description.failure ?? "no failure description"} — fix the cause, then delete the delivery stream and deploy again`
      : ""
  return `firehose delivery stream ${report.name}: ${description.status}, ${source} → ${to}${failure}`
}

const bytes = (n: number | null | undefined) => (n === null || n === undefined ? "?" : `${n.toLocaleString("en-GB")} bytes`)

/** Pure: the report as lines for a terminal. */
export const formatStatus = (report: StatusReport): ReadonlyArray<string> => {
  const { slot, reader } = report
  return [
    report.replay !== null && !slot.exists
      ? `slot: none — this stack replays ${report.replay} (no source, no reader)`
      : slot.exists
      ? `slot ${slot.name}: ${slot.active ? "active" : "INACTIVE"}, wal_status ${slot.walStatus}, confirmed ${slot.confirmedFlushLsn}, lag ${bytes(slot.confirmedLagBytes)}, retained WAL ${bytes(slot.retainedWalBytes)}`
      : `slot ${slot.name}: does not exist (the reader has not started, or it was dropped)`,
    reader === null
      ? "reader: no metrics report yet"
      : `reader (report at ${reader.at}): ${reader.changesWritten.toLocaleString("en-GB")} changes in ${reader.kinesisRecordsWritten.toLocaleString("en-GB")} Kinesis records, ${reader.changesPerSecond.toLocaleString("en-GB")} changes/s, commit→Kinesis lag ${reader.commitToKinesisLagMs} ms, ${reader.putRetries} retries, ${reader.deadLetters} dead letters`,
    formatKinesisStream(report.kinesis),
    formatFirehose(report.firehose),
    `dead letters: ${Object.keys(report.deadLetters).length === 0 ? "none" : Object.entries(report.deadLetters).map(([stage, n]) => `${stage} ${n}`).join(", ")}`,
    report.freshness.length === 0
      ? "freshness: no table loaded into the warehouse yet"
      : `freshness:\n${report.freshness.map((f) => `  ${f.warehouse_table}: last commit ${f.last_commit_ts ?? `(snapshot only) at ${f.last_commit_lsn}`}, loaded ${f.last_loaded_at}`).join("\n")}`,
    ...report.quarantined.map(
      (q) => `QUARANTINED ${q.warehouse_table}: source truncate at ${q.commit_lsn} (seen ${q.recorded_at}); its objects wait — decide with \`totes-cdc loader release ${q.warehouse_table} --as apply|ignore\``
    )
  ]
}
