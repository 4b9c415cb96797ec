/**
 * The loader's drivers: its settings from the environment, the long-running `totes-cdc
 * loader` (catches up from the processed bucket's manifests, then polls them), and a Lambda
 * handler for an SQS queue fed by the processed bucket's `s3:ObjectCreated:*` notifications
 * of micro-batch manifests (`manifests/…json`),
 * whose batch logic (`loadSqsEvent`) the standalone loader's queue mode (QueueLoader.ts)
 * runs too. Details: loader/SPEC.md §3.
 *
 * Invariants:
 *  - The warehouse is migrated before anything loads (idempotent, `migrateWarehouse`).
 *  - SQS: each manifest an invocation names is one micro-batch applied in one transaction
 *    (`Loader.applyManifest`); a failed one reports every message naming it in
 *    `batchItemFailures`, so only those are retried. Other keys (a `.parquet` object, when
 *    the bucket's notification still announces them) are not loaded by themselves: their
 *    manifest brings them.
 *  - S3 test events are ignored; any other message that is not an S3 event fails the call.
 *  - Objects of another bucket than PROCESSED_BUCKET are refused, not loaded.
 */
import { DEFAULTS, parseManifestKey, type WarehouseTable } from "@totes-cdc/core"
import { type AwsEndpoint, awsEndpointConfig, awsEndpointsConfig, cappedBackoff, type PgPool, S3, SecretsManager, WarehouseDb } from "@totes-cdc/platform"
import { Cause, Clock, Config, Context, Effect, Exit, Layer, ManagedRuntime, Option, Schedule, Schema } from "effect"
import { addLatencies, emptyLatencyWindow, latencyPercentiles } from "./LatencyWindow.ts"
import { addReports, type Loader, type LoadReport, makeLoader } from "./Loader.ts"
import { FOREIGN_KEY_CHECKS, type ForeignKeyChecks, TRUNCATE_MODES, type TruncateMode } from "./LoadPlan.ts"
import { type WarehouseSettings, warehouseLayer, warehouseSettingsConfig } from "./WarehouseConnection.ts"
import { migrateWarehouse } from "./WarehouseMigrations.ts"

/** The loader's queue (LOADER_QUEUE_URL): the processed bucket's S3 notifications, and where SQS is (SQS_ENDPOINT / AWS_ENDPOINT_URL). */
export interface LoaderQueueSettings {
  readonly url: string
  readonly sqs: AwsEndpoint
}

export interface LoaderSettings {
  readonly warehouse: WarehouseSettings
  readonly processedBucket: string
  readonly truncateMode: TruncateMode
  /** How the facts' foreign keys are checked (LoadPlan.ts `ForeignKeyChecks`). */
  readonly foreignKeyChecks: ForeignKeyChecks
  /** The standalone loader lists the processed bucket this often (ms). */
  readonly pollIntervalMs: number
  readonly s3: AwsEndpoint
  /** Set: the standalone loader consumes this queue (QueueLoader.ts) instead of polling the bucket's listing. */
  readonly queue?: LoaderQueueSettings
}

/**
 * WAREHOUSE_* (WarehouseConnection.ts), PROCESSED_BUCKET, TRUNCATE_MODE,
 * LOADER_FOREIGN_KEY_CHECKS, LOADER_POLL_INTERVAL_MS, LOADER_QUEUE_URL (with SQS_ENDPOINT;
 * set but empty = not set: the loader polls), S3_ENDPOINT/AWS_*.
 */
export const loaderSettingsConfig: Config.Config<LoaderSettings> = Config.all({
  warehouse: warehouseSettingsConfig,
  processedBucket: Config.String("PROCESSED_BUCKET").pipe(Config.withDefault(DEFAULTS.processedBucket)),
  truncateMode: Config.Literals(TRUNCATE_MODES, "TRUNCATE_MODE").pipe(Config.withDefault<TruncateMode>("quarantine")),
  foreignKeyChecks: Config.Literals(FOREIGN_KEY_CHECKS, "LOADER_FOREIGN_KEY_CHECKS").pipe(Config.withDefault<ForeignKeyChecks>("statement")),
  pollIntervalMs: Config.Int("LOADER_POLL_INTERVAL_MS").pipe(Config.withDefault(1_000)),
  queueUrl: Config.option(Config.String("LOADER_QUEUE_URL")),
  sqs: awsEndpointConfig("SQS_ENDPOINT"),
  aws: awsEndpointsConfig
}).pipe(
  Config.map(({ aws, queueUrl, sqs, ...rest }) => ({ ...rest, s3: aws.s3, ...(Option.isSome(queueUrl) && queueUrl.value !== "" ? { queue: { url: queueUrl.value, sqs } } : {}) }))
)

/** Migrates the warehouse of `pool` and makes a loader for it. */
export const startLoader = (
  pool: PgPool,
  settings: Pick<LoaderSettings, "processedBucket" | "truncateMode"> & Partial<Pick<LoaderSettings, "foreignKeyChecks">>,
  schema: string
) =>
  migrateWarehouse(pool, schema).pipe(
    Effect.andThen(
      makeLoader(pool, schema, {
        processedBucket: settings.processedBucket,
        truncateMode: settings.truncateMode,
        ...(settings.foreignKeyChecks === undefined ? {} : { foreignKeyChecks: settings.foreignKeyChecks })
      })
    )
  )

/** Logs what a catch-up applied (nothing when it applied nothing and nothing waits). */
const logReport = (report: Effect.Success<Loader["catchUp"]>) =>
  report.applied === 0 && report.quarantined.length === 0
    ? Effect.void
    : Effect.logInfo(
        `loaded ${report.applied} objects (${report.rows.toLocaleString("en-GB")} rows)${
          report.quarantined.length === 0 ? "" : `; ${report.quarantined.length} objects wait for quarantined tables ${[...new Set(report.quarantined.map((q) => q.table))].join(", ")}`
        }`
      )

/** A failed catch-up is tried again after 0.1 s, doubling up to 10 s (jittered), 30 times (about 4 minutes), before the loader gives up. */
export const catchUpRetrySchedule = cappedBackoff("10 seconds").pipe(Schedule.upTo({ times: 30 }))

/**
 * `totes-cdc loader`: catch up from the listing, then every `pollIntervalMs`, until
 * interrupted. A failed catch-up (the warehouse or S3 unreachable, an object that does not
 * load) is logged and tried again (`catchUpRetrySchedule`); one that keeps failing ends the
 * program with its error.
 */
export const runLoaderProgram = (settings: LoaderSettings) =>
  Effect.scoped(
    Effect.gen(function* () {
      const loader = yield* startLoader(yield* WarehouseDb, settings, settings.warehouse.schema)
      const catchUp = loader.catchUp.pipe(
        Effect.tapError((error) => Effect.logWarning(`loading failed, trying again after a backoff: ${error.message}`)),
        Effect.retry(catchUpRetrySchedule)
      )
      return yield* catchUp.pipe(Effect.flatMap(logReport), Effect.repeat(Schedule.spaced(settings.pollIntervalMs)), Effect.andThen(Effect.never))
    })
  ).pipe(
    Effect.provide(
      Layer.mergeAll(S3.layer(settings.s3), warehouseLayer(settings.warehouse, { applicationName: "totes-cdc-loader" }).pipe(Layer.provide(SecretsManager.layer(settings.warehouse.region))))
    ),
    Effect.annotateLogs({ component: "loader" })
  )

// ---------------------------------------------------------------------------------------
// AWS: SQS (S3 event notifications) → Lambda.

const S3EventNotification = Schema.Struct({
  Records: Schema.optional(
    Schema.Array(
      Schema.Struct({
        eventName: Schema.String,
        s3: Schema.Struct({ bucket: Schema.Struct({ name: Schema.String }), object: Schema.Struct({ key: Schema.String }) })
      })
    )
  ),
  /** `s3:TestEvent` when the notification is first configured. */
  Event: Schema.optional(Schema.String)
})

const SqsEvent = Schema.Struct({ Records: Schema.Array(Schema.Struct({ messageId: Schema.String, body: Schema.String })) })
export type SqsEvent = typeof SqsEvent.Encoded

export interface SqsBatchResponse {
  batchItemFailures: Array<{ itemIdentifier: string }>
}

const decodeSqsEvent = Schema.decodeUnknownEffect(SqsEvent)
const decodeNotification = Schema.decodeUnknownEffect(Schema.fromJsonString(S3EventNotification))

/** Pure: an S3 event key as the notification writes it (URL-encoded, `+` for space) → the object key. */
export const decodeS3EventKey = (key: string): string => decodeURIComponent(key.replaceAll("+", " "))

/** What one SQS batch did: the partial batch response, the reports of the micro-batches applied (with when), and how many failed. */
export interface SqsBatchOutcome {
  readonly response: SqsBatchResponse
  readonly reports: ReadonlyArray<{ readonly at: number; readonly report: LoadReport }>
  readonly failedBatches: number
}

/**
 * One batch of SQS messages through `loader`, as the Lambda handler (`makeSqsLoaderHandler`)
 * and the standalone loader's queue mode (QueueLoader.ts) both apply it: each micro-batch
 * manifest the S3 notifications name (ObjectCreated only; S3 test events ignored) is applied
 * in one transaction (`Loader.applyManifest`); one that fails is logged and every message
 * naming it is in `batchItemFailures`. Keys that are not manifests are skipped (logged at
 * debug: their manifest brings them). Dies (the whole batch fails, every message stays) on
 * a message that is not an S3 event notification or names another bucket than `processedBucket`.
 */
export const loadSqsEvent = (loader: Loader, processedBucket: string, event: SqsEvent): Effect.Effect<SqsBatchOutcome> =>
  Effect.gen(function* () {
    const decoded = yield* decodeSqsEvent(event).pipe(Effect.orDie)
    const messagesOfManifest = new Map<string, Array<string>>()
    for (const message of decoded.Records) {
      const notification = yield* decodeNotification(message.body).pipe(Effect.orDie)
      for (const record of notification.Records ?? []) {
        if (!record.eventName.startsWith("ObjectCreated")) continue
        if (record.s3.bucket.name !== processedBucket) {
          return yield* Effect.die(new Error(`S3 notification for bucket ${record.s3.bucket.name}, not PROCESSED_BUCKET ${processedBucket}: fix the bucket notification or the setting`))
        }
        const key = decodeS3EventKey(record.s3.object.key)
        if (parseManifestKey(key) === undefined) {
          yield* Effect.logDebug(`${key} is not a micro-batch manifest: its micro-batch is loaded when its manifest is announced`)
          continue
        }
        messagesOfManifest.set(key, [...(messagesOfManifest.get(key) ?? []), message.messageId])
      }
    }
    const failed = new Set<string>()
    const reports: Array<{ at: number; report: LoadReport }> = []
    let failedBatches = 0
    for (const [manifest, messages] of [...messagesOfManifest].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const exit = yield* Effect.exit(loader.applyManifest(manifest))
      if (Exit.isFailure(exit)) {
        yield* Effect.logError(`loading the micro-batch of ${manifest} failed; its messages will be retried`, Cause.pretty(exit.cause))
        failedBatches += 1
        for (const id of messages) failed.add(id)
      } else {
        reports.push({ at: yield* Clock.currentTimeMillis, report: exit.value })
      }
    }
    return { response: { batchItemFailures: [...failed].map((itemIdentifier) => ({ itemIdentifier })) }, reports, failedBatches }
  })

/** The loader of a Lambda container. */
class LoaderService extends Context.Service<LoaderService, Loader>()("@totes-cdc/loader/LoaderService") {}

/** What one invocation did, for the Lambda entry's EMF line (core's CloudWatchMetrics.ts, component "loader"). */
export interface LoaderInvocationReport {
  readonly rowsLoaded: number
  readonly objectsLoaded: number
  /** Micro-batches that failed (their messages are in `batchItemFailures`). */
  readonly failedBatches: number
  /** Commit→warehouse latency of the rows loaded (nearest-rank p50, p99, max; ms), null when no row carries `_commit_ts`. */
  readonly commitToWarehouseP50Ms: number | null
  readonly commitToWarehouseP99Ms: number | null
  readonly commitToWarehouseMaxMs: number | null
  /** Per warehouse table loaded: seconds from its newest `_commit_ts` applied to the end of the invocation. */
  readonly freshnessSecondsOfTable: Readonly<Partial<Record<WarehouseTable, number>>>
  /** The invocation rejected (not an S3 event, another bucket, the loader not built). */
  readonly rejected: boolean
}

export interface SqsLoaderOptions {
  /** Called once per invocation, after it answered or rejected (the Lambda entry writes EMF lines). Must not throw. */
  readonly onInvocation?: (report: LoaderInvocationReport) => void
}

/** Pure: the report of micro-batch load reports ending at `now` (ms), with `failedBatches` micro-batches not loaded. */
export const loaderInvocationReport = (reports: ReadonlyArray<{ readonly at: number; readonly report: LoadReport }>, failedBatches: number, now: number, rejected = false): LoaderInvocationReport => {
  let window = emptyLatencyWindow(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)
  let total: LoadReport = { applied: 0, alreadyApplied: 0, quarantined: [], rows: 0, commitTimes: [], newestCommitOfTable: {} }
  for (const { at, report } of reports) {
    window = addLatencies(window, at, report.commitTimes)
    total = addReports(total, report)
  }
  const [p50, p99, max] = latencyPercentiles(window, now, [50, 99, 100])
  return {
    rowsLoaded: total.rows,
    objectsLoaded: total.applied,
    failedBatches,
    commitToWarehouseP50Ms: p50 ?? null,
    commitToWarehouseP99Ms: p99 ?? null,
    commitToWarehouseMaxMs: max ?? null,
    freshnessSecondsOfTable: Object.fromEntries(
      Object.entries(total.newestCommitOfTable).map(([table, ts]) => [table, Math.max(0, Math.round((now - ts) / 1000))])
    ),
    rejected
  }
}

/**
 * `export const handler = makeSqsLoaderHandler(settings)`: applies the processed objects
 * the SQS messages name; the warehouse pool, S3 client and loader are made once per container.
 * `options.onInvocation` hears what each invocation did.
 */
export const makeSqsLoaderHandler = (settings: LoaderSettings, options: SqsLoaderOptions = {}): ((event: SqsEvent) => Promise<SqsBatchResponse>) => {
  const loaderLayer = Layer.effect(LoaderService, Effect.gen(function* () {
    return yield* startLoader(yield* WarehouseDb, settings, settings.warehouse.schema)
  })).pipe(
    Layer.provide(
      Layer.mergeAll(S3.layer(settings.s3), warehouseLayer(settings.warehouse, { max: 2, applicationName: "totes-cdc-loader" }).pipe(Layer.provide(SecretsManager.layer(settings.warehouse.region))))
    )
  )
  let runtime: ManagedRuntime.ManagedRuntime<LoaderService, unknown> | undefined

  const invocation = (event: SqsEvent) =>
    Effect.gen(function* () {
      const outcome = yield* loadSqsEvent(yield* LoaderService, settings.processedBucket, event)
      if (options.onInvocation !== undefined) options.onInvocation(loaderInvocationReport(outcome.reports, outcome.failedBatches, yield* Clock.currentTimeMillis))
      return outcome.response
    })

  return async (event) => {
    runtime ??= ManagedRuntime.make(loaderLayer)
    const current = runtime
    const exit = await current.runPromiseExit(invocation(event))
    if (Exit.isSuccess(exit)) return exit.value
    options.onInvocation?.(loaderInvocationReport([], 0, Date.now(), true))
    if (runtime === current && Cause.hasFails(exit.cause)) {
      runtime = undefined
      await current.dispose()
    }
    throw new Error(`SQS batch not loaded: ${Cause.pretty(exit.cause).split("\n")[0]}`)
  }
}
