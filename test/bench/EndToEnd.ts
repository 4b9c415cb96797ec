/**
 * Benchmark "end-to-end" (issue 6, items 2–5): the whole pipeline as a user runs it —
 * `totes-cdc dev` as a child process (source → reader → kinesalite → processor → Parquet
 * in s3rver → loader → warehouse, one Node process; kinesalite and s3rver in child processes of their own).
 *
 * Parts, each repetition on a fresh `dev`:
 *  - drain (+ the real data set + COPY baseline): `dev --seed <real dump> --simulate 0`;
 *    spawn → `totes-cdc verify --state-file … --wait-for-lsn current` exits 0 ("npm start
 *    to verified warehouse", s). Then N changes (EndToEndWorkload.ts: transactions of 700
 *    sales_order inserts + 300 payment updates, one statement each, one connection, as fast
 *    as the source takes them), and the wait until the warehouse holds every resulting fact
 *    version: totes_cdc.freshness of both fact tables past the last transaction's start LSN
 *    (cheap gate), then the fact tables' row counts = before + inserts / + updates (exact).
 *    Rate = changes ÷ (first statement sent → warehouse caught up); WAL MB/s = the source's
 *    pg_current_wal_lsn() difference over the workload ÷ the same time. Reader done = the
 *    slot's confirmed_flush_lsn past the last transaction's start LSN. Sampled every 200 ms:
 *    dev's RSS, kinesalite's RSS (its own process: reported apart), the slot lag in bytes.
 *    COPY baseline: the fact rows the drain produced, exported with COPY TO and loaded with
 *    COPY FROM into empty copies of the two fact tables (LIKE … INCLUDING ALL: same
 *    indexes) in a scratch schema of the same warehouse, timed (COPY FROM only).
 *  - big transaction: one statement inserting M sales orders (one transaction); commit →
 *    all M in fact_sales_order, s; dev's peak RSS meanwhile.
 *  - snapshot: `dev --seed <the dump with sales_order extended to S rows>` (the seed is
 *    loaded before the reader starts, so the snapshot copies all S rows); the reader's
 *    "created replication slot" line → fact_sales_order holds S rows: rows/s.
 *
 * Invariants: every wait is a polled condition with a limit (fails naming what did not
 * happen, with dev's last output); a count that does not match exactly fails the run;
 * dev is stopped (SIGINT) and awaited at the end of each part.
 */
import { readStateFile } from "@totes-cdc/cli"
import { makePgPool, type PgPool } from "@totes-cdc/platform"
import { CLI_BIN, TOTESYS_DUMP } from "@totes-cdc/local-stack/testing"
import { Effect, Fiber } from "effect"
import { spawn } from "node:child_process"
import { existsSync, readdirSync } from "node:fs"
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Readable } from "node:stream"
import pg from "pg"
import { to as copyToStdout } from "pg-copy-streams"
import { type Dev, procMemoryMB, spawnDev, waitUntil } from "./DevProcess.ts"
import { type CpuGroup, cpuDelta, cpuSnapshot } from "./ProcessCpu.ts"
import { childOf } from "./Profiling.ts"
import { BATCH_SQL, batchParams, bigSeed, drainPlan, PAYMENT_IDS_SQL } from "./EndToEndWorkload.ts"
import { parseIntArray, REFERENCE_IDS_SQL, referenceIdsOf } from "./FreshnessTraffic.ts"
import { BenchError } from "./ReaderDrain.ts"

export const BENCHMARK_NAME = "end-to-end"
const SLOT = "totes_cdc"
const fail = (message: string) => new BenchError({ message })
const now = () => performance.now()
const round = (x: number, digits = 1) => Number(x.toFixed(digits))

export interface EndToEndOptions {
  /** Changes of the drain part (a multiple of 1,000); 0 = skip. */
  readonly drainChanges: number
  /** Rows of the big transaction part; 0 = skip. */
  readonly bigTransactionRows: number
  /** sales_order rows of the snapshot part; 0 = skip. */
  readonly snapshotRows: number
  readonly reps: number
  /** Run every drain repetition on one dev (started once: quick runs) instead of a fresh dev each. */
  readonly drainOnOneDev: boolean
  readonly log: (line: string) => void
  /** V8 CPU profile of dev in the first drain repetition (node --cpu-prof) into this directory. */
  readonly cpuProfileDir?: string
  /** Environment variables set for every dev (diagnostics: e.g. HeapProbe.ts's NODE_OPTIONS preload). */
  readonly devEnv?: Readonly<Record<string, string>>
}

export interface Samples {
  readonly peakRssMB: number | null
  readonly peakKinesaliteRssMB: number | null
  readonly peakSlotLagBytes: number | null
  readonly samples: number
}

export interface DrainResult {
  readonly rep: number
  /** spawn → state file; spawn → verify exit 0 (real data set), s; null for a repetition on a dev an earlier one started. */
  readonly stateFileSeconds: number | null
  readonly verifySeconds: number | null
  readonly changes: number
  readonly inserts: number
  readonly updates: number
  readonly transactions: number
  /** Source: statements sent → last committed, s; WAL bytes of the workload. */
  readonly executeSeconds: number
  readonly walBytes: number
  /** First statement → slot confirmed past the last transaction (reader done), s. */
  readonly readerSeconds: number
  /** First statement → the warehouse holds every fact version, s. */
  readonly warehouseSeconds: number
  readonly changesPerSecond: number
  readonly readerChangesPerSecond: number
  readonly walMBPerSecond: number
  /** Slot lag growth while the source executed (bytes/s; > 0: the source outran the reader). */
  readonly slotLagGrowthBytesPerSecond: number | null
  readonly memory: Samples
  /** dev's lifetime peak RSS (VmHWM, includes the snapshot), MB. */
  readonly lifetimePeakRssMB: number | null
  readonly copy: { readonly rows: number; readonly seconds: number; readonly rowsPerSecond: number }
  /** Fact rows the loader wrote ÷ warehouseSeconds (bounded by the stages before it). */
  readonly loaderRowsPerSecond: number
  readonly postgres: string
  readonly shards: number
  readonly cpuProfile: string | null
  /** CPU seconds of dev's process tree by group (ProcessCpu.ts), first statement → warehouse caught up. */
  readonly cpuSeconds: Readonly<Record<CpuGroup, number>>
}

export interface BigTransactionResult {
  readonly rep: number
  readonly rows: number
  readonly statementSeconds: number
  /** Commit → all rows in fact_sales_order, s. */
  readonly commitToWarehouseSeconds: number
  readonly memory: Samples
}

export interface SnapshotResult {
  readonly rep: number
  readonly rows: number
  /** spawn → slot created; slot created → all rows in fact_sales_order, s. */
  readonly spawnToSlotSeconds: number
  readonly slotToLoadedSeconds: number
  readonly rowsPerSecond: number
  readonly memory: Samples
}

export interface EndToEndResults {
  readonly drain: ReadonlyArray<DrainResult>
  readonly bigTransaction: ReadonlyArray<BigTransactionResult>
  readonly snapshot: ReadonlyArray<SnapshotResult>
}

const tempDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "totes-cdc-e2e-"))),
  (path) => Effect.promise(() => rm(path, { recursive: true, force: true }))
)

const num = (pool: PgPool, sql: string, params: ReadonlyArray<unknown> = []) =>
  pool.query(sql, params).pipe(Effect.map((rows) => Number(Object.values(rows[0] ?? {})[0] ?? NaN)))

const lsnDiff = (pool: PgPool, from: string, to: string) => num(pool, "SELECT ($2::pg_lsn - $1::pg_lsn)::bigint", [from, to])
const currentLsn = (pool: PgPool) => pool.query("SELECT pg_current_wal_lsn()::text AS lsn").pipe(Effect.map((rows) => rows[0]?.lsn ?? "0/0"))

/** Starts dev and waits for its state file; answers dev, the state and spawn → state file (s). */
const startDev = (dir: string, seed: string, watch: ReadonlyArray<string>, env: EndToEndOptions["devEnv"], cpuProfileDir?: string) =>
  Effect.gen(function* () {
    const stateFile = join(dir, "state.json")
    const dev = yield* spawnDev(["--seed", seed, "--simulate", "0", "--state-file", stateFile], {
      watch,
      ...(cpuProfileDir === undefined ? {} : { cpuProfileDir }),
      ...(env === undefined ? {} : { env })
    })
    yield* waitUntil(dev, "the state file", Effect.sync(() => existsSync(stateFile)), 50, 300_000)
    const stateFileSeconds = round((now() - dev.spawnedAt) / 1000, 2)
    const state = yield* readStateFile(stateFile).pipe(Effect.mapError((error) => fail(error.message)))
    return { dev, state, stateFile, stateFileSeconds }
  })

/** Forks a sampler (every 200 ms: dev's and kinesalite's RSS, the slot lag); `stop` answers the peaks. */
const startSampler = (dev: Dev, source: PgPool) =>
  Effect.gen(function* () {
    const kinesalite = childOf(dev.pid, "KinesaliteServer")
    const rss: Array<number> = []
    const kin: Array<number> = []
    const lag: Array<{ readonly at: number; readonly bytes: number }> = []
    const loop = Effect.gen(function* () {
      while (true) {
        const r = procMemoryMB(dev.pid, "VmRSS")
        if (r !== null) rss.push(r)
        const k = procMemoryMB(kinesalite, "VmRSS")
        if (k !== null) kin.push(k)
        const bytes = yield* num(source, `SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint FROM pg_replication_slots WHERE slot_name = '${SLOT}'`).pipe(
          Effect.orElseSucceed(() => NaN)
        )
        if (Number.isFinite(bytes)) lag.push({ at: now(), bytes })
        yield* Effect.sleep(200)
      }
    })
    const fiber = yield* Effect.forkChild(loop)
    const peak = (xs: ReadonlyArray<number>) => (xs.length === 0 ? null : round(Math.max(...xs)))
    return {
      lag: () => lag,
      stop: Effect.gen(function* () {
        yield* Fiber.interrupt(fiber)
        return { peakRssMB: peak(rss), peakKinesaliteRssMB: peak(kin), peakSlotLagBytes: lag.length === 0 ? null : Math.max(...lag.map((l) => l.bytes)), samples: rss.length } satisfies Samples
      })
    }
  })

/** `totes-cdc verify --state-file F --wait-for-lsn current --timeout 600`: answers when it exited 0; fails otherwise. */
const verify = (stateFile: string) =>
  Effect.tryPromise({
    try: () =>
      new Promise<void>((resolve, reject) => {
        const child = spawn(process.execPath, [CLI_BIN, "verify", "--state-file", stateFile, "--wait-for-lsn", "current", "--timeout", "600"], { stdio: ["ignore", "pipe", "pipe"] })
        let out = ""
        child.stdout.on("data", (c: Buffer) => (out += c.toString()))
        child.stderr.on("data", (c: Buffer) => (out += c.toString()))
        child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`totes-cdc verify exited ${code}:\n${out.slice(-2000)}`))))
      }),
    catch: (error) => fail(String(error instanceof Error ? error.message : error))
  })

/** The reference ids inserted orders draw from (FreshnessTraffic's) and the payment ids updates cycle through. */
const references = (source: PgPool) =>
  Effect.gen(function* () {
    const row = (yield* source.query(REFERENCE_IDS_SQL))[0]
    const refs = yield* Effect.try({ try: () => referenceIdsOf(row), catch: (error) => fail(error instanceof Error ? error.message : String(error)) })
    const payments = parseIntArray((yield* source.query(PAYMENT_IDS_SQL))[0]?.payments)
    return { refs, payments }
  })

const factCount = (warehouse: PgPool, schema: string, table: string) => num(warehouse, `SELECT count(*) FROM "${schema}".${table}`)

/** The COPY baseline (module header): answers rows and seconds of the COPY FROMs. */
const copyBaseline = (url: string, schema: string, since: { readonly sales: number; readonly payment: number }) =>
  Effect.tryPromise({
    try: async () => {
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      try {
        await client.query("DROP SCHEMA IF EXISTS bench_copy CASCADE; CREATE SCHEMA bench_copy")
        const tables = [
          { table: "fact_sales_order", key: "sales_record_id", since: since.sales },
          { table: "fact_payment", key: "payment_record_id", since: since.payment }
        ]
        const exported: Array<{ table: string; chunks: Array<Buffer> }> = []
        for (const t of tables) {
          await client.query(`CREATE TABLE bench_copy.${t.table} (LIKE "${schema}".${t.table} INCLUDING ALL)`)
          const chunks: Array<Buffer> = []
          const stream = client.query(copyToStdout(`COPY (SELECT * FROM "${schema}".${t.table} WHERE ${t.key} > ${t.since}) TO STDOUT`))
          for await (const chunk of stream) chunks.push(chunk as Buffer)
          exported.push({ table: t.table, chunks })
        }
        const { from: copyFromStdin } = await import("pg-copy-streams")
        const { pipeline } = await import("node:stream/promises")
        const started = now()
        let rows = 0
        await client.query("BEGIN")
        for (const e of exported) {
          const sink = client.query(copyFromStdin(`COPY bench_copy.${e.table} FROM STDIN`))
          await pipeline(Readable.from(e.chunks), sink)
          rows += Number(sink.rowCount)
        }
        await client.query("COMMIT")
        const seconds = (now() - started) / 1000
        await client.query("DROP SCHEMA bench_copy CASCADE")
        return { rows, seconds: round(seconds, 3), rowsPerSecond: Math.round(rows / seconds) }
      } finally {
        await client.end()
      }
    },
    catch: (error) => fail(`COPY baseline: ${error instanceof Error ? error.message : String(error)}`)
  })

/** Part "drain" (module header), one repetition. */
export const drainReps = (reps: ReadonlyArray<number>, options: EndToEndOptions) =>
  Effect.gen(function* () {
    const label = `drain rep${reps.length > 1 ? "s" : ""} ${reps.join(", ")}/${options.reps}`
    const dir = yield* tempDir
    const profileDir = reps[0] === 1 && options.cpuProfileDir !== undefined ? options.cpuProfileDir : undefined
    options.log(`${label}: starting totes-cdc dev --seed <real dump> --simulate 0${profileDir === undefined ? "" : ` (--cpu-prof into ${profileDir})`}`)
    const { dev, state, stateFile, stateFileSeconds } = yield* startDev(dir, TOTESYS_DUMP, [], options.devEnv, profileDir)
    yield* verify(stateFile)
    const verifySeconds = round((now() - dev.spawnedAt) / 1000, 2)
    options.log(`${label}: state file after ${stateFileSeconds} s, verify exited 0 after ${verifySeconds} s`)

    const source = yield* makePgPool(state.source.url, { max: 2, applicationName: "totes-cdc-bench-e2e" })
    const warehouse = yield* makePgPool(state.warehouse.url, { max: 2, applicationName: "totes-cdc-bench-e2e" })
    const schema = state.warehouse.schema
    const postgres = (yield* source.query("SHOW server_version"))[0]?.server_version ?? "?"
    const { refs, payments } = yield* references(source)
    const results: Array<DrainResult> = []
    for (const rep of reps) {
      const label = `drain rep ${rep}/${options.reps}`
      const plan = drainPlan(options.drainChanges, 1_000, 0.7)
      const before = {
        sales: yield* factCount(warehouse, schema, "fact_sales_order"),
        payment: yield* factCount(warehouse, schema, "fact_payment"),
        salesKey: yield* num(warehouse, `SELECT coalesce(max(sales_record_id), 0) FROM "${schema}".fact_sales_order`),
        paymentKey: yield* num(warehouse, `SELECT coalesce(max(payment_record_id), 0) FROM "${schema}".fact_payment`)
      }
      const expected = { sales: before.sales + plan.totalInserts, payment: before.payment + plan.totalUpdates }
      const sampler = yield* startSampler(dev, source)

      // Execute, as fast as the source takes it (one connection, one statement per transaction).
      const lsn0 = yield* currentLsn(source)
      const cpu0 = cpuSnapshot(dev.pid)
      const t0 = now()
      let lastStart = lsn0
      // Read while the workload's session is still open: its backend may end with the session.
      let cpuExecuted = cpu0
      yield* Effect.scoped(
        Effect.gen(function* () {
          const session = yield* source.reserve
          for (let k = 0; k < plan.transactions; k++) {
            if (k === plan.transactions - 1) lastStart = (yield* session.query("SELECT pg_current_wal_lsn()::text AS lsn"))[0]?.lsn ?? lsn0
            const [row] = yield* session.query(BATCH_SQL, batchParams(k, plan.inserts, plan.updates, refs, payments))
            if (Number(row?.inserted) !== plan.inserts || Number(row?.updated) !== plan.updates) {
              return yield* fail(`transaction ${k}: inserted ${row?.inserted}, updated ${row?.updated} (expected ${plan.inserts}, ${plan.updates})`)
            }
          }
          cpuExecuted = cpuSnapshot(dev.pid)
        })
      )
      const tExec = now()
      const lsn1 = yield* currentLsn(source)
      const walBytes = yield* lsnDiff(source, lsn0, lsn1)
      const lagAtStart = sampler.lag().find((l) => l.at >= t0)
      const lagAtEnd = [...sampler.lag()].reverse().find((l) => l.at <= tExec)
      options.log(`${label}: ${options.drainChanges.toLocaleString("en-GB")} changes executed in ${round((tExec - t0) / 1000, 2)} s (${(walBytes / 1e6).toFixed(1)} MB of WAL); waiting for the warehouse`)

      // Wait: reader done (slot) and warehouse caught up (freshness gate, then exact counts).
      let tReader: number | undefined
      let gate = false
      const limitMs = Math.max(300_000, options.drainChanges * 2)
      yield* waitUntil(
        dev,
        `the warehouse catching up (fact_sales_order ${expected.sales}, fact_payment ${expected.payment} rows)`,
        Effect.gen(function* () {
          if (tReader === undefined) {
            const done = yield* num(source, `SELECT (confirmed_flush_lsn > $1::pg_lsn)::int FROM pg_replication_slots WHERE slot_name = '${SLOT}'`, [lastStart])
            if (done === 1) tReader = now()
          }
          if (!gate) {
            gate =
              (yield* num(
                warehouse,
                `SELECT count(*) FROM totes_cdc.freshness WHERE target_schema = $1 AND warehouse_table IN ('fact_sales_order', 'fact_payment') AND last_commit_lsn > $2::pg_lsn`,
                [schema, lastStart]
              )) === 2
            if (!gate) return false
          }
          const sales = yield* factCount(warehouse, schema, "fact_sales_order")
          const payment = yield* factCount(warehouse, schema, "fact_payment")
          if (sales > expected.sales || payment > expected.payment) return yield* fail(`the warehouse holds more fact rows than the workload made: ${sales}/${expected.sales}, ${payment}/${expected.payment}`)
          return sales === expected.sales && payment === expected.payment
        }),
        100,
        limitMs
      )
      const tWarehouse = now()
      const cpuSeconds = cpuDelta(cpu0, cpuExecuted, cpuSnapshot(dev.pid))
      if (tReader === undefined) tReader = tWarehouse
      const memory = yield* sampler.stop
      const lifetimePeakRssMB = procMemoryMB(dev.pid, "VmHWM")
      const warehouseSeconds = (tWarehouse - t0) / 1000
      options.log(`${label}: warehouse caught up after ${round(warehouseSeconds, 2)} s (reader done after ${round((tReader - t0) / 1000, 2)} s); COPY baseline`)
      const copy = yield* copyBaseline(state.warehouse.url, schema, { sales: before.salesKey, payment: before.paymentKey })
      const factRows = plan.totalInserts + plan.totalUpdates
      results.push({
        rep,
        stateFileSeconds: rep === reps[0] ? stateFileSeconds : null,
        verifySeconds: rep === reps[0] ? verifySeconds : null,
        changes: options.drainChanges,
        inserts: plan.totalInserts,
        updates: plan.totalUpdates,
        transactions: plan.transactions,
        executeSeconds: round((tExec - t0) / 1000, 2),
        walBytes,
        readerSeconds: round((tReader - t0) / 1000, 2),
        warehouseSeconds: round(warehouseSeconds, 2),
        changesPerSecond: Math.round(options.drainChanges / warehouseSeconds),
        readerChangesPerSecond: Math.round(options.drainChanges / ((tReader - t0) / 1000)),
        walMBPerSecond: round(walBytes / 1e6 / warehouseSeconds, 2),
        slotLagGrowthBytesPerSecond:
          lagAtStart === undefined || lagAtEnd === undefined || lagAtEnd.at <= lagAtStart.at
            ? null
            : Math.round((lagAtEnd.bytes - lagAtStart.bytes) / ((lagAtEnd.at - lagAtStart.at) / 1000)),
        memory,
        lifetimePeakRssMB: lifetimePeakRssMB === null ? null : round(lifetimePeakRssMB),
        copy,
        loaderRowsPerSecond: Math.round(factRows / warehouseSeconds),
        postgres,
        shards: state.kinesis.shards,
        cpuProfile: null,
        cpuSeconds
      })
    }
    return { dev, results }
  }).pipe(Effect.catchTag("PgError", (error) => Effect.fail(fail(`database: ${error.message}`))))

/** Part "big transaction", one repetition. */
export const bigTransactionRep = (rep: number, options: EndToEndOptions) =>
  Effect.gen(function* () {
    const label = `big transaction rep ${rep}/${options.reps}`
    const dir = yield* tempDir
    const { dev, state } = yield* startDev(dir, TOTESYS_DUMP, [], options.devEnv)
    const source = yield* makePgPool(state.source.url, { max: 2, applicationName: "totes-cdc-bench-e2e" })
    const warehouse = yield* makePgPool(state.warehouse.url, { max: 2, applicationName: "totes-cdc-bench-e2e" })
    const schema = state.warehouse.schema
    const seeded = yield* num(source, "SELECT count(*) FROM public.sales_order")
    yield* waitUntil(dev, `the snapshot (${seeded} rows in fact_sales_order)`, factCount(warehouse, schema, "fact_sales_order").pipe(Effect.map((n) => n === seeded)), 200, 300_000)
    const { refs } = yield* references(source)
    const sampler = yield* startSampler(dev, source)
    options.log(`${label}: one transaction of ${options.bigTransactionRows.toLocaleString("en-GB")} sales_order inserts`)
    const t0 = now()
    const [row] = yield* source.query(BATCH_SQL, batchParams(0, options.bigTransactionRows, 0, refs, []))
    if (Number(row?.inserted) !== options.bigTransactionRows) return yield* fail(`the big transaction inserted ${row?.inserted} rows`)
    const tCommit = now()
    const expected = seeded + options.bigTransactionRows
    yield* waitUntil(
      dev,
      `${expected} rows in fact_sales_order`,
      factCount(warehouse, schema, "fact_sales_order").pipe(Effect.map((n) => n === expected)),
      500,
      Math.max(300_000, options.bigTransactionRows * 2)
    )
    const tLoaded = now()
    const memory = yield* sampler.stop
    options.log(`${label}: committed after ${round((tCommit - t0) / 1000, 2)} s, in the warehouse ${round((tLoaded - tCommit) / 1000, 2)} s later; dev's peak RSS ${memory.peakRssMB} MB`)
    return {
      rep,
      rows: options.bigTransactionRows,
      statementSeconds: round((tCommit - t0) / 1000, 2),
      commitToWarehouseSeconds: round((tLoaded - tCommit) / 1000, 2),
      memory
    } satisfies BigTransactionResult
  }).pipe(
    Effect.catchTag("PgError", (error) => Effect.fail(fail(`database: ${error.message}`))),
    Effect.scoped
  )

const SLOT_CREATED = "created replication slot"

/** Part "snapshot", one repetition, from `seedFile` (holding `rows` sales orders). */
export const snapshotRep = (rep: number, seedFile: string, rows: number, options: EndToEndOptions) =>
  Effect.gen(function* () {
    const label = `snapshot rep ${rep}/${options.reps}`
    const dir = yield* tempDir
    options.log(`${label}: starting totes-cdc dev --seed <dump + sales orders up to ${rows.toLocaleString("en-GB")}>`)
    const { dev, state } = yield* startDev(dir, seedFile, [SLOT_CREATED], options.devEnv)
    const source = yield* makePgPool(state.source.url, { max: 2, applicationName: "totes-cdc-bench-e2e" })
    const warehouse = yield* makePgPool(state.warehouse.url, { max: 2, applicationName: "totes-cdc-bench-e2e" })
    const sampler = yield* startSampler(dev, source)
    yield* waitUntil(
      dev,
      `${rows} rows in fact_sales_order`,
      factCount(warehouse, state.warehouse.schema, "fact_sales_order").pipe(Effect.map((n) => n === rows)),
      500,
      Math.max(300_000, rows * 2)
    )
    const tLoaded = now()
    const memory = yield* sampler.stop
    const tSlot = dev.seen(SLOT_CREATED)
    if (tSlot === undefined) return yield* fail(`dev never logged "${SLOT_CREATED}"; its last output:\n${dev.tail()}`)
    const seconds = (tLoaded - tSlot) / 1000
    options.log(`${label}: slot created ${round((tSlot - dev.spawnedAt) / 1000, 2)} s after spawn; ${rows.toLocaleString("en-GB")} rows in the warehouse ${round(seconds, 2)} s later`)
    return {
      rep,
      rows,
      spawnToSlotSeconds: round((tSlot - dev.spawnedAt) / 1000, 2),
      slotToLoadedSeconds: round(seconds, 2),
      rowsPerSecond: Math.round(rows / seconds),
      memory
    } satisfies SnapshotResult
  }).pipe(
    Effect.catchTag("PgError", (error) => Effect.fail(fail(`database: ${error.message}`))),
    Effect.scoped
  )

/** The newest `.cpuprofile` of process `pid` in `dir` (node --cpu-prof names them CPU.<date>.<time>.<pid>.<tid>.<n>.cpuprofile). */
const profileOf = (dir: string, pid: number): string | null => {
  try {
    const file = readdirSync(dir).find((name) => name.endsWith(".cpuprofile") && name.split(".")[3] === String(pid))
    return file === undefined ? null : join(dir, file)
  } catch {
    return null
  }
}

/** Every part × `reps`, each repetition on its own dev. */
export const runEndToEnd = (options: EndToEndOptions) =>
  Effect.gen(function* () {
    const drain: Array<DrainResult> = []
    const all = Array.from({ length: options.reps }, (_, i) => i + 1)
    const groups = options.drainChanges === 0 ? [] : options.drainOnOneDev ? [all] : all.map((rep) => [rep])
    for (const reps of groups) {
      const { pid, results } = yield* Effect.scoped(drainReps(reps, options).pipe(Effect.map(({ dev, results }) => ({ pid: dev.pid, results }))))
      // dev has exited (scope closed): its profile, if any, is written
      const cpuProfile = reps[0] === 1 && options.cpuProfileDir !== undefined ? profileOf(options.cpuProfileDir, pid) : null
      drain.push(...results.map((result, i) => (i === 0 ? { ...result, cpuProfile } : result)))
    }
    const bigTransaction: Array<BigTransactionResult> = []
    if (options.bigTransactionRows > 0) for (let rep = 1; rep <= options.reps; rep++) bigTransaction.push(yield* bigTransactionRep(rep, options))
    const snapshot: Array<SnapshotResult> = []
    if (options.snapshotRows > 0) {
      yield* Effect.scoped(
        Effect.gen(function* () {
          const dir = yield* tempDir
          const seedFile = join(dir, "seed.sql")
          const made = bigSeed(yield* Effect.promise(() => readFile(TOTESYS_DUMP, "utf8")), options.snapshotRows)
          yield* Effect.promise(() => writeFile(seedFile, made.text))
          options.log(`snapshot: seed file ${seedFile}: the real dump + ${made.added.toLocaleString("en-GB")} generated sales orders`)
          for (let rep = 1; rep <= options.reps; rep++) snapshot.push(yield* snapshotRep(rep, seedFile, options.snapshotRows, options))
        })
      )
    }
    return { drain, bigTransaction, snapshot } satisfies EndToEndResults
  })

