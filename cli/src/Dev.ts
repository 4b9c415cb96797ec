/**
 * `totes-cdc dev`, the main job (`npm start`): starts the local stack, creates the
 * totesys and warehouse schemas, seeds totesys (a pg_dump's data, or simulated
 * history), runs the pipeline's components and the activity simulator as fibers,
 * serves the live dashboard (ops' Dashboard.ts) at the URL it prints, writes the state
 * file, and stops everything on SIGINT/SIGTERM.
 *
 * `dev --replay FILE` (issue 15) runs the same stack without a source: no seed, no
 * simulator, no reader; the recording is fed into the stream through the reader's producer
 * (ReplayRecordingCommand.ts), the archiver, processor and loader run unchanged, and once
 * the warehouse has applied the recording's last change `dev` says so and keeps running
 * (for `verify --against-recording`, queries, the dashboard) until stopped.
 *
 * Invariants:
 *  - Bad flags are rejected before anything starts (exit 2, one line); so is a damaged
 *    recording (`--replay`: the whole file is checked first, nothing is fed from it).
 *  - Components are fibers in one scope: when one fails, the others are interrupted,
 *    the state file is removed and the stack stops; nothing is left behind.
 *  - The state file is written only once the source is seeded and the warehouse
 *    migrated, so its presence means "ready".
 *  - The loader first catches up with an earlier run's unloaded objects, then runs
 *    in-process behind a hand-off of one micro-batch (loader/SPEC.md §4).
 */
import { DEFAULTS, quoteIdent } from "@totes-cdc/core"
import { runReaderProgram } from "@totes-cdc/cdc-reader"
import { runArchiverProgram, runProcessorProgram } from "@totes-cdc/stream-processors"
import { addLatencies, emptyLatencyWindow, type LoaderQueue, makeLoaderQueue, startLoader } from "@totes-cdc/loader"
import { describePace, type LoadStats, type Pace, runStatusLine, startDashboard, waitForPipeline } from "@totes-cdc/ops"
import {
  type LocalStackEndpoints,
  type SimulatorStats,
  checkSeedFile,
  createTotesysSchema,
  loadSeed,
  makeLocalStack,
  runSimulator,
  simulateHistory
} from "@totes-cdc/local-stack"
import { cappedBackoff, Kinesis, type PgPool, makePgPool, redactUrl, S3 } from "@totes-cdc/platform"
import { CheckpointStore, type RecordingSummary, shareShardReads } from "@totes-cdc/stream-processors"
import { Clock, Console, Context, Effect, Layer, Option, Ref } from "effect"
import { resolve } from "node:path"
import { UsageError } from "./Errors.ts"
import { consumerSettingsFromState, readerSettingsFromState, statusOptionsFromState, warehouseSettingsFromState } from "./LocalSettings.ts"
import { checkedRecording, describeFeed, describeRecording, paceOf, replayInto } from "./ReplayRecordingCommand.ts"
import { type StateFile, writeStateFile } from "./StateFile.ts"

export interface DevOptions {
  readonly seed: Option.Option<string>
  /** Simulated row changes per second; 0 = off. Default `DEFAULT_SIMULATE_RATE` (none with --replay). */
  readonly simulate: Option.Option<number>
  readonly stateFile: string
  readonly dataDir: Option.Option<string>
  /** Days of simulated history for an empty totesys when no --seed is given. */
  readonly historyDays: number
  readonly simulatorSeed: number
  readonly shards: number
  /** The dashboard's preferred port (taken: any free one; 0: any free one). */
  readonly dashboardPort: number
  /** A recording to replay instead of a source (`--replay FILE`). */
  readonly replay: Option.Option<string>
  /** `--speed N` of the replay (default 1: the recorded pace). */
  readonly speed: Option.Option<number>
  /** `--max-speed`: replay as fast as the stream takes it. */
  readonly maxSpeed: boolean
}

/** Simulated row changes per second when `--simulate` is not given. */
export const DEFAULT_SIMULATE_RATE = 5

/** What `dev` feeds the stack from: a seeded, simulated source, or a recording. */
type Feed =
  | { readonly _tag: "Source"; readonly simulate: number }
  | { readonly _tag: "Recording"; readonly path: string; readonly summary: RecordingSummary; readonly pace: Pace }

/** A long-running part of the pipeline, run as a fiber of `dev` until interrupted. */
export interface Component {
  readonly name: string
  readonly run: Effect.Effect<never, unknown>
}

/** Checks the flags (and a recording, whole); answers what `dev` feeds from. Fails with `UsageError`. */
const validate = (options: DevOptions) =>
  Effect.gen(function* () {
    const simulate = Option.getOrElse(options.simulate, () => DEFAULT_SIMULATE_RATE)
    if (!Number.isFinite(simulate) || simulate < 0) {
      return yield* new UsageError({ message: `--simulate ${simulate}: give changes per second >= 0 (0 = off)` })
    }
    if (!Number.isInteger(options.historyDays) || options.historyDays < 0) {
      return yield* new UsageError({ message: `--history-days ${options.historyDays}: give a whole number of days >= 0` })
    }
    if (!Number.isInteger(options.shards) || options.shards < 1 || options.shards > 100) {
      return yield* new UsageError({ message: `--shards ${options.shards}: give a whole number from 1 to 100` })
    }
    if (!Number.isInteger(options.dashboardPort) || options.dashboardPort < 0 || options.dashboardPort > 65_535) {
      return yield* new UsageError({ message: `--dashboard-port ${options.dashboardPort}: give a port from 0 to 65535` })
    }
    if (Option.isSome(options.replay)) {
      const conflicting = Option.isSome(options.seed) ? "--seed" : Option.isSome(options.simulate) ? "--simulate" : undefined
      if (conflicting !== undefined) {
        return yield* new UsageError({ message: `--replay and ${conflicting}: a replay runs without a source (no seed, no simulator); give one of them` })
      }
      const pace = yield* paceOf(options.speed, options.maxSpeed)
      const summary = yield* checkedRecording(options.replay.value)
      return { _tag: "Recording", path: options.replay.value, summary, pace } satisfies Feed
    }
    if (Option.isSome(options.speed) || options.maxSpeed) {
      return yield* new UsageError({ message: `${options.maxSpeed ? "--max-speed" : "--speed"}: only with --replay FILE` })
    }
    if (Option.isSome(options.seed)) {
      yield* checkSeedFile(options.seed.value).pipe(
        Effect.mapError((error) => new UsageError({ message: `--seed: ${error.message}` }))
      )
    }
    return { _tag: "Source", simulate } satisfies Feed
  })

const count = (pool: PgPool, table: string) =>
  pool.query(`SELECT count(*) AS n FROM public.${quoteIdent(table)}`).pipe(Effect.map((rows) => Number(rows[0]?.n ?? 0)))

/** Seeds an empty totesys from the dump or with simulated history; says what it did. */
const seedSource = (source: PgPool, options: DevOptions) =>
  Effect.gen(function* () {
    if ((yield* count(source, "sales_order")) > 0) {
      return "totesys already holds data (kept --data-dir): not seeded again"
    }
    if (Option.isSome(options.seed)) {
      const counts = yield* loadSeed(source, options.seed.value)
      const rows = Object.values(counts).reduce((a, b) => a + b, 0)
      return `seeded from ${options.seed.value}: ${rows.toLocaleString("en-GB")} rows (${counts.sales_order.toLocaleString("en-GB")} sales orders)`
    }
    const end = yield* Clock.currentTimeMillis
    const stats = yield* simulateHistory(source, { seed: options.simulatorSeed, days: options.historyDays, end })
    return `simulated ${options.historyDays} days of history: ${stats.changes.toLocaleString("en-GB")} rows`
  })

const describeStack = (stack: LocalStackEndpoints, options: DevOptions, feed: Feed, seeded: string, elapsedMs: number, dashboardUrl: string) =>
  [
    `totes-cdc dev: local stack ready in ${(elapsedMs / 1000).toFixed(1)} s`,
    `  dashboard         ${dashboardUrl}  (Prometheus: ${dashboardUrl}metrics)`,
    // The password is in the state file, never on the screen (nor in a terminal's scrollback or a CI log).
    `  source (totesys)  ${redactUrl(stack.sourceUrl)}`,
    `  warehouse         ${redactUrl(stack.warehouseUrl)}`,
    `  kinesis           ${stack.kinesis.endpoint}  stream ${stack.kinesis.streamName} (${stack.kinesis.shards} shards)`,
    `  s3                ${stack.s3.endpoint}  buckets ${stack.s3.buckets.ingestion}, ${stack.s3.buckets.processed}`,
    `  data              ${stack.dataDir}${Option.isSome(options.dataDir) ? " (kept)" : " (removed at stop)"}`,
    `  state file        ${resolve(options.stateFile)}`,
    `  ${seeded}`,
    feed._tag === "Recording"
      ? `  replay            ${feed.path}: ${describeRecording(feed.summary)}, at ${describePace(feed.pace)} (no source, no reader)`
      : feed.simulate > 0
        ? `  simulator         ${feed.simulate} changes/s (seed ${options.simulatorSeed})`
        : "  simulator         off",
    "Ctrl-C stops everything."
  ].join("\n")

const readerComponent = (state: StateFile): Component => ({
  name: "reader",
  run: runReaderProgram(readerSettingsFromState(state)).pipe(Effect.andThen(Effect.never))
})

/** The archiver, reading through `kinesis` (shared with the processor). */
const archiverComponent = (state: StateFile, kinesis: Layer.Layer<Kinesis>): Component => ({
  name: "archiver",
  run: runArchiverProgram(consumerSettingsFromState(state), kinesis)
})

/** The processor, reading through `kinesis` (shared with the archiver), handing each micro-batch's objects to the in-process loader. */
const processorComponent = (state: StateFile, loads: LoaderQueue, kinesis: Layer.Layer<Kinesis>): Component => ({
  name: "processor",
  run: runProcessorProgram(consumerSettingsFromState(state), loads.offer, kinesis)
})

/** The state file's content for a running stack. */
const stateOf = (stack: LocalStackEndpoints, startedAt: number): StateFile => ({
  version: 1,
  pid: process.pid,
  startedAt: new Date(startedAt).toISOString(),
  dataDir: stack.dataDir,
  source: { url: stack.sourceUrl },
  warehouse: { url: stack.warehouseUrl, schema: "public" },
  kinesis: {
    endpoint: stack.kinesis.endpoint,
    region: stack.kinesis.region,
    accessKeyId: stack.kinesis.accessKeyId ?? "",
    secretAccessKey: stack.kinesis.secretAccessKey ?? "",
    streamName: stack.kinesis.streamName,
    shards: stack.kinesis.shards
  },
  s3: {
    endpoint: stack.s3.endpoint,
    region: stack.s3.region,
    accessKeyId: stack.s3.accessKeyId ?? "",
    secretAccessKey: stack.s3.secretAccessKey ?? "",
    buckets: stack.s3.buckets
  }
})

const simulatorComponent = (source: PgPool, options: DevOptions, rate: number, stats: Ref.Ref<SimulatorStats>): Component => ({
  name: "simulator",
  run: runSimulator(source, { seed: options.simulatorSeed, rate }, stats)
})

/** Longest wait for the warehouse to apply a replayed recording's last change before `dev` says it has not. */
const REPLAY_CATCH_UP_TIMEOUT_MS = 10 * 60_000

/**
 * The replay (`--replay`): feeds the recording, waits until the processor and the loader
 * have applied its last change (ops' `waitForPipeline` without a reader), says so, then
 * idles. A wait that times out is said, not fatal: the stack keeps running.
 */
const replayComponent = (state: StateFile, stateFile: string, feed: Extract<Feed, { _tag: "Recording" }>, warehouse: PgPool): Component => {
  const settings = consumerSettingsFromState(state)
  const consumers = Layer.mergeAll(Kinesis.layer(settings.kinesis), CheckpointStore.layer({ bucket: settings.ingestionBucket })).pipe(
    Layer.provideMerge(S3.layer(settings.s3))
  )
  const waitFor = (lsn: string) =>
    waitForPipeline(
      {
        streamName: settings.streamName,
        processedBucket: settings.processedBucket,
        schema: state.warehouse.schema,
        timeoutMs: REPLAY_CATCH_UP_TIMEOUT_MS
      },
      undefined,
      warehouse,
      lsn
    ).pipe(Effect.provide(consumers))
  return {
    name: "replay",
    run: Effect.gen(function* () {
      const report = yield* replayInto(feed.path, feed.summary, feed.pace, settings, { progress: false })
      yield* Console.log(describeFeed(feed.path, settings.streamName, report, feed.pace))
      if (report.lastCommitLsn !== undefined) {
        const started = yield* Clock.currentTimeMillis
        yield* waitFor(report.lastCommitLsn).pipe(
          Effect.andThen(Clock.currentTimeMillis),
          Effect.flatMap((now) =>
            Console.log(
              `replay done: the warehouse has caught up with the recording's last change (${report.lastCommitLsn}) ${((now - started) / 1000).toFixed(1)} s after the last record; check it with: totes-cdc verify --against-recording ${feed.path} --state-file ${stateFile}`
            )
          ),
          Effect.catchTag("PipelineWaitTimeout", (timeout) => Console.error(`replay: the warehouse has not caught up: ${timeout.message}`))
        )
      }
      return yield* Effect.never
    })
  }
}


/** Runs components until one fails or the program is interrupted. */
const runComponents = (components: ReadonlyArray<Component>) =>
  components.length === 0
    ? Effect.never
    : Effect.all(
        components.map((c) => c.run.pipe(Effect.mapError((error) => ({ component: c.name, error })))),
        { concurrency: "unbounded", discard: true }
      ).pipe(
        Effect.catch(({ component, error }) =>
          Effect.fail(new Error(`${component} stopped: ${error instanceof Error ? error.message : String(error)}`))
        ),
        Effect.andThen(Effect.never)
      )

/** The `dev` command's program. Fails with `UsageError` (exit 2) or a runtime error (exit 1). */
export const dev = (options: DevOptions) =>
  Effect.scoped(
    Effect.gen(function* () {
      const feed = yield* validate(options)
      const started = yield* Clock.currentTimeMillis
      // The warehouse on a server of its own, as in production: the reader's walsender decodes the source's WAL only.
      const stack = yield* makeLocalStack({
        ...(Option.isSome(options.dataDir) ? { dataDir: options.dataDir.value } : {}),
        shards: options.shards,
        separateWarehouse: true
      })
      const source = yield* makePgPool(stack.sourceUrl, { setting: "the local source", max: 4 })
      const warehouse = yield* makePgPool(stack.warehouseUrl, { setting: "the local warehouse", max: 4 })
      yield* createTotesysSchema(source)
      const s3 = yield* Layer.build(S3.layer(stack.s3))
      // Starting the loader migrates the warehouse (idempotent), before the state file says "ready".
      const loader = yield* startLoader(warehouse, { processedBucket: stack.s3.buckets.processed, truncateMode: "quarantine" }, "public").pipe(
        Effect.provide(s3)
      )
      const seeded = feed._tag === "Recording" ? "source            none: replaying a recording" : yield* seedSource(source, options)
      const withoutDashboard: StateFile = { ...stateOf(stack, started), ...(feed._tag === "Recording" ? { replay: { recording: resolve(feed.path) } } : {}) }
      const dashboardUrl = yield* startDashboard({
        settings: readerSettingsFromState(withoutDashboard),
        warehouse: warehouseSettingsFromState(withoutDashboard),
        port: options.dashboardPort,
        fallbackToAnyPort: true,
        pools: { source, warehouse },
        status: statusOptionsFromState(withoutDashboard)
      })
      const state: StateFile = { ...withoutDashboard, dashboard: { url: dashboardUrl } }
      // The banner first: whoever sees the state file (it means "ready") finds the banner printed too.
      const ready = yield* Clock.currentTimeMillis
      yield* Console.log(describeStack(stack, options, feed, seeded, ready - started, dashboardUrl))
      yield* writeStateFile(options.stateFile, state)
      const stats = yield* Ref.make<SimulatorStats>({ transactions: 0, changes: 0 })
      const loadStats = yield* Ref.make<LoadStats>({ rows: 0, latency: emptyLatencyWindow() })
      const caughtUp = yield* loader.catchUp
      if (caughtUp.applied > 0) yield* Console.log(`  loader caught up with ${caughtUp.applied} objects of an earlier run`)
      const loads = yield* makeLoaderQueue(loader, {
        capacity: 1,
        // A micro-batch that fails to load is retried with the same objects until it loads (100 ms doubling to 10 s, jittered).
        retry: cappedBackoff("10 seconds"),
        onReport: (report) =>
          Clock.currentTimeMillis.pipe(
            Effect.flatMap((now) => Ref.update(loadStats, (s) => ({ rows: s.rows + report.rows, latency: addLatencies(s.latency, now, report.commitTimes) })))
          )
      })
      // The archiver and the processor read the same shards: one GetRecords serves both (SharedShardReads.ts).
      const kinesis = Context.get(yield* Layer.build(Kinesis.layer(consumerSettingsFromState(state).kinesis)), Kinesis)
      const sharedReads = Layer.succeed(Kinesis, yield* shareShardReads(kinesis))
      const components: Array<Component> = [
        {
          name: "status",
          run: runStatusLine({ source, slot: feed._tag === "Recording" ? undefined : DEFAULTS.slot, deadLetterBucket: stack.s3.buckets.ingestion, load: loadStats, simulator: stats }).pipe(
            Effect.provide(s3)
          )
        },
        feed._tag === "Recording" ? replayComponent(state, options.stateFile, feed, warehouse) : readerComponent(state),
        archiverComponent(state, sharedReads),
        processorComponent(state, loads, sharedReads),
        { name: "loader", run: loads.run }
      ]
      if (feed._tag === "Source" && feed.simulate > 0) components.push(simulatorComponent(source, options, feed.simulate, stats))
      return yield* runComponents(components)
    })
  )
