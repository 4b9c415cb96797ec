/**
 * `npm run chaos`: the fault-injection suite (issue 16 item 1; never part of `npm test`).
 *
 *   npm run chaos                                24 rounds, every fault kind, a random seed (printed)
 *   npm run chaos -- --rounds N --seed N         N rounds (≥ 1) of the plan of seed N (repeatable)
 *   npm run chaos -- --kinds a,b                 only these fault kinds (ChaosPlan.ts FAULT_KINDS)
 *   npm run chaos -- --events-per-second N       the steady load (default 25 events/s ≈ 40 row changes/s)
 *   npm run chaos -- --outage-seconds N          the warehouse outage's length (default 60)
 *   npm run chaos -- --logs DIR                  write each component's (and dev's) output into DIR at the end
 *   npm run chaos -- --no-record                 print only (bench/reliability.json and RELIABILITY.md untouched)
 *   npm run chaos -- --report                    run nothing: regenerate RELIABILITY.md from bench/reliability.json
 *
 * Two stacks, one after the other:
 *  1. components: embedded PostgreSQL (source seeded with the real 2024-02-23 data set,
 *     warehouse migrated), kinesalite and s3rver on fixed ports with kept data
 *     (ChaosStack.ts), the reader, archiver, processor and loader as `totes-cdc` child
 *     processes under an ECS-like supervisor (ChaosComponents.ts), the load
 *     (ChaosLoad.ts) and the watchers (ChaosWatch.ts); every round but dev-kill here;
 *  2. dev: `totes-cdc dev --data-dir DIR --seed …` under the same load, SIGKILLed and
 *     started again on the same data directory (the dev-kill rounds).
 * A round: load resumes; the fault strikes at its random moment (ChaosPlan.ts) and is
 * cleared; a sale committed then must reach the warehouse (recovery); the load pauses;
 * `totes-cdc verify --wait-for-lsn current` must find no drift and the ledger's count of
 * committed fact versions and deletes must equal the warehouse's. Figures go to
 * bench/reliability.json and RELIABILITY.md (ChaosReport.ts). Exit 1 when a round
 * failed, 2 on bad flags.
 *
 * Invariants:
 *  - Everything started is stopped and every temporary directory removed at the end,
 *    also when a round fails or the run is interrupted (Ctrl-C).
 *  - Waits poll a condition with a bound; the only sleeps are the plan's random moments
 *    and fault lengths.
 */
import { PutRecordsCommand } from "@aws-sdk/client-kinesis"
import { loadSeed, untilExit } from "@totes-cdc/local-stack"
import { CLI_BIN, TOTESYS_DUMP } from "@totes-cdc/local-stack/testing"
import { createTotesysSchema } from "@totes-cdc/local-stack"
import { migrateWarehouse } from "@totes-cdc/loader"
import type { VerifyReport } from "@totes-cdc/ops"
import { makeKinesisClient, makePgPool } from "@totes-cdc/platform"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import os, { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { runCli as runCliProcess } from "../e2e/CliProcess.ts"
import { ROOT } from "../bench/Report.ts"
import { makeRandom } from "../bench/FreshnessTraffic.ts"
import { COMPONENTS, type Component, FAULT_KINDS, type FaultKind, parseKinds, planRounds, type Round } from "./ChaosPlan.ts"
import { startSupervisor, type Supervisor, type UnexpectedExit } from "./ChaosComponents.ts"
import { type ChaosLoad, ledgerTotals, resilientPool, startChaosLoad } from "./ChaosLoad.ts"
import { type ChaosRun, type Check, type CountFigures, failures, markdown, type RoundResult, summarizeRun, type VerifyFigures } from "./ChaosReport.ts"
import { CHAOS_NAMES, type ChaosStack, startChaosStack } from "./ChaosStack.ts"
import { deadLetters, type S3Target, startWatch, type Watch } from "./ChaosWatch.ts"

const RESULTS = join(ROOT, "bench", "reliability.json")
const REPORT = join(ROOT, "RELIABILITY.md")
const USAGE = "usage: npm run chaos -- [--rounds N] [--seed N] [--kinds a,b] [--events-per-second N] [--outage-seconds N] [--logs DIR] [--no-record] [--report]"

const args = process.argv.slice(2)
const flags = (() => {
  try {
    return parseArgs({
      args,
      options: {
        rounds: { type: "string" },
        seed: { type: "string" },
        kinds: { type: "string" },
        "events-per-second": { type: "string" },
        "outage-seconds": { type: "string" },
        "no-record": { type: "boolean", default: false },
        logs: { type: "string" },
        report: { type: "boolean", default: false },
        help: { type: "boolean", default: false }
      },
      strict: true
    }).values
  } catch (error) {
    process.stderr.write(`chaos: ${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`)
    process.exit(2)
  }
})()
if (flags.help) {
  process.stdout.write(`${USAGE}\n`)
  process.exit(0)
}
const whole = (flag: string, value: string | undefined, fallback: number, min: number) => {
  if (value === undefined) return fallback
  const parsed = Number(value)
  if (!Number.isInteger(parsed) || parsed < min) {
    process.stderr.write(`chaos: --${flag} ${value}: give a whole number ≥ ${min}\n`)
    process.exit(2)
  }
  return parsed
}

if (flags.report) {
  const run = JSON.parse(await readFile(RESULTS, "utf8")) as ChaosRun
  await writeFile(REPORT, markdown(run))
  process.stderr.write(`${REPORT} regenerated from ${RESULTS}\n`)
  process.exit(0)
}

const roundsWanted = whole("rounds", flags.rounds, 24, 1)
const seed = whole("seed", flags.seed, Math.floor(Math.random() * 1_000_000), 0)
const eventsPerSecond = whole("events-per-second", flags["events-per-second"], 25, 1)
const outageSeconds = whole("outage-seconds", flags["outage-seconds"], 60, 1)
const kinds: ReadonlyArray<FaultKind> = (() => {
  try {
    return flags.kinds === undefined ? FAULT_KINDS : parseKinds(flags.kinds)
  } catch (error) {
    process.stderr.write(`chaos: --kinds: ${(error as Error).message}\n`)
    process.exit(2)
  }
})()
/** Where each component's output goes at the end (`--logs DIR`), for diagnosis. */
const logsDir = flags.logs
const plan = planRounds(roundsWanted, seed, kinds)
const random = makeRandom(seed ^ 0x5eed)

const started = Date.now()
/** What to stop on Ctrl-C: each stack's closer while it runs. */
const closers = new Set<() => Promise<void>>()
const log = (line: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`)
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

/** Runs `totes-cdc args` to its end (CliProcess.ts `runCli`). */
const runCli = (cliArgs: ReadonlyArray<string>, env: NodeJS.ProcessEnv) => Effect.runPromise(runCliProcess(cliArgs, env))

/** `totes-cdc verify --wait-for-lsn current --json` (`where`: the environment or a state file), summed over tables. */
const verify = async (env: NodeJS.ProcessEnv, where: ReadonlyArray<string> = []): Promise<VerifyFigures> => {
  const began = Date.now()
  const result = await runCli(["verify", ...where, "--wait-for-lsn", "current", "--timeout", "900", "--json"], env)
  const secs = Number(((Date.now() - began) / 1000).toFixed(1))
  const start = result.stdout.indexOf("{")
  if (start < 0) {
    const error = result.stderr.trim().split("\n").pop() ?? "no output"
    return { exitCode: result.code, missing: 0, extra: 0, different: 0, duplicates: 0, foreignKeyViolations: 0, rowsCompared: 0, seconds: secs, error }
  }
  const report = JSON.parse(result.stdout.slice(start)) as VerifyReport
  const total = (key: "missing" | "extra" | "different" | "duplicates" | "foreignKeyViolations" | "inFlight") => report.tables.reduce((acc, t) => acc + t[key], 0)
  return {
    exitCode: result.code,
    missing: total("missing"),
    extra: total("extra"),
    different: total("different"),
    duplicates: total("duplicates"),
    foreignKeyViolations: total("foreignKeyViolations"),
    rowsCompared: report.rowsCompared,
    inFlight: total("inFlight"),
    seconds: secs,
    ...(result.code === 0
      ? {}
      : {
          error: report.tables
            .filter((t) => t.drift)
            .map((t) => `${t.table}: ${t.missing} missing ${JSON.stringify(t.samples.missing)}, ${t.extra} extra ${JSON.stringify(t.samples.extra)}, ${t.different} different ${JSON.stringify(t.samples.different)}, ${t.duplicates} duplicates ${JSON.stringify(t.samples.duplicates)}`)
            .join("; ")
        })
  }
}

/**
 * `verify` until it compares every row: a verify that starts before the reader's slot exists
 * takes its source snapshot before the snapshot's consistent point, and every row the
 * snapshot loads is then "in flight" (newer than its window), not compared.
 */
const verifyCaughtUp = async (env: NodeJS.ProcessEnv, where: ReadonlyArray<string> = []): Promise<VerifyFigures> => {
  for (let attempt = 1; ; attempt++) {
    const figures = await verify(env, where)
    if (figures.exitCode !== 0 || figures.inFlight === 0 || attempt === 10) return figures
  }
}

/**
 * Micro-batches (processed objects sharing a batch id) whose objects the warehouse recorded
 * in more than one transaction (`xmin` of their `applied_objects` rows): the loader applies a
 * micro-batch in one transaction, so a batch split across several was visible in part.
 */
const splitMicroBatches = async (warehouseUrl: string): Promise<ReadonlyArray<string>> => {
  const pool = resilientPool(warehouseUrl, 1)
  try {
    const { rows } = await pool.query(`SELECT substring(object_key from '/([^/]+)[.]parquet$') AS batch FROM totes_cdc.applied_objects
      GROUP BY 1 HAVING count(DISTINCT xmin::text) > 1 ORDER BY 1`)
    return rows.map((r: { batch: string }) => r.batch)
  } finally {
    await pool.end()
  }
}

/** Source counts of the fact tables' rows and transactions before the load (each a version in the warehouse). */
const SOURCE_COUNTS_SQL = `SELECT (SELECT count(*) FROM public.sales_order)::int AS sales, (SELECT count(*) FROM public.purchase_order)::int AS purchases,
  (SELECT count(*) FROM public.payment)::int AS payments, (SELECT count(*) FROM public.transaction)::int AS transactions`
const WAREHOUSE_COUNTS_SQL = `SELECT (SELECT count(*) FROM public.fact_sales_order)::int AS sales, (SELECT count(*) FROM public.fact_purchase_order)::int AS purchases,
  (SELECT count(*) FROM public.fact_payment)::int AS payments, (SELECT count(*) FROM public.dim_transaction)::int AS transactions,
  (SELECT count(*) FROM totes_cdc.row_versions WHERE warehouse_table = 'fact_payment' AND deleted)::int AS deletes`

type Counts = Record<"sales" | "purchases" | "payments" | "transactions" | "deletes", number>

const countFigures = async (initial: Counts, sourceUrl: string, warehouseUrl: string): Promise<CountFigures> => {
  const source = resilientPool(sourceUrl, 1)
  const warehouse = resilientPool(warehouseUrl, 1)
  try {
    const ledger = await ledgerTotals(source)
    const expected: Counts = {
      sales: initial.sales + ledger.sales,
      purchases: initial.purchases + ledger.purchases,
      payments: initial.payments + ledger.payments,
      transactions: initial.transactions + ledger.transactions,
      deletes: initial.deletes + ledger.deletes
    }
    const [row] = (await warehouse.query(WAREHOUSE_COUNTS_SQL)).rows as Array<Counts>
    return { expected, warehouse: row! }
  } finally {
    await Promise.all([source.end(), warehouse.end()])
  }
}

const stageDelta = (after: Record<string, number>, before: Record<string, number>) =>
  Object.fromEntries(Object.entries(after).flatMap(([stage, count]) => (count - (before[stage] ?? 0) === 0 ? [] : [[stage, count - (before[stage] ?? 0)]])))

/** What a fault reports once cleared. */
interface Injected {
  readonly detail: string
  readonly clearedAt: number
  readonly checks: ReadonlyArray<Check>
  readonly expectedDeadLetters: number
}

/** Everything a round runs against, whichever the stack. */
interface RoundContext {
  readonly stack: "components" | "dev"
  readonly load: ChaosLoad
  readonly watch: Watch
  readonly env: NodeJS.ProcessEnv
  readonly verifyWhere: ReadonlyArray<string>
  readonly urls: () => { source: string; warehouse: string }
  readonly s3: () => S3Target
  readonly initial: Counts
  readonly inject: (round: Round) => Promise<Injected>
  /** Components that exited without being told to, so far (ECS would restart them: the pipeline should ride out a fault without that). */
  readonly selfExits: () => ReadonlyArray<UnexpectedExit>
}

const runRound = async (round: Round, ctx: RoundContext): Promise<RoundResult> => {
  const roundStart = Date.now()
  const exitsBefore = ctx.selfExits().length
  const deadBefore = await deadLetters(ctx.s3())
  const failuresBefore = ctx.load.failures()
  ctx.watch.takePeakRetainedWal()
  ctx.load.resume()
  const big = round.bigTransaction ? sleep(Math.floor(random() * round.faultAfterMs)).then(() => ctx.load.bigTransaction()) : Promise.resolve()
  await sleep(round.faultAfterMs)
  const faultAt = Date.now()
  log(`round ${round.index}/${plan.length}: ${round.kind}${round.bigTransaction ? " (with a 50,000-row transaction)" : ""}`)
  const injected = await ctx.inject(round)
  await big
  const probe = await ctx.load.probe()
  const caughtUp = await ctx.watch.visible(probe.id, 15 * 60_000)
  await ctx.load.pause()
  const worstFreshnessMs = ctx.watch.worstFreshness(roundStart, caughtUp)
  const peak = ctx.watch.takePeakRetainedWal()
  const verified = await verify(ctx.env, ctx.verifyWhere)
  const counts = await countFigures(ctx.initial, ctx.urls().source, ctx.urls().warehouse)
  const found = stageDelta(await deadLetters(ctx.s3()), deadBefore)
  const split = await splitMicroBatches(ctx.urls().warehouse)
  const whole: Check = {
    name: "no micro-batch applied in part",
    ok: split.length === 0,
    detail: split.length === 0 ? "every micro-batch's objects were applied in one transaction" : `micro-batches applied by several transactions: ${split.slice(0, 5).join(", ")}`
  }
  const exited = ctx.selfExits().slice(exitsBefore)
  const stayedUp: Check = {
    name: "no component exited by itself",
    ok: exited.length === 0,
    detail: exited.length === 0 ? "every component rode out the fault in its process" : exited.map((e) => `${e.component} (${e.code ?? e.signal}): ${e.lastLines.split("\n").pop()}`).join("; ")
  }
  const result: RoundResult = {
    index: round.index,
    kind: round.kind,
    stack: ctx.stack,
    detail: injected.detail,
    bigTransaction: round.bigTransaction,
    faultMs: injected.clearedAt - faultAt,
    recoveryMs: caughtUp - injected.clearedAt,
    disruptionMs: caughtUp - faultAt,
    worstFreshnessMs,
    peakRetainedWalBytes: peak,
    deadLetters: { expected: injected.expectedDeadLetters, found },
    verify: verified,
    counts,
    checks: [...injected.checks, whole, stayedUp],
    loadFailures: ctx.load.failures() - failuresBefore
  }
  const failed = failures(result)
  log(
    `round ${round.index}: ${injected.detail}; recovered ${seconds(result.recoveryMs)} after it cleared (${seconds(result.disruptionMs)} after it struck); worst freshness ${seconds(worstFreshnessMs)}; retained WAL peak ${(peak / 1_048_576).toFixed(1)} MiB; verify ${verified.exitCode === 0 ? "OK" : `exit ${verified.exitCode}`} in ${verified.seconds} s — ${failed.length === 0 ? "passed" : `FAILED: ${failed.join("; ")}`}`
  )
  return result
}

// ---------------------------------------------------------------------------------------
// The components stack.

const componentEnv = (stack: ChaosStack): NodeJS.ProcessEnv => ({
  ...process.env,
  SOURCE_URL: stack.postgres.url(CHAOS_NAMES.source),
  WAREHOUSE_URL: stack.postgres.url(CHAOS_NAMES.warehouse),
  KINESIS_STREAM: CHAOS_NAMES.stream,
  INGESTION_BUCKET: CHAOS_NAMES.ingestion,
  PROCESSED_BUCKET: CHAOS_NAMES.processed,
  KINESIS_ENDPOINT: stack.kinesisEndpoint,
  S3_ENDPOINT: stack.s3Endpoint,
  AWS_REGION: stack.aws.region,
  AWS_ACCESS_KEY_ID: stack.aws.accessKeyId,
  AWS_SECRET_ACCESS_KEY: stack.aws.secretAccessKey,
  READER_SLOT: CHAOS_NAMES.slot,
  READER_PUBLICATION: CHAOS_NAMES.slot,
  READER_HEARTBEAT_MS: "1000",
  ARCHIVE_BUFFER_INTERVAL_MS: "1000",
  PROCESSOR_WINDOW_MS: "500",
  LOADER_POLL_INTERVAL_MS: "300"
})

const poisonRecords = (stack: ChaosStack) => {
  const impossible = {
    v: 1,
    source: "replication",
    op: "insert",
    table: "sales_order",
    key: { sales_order_id: "2000000001" },
    before: null,
    after: { sales_order_id: "2000000001", units_sold: "a great many", unit_price: "free", design_id: "-1", created_at: "not a time", last_updated: "yesterday" },
    unchangedToast: [],
    commitLsn: "0/1",
    commitIdx: 0,
    xid: 1,
    commitTs: new Date().toISOString()
  }
  const client = makeKinesisClient({ region: stack.aws.region, endpoint: stack.kinesisEndpoint, accessKeyId: stack.aws.accessKeyId, secretAccessKey: stack.aws.secretAccessKey })
  return client
    .send(
      new PutRecordsCommand({
        StreamName: CHAOS_NAMES.stream,
        Records: [
          { Data: Buffer.from('{"v":1,"source":"replication","op":"insert","table":"sales_order","key":{"sales_order_id":'), PartitionKey: "chaos-poison-1" },
          { Data: Buffer.from(JSON.stringify(impossible)), PartitionKey: "chaos-poison-2" }
        ]
      })
    )
    .then((out) => {
      if ((out.FailedRecordCount ?? 0) > 0) throw new Error(`kinesalite refused ${out.FailedRecordCount} poison records`)
    })
    .finally(() => client.destroy())
}

const componentsInjector = (stack: ChaosStack, supervisor: Supervisor, env: NodeJS.ProcessEnv, load: ChaosLoad, watch: Watch) => {
  const admin = () => resilientPool(stack.postgres.url("postgres"), 1)
  const warehouseAdmin = () => resilientPool(stack.postgres.url(CHAOS_NAMES.warehouse), 1)
  const withPool = async <A>(make: () => ReturnType<typeof resilientPool>, body: (pool: ReturnType<typeof resilientPool>) => Promise<A>) => {
    const pool = make()
    try {
      return await body(pool)
    } finally {
      await pool.end().catch(() => undefined)
    }
  }
  const slotExists = () =>
    withPool(admin, async (pool) => (await pool.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = $1", [CHAOS_NAMES.slot])).rowCount === 1)

  return async (round: Round): Promise<Injected> => {
    const none = { checks: [] as Array<Check>, expectedDeadLetters: 0 }
    switch (round.kind) {
      case "component-kill": {
        const name: Component = round.component
        await supervisor.kill(name)
        await sleep(round.restartAfterMs)
        supervisor.start(name)
        return { ...none, detail: `${name} SIGKILLed, restarted after ${seconds(round.restartAfterMs)}`, clearedAt: Date.now() }
      }
      case "emulator-restart": {
        await stack.restartEmulators(round.restartAfterMs)
        return { ...none, detail: `kinesalite (SIGKILL) and s3rver down for ${seconds(round.restartAfterMs)}, restarted with their data`, clearedAt: Date.now() }
      }
      case "warehouse-outage": {
        await withPool(admin, async (pool) => {
          await pool.query(`ALTER DATABASE ${CHAOS_NAMES.warehouse} ALLOW_CONNECTIONS false`)
          await pool.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", [CHAOS_NAMES.warehouse])
        })
        await sleep(outageSeconds * 1000)
        await withPool(admin, (pool) => pool.query(`ALTER DATABASE ${CHAOS_NAMES.warehouse} ALLOW_CONNECTIONS true`))
        return { ...none, detail: `warehouse refused connections for ${outageSeconds} s`, clearedAt: Date.now() }
      }
      case "source-restart": {
        await stack.restartPostgres(round.shutdown, round.restartAfterMs)
        const survived = await slotExists()
        return {
          ...none,
          detail: `PostgreSQL ${round.shutdown} shutdown, down ${seconds(round.restartAfterMs)}`,
          clearedAt: Date.now(),
          checks: [{ name: "the slot survives a restart", ok: survived, detail: survived ? `slot ${CHAOS_NAMES.slot} present after the restart` : "the slot is gone" }]
        }
      }
      case "warehouse-refuses-writes": {
        const mark = supervisor.mark("loader")
        await withPool(warehouseAdmin, (pool) =>
          pool.query(`CREATE OR REPLACE FUNCTION public.chaos_refuse_writes() RETURNS trigger LANGUAGE plpgsql AS $$
              BEGIN RAISE EXCEPTION 'chaos: the warehouse refuses writes (injected fault)'; END $$;
            CREATE TRIGGER chaos_refuse_writes BEFORE INSERT OR UPDATE ON public.fact_sales_order FOR EACH ROW EXECUTE FUNCTION public.chaos_refuse_writes();
            -- ALWAYS: the loader writes facts with session_replication_role = replica, which skips ordinary triggers.
            ALTER TABLE public.fact_sales_order ENABLE ALWAYS TRIGGER chaos_refuse_writes`)
        )
        await sleep(round.refuseMs)
        await withPool(warehouseAdmin, (pool) => pool.query("DROP TRIGGER chaos_refuse_writes ON public.fact_sales_order; DROP FUNCTION public.chaos_refuse_writes()"))
        const said = supervisor.outputSince("loader", mark)
        const line = said.split("\n").find((l) => l.includes("refuses writes"))
        return {
          ...none,
          detail: `every fact_sales_order write failed for ${seconds(round.refuseMs)}`,
          clearedAt: Date.now(),
          checks: [{ name: "the loader names the refusal", ok: line !== undefined, detail: line?.trim().slice(0, 300) ?? "the loader printed nothing about it" }]
        }
      }
      case "poison-records": {
        await poisonRecords(stack)
        return { ...none, detail: "invalid JSON and an impossible sales_order row put on the stream", clearedAt: Date.now(), expectedDeadLetters: 2 }
      }
      case "slot-drop": {
        // Caught up first: what the slot retained is then only the idle tail, so the new snapshot
        // brings back exactly the rows the load committed (versions superseded in a gap cannot come back: README "The slot").
        await load.pause()
        const before = await load.probe()
        await watch.visible(before.id, 15 * 60_000)
        supervisor.hold("reader")
        const mark = supervisor.mark("reader")
        const dropped = await withPool(admin, async (pool) => {
          for (let attempt = 0; attempt < 100; attempt++) {
            await pool.query("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL", [CHAOS_NAMES.slot])
            try {
              await pool.query("SELECT pg_drop_replication_slot($1)", [CHAOS_NAMES.slot])
              return true
            } catch {
              await sleep(100)
            }
          }
          return false
        })
        const droppedAt = Date.now()
        // The reader stops by itself; if it exited on the lost connection first, ECS would start it again: that start must stop.
        const stopped = async () => {
          const limit = sleep(120_000).then(() => "timeout" as const)
          return Promise.race([supervisor.exited("reader").then(() => "exited" as const), limit])
        }
        let outcome = await stopped()
        if (outcome === "exited" && !supervisor.outputSince("reader", mark).includes("slot drop")) {
          supervisor.start("reader")
          supervisor.hold("reader")
          outcome = await stopped()
        }
        const said = supervisor.outputSince("reader", mark)
        const instruction = said.split("\n").find((l) => l.includes("totes-cdc reader slot drop"))
        const recreated = await slotExists()
        const exit = await supervisor.exited("reader")
        const slotDrop = await runCli(["reader", "slot", "drop"], env)
        supervisor.start("reader")
        load.resume()
        return {
          ...none,
          detail: "walsender terminated and slot dropped; re-snapshot as the reader said",
          clearedAt: Date.now(),
          checks: [
            { name: "the slot was dropped", ok: dropped, detail: dropped ? `at +${seconds(droppedAt - before.committedAt)}` : "pg_drop_replication_slot kept failing" },
            {
              name: "the reader stops loudly with the re-snapshot fix",
              ok: outcome === "exited" && exit.code !== 0 && instruction !== undefined,
              detail: outcome === "timeout" ? "the reader kept running for 120 s" : `exit ${exit.code ?? exit.signal}: ${instruction?.trim().slice(0, 300) ?? said.trim().split("\n").pop()}`
            },
            { name: "the slot is not recreated silently", ok: !recreated, detail: recreated ? "a slot of that name exists again" : "no slot until the operator's fix" },
            { name: "the fix works (`reader slot drop`, then start)", ok: slotDrop.code === 0, detail: `exit ${slotDrop.code}: ${slotDrop.stdout.trim().split("\n").pop() ?? ""}${slotDrop.stderr.trim()}` }
          ]
        }
      }
      case "dev-kill":
        throw new Error("dev-kill rounds run on the dev stack")
    }
  }
}

const runComponentsStack = async (rounds: ReadonlyArray<Round>, results: Array<RoundResult>, exits: Array<ChaosRun["unexpectedExits"][number]>) => {
  log("components stack: starting PostgreSQL, kinesalite and s3rver")
  const stack = await startChaosStack()
  let supervisor: Supervisor | undefined
  let load: ChaosLoad | undefined
  let watch: Watch | undefined
  const roundStarts: Array<{ index: number; at: number }> = []
  const close = async () => {
    await load?.close()
    await watch?.close()
    await supervisor?.close()
    if (logsDir !== undefined && supervisor !== undefined) {
      await mkdir(logsDir, { recursive: true })
      for (const name of COMPONENTS) await writeFile(join(logsDir, `${name}.log`), supervisor.tail(name, 200_000))
    }
    await stack.close()
  }
  closers.add(close)
  try {
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const admin = yield* makePgPool(stack.postgres.url("postgres"), { max: 1 })
          for (const db of [CHAOS_NAMES.source, CHAOS_NAMES.warehouse]) yield* admin.query(`CREATE DATABASE ${db}`)
          const source = yield* makePgPool(stack.postgres.url(CHAOS_NAMES.source), { max: 2 })
          yield* createTotesysSchema(source)
          yield* loadSeed(source, TOTESYS_DUMP)
          yield* migrateWarehouse(yield* makePgPool(stack.postgres.url(CHAOS_NAMES.warehouse), { max: 2 }))
        })
      )
    )
    const env = componentEnv(stack)
    const urls = { source: stack.postgres.url(CHAOS_NAMES.source), warehouse: stack.postgres.url(CHAOS_NAMES.warehouse) }
    const sourcePool = resilientPool(urls.source, 1)
    const initial = { ...((await sourcePool.query(SOURCE_COUNTS_SQL)).rows[0] as Omit<Counts, "deletes">), deletes: 0 }
    await sourcePool.end()
    supervisor = startSupervisor(env)
    for (const name of ["reader", "archiver", "processor", "loader"] as const) supervisor.start(name)
    log("components started; waiting for the snapshot (verify)")
    const first = await verifyCaughtUp(env)
    if (first.exitCode !== 0) throw new Error(`the snapshot did not verify: ${first.error ?? "drift"}`)
    log(`snapshot verified (${first.rowsCompared.toLocaleString("en-GB")} rows compared)`)
    load = await startChaosLoad(urls.source, eventsPerSecond, random)
    watch = startWatch(urls, CHAOS_NAMES.slot, load.committedSales)
    const s3: S3Target = { endpoint: stack.s3Endpoint, ...stack.aws, bucket: CHAOS_NAMES.ingestion }
    const ctx: RoundContext = {
      stack: "components",
      load,
      watch,
      env,
      verifyWhere: [],
      urls: () => urls,
      s3: () => s3,
      initial,
      inject: componentsInjector(stack, supervisor, env, load, watch),
      selfExits: () => supervisor?.unexpectedExits ?? []
    }
    for (const round of rounds) {
      roundStarts.push({ index: round.index, at: Date.now() })
      const exitsBefore = supervisor.unexpectedExits.length
      results.push(await runRound(round, ctx))
      for (const e of supervisor.unexpectedExits.slice(exitsBefore)) log(`round ${round.index}: ${e.component} exited by itself (${e.code ?? e.signal}): ${e.lastLines.split("\n").pop()}`)
    }
  } finally {
    // Each exit belongs to the round running when it happened (0: before the first).
    for (const e of supervisor?.unexpectedExits ?? []) {
      exits.push({ component: e.component, code: e.code, signal: e.signal, lastLines: e.lastLines, round: roundStarts.findLast((r) => r.at <= e.at)?.index ?? 0 })
    }
    closers.delete(close)
    await close()
  }
}

// ---------------------------------------------------------------------------------------
// The dev stack.

interface DevState {
  readonly pid: number
  readonly source: { readonly url: string }
  readonly warehouse: { readonly url: string }
  readonly s3: { readonly endpoint: string; readonly region: string; readonly accessKeyId?: string; readonly secretAccessKey?: string; readonly buckets: { readonly ingestion: string } }
}

const runDevStack = async (rounds: ReadonlyArray<Round>, results: Array<RoundResult>) => {
  const dir = await mkdtemp(join(tmpdir(), "totes-cdc-chaos-dev-"))
  // Run as root, dev's PostgreSQL runs as user postgres, which must enter the directory (mkdtemp makes it 0700).
  await chmod(dir, 0o755)
  const dataDir = join(dir, "data")
  const stateFile = join(dir, "state.json")
  let dev: ReturnType<typeof spawn> | undefined
  let output = ""
  const startDev = async (): Promise<DevState> => {
    const child = spawn(process.execPath, [CLI_BIN, "dev", "--data-dir", dataDir, "--seed", TOTESYS_DUMP, "--simulate", "0", "--state-file", stateFile, "--dashboard-port", "0"], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    dev = child
    child.stdout?.on("data", (chunk: Buffer) => void (output = (output + chunk.toString()).slice(-20_000)))
    child.stderr?.on("data", (chunk: Buffer) => void (output = (output + chunk.toString()).slice(-20_000)))
    const deadline = Date.now() + 300_000
    for (;;) {
      if (child.exitCode !== null) throw new Error(`dev exited (${child.exitCode}) before it was ready: ${output.slice(-2_000)}`)
      if (existsSync(stateFile)) {
        try {
          const state = JSON.parse(readFileSync(stateFile, "utf8")) as DevState
          if (state.pid === child.pid) return state
        } catch {
          // being written
        }
      }
      if (Date.now() > deadline) throw new Error(`dev not ready after 300 s: ${output.slice(-2_000)}`)
      await sleep(100)
    }
  }
  let load: ChaosLoad | undefined
  let watch: Watch | undefined
  const close = async () => {
    await load?.close()
    await watch?.close()
    if (dev !== undefined && dev.exitCode === null) {
      dev.kill("SIGINT")
      await untilExit(dev)
    }
    if (logsDir !== undefined) {
      await mkdir(logsDir, { recursive: true })
      await writeFile(join(logsDir, "dev.log"), output)
    }
    await rm(dir, { recursive: true, force: true })
  }
  closers.add(close)
  try {
    log("dev stack: starting totes-cdc dev --data-dir (seeded with the real data set)")
    let state = await startDev()
    const initialPool = resilientPool(state.source.url, 1)
    const initial = { ...((await initialPool.query(SOURCE_COUNTS_SQL)).rows[0] as Omit<Counts, "deletes">), deletes: 0 }
    await initialPool.end()
    const where = ["--state-file", stateFile]
    const first = await verifyCaughtUp(process.env, where)
    if (first.exitCode !== 0) throw new Error(`dev's snapshot did not verify: ${first.error ?? "drift"}`)
    load = await startChaosLoad(state.source.url, eventsPerSecond, random)
    watch = startWatch({ source: state.source.url, warehouse: state.warehouse.url }, "totes_cdc", load.committedSales)
    const currentLoad = load
    const currentWatch = watch
    const ctx: RoundContext = {
      stack: "dev",
      load,
      watch,
      env: process.env,
      verifyWhere: where,
      urls: () => ({ source: state.source.url, warehouse: state.warehouse.url }),
      s3: () => ({
        endpoint: state.s3.endpoint,
        region: state.s3.region,
        accessKeyId: state.s3.accessKeyId ?? "S3RVER",
        secretAccessKey: state.s3.secretAccessKey ?? "S3RVER",
        bucket: state.s3.buckets.ingestion
      }),
      initial,
      inject: async (round) => {
        const victim = dev!
        victim.kill("SIGKILL")
        await untilExit(victim)
        await sleep(round.restartAfterMs)
        state = await startDev()
        await currentLoad.retarget(state.source.url)
        await currentWatch.retarget({ source: state.source.url, warehouse: state.warehouse.url })
        return { detail: `dev SIGKILLed, started again on its data directory after ${seconds(round.restartAfterMs)}`, clearedAt: Date.now(), checks: [], expectedDeadLetters: 0 }
      },
      selfExits: () => []
    }
    for (const round of rounds) results.push(await runRound(round, ctx))
  } finally {
    closers.delete(close)
    await close()
  }
}

// ---------------------------------------------------------------------------------------

log(`chaos: ${plan.length} rounds, seed ${seed} (repeat with --seed ${seed}); ${eventsPerSecond} events/s; faults: ${plan.map((r) => r.kind).join(", ")}`)
const results: Array<RoundResult> = []
const exits: Array<ChaosRun["unexpectedExits"][number]> = []
let aborted: string | undefined
process.once("SIGINT", () => {
  log("interrupted (Ctrl-C): stopping everything; nothing recorded")
  void Promise.allSettled([...closers].map((close) => close())).then(() => process.exit(130))
})
try {
  const componentRounds = plan.filter((r) => r.kind !== "dev-kill")
  const devRounds = plan.filter((r) => r.kind === "dev-kill")
  if (componentRounds.length > 0) await runComponentsStack(componentRounds, results, exits)
  if (devRounds.length > 0) await runDevStack(devRounds, results)
} catch (error) {
  aborted = error instanceof Error ? error.message : String(error)
  log(`chaos stopped: ${aborted}`)
}

const run: ChaosRun = {
  date: new Date(started).toISOString(),
  command: `npm run chaos${args.length > 0 ? ` -- ${args.join(" ")}` : ""}`,
  seed,
  machine: {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model.trim() ?? "?",
    node: process.version,
    git: (() => {
      try {
        return readFileSync(join(ROOT, ".git", "HEAD"), "utf8").startsWith("ref:")
          ? readFileSync(join(ROOT, ".git", readFileSync(join(ROOT, ".git", "HEAD"), "utf8").slice(5).trim()), "utf8").trim().slice(0, 7)
          : "?"
      } catch {
        return "?"
      }
    })()
  },
  eventsPerSecond,
  outageSeconds,
  durationSeconds: Math.round((Date.now() - started) / 1000),
  rounds: results,
  unexpectedExits: exits,
  ...(aborted === undefined ? {} : { aborted })
}
const summary = summarizeRun(run)
process.stdout.write(
  `chaos: ${summary.passed} of ${summary.rounds} rounds passed; lost or doubled ${summary.lostOrDoubled}; recovery p50 ${seconds(summary.recovery.p50)}, p99 ${seconds(summary.recovery.p99)}, max ${seconds(summary.recovery.max)}; peak retained WAL ${(summary.peakRetainedWalBytes / 1_048_576).toFixed(1)} MiB; worst freshness ${seconds(summary.worstFreshnessMs)}; dead letters ${summary.deadLetters.found} (${summary.deadLetters.expected} poison); ${exits.length} components exited by themselves${aborted === undefined ? "" : `; stopped early: ${aborted}`}\n`
)
if (!flags["no-record"]) {
  await writeFile(RESULTS, `${JSON.stringify(run, null, 2)}\n`)
  await writeFile(REPORT, markdown(run))
  log(`results in ${RESULTS}; ${REPORT} regenerated`)
}
process.exit(aborted === undefined && summary.passed === summary.rounds && plan.length === results.length ? 0 : 1)
