/**
 * Benchmark "freshness": how long a committed source change takes to become visible in
 * the warehouse (commit → visible latency, ms), measured from outside the pipeline by an
 * independent observer while a load generator commits totesys-shaped traffic at a steady
 * rate — on the real pipeline, started as a user starts it.
 *
 * One repetition:
 *  1. `totes-cdc dev --seed <the real dump> --simulate 0 --state-file <tmp>` as a child
 *     process (`npm start` without npm). Snapshot time = spawn → the warehouse's fact
 *     tables hold as many rows as the source's sales_order, purchase_order and payment
 *     (one version per seeded row: the initial snapshot is loaded), polled every 100 ms;
 *     the time to the state file is recorded too.
 *  2. Observer: its own warehouse connection polls every `pollMs` for fact rows added
 *     after its cursor (surrogate keys; OBSERVER_POLL_SQL) and notes, for each row's
 *     marker (fact table, natural id, last_updated version), the time the first poll
 *     that returned it came back: an upper bound of when it became visible, at most one
 *     poll interval + one poll late.
 *  3. Load generator, per phase (warm-up, then each rate): its own source connections
 *     (`workersFor(rate)`), events of FreshnessTraffic.ts (sales, purchases, payment
 *     flips; one event = one transaction = one statement) committed on a schedule — the
 *     commit following n changes starts at start + n / rate s, or as soon as a
 *     connection is free when behind — and each marker's commit time is the clock right
 *     after the statement (autocommit: its COMMIT) returned. Same process, same
 *     monotonic clock as the observer: latency = visible − committed.
 *  4. Drain: the phase ends when every marker was seen and every transaction row of the
 *     phase is a real dim_transaction row — or when none of the phase's markers became
 *     visible for `graceSeconds` (or after `maxDrainSeconds`): the rest count as missing.
 *     Missing markers are then looked up in the warehouse directly, to tell rows that are
 *     absent (lost or late: the benchmark fails) from rows the observer missed (a bug of
 *     the benchmark: it fails too).
 *  5. `dev` stopped with SIGINT and awaited (its exit code is recorded: 130 expected).
 * Per phase also: achieved rate, how late commits started against the schedule, commit
 * round trips, the reader's commit→Kinesis lag samples (its metrics snapshot, the figure
 * `totes-cdc status` prints, sampled every 2 s), dev's own status line at the end, CPU
 * (machine busy fraction, the dev process tree, this process) and the load average.
 *
 * The soak benchmark (Soak.ts) reuses the pieces: `bootDev` and `awaitSnapshot` (step 1),
 * `startObserver` (2), `loadTraffic` and `generate` (3; commits go to a callback, so a
 * long run keeps none it does not need), `readerSnapshot`, `ensureRunning`, `stop`.
 */
import { loadMetricsSnapshot } from "@totes-cdc/cdc-reader"
import { readStateFile, type StateFile } from "@totes-cdc/cli"
import { makePgPool, type PgError, type PgPool, type PgSession, S3 } from "@totes-cdc/platform"
import { TOTESYS_DUMP } from "@totes-cdc/local-stack/testing"
import { Effect, Fiber, Layer } from "effect"
import { existsSync } from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import os, { tmpdir } from "node:os"
import { join } from "node:path"
import {
  dueMs,
  EVENT_CHANGES,
  eventKind,
  FACT_TABLE_NAMES,
  type FactTable,
  FLIP_SQL,
  flipWritten,
  latencySummary,
  type LatencySummary,
  makeMarkerBook,
  makeRandom,
  type MarkerBook,
  MARKERS_PRESENT_SQL,
  markerKey,
  OBSERVER_POLL_SQL,
  OBSERVER_START_SQL,
  orderWritten,
  percentile,
  PURCHASE_SQL,
  purchaseParams,
  REFERENCE_IDS_SQL,
  type ReferenceIds,
  referenceIdsOf,
  SALE_SQL,
  saleParams,
  SOURCE_FACT_COUNTS_SQL,
  TRANSACTIONS_PRESENT_SQL,
  UNPAID_PAYMENTS_SQL,
  WAREHOUSE_FACT_COUNTS_SQL,
  type Written
} from "./FreshnessTraffic.ts"
import { type Dev, spawnDev, stopDev, waitUntil } from "./DevProcess.ts"
import { busyFraction, cpuSecondsSince, machineCpuTicks, treeCpuSeconds } from "./Profiling.ts"
import { BenchError } from "./ReaderDrain.ts"

export const BENCHMARK_NAME = "freshness"

/** Seed of the generated values. */
export const TRAFFIC_SEED = 1

/** A steady load: `rate` row changes per second for `seconds`. */
export interface Phase {
  readonly rate: number
  readonly seconds: number
}

export interface FreshnessOptions {
  /** The measured phases, run in this order in every repetition. */
  readonly phases: ReadonlyArray<Phase>
  readonly reps: number
  /** The unmeasured warm-up phase run first (after the snapshot), or none. */
  readonly warmup: Phase | null
  /** Observer poll interval, ms. */
  readonly pollMs: number
  /** A phase's markers not seen after none became visible for this long count as missing. */
  readonly graceSeconds: number
  /** And at the latest this long after the phase's last commit. */
  readonly maxDrainSeconds: number
  /** Progress lines (stderr). */
  readonly log: (line: string) => void
  /** V8 CPU profiles of every repetition's dev (node --cpu-prof) into this directory (diagnostics). */
  readonly cpuProfileDir?: string
}

/** Source connections of the load generator at `rate` changes/s: 2 up to 500/s, then one per 250 changes/s, at most 16. */
export const workersFor = (rate: number): number => Math.min(16, Math.max(2, Math.ceil(rate / 250)))

export interface PhaseResult {
  readonly rate: number
  readonly seconds: number
  readonly warmup: boolean
  readonly workers: number
  /** Row changes committed (inserts + updates), commits (= source transactions), fact markers, dim_transaction rows expected. */
  readonly changes: number
  readonly commits: number
  readonly markers: number
  readonly transactions: number
  /** Changes per second achieved: changes ÷ (last commit − schedule start). */
  readonly achievedRate: number
  /** How late commits started against their schedule (ms): > 0 means the generator (or the source) could not keep up. */
  readonly scheduleLagMs: { readonly p50: number; readonly p99: number; readonly max: number }
  /** Commit round trips (statement sent → COMMIT returned), ms. */
  readonly commitMs: { readonly p50: number; readonly p99: number; readonly max: number }
  /** Commit → visible in the warehouse, ms, over the phase's fact markers. */
  readonly latency: LatencySummary
  /** Markers not seen (absent from the warehouse after the drain). */
  readonly missing: number
  /** Markers the observer did not see though the warehouse holds them (a benchmark bug; must be 0). */
  readonly unseenPresent: number
  /** Transactions of the phase not in dim_transaction as real rows after the drain. */
  readonly transactionsMissing: number
  /** Last commit → last marker seen (or the drain gave up), s. */
  readonly drainSeconds: number
  /** The reader's commit→Kinesis lag of its latest batch, per metrics report during the phase (every 10 s in dev), ms. */
  readonly readerLagMs: ReadonlyArray<number>
  /** dev's own status line at the end of the drain (its commit→warehouse p50/p99 over the last minute). */
  readonly devStatus: string | null
  /** The machine's 1-minute load average at the phase's start. */
  readonly loadAverage: number
  /** Busy fraction of the machine's CPUs during load + drain; CPU seconds of the dev process tree (node, kinesalite, PostgreSQL) and of this process. */
  readonly cpu: { readonly machineBusy: number | null; readonly devSeconds: number | null; readonly benchSeconds: number }
  /** Observer polls during the phase and their round trips (ms). */
  readonly observer: { readonly polls: number; readonly pollMsP50: number; readonly pollMsP99: number }
}

export interface RepResult {
  readonly rep: number
  /** Shards of dev's Kinesis stream, and its PostgreSQL's version. */
  readonly shards: number
  readonly postgres: string
  /** Spawn → state file written (stack up, source seeded, warehouse migrated), s. */
  readonly stateFileSeconds: number
  /** Spawn → the seeded data loaded in the warehouse ("npm start to loaded warehouse"), s. */
  readonly snapshotSeconds: number
  readonly phases: ReadonlyArray<PhaseResult>
  /** Facts rows in the warehouse that no commit of the generator made (must be 0 with --simulate 0). */
  readonly strangers: number
  /** dev's exit code after SIGINT (130 expected) and the seconds it took to stop. */
  readonly devExit: { readonly code: number | null; readonly signal: string | null; readonly seconds: number }
  readonly wallSeconds: number
}

const fail = (message: string) => new BenchError({ message })
const round = (x: number, digits = 1) => Number(x.toFixed(digits))
const now = () => performance.now()

const spread = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return { p50: round(percentile(sorted, 50)), p99: round(percentile(sorted, 99)), max: round(sorted[sorted.length - 1] ?? NaN) }
}

const dbError = (what: string) => (error: PgError) => fail(`${what}: ${error.message}`)

// ---------------------------------------------------------------------------------------
// 1. `totes-cdc dev` as a child process (DevProcess.ts).

/** Fails when dev has exited. */
export const ensureRunning = (dev: Dev) =>
  dev.child.exitCode !== null || dev.child.signalCode !== null
    ? Effect.fail(fail(`totes-cdc dev exited (code ${dev.child.exitCode}, signal ${dev.child.signalCode}); its last output:\n${dev.tail()}`))
    : Effect.void

/** dev's last status line in its output (`[hh:mm:ss] captured … commit→warehouse …`, one a second), or null. */
export const statusLine = (dev: Dev): string | null =>
  dev
    .tail()
    .split("\n")
    .findLast((line) => line.includes("commit→warehouse")) ?? null

/** Stops dev (SIGINT, awaited) and answers its exit and the seconds it took. */
export const stop = (dev: Dev) =>
  Effect.promise(async () => {
    const started = now()
    const exit = await stopDev(dev)
    return { ...exit, seconds: round((now() - started) / 1000) }
  })

/** The first row of `sql` as one number per fact table (FACT_TABLE_NAMES order): the row counts of `WAREHOUSE_FACT_COUNTS_SQL` / `SOURCE_FACT_COUNTS_SQL`. */
export const counts = (pool: PgSession, sql: string) =>
  pool.query(sql).pipe(Effect.map(([row]) => FACT_TABLE_NAMES.map((table) => Number(row?.[table] ?? NaN))))

// ---------------------------------------------------------------------------------------
// 2. The observer.

export interface Observer {
  /** Polls so far, and their round trips (ms). */
  readonly polls: () => ReadonlyArray<number>
  /** Fails when the observer loop has stopped (a poll failed). */
  readonly ensureRunning: Effect.Effect<void, BenchError>
}

/**
 * Forks the observer loop (module header, step 2) in the current scope: every `pollMs`
 * ms, each fact row past the cursor is reported to `book.visible(marker, at)` (`at` the
 * poll's return, `performance.now()` ms). Any sink will do (the soak's is windowed).
 */
export const startObserver = (warehouse: PgPool, book: Pick<MarkerBook, "visible">, pollMs: number) =>
  Effect.gen(function* () {
    const [start] = yield* warehouse.query(OBSERVER_START_SQL).pipe(Effect.mapError(dbError("observer: cannot read the fact tables")))
    const cursor = FACT_TABLE_NAMES.map((table) => Number(start?.[table] ?? 0))
    const index = new Map<string, number>(FACT_TABLE_NAMES.map((table, i) => [table, i]))
    const pollTimes: Array<number> = []
    const loop = Effect.scoped(
      Effect.gen(function* () {
        const session = yield* warehouse.reserve
        while (true) {
          const began = now()
          const rows = yield* session.query(OBSERVER_POLL_SQL, cursor)
          const at = now()
          pollTimes.push(at - began)
          for (const row of rows) {
            const table = row.fact_table as FactTable
            book.visible(markerKey(table, row.natural_id ?? "?", row.version ?? ""), at)
            const i = index.get(table)!
            cursor[i] = Math.max(cursor[i]!, Number(row.record_id))
          }
          yield* Effect.sleep(Math.max(0, pollMs - (now() - began)))
        }
      })
    ).pipe(Effect.mapError(dbError("observer: a warehouse poll failed")))
    const fiber = yield* Effect.forkScoped(loop)
    const ensureRunning = Effect.suspend(() => {
      const exit = fiber.pollUnsafe()
      return exit === undefined ? Effect.void : Effect.fail(fail(`the observer stopped: ${String(exit)}`))
    })
    return { polls: () => pollTimes, ensureRunning } satisfies Observer
  })

// ---------------------------------------------------------------------------------------
// 3. The load generator.

/** What the generator carries from phase to phase of one repetition. */
export interface Traffic {
  readonly ids: ReferenceIds
  readonly random: () => number
  /** Events claimed so far (the next one's index in EVENT_CYCLE). */
  events: number
  /** Unpaid payments, oldest first, with when each may be flipped (ms, `now()` clock); `head` = next. */
  readonly unpaid: Array<{ readonly id: number; readonly after: number }>
  head: number
}

/** A new payment may be flipped this long after its commit (so its flip is a later `last_updated` version, as in real traffic). */
const FLIP_AFTER_MS = 1_000

/** One commit of the generator (times: `performance.now()` ms): due by the schedule, statement sent, COMMIT returned. */
export interface Commit {
  readonly due: number
  readonly began: number
  readonly at: number
  readonly changes: number
  readonly written: Written
}

/**
 * Runs one phase's load: `changes` row changes at `rate`/s from `start` (ms), on
 * `workers` connections, handing every commit to `onCommit` as its COMMIT returns (the
 * generator keeps none: a caller that needs them all collects them).
 */
export const generate = (source: PgPool, traffic: Traffic, onCommit: (commit: Commit) => void, rate: number, changes: number, workers: number, start: number) =>
  Effect.gen(function* () {
    let claimed = 0
    const worker = Effect.scoped(
      Effect.gen(function* () {
        const session = yield* source.reserve
        while (claimed < changes) {
          // Claim the next event (synchronously: no other worker runs in between).
          let kind = eventKind(traffic.events)
          let flip: number | undefined
          if (kind === "flip") {
            const next = traffic.unpaid[traffic.head]
            if (next !== undefined && next.after <= now()) {
              flip = next.id
              traffic.head += 1
              // Drop the flipped head now and then (a long run would keep every payment it ever made).
              if (traffic.head >= 4_096 && traffic.head * 2 >= traffic.unpaid.length) {
                traffic.unpaid.splice(0, traffic.head)
                traffic.head = 0
              }
            } else kind = "sale"
          }
          traffic.events += 1
          const due = start + dueMs(claimed, rate)
          claimed += EVENT_CHANGES[kind]
          const params = kind === "sale" ? saleParams(traffic.random, traffic.ids) : kind === "purchase" ? purchaseParams(traffic.random, traffic.ids) : [flip!]
          const wait = due - now()
          if (wait > 0) yield* Effect.sleep(wait)
          const began = now()
          const rows = yield* session.query(kind === "sale" ? SALE_SQL : kind === "purchase" ? PURCHASE_SQL : FLIP_SQL, params)
          const at = now()
          if (kind === "flip" && rows[0] === undefined) return yield* fail(`payment ${flip} was already paid: the generator flips each payment once`)
          const written = kind === "flip" ? flipWritten(rows[0]!) : orderWritten(kind, rows[0])
          if (written.newPayment !== null) traffic.unpaid.push({ id: written.newPayment, after: at + FLIP_AFTER_MS })
          onCommit({ due, began, at, changes: EVENT_CHANGES[kind], written })
        }
      })
    ).pipe(Effect.catchTag("PgError", (error) => Effect.fail(fail(`load generator: a commit failed: ${error.message}`))))
    yield* Effect.all(Array.from({ length: workers }, () => worker), { concurrency: "unbounded", discard: true })
  })

// ---------------------------------------------------------------------------------------
// 4. A phase: load, drain, check.

interface RepContext {
  readonly dev: Dev
  readonly source: PgPool
  readonly warehouse: PgPool
  readonly s3: Layer.Layer<S3>
  readonly book: MarkerBook
  readonly observer: Observer
  readonly traffic: Traffic
  readonly options: FreshnessOptions
}

/** The reader's metrics snapshot (what `totes-cdc status` shows), where dev keeps it (LocalSettings.ts: `state/cdc-reader/` in the ingestion bucket, slot totes_cdc); undefined when unreadable. */
export const readerSnapshot = (state: StateFile, s3: Layer.Layer<S3>) =>
  loadMetricsSnapshot({ bucket: state.s3.buckets.ingestion, prefix: "state/cdc-reader/" }, "totes_cdc").pipe(
    Effect.provide(s3),
    Effect.orElseSucceed(() => undefined)
  )

/** Samples the reader's metrics snapshot every 2 s into `samples` (by report time), until interrupted. */
const sampleReader = (state: StateFile, s3: Layer.Layer<S3>, samples: Map<string, number>) =>
  Effect.gen(function* () {
    while (true) {
      const snapshot = yield* readerSnapshot(state, s3)
      if (snapshot !== undefined) samples.set(snapshot.at, snapshot.commitToKinesisLagMs)
      yield* Effect.sleep(2_000)
    }
  })

const runPhase = (ctx: RepContext, state: StateFile, phase: Phase, warmup: boolean, label: string) =>
  Effect.gen(function* () {
    const { book, options } = ctx
    const workers = workersFor(phase.rate)
    const target = Math.round(phase.rate * phase.seconds)
    const loadAverage = round(os.loadavg()[0] ?? 0, 2)
    const ticks = machineCpuTicks()
    const devCpu = treeCpuSeconds(ctx.dev.pid)
    const benchCpu = process.cpuUsage()
    const pollsBefore = ctx.observer.polls().length
    const wallStart = Date.now()
    const samples = new Map<string, number>()
    const sampler = yield* Effect.forkChild(sampleReader(state, ctx.s3, samples))
    options.log(`${label}: ${target.toLocaleString("en-GB")} changes at ${phase.rate.toLocaleString("en-GB")}/s on ${workers} connections (load average ${loadAverage})`)

    const start = now() + 20
    const commits: Array<Commit> = []
    yield* generate(
      ctx.source,
      ctx.traffic,
      (commit) => {
        for (const marker of commit.written.markers) book.committed(marker, commit.at)
        commits.push(commit)
      },
      phase.rate,
      target,
      workers,
      start
    )
    const lastCommit = commits.reduce((max, c) => Math.max(max, c.at), -Infinity)
    const wallLoadEnd = Date.now()
    const markers = commits.flatMap((c) => c.written.markers)
    const transactions = commits.flatMap((c) => (c.written.transactionId === null ? [] : [c.written.transactionId]))
    const changes = commits.reduce((sum, c) => sum + c.changes, 0)

    // Drain: until every marker is seen and every transaction present, or no progress for graceSeconds.
    let pending = markers.filter((marker) => !book.isVisible(marker))
    let lastProgress = now()
    let transactionsMissing = transactions.length
    let lastCheck = 0
    while (true) {
      yield* ensureRunning(ctx.dev)
      yield* ctx.observer.ensureRunning
      const before = pending.length
      pending = pending.filter((marker) => !book.isVisible(marker))
      if (pending.length < before) lastProgress = now()
      if (pending.length === 0 && now() - lastCheck >= 250) {
        lastCheck = now()
        const present = yield* ctx.warehouse.query(TRANSACTIONS_PRESENT_SQL, [`{${transactions.join(",")}}`]).pipe(Effect.mapError(dbError("cannot read dim_transaction")))
        if (present.length > transactionsMissing) lastProgress = now()
        transactionsMissing = transactions.length - present.length
        if (transactionsMissing === 0) break
      }
      if (now() - lastProgress > options.graceSeconds * 1000 || now() - lastCommit > options.maxDrainSeconds * 1000) break
      // Checking many pending markers costs CPU the pipeline needs while it catches up: less often then.
      yield* Effect.sleep(pending.length > 1_000 ? 250 : 20)
    }
    const drainEnd = now()
    yield* Fiber.interrupt(sampler)
    const { latencies, missing } = book.outcome(markers)
    let unseenPresent = 0
    if (missing.length > 0) {
      const present = yield* ctx.warehouse.query(MARKERS_PRESENT_SQL, [`{${missing.map((m) => `"${m}"`).join(",")}}`]).pipe(Effect.mapError(dbError("cannot look up missing markers")))
      unseenPresent = present.length
    }
    const polls = ctx.observer.polls().slice(pollsBefore)
    const first = commits.reduce((min, c) => Math.min(min, c.due), Infinity)
    const result: PhaseResult = {
      rate: phase.rate,
      seconds: phase.seconds,
      warmup,
      workers,
      changes,
      commits: commits.length,
      markers: markers.length,
      transactions: transactions.length,
      achievedRate: round(changes / ((lastCommit - first) / 1000), 0),
      scheduleLagMs: spread(commits.map((c) => c.began - c.due)),
      commitMs: spread(commits.map((c) => c.at - c.began)),
      latency: latencySummary(latencies),
      missing: missing.length - unseenPresent,
      unseenPresent,
      transactionsMissing,
      drainSeconds: round(((missing.length === 0 ? book.lastVisibleAt(markers) : drainEnd) - lastCommit) / 1000, 2),
      readerLagMs: [...samples].filter(([at]) => Date.parse(at) >= wallStart && Date.parse(at) <= wallLoadEnd + 1_000).map(([, lag]) => lag),
      devStatus: statusLine(ctx.dev),
      loadAverage,
      cpu: {
        machineBusy: (() => {
          const busy = busyFraction(ticks, machineCpuTicks())
          return busy === null ? null : round(busy, 3)
        })(),
        devSeconds: (() => {
          const after = treeCpuSeconds(ctx.dev.pid)
          return after === null || devCpu === null ? null : round(after - devCpu, 2)
        })(),
        benchSeconds: round(cpuSecondsSince(benchCpu), 2)
      },
      observer: { polls: polls.length, pollMsP50: round(percentile([...polls].sort((a, b) => a - b), 50)), pollMsP99: round(percentile([...polls].sort((a, b) => a - b), 99)) }
    }
    options.log(
      `${label}: ${result.achievedRate.toLocaleString("en-GB")} changes/s achieved (${changes.toLocaleString("en-GB")} in ${result.commits.toLocaleString("en-GB")} commits); commit→visible p50 ${result.latency.p50} ms, p95 ${result.latency.p95}, p99 ${result.latency.p99}, max ${result.latency.max} over ${result.latency.count.toLocaleString("en-GB")} fact versions; missing ${result.missing}${result.unseenPresent > 0 ? ` (+${result.unseenPresent} present but unseen)` : ""}, transactions missing ${transactionsMissing}; commits started late p99 ${result.scheduleLagMs.p99} ms; machine busy ${result.cpu.machineBusy === null ? "?" : `${Math.round(result.cpu.machineBusy * 100)}%`}`
    )
    return result
  })

// ---------------------------------------------------------------------------------------
// A repetition, and the run.

/**
 * Step 1's first half: a temporary directory (removed when the scope closes), then
 * `totes-cdc dev --seed <dump> --simulate 0 --state-file <dir>/state.json` (stopped when
 * the scope closes), awaited until its state file exists. `spawn` adds to spawnDev's
 * options (an environment, a CPU profile directory). Answers dev, its state, the directory
 * and spawn → state file (s).
 */
export const bootDev = (
  label: string,
  log: (line: string) => void,
  spawn: { readonly env?: Readonly<Record<string, string>>; readonly cpuProfileDir?: string } = {}
) =>
  Effect.gen(function* () {
    const dir = yield* Effect.acquireRelease(
      Effect.promise(() => mkdtemp(join(tmpdir(), "totes-cdc-freshness-"))),
      (path) => Effect.promise(() => rm(path, { recursive: true, force: true }))
    )
    const stateFile = join(dir, "state.json")
    log(`${label}: starting totes-cdc dev --seed ${TOTESYS_DUMP} --simulate 0 --state-file ${stateFile}`)
    const dev = yield* spawnDev(["--seed", TOTESYS_DUMP, "--simulate", "0", "--state-file", stateFile], spawn)
    yield* waitUntil(dev, "the state file", Effect.sync(() => existsSync(stateFile)), 50, 120_000)
    const stateFileSeconds = round((now() - dev.spawnedAt) / 1000, 2)
    const state = yield* readStateFile(stateFile).pipe(Effect.mapError((error) => fail(error.message)))
    return { dev, state, dir, stateFileSeconds }
  })

/** Step 1's second half: waits until the warehouse's fact tables hold as many rows as the source's tables (the snapshot is loaded); answers spawn → then, s. */
export const awaitSnapshot = (dev: Dev, source: PgPool, warehouse: PgPool) =>
  Effect.gen(function* () {
    const sourceCounts = yield* counts(source, SOURCE_FACT_COUNTS_SQL)
    yield* waitUntil(
      dev,
      `the snapshot load (warehouse fact rows = source rows: ${sourceCounts.join(", ")})`,
      counts(warehouse, WAREHOUSE_FACT_COUNTS_SQL).pipe(Effect.map((got) => got.every((n, i) => n === sourceCounts[i]))),
      100,
      300_000
    )
    return round((now() - dev.spawnedAt) / 1000, 2)
  })

/** The generator's starting point on a seeded source: its reference ids, its unpaid payments (flip candidates), values from `seed`. */
export const loadTraffic = (source: PgPool, seed: number) =>
  Effect.gen(function* () {
    const ids = referenceIdsOf((yield* source.query(REFERENCE_IDS_SQL))[0])
    const unpaid = (yield* source.query(UNPAID_PAYMENTS_SQL)).map((row) => ({ id: Number(row.payment_id), after: 0 }))
    const traffic: Traffic = { ids, random: makeRandom(seed), events: 0, unpaid, head: 0 }
    return traffic
  })

/** One repetition (module header). */
export const freshnessRep = (rep: number, options: FreshnessOptions) =>
  Effect.gen(function* () {
    const wallStart = now()
    const label = `rep ${rep}/${options.reps}`
    const { dev, state, stateFileSeconds } = yield* bootDev(
      label,
      options.log,
      options.cpuProfileDir === undefined ? {} : { cpuProfileDir: options.cpuProfileDir }
    )

    const measured = yield* Effect.scoped(
      Effect.gen(function* () {
        const maxWorkers = Math.max(...[...options.phases, ...(options.warmup === null ? [] : [options.warmup])].map((p) => workersFor(p.rate)))
        const source = yield* makePgPool(state.source.url, { max: maxWorkers + 1, applicationName: "totes-cdc-bench-load" })
        const warehouse = yield* makePgPool(state.warehouse.url, { max: 2, applicationName: "totes-cdc-bench-observer" })
        const postgres = (yield* source.query("SHOW server_version"))[0]?.server_version ?? "?"
        const snapshotSeconds = yield* awaitSnapshot(dev, source, warehouse)
        options.log(`${label}: state file after ${stateFileSeconds} s, seeded data loaded in the warehouse after ${snapshotSeconds} s`)

        const traffic = yield* loadTraffic(source, TRAFFIC_SEED + rep)
        const book = makeMarkerBook()
        const observer = yield* startObserver(warehouse, book, options.pollMs)
        const s3 = Layer.succeedContext(yield* Layer.build(S3.layer(state.s3)))
        const ctx: RepContext = { dev, source, warehouse, s3, book, observer, traffic, options }

        const phases: Array<PhaseResult> = []
        if (options.warmup !== null) phases.push(yield* runPhase(ctx, state, options.warmup, true, `${label} warm-up`))
        for (const phase of options.phases) phases.push(yield* runPhase(ctx, state, phase, false, `${label} ${phase.rate.toLocaleString("en-GB")}/s`))
        return { postgres, snapshotSeconds, phases, strangers: book.strangers() }
      }).pipe(Effect.catchTag("PgError", (error) => Effect.fail(fail(`database: ${error.message}`))))
    )
    const devExit = yield* stop(dev)
    options.log(`${label}: dev stopped in ${devExit.seconds} s (exit code ${devExit.code ?? devExit.signal})`)
    return { rep, shards: state.kinesis.shards, stateFileSeconds, ...measured, devExit, wallSeconds: round((now() - wallStart) / 1000) } satisfies RepResult
  }).pipe(Effect.scoped)

/** Runs every repetition in turn (each its own dev, from scratch). */
export const runFreshness = (options: FreshnessOptions) =>
  Effect.gen(function* () {
    const reps: Array<RepResult> = []
    for (let rep = 1; rep <= options.reps; rep++) reps.push(yield* freshnessRep(rep, options))
    return reps
  })
