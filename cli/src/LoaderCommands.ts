/**
 * `totes-cdc loader` (the loader alone: catch up from the processed bucket's listing, then
 * poll it; or, with LOADER_QUEUE_URL, consume the bucket's S3 notifications from SQS), `totes-cdc loader release TABLE --as apply|ignore` (end a truncate quarantine
 * and load what waited) and `totes-cdc replay --since TIME [--tables …]` (re-run the
 * processor and the loader from the raw archive). Settings from a `dev` state file
 * (`--state-file`) or the environment.
 */
import { connectWarehouse, type LoaderSettings, loaderSettingsConfig, releaseQuarantine, runLoaderProgram, runQueueLoaderProgram, startLoader } from "@totes-cdc/loader"
import { S3, SecretsManager } from "@totes-cdc/platform"
import { consumerSettings, replayArchive } from "@totes-cdc/stream-processors"
import { WAREHOUSE_TABLES, type WarehouseTable } from "@totes-cdc/core"
import { Console, Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { describeConfigError, UsageError } from "./Errors.ts"
import { consumerSettingsFromState, loaderSettingsFromState } from "./LocalSettings.ts"
import { readStateFile, stateFileFlag } from "./StateFile.ts"

const ENVIRONMENT =
  "WAREHOUSE_URL (required), WAREHOUSE_SCHEMA (public), WAREHOUSE_CA_FILE (TLS, verify-full), WAREHOUSE_PASSWORD_SECRET_ARN, PROCESSED_BUCKET (totes-cdc-processed), TRUNCATE_MODE (quarantine|apply|ignore), LOADER_POLL_INTERVAL_MS (1000), LOADER_QUEUE_URL (consume the processed bucket's S3 notifications from this SQS queue instead of polling), AWS_REGION, S3_ENDPOINT / SQS_ENDPOINT (emulators; else AWS_ENDPOINT_URL), AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"

const configError = (error: { readonly message: string }) => new UsageError({ message: describeConfigError(error.message) })

/** The loader's settings (and the ingestion bucket) from a state file or the environment. */
const settingsOf = (stateFile: Option.Option<string>) =>
  Option.isSome(stateFile)
    ? readStateFile(stateFile.value).pipe(
        Effect.map((state) => ({ loader: loaderSettingsFromState(state), ingestionBucket: consumerSettingsFromState(state).ingestionBucket }))
      )
    : Effect.gen(function* () {
        const loader = yield* Effect.mapError(loaderSettingsConfig, configError)
        const consumers = yield* Effect.mapError(consumerSettings, configError)
        return { loader, ingestionBucket: consumers.ingestionBucket }
      })

const tableArgument = (value: string) =>
  (WAREHOUSE_TABLES as ReadonlyArray<string>).includes(value)
    ? Effect.succeed(value as WarehouseTable)
    : Effect.fail(new UsageError({ message: `${value} is not a warehouse table: give one of ${WAREHOUSE_TABLES.join(", ")}` }))

/** A scoped loader on the warehouse of `settings` (migrated). */
const openLoader = (settings: LoaderSettings) =>
  Effect.gen(function* () {
    const pool = yield* connectWarehouse(settings.warehouse, { applicationName: "totes-cdc-loader" })
    const loader = yield* startLoader(pool, settings, settings.warehouse.schema)
    return { pool, loader }
  })

const release = Command.make(
  "release",
  {
    table: Argument.Literals("table", WAREHOUSE_TABLES).pipe(Argument.withDescription("the quarantined warehouse table")),
    as: Flag.Literals("as", ["apply", "ignore"]).pipe(Flag.withDescription("apply the truncate (empty the table up to it) or ignore it")),
    stateFile: stateFileFlag
  },
  ({ table, as, stateFile }) =>
    Effect.gen(function* () {
      const name = table
      const { loader: settings } = yield* settingsOf(stateFile)
      yield* Effect.scoped(
        Effect.gen(function* () {
          const { pool, loader } = yield* openLoader(settings)
          const released = yield* releaseQuarantine(pool, settings.warehouse.schema, name, as)
          if (released === 0) return yield* new UsageError({ message: `${name} is not quarantined: nothing to release (see totes-cdc status)` })
          const report = yield* loader.catchUp
          yield* Console.log(`released ${name} (${released} truncate${released === 1 ? "" : "s"} ${as === "apply" ? "applied" : "ignored"}); loaded ${report.applied} objects that waited (${report.rows.toLocaleString("en-GB")} rows)`)
        })
      ).pipe(Effect.provide(S3.layer(settings.s3)), Effect.provide(SecretsManager.layer(settings.warehouse.region)))
    })
).pipe(Command.withDescription("End the quarantine a source truncate put on a warehouse table, applying or ignoring it, and load the objects that waited"))

export const loaderCommand = Command.make("loader", { stateFile: stateFileFlag }, ({ stateFile }) =>
  Effect.gen(function* () {
    const { loader } = yield* settingsOf(stateFile)
    return yield* loader.queue === undefined ? runLoaderProgram(loader) : runQueueLoaderProgram(loader, loader.queue)
  })
).pipe(
  Command.withDescription(
    `Load the processed bucket's micro-batches into the warehouse, each whole in one transaction once its manifest is written: catch up from the bucket's manifests, then poll them — or, with LOADER_QUEUE_URL, load the micro-batches whose manifests its S3 notifications on that SQS queue announce, as the Lambda does on AWS. Environment: ${ENVIRONMENT}`
  ),
  Command.withSubcommands([release])
)

export const replayCommand = Command.make(
  "replay",
  {
    since: Flag.String("since").pipe(Flag.withMetavar("TIME"), Flag.withDescription("replay changes committed at or after this time (ISO-8601, e.g. 2024-02-23T00:00:00Z)")),
    tables: Flag.String("tables").pipe(Flag.withMetavar("T1,T2"), Flag.withDescription("only these warehouse tables (default: all 11)"), Flag.optional),
    stateFile: stateFileFlag
  },
  ({ since, tables, stateFile }) =>
    Effect.gen(function* () {
      const from = new Date(since)
      if (Number.isNaN(from.getTime())) return yield* new UsageError({ message: `--since ${since}: not a time; give ISO-8601, e.g. 2024-02-23T00:00:00Z` })
      const selected = Option.isSome(tables) ? new Set(yield* Effect.forEach(tables.value.split(",").map((t) => t.trim()), tableArgument)) : undefined
      const { loader: settings, ingestionBucket } = yield* settingsOf(stateFile)
      yield* Effect.scoped(
        Effect.gen(function* () {
          const { loader } = yield* openLoader(settings)
          let applied = 0
          let alreadyApplied = 0
          const report = yield* replayArchive(
            { ingestionBucket, processedBucket: settings.processedBucket, since: from, ...(selected === undefined ? {} : { tables: selected }) },
            (objects) =>
              loader.applyObjects(objects).pipe(
                Effect.map((r) => {
                  applied += r.applied
                  alreadyApplied += r.alreadyApplied
                })
              )
          )
          yield* Console.log(
            `replayed ${report.replayed.toLocaleString("en-GB")} changes since ${from.toISOString()} from ${report.archiveObjects} archive objects (${report.folded.toLocaleString("en-GB")} earlier changes rebuilt the join state): ${report.rows.toLocaleString("en-GB")} rows in ${report.objects} objects; loader applied ${applied}, ${alreadyApplied} already applied; ${report.skippedLines} lines skipped, ${report.problems} transform problems; ${(report.elapsedMs / 1000).toFixed(1)} s`
          )
        })
      ).pipe(Effect.provide(S3.layer(settings.s3)), Effect.provide(SecretsManager.layer(settings.warehouse.region)))
    })
).pipe(Command.withDescription(`Re-run the processor and the loader from the raw archive in the ingestion bucket (idempotent: over a populated warehouse nothing changes; into an empty one it rebuilds it). Environment: the loader's (${ENVIRONMENT}) and INGESTION_BUCKET`))
