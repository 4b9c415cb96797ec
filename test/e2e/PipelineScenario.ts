/**
 * The end-to-end scenario of issue 5 ("End-to-end tests"), written once against the
 * `LocalStack` service so it runs on either stack: the embedded one
 * (Pipeline.integration.test.ts: embedded PostgreSQL, kinesalite, s3rver) or containers
 * (Pipeline.containers.integration.test.ts: a PostgreSQL container and LocalStack).
 *
 * The reader, archiver, processor and loader run as the `totes-cdc` child processes a user
 * would start, against the stack; `totes-cdc verify` (also a child process) reconciles
 * source and warehouse. The workload includes updates that leave `last_updated` as it was
 * (on all three fact tables: alone, in one transaction, across shards, and split across
 * micro-batches), which must replace their version rows in place. Each component is killed
 * outright (SIGKILL) once, at a random moment of the workload, and restarted; then, once
 * they are at work again, stopped with SIGTERM (as ECS stops a task) at a random moment
 * under load — exit 130 within 10 s — and restarted again. Then the raw archive is replayed
 * over the warehouse, which must not change, and into an empty warehouse, which verify must
 * find equal to the source.
 *
 * Invariants:
 *  - Everything the scenario touches on the stack it names itself (databases e2e_source,
 *    e2e_warehouse, e2e_rebuilt; stream e2e-changes; buckets e2e-ingestion, e2e-processed)
 *    and reaches only through the service (`postgres.url`, `kinesis`, `s3`): nothing
 *    depends on which stack is behind it.
 *  - Every child process it started is killed and awaited when its scope closes.
 *  - It waits for conditions by polling with a timeout, never by a fixed sleep; the random
 *    pauses only choose when a component is killed.
 */
import { expect } from "@effect/vitest"
import { createKinesisStream, loadSeed, LocalStack, untilExit } from "@totes-cdc/local-stack"
import { migrateWarehouse } from "@totes-cdc/loader"
import type { VerifyReport } from "@totes-cdc/ops"
import { Kinesis, type PgPool, S3 } from "@totes-cdc/platform"
import { ARCHIVER_CONSUMER, CheckpointStore, PROCESSOR_CONSUMER } from "@totes-cdc/stream-processors"
import { CLI_BIN, emptyTotesys, emulatorEnvironment, freshBucket, freshDatabase, TOTESYS_DUMP } from "@totes-cdc/local-stack/testing"
import { Effect, Layer, Option, Schedule } from "effect"
import { type ChildProcess, spawn } from "node:child_process"

/** What the scenario checks, as the test's name. */
export const PIPELINE_SCENARIO =
  "snapshot, then inserts, updates that leave last_updated unchanged, paid flips, an address and a department change, a delete and a 50,000-row transaction — each component killed and restarted once, then stopped with SIGTERM and restarted — verify passes; replaying the archive changes no row and rebuilds an empty warehouse"

/** How long the scenario may take on the embedded stack (several minutes on two cores). */
export const PIPELINE_SCENARIO_TIMEOUT = 600_000

type Component = "reader" | "archiver" | "processor" | "loader"

/** Counts of the 2024-02-23 dump (its COPY blocks): the warehouse rows a snapshot gives. */
const DUMP_ROWS = {
  dim_location: 30, dim_counterparty: 20, dim_currency: 3, dim_design: 324, dim_staff: 20, dim_payment_type: 4,
  dim_transaction: 9_899, fact_sales_order: 6_941, fact_purchase_order: 2_958, fact_payment: 9_899
}

interface Running {
  child: ChildProcess
  /** The tail of its output (stdout and stderr: its logs), for failure messages. */
  output: string
}

/** Keeps the last 20,000 characters of `run`'s output. */
const LOG_TAIL = 20_000

/** Environment of the components on this test's stack, stream, buckets and databases. */
const environment = (stack: LocalStack["Service"], names: { source: string; warehouse: string; stream: string; ingestion: string; processed: string }) => ({
  ...process.env,
  SOURCE_URL: stack.postgres.url(names.source),
  WAREHOUSE_URL: stack.postgres.url(names.warehouse),
  KINESIS_STREAM: names.stream,
  INGESTION_BUCKET: names.ingestion,
  PROCESSED_BUCKET: names.processed,
  ...emulatorEnvironment(stack),
  READER_SLOT: "e2e",
  READER_PUBLICATION: "e2e",
  READER_HEARTBEAT_MS: "1000",
  ARCHIVE_BUFFER_INTERVAL_MS: "1000",
  PROCESSOR_WINDOW_MS: "500",
  LOADER_POLL_INTERVAL_MS: "300"
})

/** Runs `totes-cdc args` to its end: exit code, stdout, stderr. */
const runCli = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv) =>
  Effect.promise(
    () =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [CLI_BIN, ...args], { env, stdio: ["ignore", "pipe", "pipe"] })
        let stdout = ""
        let stderr = ""
        child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
        child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
        child.once("exit", (code) => resolve({ code, stdout, stderr }))
      })
  )

/** `totes-cdc verify --wait-for-lsn WAIT --json`: the parsed report (the test fails with verify's output on any drift). */
const verify = (env: NodeJS.ProcessEnv, wait = "current") =>
  Effect.gen(function* () {
    const result = yield* runCli(["verify", "--wait-for-lsn", wait, "--timeout", "120", "--json"], env)
    expect(result.stdout.includes("{"), `verify printed no report: ${result.stderr}`).toBe(true)
    const report = JSON.parse(result.stdout.slice(result.stdout.indexOf("{"))) as VerifyReport
    expect({ code: result.code, drift: report.tables.filter((t) => t.drift) }, result.stderr).toEqual({ code: 0, drift: [] })
    return Object.fromEntries(report.tables.map((t) => [t.table, t]))
  })

/** Every warehouse table's content as one md5 per table (rows in key order). */
const fingerprint = (warehouse: PgPool) =>
  warehouse.query(
    `SELECT * FROM (SELECT 'dim_date' AS t, md5(string_agg(x::text, '|' ORDER BY date_id)) AS h FROM dim_date x UNION ALL
     SELECT 'dim_staff', md5(string_agg(x::text, '|' ORDER BY staff_id)) FROM dim_staff x UNION ALL
     SELECT 'dim_location', md5(string_agg(x::text, '|' ORDER BY location_id)) FROM dim_location x UNION ALL
     SELECT 'dim_currency', md5(string_agg(x::text, '|' ORDER BY currency_id)) FROM dim_currency x UNION ALL
     SELECT 'dim_design', md5(string_agg(x::text, '|' ORDER BY design_id)) FROM dim_design x UNION ALL
     SELECT 'dim_counterparty', md5(string_agg(x::text, '|' ORDER BY counterparty_id)) FROM dim_counterparty x UNION ALL
     SELECT 'dim_payment_type', md5(string_agg(x::text, '|' ORDER BY payment_type_id)) FROM dim_payment_type x UNION ALL
     SELECT 'dim_transaction', md5(string_agg(x::text, '|' ORDER BY transaction_id)) FROM dim_transaction x UNION ALL
     SELECT 'fact_sales_order', md5(string_agg(x::text, '|' ORDER BY sales_record_id)) FROM fact_sales_order x UNION ALL
     SELECT 'fact_purchase_order', md5(string_agg(x::text, '|' ORDER BY purchase_record_id)) FROM fact_purchase_order x UNION ALL
     SELECT 'fact_payment', md5(string_agg(x::text, '|' ORDER BY payment_record_id)) FROM fact_payment x) f ORDER BY t`
  )

/** Waits until the archiver has checkpointed, in every shard, as far as the processor (then the archive holds every change processed). */
const archiveCaughtUp = (stream: string) =>
  Effect.gen(function* () {
    const checkpoints = yield* CheckpointStore
    const position = (consumer: string, shardId: string) =>
      checkpoints.get(consumer, shardId).pipe(Effect.map((c) => (Option.isSome(c) ? BigInt(c.value.sequenceNumber ?? "0") : -1n)))
    const caughtUp = Effect.gen(function* () {
      for (const { shardId } of yield* (yield* Kinesis).listShards(stream)) {
        if ((yield* position(ARCHIVER_CONSUMER, shardId)) < (yield* position(PROCESSOR_CONSUMER, shardId))) return false
      }
      return true
    })
    yield* caughtUp.pipe(Effect.repeat({ until: (ok) => ok, schedule: Schedule.spaced("200 millis") }), Effect.timeout("60 seconds"))
  })

/**
 * Why a verify found drift, for the failure message: per shard, the Kinesis records after the
 * processor's checkpoint (unprocessed); the manifests the warehouse has not recorded as
 * applied, with their first commit LSN (processed, not loaded); and a second verify's verdict:
 * no drift means the first one stopped waiting too early, drift again means rows were lost.
 */
const diagnoseDrift = (names: { stream: string; processed: string }, warehouse: PgPool, env: NodeJS.ProcessEnv) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const s3 = yield* S3
    const lines: Array<string> = []
    for (const { shardId } of yield* kinesis.listShards(names.stream)) {
      const checkpoint = yield* (yield* CheckpointStore).get(PROCESSOR_CONSUMER, shardId)
      const after = Option.isSome(checkpoint) ? checkpoint.value.sequenceNumber : null
      let iterator: string | undefined = yield* kinesis.getShardIterator(names.stream, shardId, after === null ? {} : { afterSequenceNumber: after })
      let unprocessed = 0
      while (iterator !== undefined) {
        const { records, nextIterator }: { readonly records: ReadonlyArray<unknown>; readonly nextIterator: string | undefined } = yield* kinesis.getRecords(iterator, 10_000)
        unprocessed += records.length
        iterator = records.length === 0 ? undefined : nextIterator
      }
      lines.push(`${shardId}: processor checkpoint ${after ?? "none"}, ${unprocessed} records after it`)
    }
    const manifests = (yield* s3.listObjects(names.processed, "manifests/")).map((object) => object.key)
    const applied = new Set((yield* warehouse.query("SELECT manifest_key FROM totes_cdc.applied_batches")).map((row) => row.manifest_key))
    for (const key of manifests.filter((key) => !applied.has(key))) {
      const body = yield* s3.getObject(names.processed, key)
      lines.push(`not applied: ${key} ${Option.isSome(body) ? new TextDecoder().decode(body.value) : "(gone)"}`)
    }
    const again = yield* runCli(["verify", "--wait-for-lsn", "current", "--timeout", "120"], env)
    console.error(`--- drift diagnosis (${manifests.length} manifests, ${applied.size} applied):\n${lines.join("\n")}\n--- verify again: exit ${again.code}\n${again.stdout}${again.stderr}`)
  }).pipe(Effect.ignore)

/** A random moment within the next `ms` milliseconds (when to kill a component). */
const randomMoment = (ms: number) => Effect.sleep(Math.floor(Math.random() * ms))

/**
 * The scenario on the `LocalStack` in context; its child processes, pools and databases
 * live in the caller's scope. Fails the test (expect) on any deviation.
 */
export const pipelineScenario = Effect.gen(function* () {
  const stack = yield* LocalStack
  const source = yield* emptyTotesys("e2e_source")
  yield* loadSeed(source, TOTESYS_DUMP)
  const warehouse = yield* freshDatabase("e2e_warehouse")
  yield* migrateWarehouse(warehouse)
  const names = { source: "e2e_source", warehouse: "e2e_warehouse", stream: "e2e-changes", ingestion: yield* freshBucket("e2e-ingestion"), processed: yield* freshBucket("e2e-processed") }
  yield* createKinesisStream(stack.kinesis, names.stream, 2)
  const env = environment(stack, names)

  const running = new Map<Component, Running>()
  const startComponent = (name: Component) =>
    Effect.sync(() => {
      const child = spawn(process.execPath, [CLI_BIN, name], { env, stdio: ["ignore", "pipe", "pipe"] })
      const run: Running = { child, output: "" }
      const keep = (chunk: Buffer) => void (run.output = (run.output + chunk.toString()).slice(-LOG_TAIL))
      child.stdout?.on("data", keep)
      child.stderr?.on("data", keep)
      running.set(name, run)
    })
  /** Sends `signal` to a running component; resolves once it has exited, with how long that took. */
  const signal = (name: Component, signal: NodeJS.Signals) =>
    Effect.promise(async () => {
      const run = running.get(name)!
      if (run.child.exitCode !== null || run.child.signalCode !== null) throw new Error(`${name} had already stopped: ${run.output}`)
      const from = run.output.length
      const signalledAt = Date.now()
      run.child.kill(signal)
      await untilExit(run.child)
      return { ms: Date.now() - signalledAt, output: run.output.slice(from), code: run.child.exitCode }
    })
  const kill = (name: Component) => signal(name, "SIGKILL")
  /** SIGTERM, as ECS stops a task: the exit code, whether within 10 s, and any stack trace it printed. */
  const stop = (name: Component) =>
    signal(name, "SIGTERM").pipe(
      Effect.map(({ ms, output, code }) => ({ name, code, withinTenSeconds: ms <= 10_000, stackTraces: output.split("\n").filter((line) => /^\s+at /.test(line)) })),
      Effect.timeoutOrElse({ duration: "20 seconds", orElse: () => Effect.die(new Error(`${name} did not exit within 20 s of SIGTERM; its last output:\n${running.get(name)!.output.slice(-4_000)}`)) })
    )
  yield* Effect.addFinalizer(() =>
    Effect.promise(() =>
      Promise.all(
        [...running.values()].map((r) => {
          r.child.kill("SIGKILL")
          return untilExit(r.child)
        })
      )
    )
  )
  for (const name of ["reader", "archiver", "processor", "loader"] as const) yield* startComponent(name)
  /** `check`, printing every component's last output when it fails (why the pipeline did not get there). */
  const withLogs = <A, E, R>(check: Effect.Effect<A, E, R>) =>
    check.pipe(
      Effect.tapCause(() =>
        Effect.sync(() => console.error([...running].map(([name, run]) => `--- ${name}, last output:\n${run.output.slice(-4_000)}`).join("\n")))
      )
    )

  const consumers = Layer.mergeAll(Kinesis.layer(stack.kinesis), CheckpointStore.layer({ bucket: names.ingestion })).pipe(Layer.provideMerge(S3.layer(stack.s3)))
  /** `verify(env)`, with the components' logs and a diagnosis when it finds drift. */
  const verified = withLogs(verify(env)).pipe(Effect.tapCause(() => diagnoseDrift(names, warehouse, env).pipe(Effect.provide(consumers))))

  // 1. The snapshot: the warehouse holds the dump.
  const afterSnapshot = yield* verified
  for (const [table, rows] of Object.entries(DUMP_ROWS)) {
    expect({ table, source: afterSnapshot[table]?.source, warehouse: afterSnapshot[table]?.warehouse }).toEqual({ table, source: rows, warehouse: rows })
  }
  expect(Object.values(afterSnapshot).every((t) => t.foreignKeyViolations === 0 && t.duplicates === 0)).toBe(true)

  // 2. The workload, with each component killed and restarted once at a random moment.
  yield* source.query(`INSERT INTO sales_order (created_at, last_updated, design_id, staff_id, counterparty_id, units_sold, unit_price, currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id)
    SELECT now(), now(), 1 + i % 300, 1 + i % 20, 1 + i % 20, 1000 + i, 2.50, 1 + i % 3, '2024-03-01', '2024-03-02', 1 + i % 30 FROM generate_series(1, 20) AS i`)
  // Updates that leave last_updated as it was (totesys does it to about 1 in 100 orders): alone, several in one
  // transaction, one statement over 200 orders of both shards, and one order again in a later micro-batch.
  yield* source.query(`UPDATE sales_order SET agreed_delivery_location_id = 1 + agreed_delivery_location_id % 30 WHERE sales_order_id = 5`)
  yield* source.query(`BEGIN;
    UPDATE purchase_order SET staff_id = 1 + staff_id % 20 WHERE purchase_order_id = 3;
    UPDATE purchase_order SET agreed_delivery_date = '2024-04-01' WHERE purchase_order_id = 3;
    UPDATE payment SET payment_date = '2024-04-02' WHERE payment_id = 3;
    COMMIT`)
  yield* source.query(`UPDATE sales_order SET staff_id = 1 + staff_id % 20 WHERE sales_order_id BETWEEN 100 AND 299`)
  yield* source.query(`UPDATE payment SET payment_date = '2024-04-03' WHERE payment_id = 11`)
  const latestPaymentDate = warehouse
    .query(`SELECT payment_date FROM fact_payment WHERE payment_id = 11 ORDER BY last_updated_date DESC, last_updated_time DESC LIMIT 1`)
    .pipe(Effect.map((rows) => rows[0]?.payment_date))
  yield* withLogs(latestPaymentDate.pipe(Effect.repeat({ until: (d) => d === "2024-04-03", schedule: Schedule.spaced("100 millis") }), Effect.timeout("60 seconds")))
  yield* source.query(`UPDATE payment SET payment_date = '2024-04-04' WHERE payment_id = 11`)
  yield* randomMoment(1_500)
  yield* kill("reader")
  yield* source.query(`UPDATE payment SET paid = true, last_updated = now()
    WHERE payment_id IN (SELECT payment_id FROM payment WHERE NOT paid ORDER BY payment_id LIMIT 50)`)
  yield* startComponent("reader")
  // Counterparty 1's legal address, and staff member 1's department (every dim_staff in it re-emitted).
  yield* source.query(`UPDATE address SET city = 'Leeds', last_updated = now() WHERE address_id = (SELECT legal_address_id FROM counterparty WHERE counterparty_id = 1)`)
  yield* source.query(`UPDATE department SET location = 'Ilkley', last_updated = now() WHERE department_id = (SELECT department_id FROM staff WHERE staff_id = 1)`)
  yield* source.query(`DELETE FROM payment WHERE payment_id = (SELECT max(payment_id) FROM payment)`)
  yield* source.query(`INSERT INTO sales_order (created_at, last_updated, design_id, staff_id, counterparty_id, units_sold, unit_price, currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id)
    SELECT now(), now(), 1 + i % 300, 1 + i % 20, 1 + i % 20, 1000 + i % 99000, 2.00 + (i % 200) / 100.0, 1 + i % 3, '2024-03-01', '2024-03-04', 1 + i % 30 FROM generate_series(1, 50000) AS i`)
  yield* randomMoment(3_000)
  yield* kill("processor")
  yield* startComponent("processor")
  yield* randomMoment(3_000)
  yield* kill("loader")
  yield* startComponent("loader")
  // The restarted components at work again (the 50,000-row transaction in the warehouse) before
  // the SIGTERMs, which are about stopping a running component: one still loading its program
  // (~2 s, far longer when other test files load the machine) answers only once loaded.
  const salesOrders = warehouse.query(`SELECT count(DISTINCT sales_order_id) AS n FROM fact_sales_order`).pipe(Effect.map((rows) => Number(rows[0]?.n)))
  yield* withLogs(salesOrders.pipe(Effect.repeat({ until: (n) => n >= DUMP_ROWS.fact_sales_order + 20 + 50_000, schedule: Schedule.spaced("200 millis") }), Effect.timeout("120 seconds")))
  // Each component stopped as ECS stops a task (SIGTERM) at a random moment under load — the
  // in-flight batch finished or abandoned, never acknowledged half-done — and started again.
  yield* source.query(`INSERT INTO sales_order (created_at, last_updated, design_id, staff_id, counterparty_id, units_sold, unit_price, currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id)
    SELECT now(), now(), 1 + i % 300, 1 + i % 20, 1 + i % 20, 1000 + i, 3.00, 1 + i % 3, '2024-03-01', '2024-03-05', 1 + i % 30 FROM generate_series(1, 20000) AS i`)
  for (const name of ["processor", "loader", "reader", "archiver"] as const) {
    yield* randomMoment(1_500)
    expect(yield* stop(name)).toEqual({ name, code: 130, withinTenSeconds: true, stackTraces: [] })
    yield* startComponent(name)
  }

  // 3. Verify again: every change applied once.
  const afterWorkload = yield* verified
  expect(afterWorkload["fact_sales_order"]?.source).toBe(6_941 + 20 + 50_000 + 20_000)
  expect(afterWorkload["fact_payment"]).toMatchObject({ source: 9_898, keptDeleted: 1 })
  // The unbumped updates replaced their version rows: exactly one row per version, holding the newest values.
  for (const [table, id] of [["fact_sales_order", "sales_order_id"], ["fact_purchase_order", "purchase_order_id"], ["fact_payment", "payment_id"]] as const) {
    const [counts] = yield* warehouse.query(`SELECT count(*) AS n, count(DISTINCT (${id}, last_updated_date, last_updated_time)) AS versions FROM ${table}`)
    expect(counts?.n, table).toBe(counts?.versions)
  }
  expect(yield* latestPaymentDate).toBe("2024-04-04")
  const [purchase3] = yield* warehouse.query(`SELECT agreed_delivery_date FROM fact_purchase_order WHERE purchase_order_id = 3`)
  expect(purchase3?.agreed_delivery_date).toBe("2024-04-01")
  const moved = yield* warehouse.query(
    `SELECT (SELECT counterparty_legal_city FROM dim_counterparty WHERE counterparty_id = 1) AS counterparty_city,
            (SELECT count(*) FROM dim_staff WHERE location = 'Ilkley') AS staff_in_ilkley`
  )
  const staffInDepartment = yield* source.query(`SELECT count(*) AS n FROM staff WHERE department_id = (SELECT department_id FROM staff WHERE staff_id = 1)`)
  expect(moved).toEqual([{ counterparty_city: "Leeds", staff_in_ilkley: staffInDepartment[0]!.n }])
  expect(Number(staffInDepartment[0]!.n)).toBeGreaterThan(1)

  // 4. Replaying the whole archive over the warehouse changes no row.
  const before = yield* fingerprint(warehouse)
  const replay = yield* runCli(["replay", "--since", "1970-01-01T00:00:00Z"], env)
  expect(replay.code, replay.stderr).toBe(0)
  const replayed = Number(/^replayed ([\d,]+) changes since 1970-01-01T00:00:00.000Z/.exec(replay.stdout)?.[1]?.replaceAll(",", ""))
  // At least the snapshot's 30,106 rows went through the transform and the loader again.
  expect(replayed, replay.stdout).toBeGreaterThanOrEqual(30_106)
  expect(yield* fingerprint(warehouse)).toEqual(before)

  // 5. Replaying the archive into an empty warehouse rebuilds it: verify finds it equal to the source.
  yield* archiveCaughtUp(names.stream).pipe(Effect.provide(consumers))
  yield* freshDatabase("e2e_rebuilt")
  const rebuiltEnv = { ...env, WAREHOUSE_URL: stack.postgres.url("e2e_rebuilt") }
  const rebuild = yield* runCli(["replay", "--since", "1970-01-01T00:00:00Z"], rebuiltEnv)
  expect(rebuild.code, rebuild.stderr).toBe(0)
  const rebuilt = yield* verify(rebuiltEnv, "none")
  expect(rebuilt["fact_sales_order"]?.warehouse).toBe(afterWorkload["fact_sales_order"]?.warehouse)
})
