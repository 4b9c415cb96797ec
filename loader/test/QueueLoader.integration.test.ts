/**
 * The loader fed by SQS (QueueLoader.ts), as on AWS, with the real loader on s3rver +
 * PostgreSQL and the real AWS SDK on FakeSqs (no SQS emulator runs here): the micro-batches
 * the processed bucket's manifest notifications name are loaded and their messages deleted;
 * a notification whose micro-batch cannot be loaded stays on the queue and comes back; a notification that is no S3 event fails its
 * batch; and `totes-cdc loader` with LOADER_QUEUE_URL stops on SIGTERM with exit 130, and
 * on a queue URL naming no queue with one line and exit 1 — before touching the warehouse.
 */
import { expect, layer } from "@effect/vitest"
import { encodeManifest, makeManifest, manifestKeyOfObject, parseProcessedKey, processedColumns, type WarehouseTable } from "@totes-cdc/core"
import { LocalStack, untilExit } from "@totes-cdc/local-stack"
import { CLI_BIN, emulatorEnvironment, type FakeSqs, freshBucket, freshDatabase, startFakeSqs } from "@totes-cdc/local-stack/testing"
import { encodeParquet, type ParquetValue, S3 } from "@totes-cdc/platform"
import { Effect, Fiber, Layer, Logger, Schedule } from "effect"
import { spawn } from "node:child_process"
import type { LoaderSettings } from "../src/LoaderProgram.ts"
import { runQueueLoaderProgram } from "../src/QueueLoader.ts"

type Values = Record<string, ParquetValue>

/** Writes one processed object of `table` holding `rows` at position `0/<lsn>/<idx>`, as the processor writes them. */
const putObject = (bucket: string, key: string, table: WarehouseTable, rows: ReadonlyArray<Values>, lsn: string) =>
  Effect.gen(function* () {
    const columns = processedColumns(table, { relaxed: true })
    const full = rows.map((values, idx) => ({
      ...Object.fromEntries(columns.map((c) => [c.name, null])),
      ...values,
      _commit_lsn: lsn,
      _commit_idx: idx,
      _op: "upsert",
      _commit_ts: "2024-02-23T10:00:00.000Z"
    }))
    yield* (yield* S3).putObject(bucket, key, yield* encodeParquet(columns, full))
    return key
  })

// Rows of the 2024-02-23 dump, as the transform writes them.
const nov3 = { date_id: "2022-11-03", year: 2022, month: 11, day: 3, day_of_week: 4, day_name: "Thursday", month_name: "November", quarter: 4 }
const nov4 = { date_id: "2022-11-04", year: 2022, month: 11, day: 4, day_of_week: 5, day_name: "Friday", month_name: "November", quarter: 4 }
const currency2 = { currency_id: 2, currency_code: "USD", currency_name: "US dollar" }
const location1 = { location_id: 1, address_line_1: "6826 Herzog Via", address_line_2: null, district: "Avon", city: "New Patienceburgh", postal_code: "28441", country: "Turkey", phone: "1803 637401" }
const counterparty15 = {
  counterparty_id: 15, counterparty_legal_name: "Kohler Inc", counterparty_legal_address_line_1: "6826 Herzog Via",
  counterparty_legal_address_line_2: null, counterparty_legal_district: "Avon", counterparty_legal_city: "New Patienceburgh",
  counterparty_legal_postal_code: "28441", counterparty_legal_country: "Turkey", counterparty_legal_phone_number: "1803 637401"
}
const paymentType3 = { payment_type_id: 3, payment_type_name: "PURCHASE_PAYMENT" }
const transaction2 = { transaction_id: 2, transaction_type: "PURCHASE", sales_order_id: null, purchase_order_id: 2 }
const payment2 = {
  payment_id: 2, created_date: "2022-11-03", created_time: "14:20:52.187", last_updated_date: "2022-11-03",
  last_updated_time: "14:20:52.187", transaction_id: 2, counterparty_id: 15, payment_amount: "552548.62", currency_id: 2,
  payment_type_id: 3, paid: false, payment_date: "2022-11-04"
}

/** Writes the manifest of the micro-batch whose objects are `keys`, as the processor does after them. Answers its key. */
const putManifest = (bucket: string, keys: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const key = manifestKeyOfObject(keys[0]!)!
    const objects = keys.map((object) => ({ key: object, table: parseProcessedKey(object)!.table, rows: 1 }))
    yield* (yield* S3).putObject(bucket, key, encodeManifest(makeManifest(parseProcessedKey(keys[0]!)!.batchId, objects, ["0/100", "0/106"])))
    return key
  })

/** One micro-batch (batch `id`): a payment and everything it references, then its manifest. Answers the objects' keys and the manifest's. */
const paymentBatch = (bucket: string, id: string) =>
  Effect.all([
    putObject(bucket, `dim_date/2024/02/23/${id}.parquet`, "dim_date", [nov3, nov4], "0/100"),
    putObject(bucket, `dim_currency/2024/02/23/${id}.parquet`, "dim_currency", [currency2], "0/101"),
    putObject(bucket, `dim_location/2024/02/23/${id}.parquet`, "dim_location", [location1], "0/102"),
    putObject(bucket, `dim_counterparty/2024/02/23/${id}.parquet`, "dim_counterparty", [counterparty15], "0/103"),
    putObject(bucket, `dim_payment_type/2024/02/23/${id}.parquet`, "dim_payment_type", [paymentType3], "0/104"),
    putObject(bucket, `dim_transaction/2024/02/23/${id}.parquet`, "dim_transaction", [transaction2], "0/105"),
    putObject(bucket, `fact_payment/2024/02/23/${id}.parquet`, "fact_payment", [payment2], "0/106")
  ]).pipe(Effect.flatMap((keys) => putManifest(bucket, keys).pipe(Effect.map((manifest) => ({ keys, manifest })))))

/** The body S3 sends to the queue for an object created in `bucket` at `key`. */
const notification = (bucket: string, key: string) =>
  JSON.stringify({
    Records: [
      {
        eventVersion: "2.1",
        eventSource: "aws:s3",
        awsRegion: "eu-west-2",
        eventTime: "2024-02-23T10:00:01.000Z",
        eventName: "ObjectCreated:Put",
        s3: { s3SchemaVersion: "1.0", bucket: { name: bucket, arn: `arn:aws:s3:::${bucket}` }, object: { key, size: 1 } }
      }
    ]
  })

/** Polls `check` every 50 ms until it holds, at most 60 s. */
const eventually = <E, R>(check: Effect.Effect<boolean, E, R>) =>
  check.pipe(Effect.repeat({ until: (ok) => ok, schedule: Schedule.spaced("50 millis") }), Effect.timeout("60 seconds"))

const s3OfStack = Layer.unwrap(LocalStack.pipe(Effect.map((stack) => S3.layer(stack.s3))))

layer(Layer.provideMerge(s3OfStack, LocalStack.layer()), { excludeTestServices: true })("the loader fed by SQS", (it) => {
  /** A warehouse, a processed bucket and a queue (visibility 1 s) on `fake`. */
  const setUp = (name: string, fake: FakeSqs) =>
    Effect.gen(function* () {
      const stack = yield* LocalStack
      const pool = yield* freshDatabase(name)
      const bucket = yield* freshBucket(name.replaceAll("_", "-"))
      fake.createQueue(name, { VisibilityTimeout: "1" })
      const settings: LoaderSettings = {
        warehouse: { url: stack.postgres.url(name), schema: "public", caFile: undefined, passwordSecretArn: undefined, region: stack.s3.region },
        processedBucket: bucket,
        truncateMode: "quarantine",
        foreignKeyChecks: "statement",
        pollIntervalMs: 1_000,
        s3: stack.s3
      }
      const queue = { url: fake.queueUrl(name), sqs: { region: "eu-west-2", endpoint: fake.endpoint, accessKeyId: "test", secretAccessKey: "test" } }
      return { pool, bucket, settings, queue }
    })

  it.effect("loads the micro-batches the manifest notifications name and deletes their messages; one whose manifest cannot be read stays and comes back", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const fake = yield* startFakeSqs
        const { pool, bucket, settings, queue } = yield* setUp("queue_loader", fake)
        const { keys, manifest } = yield* paymentBatch(bucket, "b1")
        fake.send("queue_loader", notification(bucket, manifest))
        // An object's own notification (a bucket still configured to announce .parquet objects): not loaded by itself, deleted.
        fake.send("queue_loader", notification(bucket, keys[0]!))
        // A micro-batch whose manifest is not in the bucket: it fails, alone.
        const missing = fake.send("queue_loader", notification(bucket, "manifests/2024/02/23/gone.json"))
        // An S3 test event (sent when a notification is configured) is ignored and deleted.
        fake.send("queue_loader", JSON.stringify({ Service: "Amazon S3", Event: "s3:TestEvent", Bucket: bucket }))
        const fiber = yield* Effect.forkChild(runQueueLoaderProgram(settings, queue).pipe(Effect.provide(Logger.layer([]))))
        yield* eventually(Effect.sync(() => fake.pending("queue_loader").length === 1 && (fake.pending("queue_loader")[0]?.receiveCount ?? 0) >= 2))
        expect(fake.pending("queue_loader").map((m) => m.id)).toEqual([missing])
        expect(yield* pool.query("SELECT payment_id, payment_amount, paid FROM fact_payment")).toEqual([{ payment_id: "2", payment_amount: "552548.62", paid: "f" }])
        expect(yield* pool.query("SELECT count(*) AS n FROM totes_cdc.applied_objects")).toEqual([{ n: "7" }])
        expect(fiber.pollUnsafe()).toBeUndefined()
        yield* Fiber.interrupt(fiber)
      })
    )
  )

  it.effect("a message that is no S3 notification fails its whole batch: nothing of that batch is deleted", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const fake = yield* startFakeSqs
        const { pool, bucket, settings, queue } = yield* setUp("queue_loader_bad", fake)
        const { manifest } = yield* paymentBatch(bucket, "b1")
        fake.send("queue_loader_bad", notification(bucket, manifest))
        fake.send("queue_loader_bad", "not json")
        const fiber = yield* Effect.forkChild(runQueueLoaderProgram(settings, queue).pipe(Effect.provide(Logger.layer([]))))
        yield* eventually(Effect.sync(() => fake.pending("queue_loader_bad").every((m) => m.receiveCount >= 2)))
        expect(fake.pending("queue_loader_bad")).toHaveLength(2)
        expect(yield* pool.query("SELECT count(*) AS n FROM totes_cdc.applied_objects")).toEqual([{ n: "0" }])
        yield* Fiber.interrupt(fiber)
      })
    )
  )

  it.effect("`totes-cdc loader` with LOADER_QUEUE_URL loads, then exits 130 on SIGTERM; a URL naming no queue is one line and exit 1", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const fake = yield* startFakeSqs
        const stack = yield* LocalStack
        const { pool, bucket, settings } = yield* setUp("queue_loader_cli", fake)
        const env = {
          ...process.env,
          WAREHOUSE_URL: settings.warehouse.url,
          PROCESSED_BUCKET: bucket,
          ...emulatorEnvironment(stack),
          SQS_ENDPOINT: fake.endpoint,
          LOADER_QUEUE_URL: fake.queueUrl("queue_loader_cli")
        }
        const start = (extra: Record<string, string>) =>
          Effect.acquireRelease(
            Effect.sync(() => {
              const child = spawn(process.execPath, [CLI_BIN, "loader"], { env: { ...env, ...extra }, stdio: ["ignore", "pipe", "pipe"] })
              const run = { child, stderr: "", stdout: "", exit: untilExit(child).then(() => child.exitCode) }
              child.stderr.on("data", (chunk: Buffer) => (run.stderr += chunk.toString()))
              child.stdout.on("data", (chunk: Buffer) => (run.stdout += chunk.toString()))
              return run
            }),
            ({ child }) => Effect.promise(() => (child.exitCode === null && child.signalCode === null ? (child.kill("SIGKILL"), untilExit(child)) : Promise.resolve()))
          )
        fake.send("queue_loader_cli", notification(bucket, (yield* paymentBatch(bucket, "b1")).manifest))
        const loader = yield* start({})
        yield* eventually(Effect.sync(() => fake.pending("queue_loader_cli").length === 0)).pipe(
          Effect.tapError(() => Effect.sync(() => console.error(`the loader's output:\n${loader.stdout}\n${loader.stderr}`)))
        )
        expect(yield* pool.query("SELECT count(*) AS n FROM fact_payment")).toEqual([{ n: "1" }])
        const signalled = Date.now()
        loader.child.kill("SIGTERM")
        expect(yield* Effect.promise(() => loader.exit)).toBe(130)
        expect(Date.now() - signalled).toBeLessThan(10_000)

        const wrongUrl = fake.queueUrl("no_such_queue")
        const wrong = yield* start({ LOADER_QUEUE_URL: wrongUrl, WAREHOUSE_URL: "postgres://nobody@127.0.0.1:1/none" })
        expect(yield* Effect.promise(() => wrong.exit)).toBe(1)
        expect(wrong.stderr.trim().split("\n")).toEqual([
          `totes-cdc: SQS queue ${wrongUrl} does not exist at ${fake.endpoint} (The specified queue does not exist.); create it (totes-cdc init-localstack on an emulator) or fix LOADER_QUEUE_URL / AWS_REGION`
        ])
      })
    )
  )
})
