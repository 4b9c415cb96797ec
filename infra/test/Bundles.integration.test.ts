/**
 * The Lambda artifacts, run (issue 13 item 3): both bundles are built with the stack's
 * esbuild settings (src/Bundling.ts `esbuildOptions` + `copyRuntimeFiles`), each is loaded
 * in ONE plain Node 24 process (no vitest, no TypeScript, nothing of the repository on the
 * module path: the bundle and its `.wasm` only) with the environment the stack gives it,
 * and its `handler` is invoked as Lambda invokes it:
 *  - the processor with Kinesis events whose records were read back from kinesalite
 *    (KPL aggregates, base64 data, `<shardId>:<sequenceNumber>` event ids, arrival time in
 *    seconds), each shard's events in order, writing Parquet to s3rver;
 *  - the loader with SQS events carrying S3 `ObjectCreated:Put` notifications (keys
 *    URL-encoded as S3 writes them) of every processed object, loading a warehouse
 *    database of the local stack;
 * then `verify` (ops' `verifyWarehouse`, what `totes-cdc verify` runs) compares the source
 * with the warehouse and finds no drift. The input is the whole real data set
 * (`TOTESYS_DUMP`), captured as the reader's snapshot captures it (core's `snapshotRecord`,
 * LOAD_ORDER then primary key, one commit LSN, a running commit index): the joined tables'
 * rows as records, every other table's in snapshot chunks stored in the ingestion bucket's
 * archive with a pointer each — and put on a 2-shard stream as the reader puts them
 * (`putChanges`: partition key, shard by hash key, KPL aggregates, pointers alone). The
 * processor bundle reads the chunks from S3 as it would on AWS.
 *
 * The test prints the bundle sizes and the cold start of each function (Node's boot, the
 * bundle's import, the first invocation) for the README.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { deflateRawSync } from "node:zlib"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { expect, layer } from "@effect/vitest"
import {
  type ChangeRecord,
  INGESTION_LAYOUT,
  hasKplMagic,
  isJoinedSourceTable,
  LOAD_ORDER,
  makeSnapshotChunk,
  MANIFEST_PREFIX,
  PRIMARY_KEY,
  quoteIdent,
  type SnapshotChunk,
  snapshotChunkKey,
  snapshotRecord,
  TOTESYS_TABLES
} from "@totes-cdc/core"
import type { SqsEvent } from "@totes-cdc/loader"
import { createKinesisStream, createTotesysSchema, LocalStack, loadSeed } from "@totes-cdc/local-stack"
import { freshBucket, freshDatabase, putChanges, TOTESYS_DUMP } from "@totes-cdc/local-stack/testing"
import { verifyWarehouse } from "@totes-cdc/ops"
import { Kinesis, type KinesisRecord, type RecordsPage, S3 } from "@totes-cdc/platform"
import { DEFAULT_JOIN_STATE_KEY, type KinesisStreamEvent } from "@totes-cdc/stream-processors"
import { Effect, Layer } from "effect"
import { build } from "esbuild"
import { afterAll } from "vitest"
import { BUNDLE_FILE, copyRuntimeFiles, esbuildOptions, LAMBDA_ENTRIES, PARQUET_WASM_FILE } from "../src/Bundling.ts"

/** Node 24: the runtime vitest runs on (`node_modules/.bin/node`), as Lambda's nodejs24.x. */
const NODE = process.execPath
const STREAM = "bundles"
const SHARDS = 2
/** Changes per KPL aggregate: a reader batch's worth (the reader aggregates each batch per shard). */
const CHANGES_PER_AGGREGATE = 20
/** Kinesis records per processor invocation (the event source mapping's batch, smaller than the stack's 1,000 so each shard takes several invocations). */
const RECORDS_PER_EVENT = 4
/** Rows per snapshot chunk: the reader's are 5,000; smaller here, so the data set makes chunks on both shards and several invocations per shard. */
const CHUNK_ROWS = 1_000
/** S3 notifications (SQS messages) per loader invocation. */
const MESSAGES_PER_EVENT = 5

const work = mkdtempSync(join(tmpdir(), "totes-cdc-bundles-"))
afterAll(() => rmSync(work, { recursive: true, force: true }))

// ---------------------------------------------------------------------------------------
// The bundles.

interface BuiltBundle {
  readonly dir: string
  readonly bundleBytes: number
  readonly wasmBytes: number
  readonly zipBytes: number
}

/** `entry` bundled as the stack bundles it, into `<work>/<name>/` (index.mjs + the .wasm), and the size of the zip Lambda would be given. */
const buildBundle = (name: keyof typeof LAMBDA_ENTRIES) =>
  Effect.promise(async (): Promise<BuiltBundle> => {
    const dir = join(work, name)
    const result = await build(esbuildOptions(LAMBDA_ENTRIES[name], dir))
    expect(result.errors).toEqual([])
    copyRuntimeFiles(dir)
    // The zip Lambda is given deflates each file (zip's method 8): its size is the files deflated plus ~100 B of headers each.
    const files = [join(dir, BUNDLE_FILE), join(dir, "parquet_wasm_bg.wasm")]
    return {
      dir,
      bundleBytes: statSync(files[0]!).size,
      wasmBytes: statSync(files[1]!).size,
      zipBytes: files.reduce((sum, file) => sum + deflateRawSync(readFileSync(file)).byteLength + 100, 0)
    }
  })

// ---------------------------------------------------------------------------------------
// One Lambda container: a plain Node process importing the bundle and invoking its handler.

/**
 * The driver run in the child: imports the bundle (argv[2]), reads events as JSON lines on
 * stdin and calls `handler(event)` for each, one at a time, writing `{ response }` or
 * `{ error }` per event as a JSON line on stdout; first `{ ready }` with Node's boot time
 * (ms from process start to the driver's first line) and the import time. The driver's
 * lines are wrapped in `{ driver: … }`; the handlers' logs (console.*) go to stderr; what
 * else reaches stdout is the handlers' own output — their EMF lines, as Lambda would ship
 * them to CloudWatch Logs.
 */
const DRIVER = `
import { createInterface } from "node:readline"
import { pathToFileURL } from "node:url"
const write = process.stdout.write.bind(process.stdout)
for (const level of ["log", "info", "debug", "warn", "trace"]) console[level] = (...args) => console.error(...args)
const emit = (value) => new Promise((resolve) => write(JSON.stringify({ driver: value }) + "\\n", resolve))
const bootMs = performance.now()
let handler
try {
  handler = (await import(pathToFileURL(process.argv[2]).href)).handler
} catch (error) {
  await emit({ initError: String(error?.stack ?? error) })
  process.exit(1)
}
await emit({ ready: { bootMs, importMs: performance.now() - bootMs, handler: typeof handler } })
for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (line.trim() === "") continue
  const started = performance.now()
  try {
    const response = await handler(JSON.parse(line))
    await emit({ response, ms: performance.now() - started })
  } catch (error) {
    await emit({ error: String(error?.stack ?? error), ms: performance.now() - started })
  }
}
`
const driverFile = join(work, "driver.mjs")
writeFileSync(driverFile, DRIVER)

interface Invocation {
  readonly response?: unknown
  readonly error?: string
  readonly ms: number
}

interface ContainerRun {
  readonly ready: { readonly bootMs: number; readonly importMs: number; readonly handler: string } | undefined
  readonly initError: string | undefined
  readonly invocations: ReadonlyArray<Invocation>
  /** The handlers' EMF lines (CloudWatch Embedded Metric Format), parsed. */
  readonly emf: ReadonlyArray<Record<string, unknown>>
  readonly exitCode: number | null
  readonly stderr: string
}

/** Runs the bundle of `dir` in one Node 24 process with `env` only (plus PATH), invoking its handler with each of `events` in order. */
const runContainer = (dir: string, env: Readonly<Record<string, string>>, events: ReadonlyArray<unknown>) =>
  Effect.promise(
    () =>
      new Promise<ContainerRun>((resolve, reject) => {
        const child = spawn(NODE, [driverFile, join(dir, BUNDLE_FILE)], {
          cwd: dir,
          env: { PATH: process.env["PATH"] ?? "", ...env },
          stdio: ["pipe", "pipe", "pipe"]
        })
        let stdout = ""
        let stderr = ""
        child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
        child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
        child.once("error", reject)
        child.once("close", (exitCode) => {
          const parsed = stdout
            .split("\n")
            .filter((line) => line.trim() !== "")
            .map((line) => JSON.parse(line) as { driver?: { ready?: ContainerRun["ready"]; initError?: string } & Invocation; _aws?: unknown })
          const lines = parsed.flatMap((line) => (line.driver === undefined ? [] : [line.driver]))
          resolve({
            emf: parsed.filter((line) => line._aws !== undefined),
            ready: lines.find((line) => line.ready !== undefined)?.ready,
            initError: lines.find((line) => line.initError !== undefined)?.initError,
            invocations: lines.filter((line) => line.ready === undefined && line.initError === undefined),
            exitCode,
            stderr
          })
        })
        child.stdin.on("error", () => undefined)
        child.stdin.end(events.map((event) => JSON.stringify(event)).join("\n") + "\n")
      })
  ).pipe(Effect.timeout("100 seconds"))

// ---------------------------------------------------------------------------------------
// The events AWS would send.

/** Every record of `shardId`, from the oldest, page after page until a page comes back empty. */
const readShard = (stream: string, shardId: string) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const records: Array<KinesisRecord> = []
    let iterator: string | undefined = yield* kinesis.getShardIterator(stream, shardId, {})
    for (let pages = 0; iterator !== undefined && pages < 1_000; pages++) {
      const page: RecordsPage = yield* kinesis.getRecords(iterator)
      records.push(...page.records)
      iterator = page.records.length === 0 ? undefined : page.nextIterator
    }
    return records
  })

/** A Kinesis record as the event source mapping hands it to Lambda. */
const kinesisEventRecord = (shardId: string, record: KinesisRecord): KinesisStreamEvent["Records"][number] => ({
  eventSource: "aws:kinesis",
  eventVersion: "1.0",
  eventID: `${shardId}:${record.sequenceNumber}`,
  eventName: "aws:kinesis:record",
  invokeIdentityArn: "arn:aws:iam::123456789012:role/processor",
  awsRegion: "eu-west-2",
  eventSourceARN: `arn:aws:kinesis:eu-west-2:123456789012:stream/${STREAM}`,
  kinesis: {
    kinesisSchemaVersion: "1.0",
    partitionKey: record.partitionKey,
    sequenceNumber: record.sequenceNumber,
    data: Buffer.from(record.data).toString("base64"),
    approximateArrivalTimestamp: (record.approximateArrivalTimestamp ?? new Date()).getTime() / 1000
  }
} as KinesisStreamEvent["Records"][number])

/** An SQS message of the processed bucket's notification for `key` (S3 URL-encodes keys, a space as `+`). */
const s3NotificationMessage = (bucket: string, key: string, size: number, n: number): SqsEvent["Records"][number] => ({
  messageId: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
  receiptHandle: `receipt-${n}`,
  body: JSON.stringify({
    Records: [
      {
        eventVersion: "2.1",
        eventSource: "aws:s3",
        awsRegion: "eu-west-2",
        eventTime: new Date().toISOString(),
        eventName: "ObjectCreated:Put",
        s3: {
          s3SchemaVersion: "1.0",
          configurationId: "processed-parquet",
          bucket: { name: bucket, arn: `arn:aws:s3:::${bucket}` },
          object: { key: encodeURIComponent(key).replaceAll("%2F", "/").replaceAll("%20", "+"), size, sequencer: n.toString(16).toUpperCase().padStart(16, "0") }
        }
      }
    ]
  }),
  attributes: { ApproximateReceiveCount: "1", SentTimestamp: String(Date.now()) },
  messageAttributes: {},
  md5OfBody: "",
  eventSource: "aws:sqs",
  eventSourceARN: "arn:aws:sqs:eu-west-2:123456789012:loader-notifications",
  awsRegion: "eu-west-2"
} as SqsEvent["Records"][number])

const chunks = <A>(items: ReadonlyArray<A>, size: number): Array<Array<A>> => {
  const out: Array<Array<A>> = []
  for (let at = 0; at < items.length; at += size) out.push(items.slice(at, at + size))
  return out
}

const round = (ms: number) => Math.round(ms)
const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`

// ---------------------------------------------------------------------------------------

const services = Layer.unwrap(LocalStack.pipe(Effect.map((stack) => Layer.mergeAll(Kinesis.layer(stack.kinesis), S3.layer(stack.s3)))))

layer(Layer.provideMerge(services, LocalStack.layer()), { excludeTestServices: true })("the Lambda bundles, run in plain Node 24 on the local stack", (it) => {
  it.effect(
    "the processor bundle turns kinesalite's records of the whole data set into Parquet, the loader bundle loads it from S3 notifications, and verify finds no drift",
    () =>
      Effect.gen(function* () {
        const started = performance.now()
        const stack = yield* LocalStack
        const s3 = yield* S3

        // 1. The bundles, built as the stack builds them.
        const [processorBundle, loaderBundle] = yield* Effect.all([buildBundle("processor"), buildBundle("loader")], { concurrency: 2 })
        for (const bundle of [processorBundle, loaderBundle]) expect(bundle.wasmBytes).toBe(statSync(PARQUET_WASM_FILE).size)

        // 2. The source: the totesys schema and the whole data set; its snapshot as the reader reads it, on a 2-shard stream.
        const source = yield* freshDatabase("bundles_src")
        yield* createTotesysSchema(source)
        const seeded = yield* loadSeed(source, TOTESYS_DUMP)
        for (const table of TOTESYS_TABLES) expect(seeded[table], table).toBeGreaterThan(0)
        const [{ lsn }] = (yield* source.query("SELECT pg_current_wal_lsn()::text AS lsn")) as unknown as [{ lsn: string }]
        const commitTs = new Date().toISOString()
        // The joined tables' rows as records, every other table's in chunk objects of the archive with a pointer each (cdc-reader/SPEC.md "Snapshots").
        const ingestionBucket = yield* freshBucket("bundles-ingestion")
        const changes: Array<ChangeRecord> = []
        const items: Array<ChangeRecord | SnapshotChunk> = []
        let chunkCount = 0
        for (const table of LOAD_ORDER) {
          const rows = yield* source.query(`SELECT * FROM public.${quoteIdent(table)} ORDER BY ${quoteIdent(PRIMARY_KEY[table])}`)
          const first = changes.length
          const records = rows.map((row, i) => snapshotRecord(table, row, { commitLsn: lsn, commitIdx: first + i }, commitTs))
          changes.push(...records)
          if (isJoinedSourceTable(table)) items.push(...records)
          else {
            for (const [n, page] of chunks(records, CHUNK_ROWS).entries()) {
              const key = snapshotChunkKey(INGESTION_LAYOUT.rawPrefix, new Date(commitTs), "totes_cdc", lsn, table, n)
              const { body, pointer } = makeSnapshotChunk(ingestionBucket, key, page)
              yield* s3.putObject(ingestionBucket, key, body)
              items.push(pointer)
              chunkCount++
            }
          }
        }
        expect(changes.length).toBe(Object.values(seeded).reduce((sum, n) => sum + n, 0))
        yield* createKinesisStream(stack.kinesis, STREAM, SHARDS)
        const written = yield* putChanges(STREAM, items, CHANGES_PER_AGGREGATE)

        // 3. Each shard's records read back from kinesalite, as Kinesis events of RECORDS_PER_EVENT records.
        const kinesis = yield* Kinesis
        const shards = yield* kinesis.listShards(STREAM)
        expect(shards).toHaveLength(SHARDS)
        const events: Array<KinesisStreamEvent> = []
        let read = 0
        for (const shard of shards) {
          const records = yield* readShard(STREAM, shard.shardId)
          expect(records.length, shard.shardId).toBeGreaterThan(RECORDS_PER_EVENT)
          read += records.length
          for (const slice of chunks(records, RECORDS_PER_EVENT)) events.push({ Records: slice.map((record) => kinesisEventRecord(shard.shardId, record)) })
        }
        expect(read).toBe(written)

        // 4. The processor bundle in one container, every event in turn (shard after shard, each shard in order).
        const processedBucket = yield* freshBucket("bundles-processed")
        const s3Env = {
          AWS_REGION: stack.s3.region,
          S3_ENDPOINT: stack.s3.endpoint,
          AWS_ACCESS_KEY_ID: stack.s3.accessKeyId!,
          AWS_SECRET_ACCESS_KEY: stack.s3.secretAccessKey!
        }
        const processor = yield* runContainer(processorBundle.dir, { ...s3Env, INGESTION_BUCKET: ingestionBucket, PROCESSED_BUCKET: processedBucket }, events)
        expect(processor.initError).toBeUndefined()
        expect(processor.ready?.handler).toBe("function")
        expect(processor.invocations.filter((invocation) => invocation.error !== undefined).map((i) => i.error)).toEqual([])
        expect(processor.invocations.map((invocation) => invocation.response)).toEqual(events.map(() => ({ batchItemFailures: [] })))
        expect(processor.exitCode, processor.stderr.slice(-2_000)).toBe(0)
        // One EMF line per invocation on stdout (CloudWatch Logs → metrics), counting every change once.
        const processorEmf = processor.emf.filter((line) => line["Component"] === "processor")
        expect(processorEmf).toHaveLength(events.length)
        expect(processorEmf.reduce((sum, line) => sum + Number(line["changesProcessed"]), 0)).toBe(changes.length)
        // Nothing dead-lettered; the shared join state written where the stack's processor keeps it.
        expect(yield* s3.listObjects(ingestionBucket, "dlq/")).toEqual([])
        expect((yield* s3.listObjects(ingestionBucket, DEFAULT_JOIN_STATE_KEY)).map((object) => object.key)).toEqual([DEFAULT_JOIN_STATE_KEY])

        // 5. Every micro-batch manifest's S3 notification (the bucket announces nothing else), MESSAGES_PER_EVENT per SQS event, to the loader bundle in one container.
        const objects = (yield* s3.listObjects(processedBucket, "")).filter((object) => object.key.endsWith(".parquet"))
        const tables = new Set(objects.map((object) => object.key.split("/")[0]))
        expect([...tables].sort()).toEqual([
          "dim_counterparty", "dim_currency", "dim_date", "dim_design", "dim_location", "dim_payment_type", "dim_staff", "dim_transaction",
          "fact_payment", "fact_purchase_order", "fact_sales_order"
        ])
        // One micro-batch per chunk, and one per invocation that carried change records (a KPL aggregate; pointers are plain records).
        const manifests = yield* s3.listObjects(processedBucket, MANIFEST_PREFIX)
        const withChanges = events.filter((event) => event.Records.some((record) => hasKplMagic(Buffer.from(record.kinesis.data, "base64"))))
        expect(manifests.filter((object) => /\/snapshot-[0-9a-f]{32}\.json$/.test(object.key))).toHaveLength(chunkCount)
        expect(manifests.length).toBe(chunkCount + withChanges.length)
        const messages = manifests.map((object, n) => s3NotificationMessage(processedBucket, object.key, object.size, n))
        const sqsEvents: Array<SqsEvent> = chunks(messages, MESSAGES_PER_EVENT).map((Records) => ({ Records }))
        const warehouse = yield* freshDatabase("bundles_wh")
        const loader = yield* runContainer(
          loaderBundle.dir,
          { ...s3Env, WAREHOUSE_URL: stack.postgres.url("bundles_wh"), WAREHOUSE_SCHEMA: "public", PROCESSED_BUCKET: processedBucket },
          sqsEvents
        )
        expect(loader.initError).toBeUndefined()
        expect(loader.ready?.handler).toBe("function")
        expect(loader.invocations.filter((invocation) => invocation.error !== undefined).map((i) => i.error)).toEqual([])
        expect(loader.invocations.map((invocation) => invocation.response)).toEqual(sqsEvents.map(() => ({ batchItemFailures: [] })))
        expect(loader.exitCode, loader.stderr.slice(-2_000)).toBe(0)
        const loaderEmf = loader.emf.filter((line) => line["Component"] === "loader" && line["rowsLoaded"] !== undefined)
        expect(loaderEmf).toHaveLength(sqsEvents.length)
        expect(loaderEmf.reduce((sum, line) => sum + Number(line["rowsLoaded"]), 0)).toBeGreaterThan(0)

        // 6. verify: the warehouse is the transform of the source.
        const report = yield* verifyWarehouse({ source, warehouse, schema: "public", timeoutMs: 10_000 })
        const drift = report.tables
          .filter((table) => table.drift)
          .map((table) => ({ table: table.table, missing: table.missing, extra: table.extra, different: table.different, samples: table.samples }))
        expect(drift).toEqual([])
        expect(report.drift).toBe(false)
        for (const table of report.tables) expect({ table: table.table, missing: table.missing, extra: table.extra, different: table.different }).toEqual({ table: table.table, missing: 0, extra: 0, different: 0 })
        expect(report.tables.find((table) => table.table === "fact_sales_order")?.compared).toBe(seeded.sales_order)
        expect(report.rowsCompared).toBeGreaterThan(changes.length / 2)

        // 7. The figures.
        const coldStart = (run: ContainerRun) =>
          `Node boot ${round(run.ready!.bootMs)} ms + import ${round(run.ready!.importMs)} ms + first invocation ${round(run.invocations[0]!.ms)} ms`
        console.log(
          [
            "Lambda bundles (esbuild with src/Bundling.ts settings: ESM, node24, minified):",
            `  processor: index.mjs ${processorBundle.bundleBytes} B (${kib(processorBundle.bundleBytes)}) + parquet_wasm_bg.wasm ${processorBundle.wasmBytes} B (${kib(processorBundle.wasmBytes)}) = ${kib(processorBundle.bundleBytes + processorBundle.wasmBytes)} unzipped; zip ${processorBundle.zipBytes} B (${kib(processorBundle.zipBytes)})`,
            `  loader:    index.mjs ${loaderBundle.bundleBytes} B (${kib(loaderBundle.bundleBytes)}) + parquet_wasm_bg.wasm ${loaderBundle.wasmBytes} B (${kib(loaderBundle.wasmBytes)}) = ${kib(loaderBundle.bundleBytes + loaderBundle.wasmBytes)} unzipped; zip ${loaderBundle.zipBytes} B (${kib(loaderBundle.zipBytes)})`,
            `Input: ${changes.length} snapshot changes of 11 tables, ${written} Kinesis records (KPL aggregates of ${CHANGES_PER_AGGREGATE}, and the pointers of ${chunkCount} snapshot chunks of ${CHUNK_ROWS} rows) on ${SHARDS} shards, ${events.length} Kinesis events; ${objects.length} Parquet objects in ${manifests.length} micro-batch manifests, ${sqsEvents.length} SQS events`,
            `Cold start, processor: ${coldStart(processor)}; all ${events.length} invocations ${round(processor.invocations.reduce((sum, i) => sum + i.ms, 0))} ms`,
            `Cold start, loader:    ${coldStart(loader)}; all ${sqsEvents.length} invocations ${round(loader.invocations.reduce((sum, i) => sum + i.ms, 0))} ms`,
            `verify: ${report.rowsCompared} rows compared, no drift; test body ${round(performance.now() - started)} ms`
          ].join("\n")
        )
      }),
    180_000
  )
})
