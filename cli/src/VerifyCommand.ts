/**
 * `totes-cdc verify`: reconciles the source and the warehouse from their current contents
 * (issue 5) and prints one row per warehouse table. Procedure, `--wait-for-lsn` and
 * settings: ops/SPEC.md §1.
 *
 * Invariants:
 *  - Exit 0 without drift, 1 on drift or a failure, 2 on bad input.
 *  - `--wait-for-lsn` defaults to `current` with `--state-file`, `none` otherwise; an
 *    explicit LSN can only lengthen the wait (never before the source snapshot's end).
 *  - The wait checks the loader's applied objects in the processed bucket, `dev` included
 *    (its in-process loader trails the processor, loader/SPEC.md §4).
 *  - Settings: a `dev` state file (`--state-file`), else the components' environment.
 *  - `--against-recording FILE` (issue 15): the expected warehouse is what the recording
 *    implies (ops' `verifyAgainstRecording`), not the source's; the wait is for the
 *    recording's last change, without a reader (no slot: a replayed recording), and the
 *    source is not read (SOURCE_URL not needed).
 */
import { connectSource, readerSettings } from "@totes-cdc/cdc-reader"
import { compareLsn, formatLsn, parseLsn } from "@totes-cdc/core"
import { connectWarehouse, type WarehouseSettings, warehouseSettingsConfig } from "@totes-cdc/loader"
import { type TableReport, verifyAgainstRecording, verifyWarehouse, type VerifyReport, waitForPipeline } from "@totes-cdc/ops"
import { type AwsEndpoint, Kinesis, S3, SecretsManager } from "@totes-cdc/platform"
import { CheckpointStore, consumerSettings } from "@totes-cdc/stream-processors"
import { Config, Console, Effect, Layer, Option, Result, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import { describeConfigError, UsageError } from "./Errors.ts"
import { consumerSettingsFromState, readerSettingsFromState } from "./LocalSettings.ts"
import { readStateFile, type StateFile, stateFileFlag } from "./StateFile.ts"

/** The warehouse differs from the transform of the source; the report says where. Exit code 1. */
export class VerifyDrift extends Schema.TaggedError<VerifyDrift>()("VerifyDrift", { message: Schema.String }) {}

/** Where verify reads and waits. */
export interface VerifyEndpoints {
  readonly sourceUrl: string
  /** PEM file of the CA of the source's certificate (SOURCE_CA_FILE): TLS, verify-full. */
  readonly sourceCaFile?: string | undefined
  /** Where the source URL came from, for error messages. */
  readonly sourceSetting: string
  readonly warehouse: WarehouseSettings
  readonly slot: string
  /** Where the reader records its snapshot. */
  readonly readerState: { readonly bucket: string; readonly prefix: string }
  readonly streamName: string
  /** Bucket of the consumers' checkpoints. */
  readonly ingestionBucket: string
  /** Processed bucket to check against the loader's applied objects. */
  readonly processedBucket: string
  readonly kinesis: AwsEndpoint
  readonly s3: AwsEndpoint
}

/** The endpoints of a running `totes-cdc dev` (its in-process loader trails the processor: wait for the processed bucket's objects too). */
export const endpointsFromState = (path: string, state: StateFile): VerifyEndpoints => {
  const reader = readerSettingsFromState(state)
  const consumer = consumerSettingsFromState(state)
  return {
    sourceUrl: reader.sourceUrl,
    sourceSetting: `source.url of ${path}`,
    warehouse: { url: state.warehouse.url, schema: state.warehouse.schema, caFile: undefined, passwordSecretArn: undefined, region: state.s3.region },
    slot: reader.slot,
    readerState: { bucket: reader.stateBucket, prefix: reader.statePrefix },
    streamName: consumer.streamName,
    ingestionBucket: consumer.ingestionBucket,
    processedBucket: consumer.processedBucket,
    kinesis: consumer.kinesis,
    s3: consumer.s3
  }
}

/** The endpoints from the components' environment (a standalone loader reads the processed bucket). */
const endpointsFromEnvironment: Config.Config<VerifyEndpoints> = Config.all({
  reader: readerSettings,
  consumer: consumerSettings,
  warehouse: warehouseSettingsConfig
}).pipe(
  Config.map(({ reader, consumer, warehouse }) => ({
    sourceUrl: reader.sourceUrl,
    sourceCaFile: reader.sourceCaFile,
    sourceSetting: "SOURCE_URL",
    warehouse,
    slot: reader.slot,
    readerState: { bucket: reader.stateBucket, prefix: reader.statePrefix },
    streamName: consumer.streamName,
    ingestionBucket: consumer.ingestionBucket,
    processedBucket: consumer.processedBucket,
    kinesis: consumer.kinesis,
    s3: consumer.s3
  }))
)

/** What verify against a recording needs: no source, no slot. */
export type RecordingVerifyEndpoints = Omit<VerifyEndpoints, "sourceUrl" | "sourceCaFile" | "sourceSetting" | "slot" | "readerState">

/** The consumers' and the warehouse's environment (no SOURCE_URL): for `--against-recording`. */
const recordingEndpointsFromEnvironment: Config.Config<RecordingVerifyEndpoints> = Config.all({
  consumer: consumerSettings,
  warehouse: warehouseSettingsConfig
}).pipe(
  Config.map(({ consumer, warehouse }) => ({
    warehouse,
    streamName: consumer.streamName,
    ingestionBucket: consumer.ingestionBucket,
    processedBucket: consumer.processedBucket,
    kinesis: consumer.kinesis,
    s3: consumer.s3
  }))
)

/** What `--wait-for-lsn` asks for. */
export type WaitFor = { readonly _tag: "None" } | { readonly _tag: "Current" } | { readonly _tag: "Lsn"; readonly lsn: string }

/** Pure: `--wait-for-lsn` text → what to wait for, or the one-line usage error. */
export const parseWaitFor = (text: string): Result.Result<WaitFor, string> => {
  const word = text.trim().toLowerCase()
  if (word === "current") return Result.succeed({ _tag: "Current" })
  if (word === "none") return Result.succeed({ _tag: "None" })
  try {
    return Result.succeed({ _tag: "Lsn", lsn: formatLsn(parseLsn(text.trim())) })
  } catch {
    return Result.fail(`--wait-for-lsn ${text}: give a WAL position such as 0/1A2B3C (e.g. from SELECT pg_current_wal_lsn()), "current" or "none"`)
  }
}

/** Pure: the position to wait for, given the snapshot's end `snapshotLsn`: never before it. */
export const waitTarget = (waitFor: Exclude<WaitFor, { readonly _tag: "None" }>, snapshotLsn: string): string =>
  waitFor._tag === "Current" || compareLsn(waitFor.lsn, snapshotLsn) < 0 ? snapshotLsn : waitFor.lsn

const COLUMNS: ReadonlyArray<{ readonly title: string; readonly value: (t: TableReport) => string | number }> = [
  { title: "table", value: (t) => t.table },
  { title: "source", value: (t) => t.source },
  { title: "warehouse", value: (t) => t.warehouse },
  { title: "missing", value: (t) => t.missing },
  { title: "extra", value: (t) => t.extra },
  { title: "different", value: (t) => t.different },
  { title: "dup", value: (t) => t.duplicates },
  { title: "fk", value: (t) => t.foreignKeyViolations },
  { title: "in flight", value: (t) => t.inFlight },
  { title: "kept(deleted)", value: (t) => t.keptDeleted }
]

const quote = (value: string | null) => (value === null ? "null" : JSON.stringify(value))

/** The sample lines of one drifting table, indented. */
const sampleLines = (t: TableReport): ReadonlyArray<string> => [
  ...t.samples.missing.map((key) =>
    t.table === "dim_date" ? `  dim_date ${key}: referenced by a fact, missing from dim_date` : `  ${t.table} ${key}: in the source, missing from the warehouse`
  ),
  ...t.samples.extra.map((key) => `  ${t.table} ${key}: in the warehouse, not in the source (extra)`),
  ...t.samples.different.map((d) => `  ${t.table} ${d.key}: ${d.column} expected ${quote(d.expected)}, warehouse has ${quote(d.actual)}`),
  ...t.samples.duplicates.map((d) => `  ${t.table} ${d}: duplicate`),
  ...t.samples.foreignKeyViolations.map(
    (v) => `  ${t.table}.${v.column} = ${v.value}: no ${v.references} row with ${v.referencedColumn} = ${v.value} (${v.rows} fact row${v.rows === 1 ? "" : "s"})`
  )
]

/** Pure: the report as terminal lines — the window, the per-table table, samples of each drift, the verdict. */
export const formatVerifyReport = (
  report: VerifyReport,
  basis = `verify: source snapshot at ${report.window.to}; rows changed from ${report.window.from} on count as in flight`
): ReadonlyArray<string> => {
  const cells = [COLUMNS.map((c) => c.title), ...report.tables.map((t) => COLUMNS.map((c) => String(c.value(t))))]
  const widths = COLUMNS.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)))
  const table = cells.map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  ").trimEnd())
  const samples = report.tables.filter((t) => t.drift).flatMap(sampleLines)
  const rejected = report.rejected.samples.map((r) => `  source ${r.table} ${r.key}: the transform rejects it (${r.error})`)
  const verdict = report.drift
    ? `verify: DRIFT in ${report.driftTables.length} table${report.driftTables.length === 1 ? "" : "s"}${
        report.rejected.count === 0 ? "" : `, ${report.rejected.count} source row${report.rejected.count === 1 ? "" : "s"} the transform rejects`
      }`
    : `verify: OK (${report.tables.length} tables, ${report.rowsCompared} rows compared)`
  return [
    basis,
    ...table,
    ...samples,
    ...rejected,
    verdict
  ]
}

const driftMessage = (report: VerifyReport) =>
  `verify found drift${report.driftTables.length === 0 ? "" : ` in ${report.driftTables.join(", ")}`}${
    report.rejected.count === 0 ? "" : ` (${report.rejected.count} source rows the transform rejects)`
  }; the report above says where`

/** The consumers (Kinesis, checkpoints, S3) that the wait for the pipeline reads. */
const consumersLayer = (endpoints: RecordingVerifyEndpoints) =>
  Layer.mergeAll(Kinesis.layer(endpoints.kinesis), CheckpointStore.layer({ bucket: endpoints.ingestionBucket })).pipe(Layer.provideMerge(S3.layer(endpoints.s3)))

/** The wait's settings (the reader, when there is one, is given apart: `ReaderWatch`). */
const waitSettings = (endpoints: RecordingVerifyEndpoints, timeoutMs: number) => ({
  streamName: endpoints.streamName,
  processedBucket: endpoints.processedBucket,
  schema: endpoints.warehouse.schema,
  timeoutMs
})

/** `--against-recording`: the warehouse against the recording at `path`; waits for its last change unless `waitFor` is None. */
export const runVerifyAgainstRecording = (path: string, endpoints: RecordingVerifyEndpoints, waitFor: WaitFor, timeoutMs: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const warehouse = yield* connectWarehouse(endpoints.warehouse, { max: 2, applicationName: "totes-cdc-verify" })
      return yield* verifyAgainstRecording({
        path,
        warehouse,
        schema: endpoints.warehouse.schema,
        ...(waitFor._tag === "None"
          ? {}
          : {
              awaitPipeline: (lsn: string) =>
                waitForPipeline(waitSettings(endpoints, timeoutMs), undefined, warehouse, waitTarget(waitFor, lsn)).pipe(Effect.provide(consumersLayer(endpoints)))
            })
      })
    })
  ).pipe(Effect.provide(SecretsManager.layer(endpoints.warehouse.region)))

/** Steps 1–3 of the module header against `endpoints`. */
export const runVerify = (endpoints: VerifyEndpoints, waitFor: WaitFor, timeoutMs: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const options = { max: 2, applicationName: "totes-cdc-verify" }
      const source = yield* connectSource(endpoints, { ...options, setting: endpoints.sourceSetting })
      const warehouse = yield* connectWarehouse(endpoints.warehouse, options)
      const aws = consumersLayer(endpoints)
      const settings = waitSettings(endpoints, timeoutMs)
      return yield* verifyWarehouse({
        source,
        warehouse,
        schema: endpoints.warehouse.schema,
        timeoutMs,
        ...(waitFor._tag === "None"
          ? {}
          : { awaitPipeline: (lsn: string) => waitForPipeline(settings, { source, slot: endpoints.slot, readerState: endpoints.readerState }, warehouse, waitTarget(waitFor, lsn)).pipe(Effect.provide(aws)) })
      })
    })
  ).pipe(Effect.provide(SecretsManager.layer(endpoints.warehouse.region)))

export const verifyCommand = Command.make(
  "verify",
  {
    stateFile: stateFileFlag,
    waitForLsn: Flag.String("wait-for-lsn").pipe(
      Flag.withMetavar("LSN|current|none"),
      Flag.withDescription(
        "first wait until the pipeline has applied every change committed before this WAL position (never before the source snapshot's; current = the snapshot's; none = compare at once). Default: current with --state-file, none otherwise"
      ),
      Flag.optional
    ),
    timeout: Flag.Finite("timeout").pipe(
      Flag.withMetavar("SECONDS"),
      Flag.withDescription("longest wait for the pipeline (and for transactions running when the source is read), default 60"),
      Flag.withDefault(60)
    ),
    json: Flag.Boolean("json").pipe(Flag.withDescription("print the report as JSON"), Flag.withDefault(false)),
    againstRecording: Flag.String("against-recording").pipe(
      Flag.withMetavar("FILE"),
      Flag.withDescription(
        "compare the warehouse with what this recording (totes-cdc record) implies instead of with the source, e.g. after dev --replay FILE; the wait (current) is for the recording's last change; SOURCE_URL is not needed"
      ),
      Flag.optional
    )
  },
  ({ stateFile, waitForLsn, timeout, json, againstRecording }) =>
    Effect.gen(function* () {
      if (!Number.isFinite(timeout) || timeout <= 0) {
        return yield* new UsageError({ message: `--timeout ${timeout}: give a number of seconds > 0` })
      }
      const waitFor = yield* Effect.fromResult(parseWaitFor(Option.getOrElse(waitForLsn, () => (Option.isSome(stateFile) ? "current" : "none")))).pipe(
        Effect.mapError((message) => new UsageError({ message }))
      )
      const configError = (error: { readonly message: string }) => new UsageError({ message: describeConfigError(error.message) })
      if (Option.isSome(againstRecording)) {
        const path = againstRecording.value
        const endpoints = Option.isSome(stateFile)
          ? endpointsFromState(stateFile.value, yield* readStateFile(stateFile.value))
          : yield* Effect.mapError(recordingEndpointsFromEnvironment, configError)
        const { report, recording } = yield* runVerifyAgainstRecording(path, endpoints, waitFor, timeout * 1000)
        const basis = `verify: the warehouse against recording ${path} (${recording.records.toLocaleString("en-GB")} records, up to ${report.window.to}); nothing counts as in flight`
        yield* Console.log(json ? JSON.stringify(report, null, 2) : formatVerifyReport(report, basis).join("\n"))
        if (report.drift) return yield* new VerifyDrift({ message: driftMessage(report) })
        return
      }
      const endpoints = Option.isSome(stateFile)
        ? endpointsFromState(stateFile.value, yield* readStateFile(stateFile.value))
        : yield* Effect.mapError(endpointsFromEnvironment, configError)
      const report = yield* runVerify(endpoints, waitFor, timeout * 1000)
      yield* Console.log(json ? JSON.stringify(report, null, 2) : formatVerifyReport(report).join("\n"))
      if (report.drift) return yield* new VerifyDrift({ message: driftMessage(report) })
    })
).pipe(
  Command.withDescription(
    "Reconcile the source with the warehouse: every dimension row and the latest version of every fact equal to the transform of the current source, no fact version twice, every fact foreign key satisfied; exit 1 on drift"
  ),
  Command.withExamples([
    { command: "totes-cdc verify --state-file /tmp/s.json", description: "a running `dev` stack: waits until the pipeline has caught up with the source snapshot, then compares" },
    { command: "SOURCE_URL=… WAREHOUSE_URL=… totes-cdc verify", description: "a quiet pipeline, compared at once" },
    { command: "totes-cdc verify --wait-for-lsn current --timeout 120", description: "a live pipeline configured by the environment" },
    { command: "totes-cdc verify --against-recording last-night.ndjson.gz --state-file /tmp/s.json", description: "a dev --replay stack against the recording it replayed" }
  ])
)
