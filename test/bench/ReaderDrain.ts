/**
 * Benchmark "reader-drain": how fast the cdc-reader drains a replication-slot backlog
 * into Kinesis (kinesalite), beside a bare pg-logical-replication client counting the
 * same WAL. Target: reader ≥ 50% of the bare client's rate.
 *
 * One repetition, on the shared local stack:
 *  1. a fresh totesys database (`emptyTotesys`) with the simulator's reference data
 *     (`simulateHistory`, 7 days: addresses, staff, designs, …) — written BEFORE any
 *     slot, so it is not part of the backlog;
 *  2. the reader's publication (`ensurePublication`, the statement the reader uses) and
 *     TWO pgoutput slots, one for the bare client and one for the reader, created before
 *     the backlog so both must decode the same WAL;
 *  3. the reader's state set to "snapshot complete" (`saveReaderState`, as the reader
 *     itself writes it), so the reader RESUMES its slot instead of snapshotting — the
 *     alternative (start the reader on the empty database and let it finish an empty
 *     snapshot) would add a reader start/stop to every repetition and measure nothing
 *     more;
 *  4. a fresh Kinesis stream (the local stack's shard count);
 *  5. the backlog (Backlog.ts: exactly `rows` totesys-shaped row changes in ~rows/3
 *     transactions, then an end-marker transaction);
 *  6. the two drains, one after the other (never together: one machine, one PostgreSQL),
 *     in alternating order per repetition so neither always gets the warmer caches:
 *     - bare: from `subscribe` to the first commit ending past the end marker (BareClient.ts);
 *     - reader: `runReaderProgram(settings)` forked (logs at Error only), from the fork
 *       until the reader slot's confirmed_flush_lsn passes the end marker (polled every
 *       20 ms) — i.e. until every backlog change is durable in Kinesis;
 *  7. verification: the bare client counted exactly `rows` row changes, and the stream
 *     holds exactly `rows` change records (`readAllChanges`), one per (commitLsn,
 *     commitIdx), with the backlog's inserts and updates; anything else fails the run;
 *  8. clean-up: slots, database and stream dropped (memory stays flat across reps).
 *
 * An unmeasured warm-up repetition (a smaller backlog) runs first, so JIT compilation
 * and first-use module loading land in neither drain of repetition 1.
 *
 * Rates are row changes per second. Node's CPU time (`process.cpuUsage`; this process
 * also runs kinesalite and s3rver) and the walsender's CPU time (/proc/<pid>/stat) are
 * recorded per drain, to tell where the time goes.
 */
import { CreateStreamCommand, DeleteStreamCommand, waitUntilStreamExists } from "@aws-sdk/client-kinesis"
import { CAPTURED_TABLES, type ReaderSettings, runReaderProgram } from "@totes-cdc/cdc-reader"
import { compareLsn } from "@totes-cdc/core"
import { LocalStack, type LocalStackEndpoints, simulateHistory } from "@totes-cdc/local-stack"
import { Kinesis, type PgPool, S3, makeKinesisClient, makePgPool } from "@totes-cdc/platform"
import { emptyTotesys, readAllChanges } from "@totes-cdc/local-stack/testing"
import { Effect, Fiber, References, Schedule, Schema } from "effect"
import os from "node:os"
import { PerformanceObserver } from "node:perf_hooks"
import { saveReaderState } from "../../cdc-reader/src/ReaderStateStore.ts"
import { ensurePublication } from "../../cdc-reader/src/Slot.ts"
import { type Backlog, writeBacklog } from "./Backlog.ts"
import { drainWithBareClient } from "./BareClient.ts"
import { childPid, cpuSecondsSince, procCpuSeconds, profiled } from "./Profiling.ts"

export const BENCHMARK_NAME = "reader-drain"

/** The benchmark failed or measured something wrong (e.g. lost data). */
export class BenchError extends Schema.TaggedError<BenchError>()("BenchError", {
  message: Schema.String
}) {}

export interface ReaderDrainOptions {
  /** Row changes in each backlog. */
  readonly rows: number
  readonly reps: number
  /**
   * Row changes of an unmeasured warm-up repetition run first (0 = none), so the first
   * measured drains do not pay for JIT compilation and first-use module loading.
   */
  readonly warmupRows: number
  /** Write a V8 CPU profile of every drain into this directory. */
  readonly cpuProfileDir?: string
  /** Progress lines (stderr). */
  readonly log: (line: string) => void
}

/** One drain's measurements. */
export interface DrainMeasure {
  readonly seconds: number
  /** Row changes per second. */
  readonly rate: number
  /** CPU seconds of this Node process during the drain (user + system). */
  readonly nodeCpuSeconds: number
  /** CPU seconds of the slot's walsender (PostgreSQL decoding), when readable. */
  readonly walsenderCpuSeconds: number | null
}

export interface RepResult {
  readonly rep: number
  readonly order: "bare-first" | "reader-first"
  readonly backlog: Omit<Backlog, "endMarkerLsn"> & { readonly walBytes: number }
  readonly bare: DrainMeasure & { readonly messages: number; readonly commits: number }
  readonly reader: DrainMeasure & {
    /** Seconds from start until the slot was active (preflight, state, connection). */
    readonly startupSeconds: number | null
    /** CPU seconds of the kinesalite child process during the drain, when it runs in one. */
    readonly kinesaliteCpuSeconds?: number | null
    /** Seconds of garbage collection pauses on the reader's thread during the drain. */
    readonly gcSeconds?: number
    /** Change records read back from the stream. */
    readonly streamChanges: number
  }
  /** reader rate ÷ bare rate. */
  readonly ratio: number
  /** The machine's 1-minute load average just before the drains (other work skews them). */
  readonly loadAverage: number
  /** Seconds the whole repetition took (set-up, backlog, drains, verification, clean-up). */
  readonly wallSeconds: number
}

/** Milliseconds of garbage collection on this thread from now until `stop()` (V8's `gc` performance entries). */
const gcTimer = () => {
  let ms = 0
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) ms += entry.duration
  })
  observer.observe({ entryTypes: ["gc"] })
  return {
    stop: () => {
      for (const entry of observer.takeRecords()) ms += entry.duration
      observer.disconnect()
      return ms / 1000
    }
  }
}

const round = (x: number, digits = 3) => Number(x.toFixed(digits))

const slotRow = (pool: PgPool, slot: string) =>
  pool
    .query("SELECT confirmed_flush_lsn::text AS lsn, active, active_pid FROM pg_replication_slots WHERE slot_name = $1", [slot])
    .pipe(Effect.map((rows) => rows[0]))

const createStream = (stack: LocalStackEndpoints, name: string) =>
  Effect.tryPromise({
    try: async () => {
      const client = makeKinesisClient(stack.kinesis)
      try {
        await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: stack.kinesis.shards }))
        await waitUntilStreamExists({ client, maxWaitTime: 60 }, { StreamName: name })
      } finally {
        client.destroy()
      }
    },
    catch: (cause) => new BenchError({ message: `cannot create Kinesis stream ${name}: ${String(cause)}` })
  })

const deleteStream = (stack: LocalStackEndpoints, name: string) =>
  Effect.promise(async () => {
    const client = makeKinesisClient(stack.kinesis)
    await client.send(new DeleteStreamCommand({ StreamName: name })).catch(() => undefined)
    client.destroy()
  })

/** Drops the repetition's slots (waiting for their walsenders to exit) and database. */
const dropRepDatabase = (stack: LocalStackEndpoints, database: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const admin = yield* makePgPool(stack.postgres.url("postgres"), { max: 1 })
      yield* admin
        .query("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1", [database])
        .pipe(Effect.retry({ schedule: Schedule.spaced("200 millis"), times: 50 }))
      yield* admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
    })
  )

const bareDrain = (
  stack: LocalStackEndpoints,
  pool: PgPool,
  names: { database: string; slot: string; publication: string },
  backlog: Backlog,
  timeoutMs: number
) =>
  Effect.gen(function* () {
    const cpu = process.cpuUsage()
    const { drain, done } = yield* drainWithBareClient({
      url: stack.postgres.url(names.database),
      slot: names.slot,
      publication: names.publication,
      endMarkerLsn: backlog.endMarkerLsn,
      timeoutMs,
      onDone: async () => {
        const nodeCpuSeconds = cpuSecondsSince(cpu)
        const row = await Effect.runPromise(slotRow(pool, names.slot).pipe(Effect.orElseSucceed(() => undefined)))
        const pid = row?.active_pid == null ? null : Number(row.active_pid)
        return { nodeCpuSeconds, walsenderCpuSeconds: procCpuSeconds(pid) }
      }
    })
    if (drain.rowChanges !== backlog.rows) {
      return yield* new BenchError({
        message: `bare client counted ${drain.rowChanges} row changes, the backlog holds ${backlog.rows}: the baseline is wrong`
      })
    }
    return {
      seconds: round(drain.seconds),
      rate: round(backlog.rows / drain.seconds, 0),
      nodeCpuSeconds: round(done.nodeCpuSeconds),
      walsenderCpuSeconds: done.walsenderCpuSeconds,
      messages: drain.messages,
      commits: drain.commits
    }
  })

const readerDrain = (pool: PgPool, settings: ReaderSettings, backlog: Backlog, timeoutMs: number) =>
  Effect.gen(function* () {
    const cpu = process.cpuUsage()
    const gc = gcTimer()
    const kinesaliteCpu = procCpuSeconds(childPid("KinesaliteServer"))
    const started = performance.now()
    let startupSeconds: number | null = null
    let walsenderPid: number | null = null
    const reader = yield* Effect.forkChild(
      runReaderProgram(settings).pipe(Effect.provideService(References.MinimumLogLevel, "Error"))
    )
    const confirmedPastEnd = slotRow(pool, settings.slot).pipe(
      Effect.map((row) => {
        if (startupSeconds === null && row?.active === "t") {
          startupSeconds = round((performance.now() - started) / 1000)
          walsenderPid = row.active_pid == null ? null : Number(row.active_pid)
        }
        return row?.lsn != null && compareLsn(row.lsn, backlog.endMarkerLsn) > 0
      }),
      Effect.repeat({ until: (done) => done, schedule: Schedule.spaced("20 millis") })
    )
    const readerEnded = Fiber.join(reader).pipe(
      Effect.matchEffect({
        onFailure: (error) => Effect.fail(new BenchError({ message: `the reader failed: ${error.message}` })),
        onSuccess: () => Effect.fail(new BenchError({ message: "the reader stopped before draining the backlog" }))
      })
    )
    yield* Effect.raceFirst(confirmedPastEnd, readerEnded).pipe(
      Effect.timeoutOrElse({
        duration: timeoutMs,
        orElse: () => Effect.fail(new BenchError({ message: `the reader did not confirm past ${backlog.endMarkerLsn} within ${timeoutMs} ms` }))
      })
    )
    const seconds = (performance.now() - started) / 1000
    const nodeCpuSeconds = cpuSecondsSince(cpu)
    const walsenderCpuSeconds = procCpuSeconds(walsenderPid)
    const kinesaliteCpuEnd = procCpuSeconds(childPid("KinesaliteServer"))
    const gcSeconds = gc.stop()
    yield* Fiber.interrupt(reader)
    return {
      seconds: round(seconds),
      rate: round(backlog.rows / seconds, 0),
      nodeCpuSeconds: round(nodeCpuSeconds),
      walsenderCpuSeconds,
      kinesaliteCpuSeconds: kinesaliteCpu === null || kinesaliteCpuEnd === null ? null : round(kinesaliteCpuEnd - kinesaliteCpu),
      gcSeconds: round(gcSeconds),
      startupSeconds
    }
  })

/** Every backlog change is in the stream exactly once; fails with `BenchError` otherwise. */
const verifyStream = (stack: LocalStackEndpoints, stream: string, backlog: Backlog) =>
  Effect.gen(function* () {
    const changes = yield* readAllChanges(stream).pipe(
      Effect.provide([Kinesis.layer(stack.kinesis), S3.layer(stack.s3)]),
      Effect.mapError((error) => new BenchError({ message: `cannot read back stream ${stream}: ${error.message}` }))
    )
    const positions = new Set<string>()
    let inserts = 0
    let updates = 0
    for (const { record } of changes) {
      positions.add(`${record.commitLsn}#${record.commitIdx}`)
      if (record.op === "insert") inserts += 1
      else if (record.op === "update") updates += 1
    }
    const problems = [
      changes.length !== backlog.rows ? `${changes.length} change records (expected ${backlog.rows})` : undefined,
      positions.size !== changes.length ? `${changes.length - positions.size} duplicated (commitLsn, commitIdx)` : undefined,
      inserts !== backlog.inserts ? `${inserts} inserts (expected ${backlog.inserts})` : undefined,
      updates !== backlog.updates ? `${updates} updates (expected ${backlog.updates})` : undefined
    ].filter((p) => p !== undefined)
    if (problems.length > 0) {
      return yield* new BenchError({ message: `the reader's stream ${stream} is wrong: ${problems.join("; ")}` })
    }
    return changes.length
  })

/** One repetition (see the module comment). */
export const readerDrainRep = (stack: LocalStackEndpoints, rep: number, options: ReaderDrainOptions) =>
  Effect.gen(function* () {
    const wallStart = performance.now()
    const database = `bench_drain_r${rep}`
    const names = {
      database,
      publication: "bench_drain",
      bareSlot: `bench_bare_r${rep}`,
      readerSlot: `bench_reader_r${rep}`,
      stream: `bench-reader-drain-r${rep}`
    }
    const timeoutMs = 120_000 + options.rows * 2
    const order = rep % 2 === 1 ? "bare-first" : "reader-first"
    const label = rep === 0 ? "warm-up" : `rep ${rep}/${options.reps}`
    const result = yield* Effect.scoped(
      Effect.gen(function* () {
        const pool = yield* emptyTotesys(database).pipe(Effect.provideService(LocalStack, stack))
        yield* simulateHistory(pool, { seed: rep, days: 7, end: Date.parse("2024-03-01T00:00:00Z") })
        yield* ensurePublication(pool, names.publication, CAPTURED_TABLES)
        const slots: Record<string, string> = {}
        for (const slot of [names.bareSlot, names.readerSlot]) {
          const [row] = yield* pool.query("SELECT lsn::text AS lsn FROM pg_create_logical_replication_slot($1, 'pgoutput')", [slot])
          slots[slot] = row?.lsn ?? "0/0"
        }
        const settings: ReaderSettings = {
          sourceUrl: stack.postgres.url(database),
          slot: names.readerSlot,
          publication: names.publication,
          mode: "replication",
          streamName: names.stream,
          stateBucket: stack.s3.buckets.ingestion,
          statePrefix: `state/bench-reader-drain/`,
          heartbeatMs: 60_000,
          pollIntervalMs: 1_000,
          kinesis: stack.kinesis,
          s3: stack.s3
        }
        const now = new Date().toISOString()
        yield* saveReaderState(
          { bucket: settings.stateBucket, prefix: settings.statePrefix },
          {
            version: 1,
            slot: names.readerSlot,
            snapshot: { status: "complete", startedAt: now, completedAt: now, consistentPoint: slots[names.readerSlot] ?? "0/0", rows: 0 }
          }
        ).pipe(Effect.provide(S3.layer(stack.s3)))
        yield* createStream(stack, names.stream)

        options.log(`${label}: writing the backlog (${options.rows.toLocaleString("en-GB")} row changes)`)
        const backlog = yield* writeBacklog(pool, options.rows, 0.1 + rep / 100)
        const [wal] = yield* pool.query("SELECT pg_wal_lsn_diff($1, $2)::bigint AS bytes", [backlog.endMarkerLsn, slots[names.bareSlot] ?? "0/0"])
        options.log(
          `${label}: backlog of ${backlog.rows.toLocaleString("en-GB")} changes in ${backlog.transactions.toLocaleString("en-GB")} transactions written in ${backlog.seconds.toFixed(1)} s; draining (${order})`
        )
        const loadAverage = round(os.loadavg()[0] ?? 0, 2)
        const runBare = profiled(
          options.cpuProfileDir,
          `${BENCHMARK_NAME}-r${rep}-bare`,
          bareDrain(stack, pool, { database, slot: names.bareSlot, publication: names.publication }, backlog, timeoutMs)
        )
        const runReader = profiled(options.cpuProfileDir, `${BENCHMARK_NAME}-r${rep}-reader`, readerDrain(pool, settings, backlog, timeoutMs))
        let bare: Effect.Success<typeof runBare>
        let reader: Effect.Success<typeof runReader>
        if (order === "bare-first") {
          bare = yield* runBare
          reader = yield* runReader
        } else {
          reader = yield* runReader
          bare = yield* runBare
        }
        options.log(
          `${label}: bare ${bare.rate.toLocaleString("en-GB")} changes/s (${bare.seconds} s), reader ${reader.rate.toLocaleString("en-GB")} changes/s (${reader.seconds} s); verifying the stream`
        )
        const streamChanges = yield* verifyStream(stack, names.stream, backlog)
        const { endMarkerLsn: _end, ...backlogFacts } = backlog
        return {
          rep,
          order,
          backlog: { ...backlogFacts, seconds: round(backlog.seconds), walBytes: Number(wal?.bytes ?? 0) },
          bare,
          reader: { ...reader, streamChanges },
          ratio: round(reader.rate / bare.rate),
          loadAverage
        } as const
      })
    ).pipe(Effect.ensuring(Effect.all([dropRepDatabase(stack, database).pipe(Effect.orDie), deleteStream(stack, names.stream)])))
    return { ...result, wallSeconds: round((performance.now() - wallStart) / 1000, 1) } satisfies RepResult
  })

/** The warm-up repetition (if any, not returned), then all repetitions, one after the other. */
export const runReaderDrain = (stack: LocalStackEndpoints, options: ReaderDrainOptions) =>
  Effect.gen(function* () {
    if (options.warmupRows > 0) {
      const { cpuProfileDir: _none, ...rest } = options
      yield* readerDrainRep(stack, 0, { ...rest, rows: options.warmupRows })
    }
    const reps: Array<RepResult> = []
    for (let rep = 1; rep <= options.reps; rep++) reps.push(yield* readerDrainRep(stack, rep, options))
    return reps
  })
