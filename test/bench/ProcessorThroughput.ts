/**
 * Benchmark "processor-throughput": how fast the processor turns Kinesis records into
 * star-schema Parquet objects in S3 (change records/s), beside the raw rate of the same
 * transform and Parquet encoding in memory, without Kinesis or S3, in the same repetition.
 *
 * The changes (ProcessorChanges.ts): `rows` change records of totesys-shaped traffic
 * from the simulator's model, generated once per run (seeded, so every repetition and
 * every run processes the same records): a snapshot of the reference data, then sales,
 * purchases, designs, daily payment flips and a few dimension updates in commit order.
 *
 * One repetition, on the shared local stack:
 *  1. a fresh Kinesis stream (the local stack's shard count) and two fresh buckets, the
 *     repetition's "ingestion" bucket (checkpoints under `state/consumers/`, the join
 *     state at `DEFAULT_JOIN_STATE_KEY`, dead letters under `dlq/`: what
 *     `runProcessorProgram` puts in the ingestion bucket) and its "processed" bucket;
 *  2. untimed: the changes put on the stream by the reader's own producer (`runProducer`,
 *     `defaultProducerConfig`: KPL aggregates per shard, as the reader writes them),
 *     noting the last sequence number written to each shard;
 *  3. timed, "processor": `runProcessor` forked with the configuration
 *     `runProcessorProgram` gives it (its real shard poller from TRIM_HORIZON, its S3
 *     checkpoints, the default micro-batch window, poller defaults), until the
 *     processor's checkpoint of every shard reaches that shard's last sequence number —
 *     i.e. every change is in Parquet objects in S3, the join state stored, the
 *     checkpoints written. Completion is seen by wrapping the checkpoint store (no
 *     polling, no sleeps); the start-up (listing shards, reading checkpoints and the join
 *     state) is inside the time. The processor logs at Debug into a collecting logger:
 *     its own line per micro-batch ("batch …: P pages, N changes → …") gives the sizes of
 *     the micro-batches it made;
 *  4. timed, "baseline": the same change records, already decoded in memory, cut in
 *     commit order into micro-batches of the sizes the processor just used (the same
 *     number of Parquet objects per table and of transform calls, so both pay the same
 *     per-batch costs) → `transformBatch` (join state carried over, starting empty) →
 *     `rowsByTable` → `parquetRows` → `encodeParquet` per table. No Kinesis, no S3, no
 *     JSON decoding. It runs after the processor because it needs the processor's sizes;
 *  5. verification (a benchmark that loses data fails): no dead letters (reader or
 *     processor); the objects in the processed bucket are exactly those `onObjects`
 *     reported; every fact object decoded: each fact table holds exactly one row per
 *     fact change put (insert, update or read of sales_order, purchase_order, payment),
 *     at that change's (commitLsn, commitIdx); the baseline had no transform problem and
 *     made the same number of fact rows;
 *  6. clean-up: stream and buckets deleted (memory and disk stay flat across reps).
 *
 * An unmeasured warm-up repetition (the first `warmupRows` changes) runs first, so JIT
 * compilation and first-use module loading (parquet-wasm, apache-arrow) land in neither
 * timed phase of repetition 1.
 *
 * Measured per phase: wall seconds, changes/s, this process's CPU seconds (the processor
 * phase includes s3rver, which runs in this process) and, for the processor, kinesalite's
 * CPU seconds (its own child process), the time spent waiting in GetRecords and in S3
 * PutObject calls (summed over calls, which overlap across shards).
 */
import { DeleteStreamCommand } from "@aws-sdk/client-kinesis"
import { CreateBucketCommand, DeleteBucketCommand } from "@aws-sdk/client-s3"
import { defaultProducerConfig, type ProducerItem, runProducer } from "@totes-cdc/cdc-reader"
import { type ChangeRecord, emptyJoinState, isFactTable, parseProcessedKey, processedColumns, processedRows, transformBatch } from "@totes-cdc/core"
import { createKinesisStream, type LocalStackEndpoints } from "@totes-cdc/local-stack"
import { DeadLetters, decodeParquet, encodeParquet, Kinesis, makeKinesisClient, makeS3Client, S3 } from "@totes-cdc/platform"
import {
  type Checkpoint,
  CheckpointStore,
  DEFAULT_JOIN_STATE_KEY,
  type ProcessedObject,
  rowsByTable,
  runProcessor
} from "@totes-cdc/stream-processors"
import { type Context, Deferred, Effect, Fiber, Layer, Logger, Option, References, Stream } from "effect"
import os from "node:os"
import { expectedFactPositions, generateChanges } from "./ProcessorChanges.ts"
import { childPid, cpuSecondsSince, procCpuSeconds, profiled } from "./Profiling.ts"
import { BenchError } from "./ReaderDrain.ts"

export const BENCHMARK_NAME = "processor-throughput"

/** Seed of the simulator model that generates the changes. */
export const CHANGES_SEED = 1

export interface ProcessorThroughputOptions {
  /** Change records per repetition. */
  readonly rows: number
  readonly reps: number
  /** Change records of the unmeasured warm-up repetition run first (0 = none). */
  readonly warmupRows: number
  /** Write a V8 CPU profile of every timed phase (processor, baseline) into this directory. */
  readonly cpuProfileDir?: string
  /** Progress lines (stderr). */
  readonly log: (line: string) => void
}

/** Summed wall time of calls of one kind (they may overlap: one poller fiber per shard). */
export interface CallTime {
  readonly calls: number
  readonly seconds: number
}

export interface ProcessorMeasure {
  readonly seconds: number
  /** Change records per second. */
  readonly rate: number
  /** CPU seconds of this process during the phase (user + system; includes s3rver, in-process). */
  readonly nodeCpuSeconds: number
  /** CPU seconds of the kinesalite child process during the phase, when readable. */
  readonly kinesaliteCpuSeconds: number | null
  /** Changes per micro-batch, in the order the processor stored them. */
  readonly microBatches: ReadonlyArray<number>
  /** Handler calls (GetRecords pages) per micro-batch. */
  readonly pages: ReadonlyArray<number>
  /** Warehouse rows the transform made (all tables, dim_date included), as the processor logged them. */
  readonly rows: number
  /** Seconds from the start until the first non-empty GetRecords page arrived (start-up + first transfer). */
  readonly firstPageSeconds: number | null
  readonly getRecords: CallTime & { readonly records: number }
  readonly s3Puts: CallTime & { readonly bytes: number }
  /** Warnings the processor logged (none expected but the "no join state" one, which is not counted). */
  readonly warnings: number
}

export interface BaselineMeasure {
  readonly seconds: number
  readonly rate: number
  readonly nodeCpuSeconds: number
  /** Warehouse rows the transform made (all tables, dim_date included). */
  readonly rows: number
  readonly objects: number
  readonly parquetBytes: number
}

export interface RepResult {
  readonly rep: number
  readonly changes: number
  /** Kinesis records (KPL aggregates) the producer wrote, and the seconds it took (untimed for the benchmark). */
  readonly stream: { readonly kinesisRecords: number; readonly putSeconds: number }
  readonly processor: ProcessorMeasure & { readonly objects: number; readonly parquetBytes: number }
  readonly baseline: BaselineMeasure
  /** processor rate ÷ baseline rate. */
  readonly ratio: number
  /** baseline CPU seconds ÷ processor CPU seconds (this process + kinesalite): the ratio with the machine's other load taken out. */
  readonly cpuRatio: number | null
  /** Rows per fact table in the processed objects (each checked against the changes put). */
  readonly factRows: Readonly<Record<string, number>>
  /** The machine's 1-minute load average just before the timed phases. */
  readonly loadAverage: number
  /** Seconds the whole repetition took (set-up, put, both phases, verification, clean-up). */
  readonly wallSeconds: number
}

const round = (x: number, digits = 3) => Number(x.toFixed(digits))

const fail = (message: string) => new BenchError({ message })

/** Runs `effect`, then hands its wall seconds and its value to `add` (to sum up calls). */
const timedCall = <A, E, R>(effect: Effect.Effect<A, E, R>, add: (seconds: number, value: A) => void): Effect.Effect<A, E, R> =>
  Effect.suspend(() => {
    const started = performance.now()
    return Effect.tap(effect, (value) => Effect.sync(() => add((performance.now() - started) / 1000, value)))
  })

/** `inner`'s service with some of its calls wrapped by `wrap` (to observe them), as a layer of the same service. */
const observed = <I, S, E, R>(service: Context.Key<I, S>, inner: Layer.Layer<I, E, R>, wrap: (service: S) => S): Layer.Layer<I, E, R> =>
  Layer.effect(service, Effect.map(service, wrap)).pipe(Layer.provide(inner))

// ---------------------------------------------------------------------------------------
// Stack resources of one repetition.

interface RepNames {
  readonly stream: string
  readonly ingestion: string
  readonly processed: string
}

const s3Client = <A>(stack: LocalStackEndpoints, what: string, use: (client: ReturnType<typeof makeS3Client>) => Promise<A>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => makeS3Client(stack.s3)),
    (client) => Effect.tryPromise({ try: () => use(client), catch: (cause) => fail(`${what}: ${String(cause)}`) }),
    (client) => Effect.sync(() => client.destroy())
  )

const createBuckets = (stack: LocalStackEndpoints, names: RepNames) =>
  Effect.forEach([names.ingestion, names.processed], (bucket) =>
    s3Client(stack, `cannot create bucket ${bucket}`, (client) => client.send(new CreateBucketCommand({ Bucket: bucket })))
  )

/** Deletes the stream and both buckets with everything in them; never fails (clean-up). */
const dropRep = (stack: LocalStackEndpoints, names: RepNames) =>
  Effect.gen(function* () {
    yield* Effect.promise(async () => {
      const client = makeKinesisClient(stack.kinesis)
      await client.send(new DeleteStreamCommand({ StreamName: names.stream })).catch(() => undefined)
      client.destroy()
    })
    const s3 = yield* S3
    for (const bucket of [names.ingestion, names.processed]) {
      const objects = yield* s3.listObjects(bucket, "")
      yield* Effect.forEach(objects, (object) => s3.deleteObject(bucket, object.key), { concurrency: 8, discard: true })
      yield* s3Client(stack, `cannot delete bucket ${bucket}`, (client) => client.send(new DeleteBucketCommand({ Bucket: bucket })))
    }
  }).pipe(Effect.provide(S3.layer(stack.s3)), Effect.ignore)

// ---------------------------------------------------------------------------------------
// 2. Putting the changes on the stream, as the reader does.

/** Puts `changes` with the reader's producer; answers the last sequence number written per shard and the records written. */
const putChanges = (stack: LocalStackEndpoints, names: RepNames, changes: ReadonlyArray<ChangeRecord>) =>
  Effect.gen(function* () {
    const last = new Map<string, bigint>()
    let records = 0
    const recordingKinesis = observed(Kinesis, Kinesis.layer(stack.kinesis), (kinesis) => ({
      ...kinesis,
      putRecords: (stream, entries) =>
        kinesis.putRecords(stream, entries).pipe(
          Effect.tap((results) =>
            Effect.sync(() => {
              for (const result of results) {
                if (result._tag !== "Written") continue
                records += 1
                const sequence = BigInt(result.sequenceNumber)
                if (sequence > (last.get(result.shardId) ?? -1n)) last.set(result.shardId, sequence)
              }
            })
          )
        )
    }))
    const items = Stream.fromIterable(changes.map((record): ProducerItem => ({ _tag: "Change", record })))
    yield* runProducer(items, defaultProducerConfig(names.stream), () => Effect.void).pipe(
      Effect.provide(Layer.mergeAll(recordingKinesis, DeadLetters.layer(names.ingestion).pipe(Layer.provide(S3.layer(stack.s3))))),
      Effect.mapError((error) => fail(`cannot put the changes on ${names.stream}: ${error.message}`))
    )
    return { lastSequence: new Map([...last].map(([shard, sequence]) => [shard, sequence.toString()])), records }
  })

// ---------------------------------------------------------------------------------------
// 3. The processor, timed.

/** The processor's Debug line per micro-batch read from pages (Processor.ts, `microBatchLine`). */
export const MICRO_BATCH_LINE = /^batch (\S+): (\d+) pages, (\d+) changes → (\d+) rows in (\d+) objects, (\d+) dead letters$/

/** The warning of a processor handler that finds no join state (a fresh start): expected here, not counted. */
const EXPECTED_WARNING = /^no join state at /

const messageText = (message: unknown): string =>
  (Array.isArray(message) ? message : [message]).map((part) => (typeof part === "string" ? part : String(part))).join(" ")

/**
 * Runs the processor from TRIM_HORIZON until its checkpoints reach `lastSequence` on
 * every shard. Fails with `BenchError` when the processor fails or stops, or after `timeoutMs`.
 */
const timedProcessor = (stack: LocalStackEndpoints, names: RepNames, lastSequence: ReadonlyMap<string, string>, timeoutMs: number) =>
  Effect.gen(function* () {
    const done = yield* Deferred.make<void>()
    const reached = new Set<string>()
    const reported: Array<ProcessedObject> = []
    const microBatches: Array<{ readonly pages: number; readonly changes: number; readonly rows: number }> = []
    const warnings: Array<string> = []
    const getRecords = { calls: 0, seconds: 0, records: 0 }
    const s3Puts = { calls: 0, seconds: 0, bytes: 0 }
    let firstPageAt: number | null = null

    const onCheckpoint = (shardId: string, checkpoint: Checkpoint) =>
      Effect.suspend(() => {
        const target = lastSequence.get(shardId)
        if (target !== undefined && checkpoint.sequenceNumber !== null && BigInt(checkpoint.sequenceNumber) >= BigInt(target)) reached.add(shardId)
        return reached.size === lastSequence.size ? Deferred.succeed(done, undefined) : Effect.void
      })

    const s3 = observed(S3, S3.layer(stack.s3), (inner) => ({
      ...inner,
      putObject: (bucket, key, body, contentType) =>
        timedCall(inner.putObject(bucket, key, body, contentType), (seconds) => {
          s3Puts.calls += 1
          s3Puts.seconds += seconds
          s3Puts.bytes += typeof body === "string" ? Buffer.byteLength(body) : body.byteLength
        })
    }))
    const kinesis = observed(Kinesis, Kinesis.layer(stack.kinesis), (inner) => ({
      ...inner,
      getRecords: (iterator, limit) =>
        timedCall(inner.getRecords(iterator, limit), (seconds, page) => {
          getRecords.calls += 1
          getRecords.seconds += seconds
          getRecords.records += page.records.length
          if (firstPageAt === null && page.records.length > 0) firstPageAt = performance.now()
        })
    }))
    const checkpoints = observed(CheckpointStore, CheckpointStore.layer({ bucket: names.ingestion }), (inner) => ({
      ...inner,
      put: (consumer, shardId, checkpoint) => inner.put(consumer, shardId, checkpoint).pipe(Effect.tap(() => onCheckpoint(shardId, checkpoint)))
    }))
    const collectingLogger = Logger.make(({ message, logLevel }) => {
      const text = messageText(message)
      const batch = MICRO_BATCH_LINE.exec(text)
      if (batch !== null) microBatches.push({ pages: Number(batch[2]), changes: Number(batch[3]), rows: Number(batch[4]) })
      else if ((logLevel === "Warn" || logLevel === "Error" || logLevel === "Fatal") && !EXPECTED_WARNING.test(text)) warnings.push(`${logLevel}: ${text}`)
    })

    const kinesalitePid = childPid("KinesaliteServer")
    const kinesaliteCpu = procCpuSeconds(kinesalitePid)
    const cpu = process.cpuUsage()
    const started = performance.now()
    // The configuration runProcessorProgram gives runProcessor (Programs.ts), default window and poller.
    const processor = yield* Effect.forkChild(
      runProcessor({
        stream: names.stream,
        processedBucket: names.processed,
        stateBucket: names.ingestion,
        stateKey: DEFAULT_JOIN_STATE_KEY,
        archive: { bucket: names.ingestion },
        // Keys and counts only: the bytes and values would stay alive for the whole run.
        onObjects: (objects) => Effect.sync(() => void reported.push(...objects.map(({ table, bucket, key, rows, batchId }) => ({ table, bucket, key, rows, batchId }))))
      }).pipe(
        Effect.provide(Layer.mergeAll(kinesis, checkpoints, DeadLetters.layer(names.ingestion)).pipe(Layer.provideMerge(s3))),
        Effect.provide(Logger.layer([collectingLogger])),
        Effect.provideService(References.MinimumLogLevel, "Debug")
      )
    )
    const stopped = Fiber.join(processor).pipe(
      Effect.matchEffect({
        onFailure: (error) => Effect.fail(fail(`the processor failed: ${error.message}`)),
        onSuccess: () => Effect.fail(fail("the processor stopped before processing every change"))
      })
    )
    yield* Effect.raceFirst(Deferred.await(done), stopped).pipe(
      Effect.timeoutOrElse({
        duration: timeoutMs,
        orElse: () =>
          Effect.fail(
            fail(
              `the processor did not checkpoint the last records of ${[...lastSequence.keys()].filter((shard) => !reached.has(shard)).join(", ")} within ${timeoutMs} ms`
            )
          )
      })
    )
    const seconds = (performance.now() - started) / 1000
    const nodeCpuSeconds = cpuSecondsSince(cpu)
    const kinesaliteAfter = procCpuSeconds(kinesalitePid)
    yield* Fiber.interrupt(processor)
    const changes = microBatches.reduce((sum, batch) => sum + batch.changes, 0)
    return {
      seconds: round(seconds),
      changes,
      nodeCpuSeconds: round(nodeCpuSeconds),
      kinesaliteCpuSeconds: kinesaliteCpu === null || kinesaliteAfter === null ? null : round(kinesaliteAfter - kinesaliteCpu),
      microBatches: microBatches.map((batch) => batch.changes),
      pages: microBatches.map((batch) => batch.pages),
      rows: microBatches.reduce((sum, batch) => sum + batch.rows, 0),
      firstPageSeconds: firstPageAt === null ? null : round((firstPageAt - started) / 1000),
      getRecords: { calls: getRecords.calls, seconds: round(getRecords.seconds), records: getRecords.records },
      s3Puts: { calls: s3Puts.calls, seconds: round(s3Puts.seconds), bytes: s3Puts.bytes },
      warnings,
      reported
    }
  })

// ---------------------------------------------------------------------------------------
// 4. The baseline, timed.

/**
 * `changes` (in commit order) cut into consecutive micro-batches of `sizes` → transform →
 * Parquet per table, in memory. Fails with `BenchError` on a transform problem or an
 * encoding failure (the processor would have dead-lettered or failed there).
 */
const timedBaseline = (changes: ReadonlyArray<ChangeRecord>, sizes: ReadonlyArray<number>) =>
  Effect.gen(function* () {
    const cpu = process.cpuUsage()
    const started = performance.now()
    let state = emptyJoinState
    let offset = 0
    let objects = 0
    let parquetBytes = 0
    let problems = 0
    let starRows = 0
    const factRows: Record<string, number> = {}
    for (const size of sizes) {
      const batch = changes.slice(offset, offset + size)
      offset += size
      const result = transformBatch(state, batch)
      state = result.state
      problems += result.problems.length
      starRows += result.rows.length
      // As the processor does (Processor.ts): the commit time of each of the micro-batch's transactions, for `_commit_ts` (none for snapshot rows).
      const commitTimes = new Map(batch.flatMap((change) => (change.source === "snapshot" ? [] : [[change.commitLsn, change.commitTs] as const])))
      for (const [table, rows] of rowsByTable(result.rows)) {
        const bytes = yield* encodeParquet(processedColumns(table, { relaxed: true }), processedRows(table, rows, commitTimes)).pipe(
          Effect.mapError((error) => fail(`baseline: ${table} rows do not encode as Parquet: ${error.message}`))
        )
        objects += 1
        parquetBytes += bytes.byteLength
        if (isFactTable(table)) factRows[table] = (factRows[table] ?? 0) + rows.length
      }
    }
    const seconds = (performance.now() - started) / 1000
    const nodeCpuSeconds = cpuSecondsSince(cpu)
    if (problems > 0) return yield* fail(`baseline: ${problems} changes were transform problems; the generated changes are wrong`)
    return {
      measure: { seconds: round(seconds), rate: round(offset / seconds, 0), nodeCpuSeconds: round(nodeCpuSeconds), rows: starRows, objects, parquetBytes },
      factRows
    }
  })

// ---------------------------------------------------------------------------------------
// 5. Verification.

/**
 * The processed bucket holds exactly the reported objects, each fact table exactly one row
 * per expected position, and there are no dead letters. Answers the fact rows per table,
 * the objects and their bytes. Fails with `BenchError` naming every problem found.
 */
const verifyOutput = (
  stack: LocalStackEndpoints,
  names: RepNames,
  expected: ReadonlyMap<string, ReadonlyArray<string>>,
  reported: ReadonlyArray<ProcessedObject>
) =>
  Effect.gen(function* () {
    const s3 = yield* S3
    const problems: Array<string> = []
    const letters = yield* s3.listObjects(names.ingestion, "dlq/")
    if (letters.length > 0) problems.push(`${letters.length} dead letters (first: ${letters[0]!.key})`)
    const listed = (yield* s3.listObjects(names.processed, "")).filter((object) => parseProcessedKey(object.key) !== undefined)
    const reportedKeys = new Set(reported.map((object) => object.key))
    const unreported = listed.filter((object) => !reportedKeys.has(object.key))
    if (unreported.length > 0 || listed.length !== reportedKeys.size) {
      problems.push(`${listed.length} objects in ${names.processed}, ${reportedKeys.size} reported by onObjects (${unreported.length} not reported)`)
    }
    const seen = new Map<string, Map<string, number>>()
    const factRows: Record<string, number> = {}
    for (const object of listed) {
      const table = object.key.split("/")[0] ?? ""
      if (!isFactTable(table)) continue
      const body = yield* s3.getObject(names.processed, object.key)
      if (Option.isNone(body)) {
        problems.push(`${object.key} was listed but cannot be read`)
        continue
      }
      const decoded = yield* decodeParquet(body.value)
      let positions = seen.get(table)
      if (positions === undefined) seen.set(table, (positions = new Map()))
      for (const row of decoded.rows) {
        const position = `${String(row["_commit_lsn"])}#${String(row["_commit_idx"])}`
        positions.set(position, (positions.get(position) ?? 0) + 1)
      }
      factRows[table] = (factRows[table] ?? 0) + decoded.rows.length
    }
    for (const [table, want] of expected) {
      const got = seen.get(table) ?? new Map<string, number>()
      const missing = want.filter((position) => !got.has(position)).length
      const duplicated = [...got.values()].filter((n) => n > 1).length
      const rows = factRows[table] ?? 0
      if (rows !== want.length || missing > 0 || duplicated > 0) {
        problems.push(`${table}: ${rows} rows for ${want.length} changes (${missing} changes without a row, ${duplicated} positions more than once)`)
      }
    }
    for (const table of seen.keys()) if (!expected.has(table)) problems.push(`${table}: rows, but no change of its source was put`)
    if (problems.length > 0) return yield* fail(`the processor's output is wrong: ${problems.join("; ")}`)
    return { factRows, objects: listed.length, parquetBytes: listed.reduce((sum, object) => sum + object.size, 0) }
  }).pipe(
    Effect.provide(S3.layer(stack.s3)),
    Effect.catchTags({
      S3Error: (error) => Effect.fail(fail(`cannot read back the processor's output: ${error.message}`)),
      ParquetError: (error) => Effect.fail(fail(`a processed object is not readable Parquet: ${error.message}`))
    })
  )

// ---------------------------------------------------------------------------------------
// A repetition, and the run.

/** The changes of a repetition and what the processor must make of them. */
interface Workload {
  readonly changes: ReadonlyArray<ChangeRecord>
  readonly expected: ReadonlyMap<string, ReadonlyArray<string>>
}

const workload = (changes: ReadonlyArray<ChangeRecord>): Workload => ({ changes, expected: expectedFactPositions(changes) })

/** One repetition (see the module comment); rep 0 is the warm-up. */
export const processorThroughputRep = (stack: LocalStackEndpoints, rep: number, work: Workload, options: ProcessorThroughputOptions) =>
  Effect.gen(function* () {
    const wallStart = performance.now()
    const names: RepNames = {
      stream: `bench-processor-r${rep}`,
      ingestion: `bench-processor-r${rep}-ingestion`,
      processed: `bench-processor-r${rep}-processed`
    }
    const count = work.changes.length
    const label = rep === 0 ? "warm-up" : `rep ${rep}/${options.reps}`
    const profileDir = rep === 0 ? undefined : options.cpuProfileDir
    const result = yield* Effect.gen(function* () {
      yield* createBuckets(stack, names)
      yield* createKinesisStream(stack.kinesis, names.stream, stack.kinesis.shards).pipe(
        Effect.mapError((error) => fail(`cannot create Kinesis stream ${names.stream}: ${error.message}`))
      )
      options.log(`${label}: putting ${count.toLocaleString("en-GB")} changes on ${names.stream} (reader's producer, untimed)`)
      const putStart = performance.now()
      const written = yield* putChanges(stack, names, work.changes)
      const putSeconds = round((performance.now() - putStart) / 1000, 2)
      options.log(`${label}: ${written.records.toLocaleString("en-GB")} Kinesis records in ${putSeconds} s; processing`)

      const loadAverage = round(os.loadavg()[0] ?? 0, 2)
      const timeoutMs = 120_000 + count * 2
      const processor = yield* profiled(profileDir, `${BENCHMARK_NAME}-r${rep}-processor`, timedProcessor(stack, names, written.lastSequence, timeoutMs))
      if (processor.microBatches.length === 0) {
        return yield* fail(
          "the processor logged no micro-batch line at Debug (\"batch <id>: P pages, N changes → R rows in O objects, L dead letters\", Processor.ts); the benchmark reads the micro-batch sizes from it: update MICRO_BATCH_LINE in ProcessorThroughput.ts"
        )
      }
      if (processor.changes !== count) {
        return yield* fail(
          `the processor reported micro-batches of ${processor.changes} changes in all (${processor.microBatches.join(" + ")}), ${count} were put`
        )
      }
      const baseline = yield* profiled(profileDir, `${BENCHMARK_NAME}-r${rep}-baseline`, timedBaseline(work.changes, processor.microBatches))
      const rate = round(count / processor.seconds, 0)
      options.log(
        `${label}: processor ${rate.toLocaleString("en-GB")} changes/s (${processor.seconds} s, micro-batches ${processor.microBatches.map((n) => n.toLocaleString("en-GB")).join(" + ")}), baseline ${baseline.measure.rate.toLocaleString("en-GB")} changes/s (${baseline.measure.seconds} s); verifying`
      )
      for (const warning of processor.warnings) options.log(`${label}: processor ${warning}`)
      const output = yield* verifyOutput(stack, names, work.expected, processor.reported)
      for (const [table, rows] of Object.entries(baseline.factRows)) {
        if (rows !== output.factRows[table]) return yield* fail(`baseline made ${rows} ${table} rows, the processor ${output.factRows[table] ?? 0}`)
      }
      const processorCpu = processor.kinesaliteCpuSeconds === null ? null : processor.nodeCpuSeconds + processor.kinesaliteCpuSeconds
      const { reported: _reported, changes: _changes, warnings, ...measure } = processor
      return {
        rep,
        changes: count,
        stream: { kinesisRecords: written.records, putSeconds },
        processor: { ...measure, rate, warnings: warnings.length, objects: output.objects, parquetBytes: output.parquetBytes },
        baseline: baseline.measure,
        ratio: round(rate / baseline.measure.rate),
        cpuRatio: processorCpu === null || processorCpu === 0 ? null : round(baseline.measure.nodeCpuSeconds / processorCpu),
        factRows: output.factRows,
        loadAverage
      }
    }).pipe(Effect.ensuring(dropRep(stack, names)))
    return { ...result, wallSeconds: round((performance.now() - wallStart) / 1000, 1) } satisfies RepResult
  })

/**
 * Generates the changes once; runs the warm-up repetition on their first `warmupRows`
 * (if any; not returned), then every repetition in turn on all of them.
 */
export const runProcessorThroughput = (stack: LocalStackEndpoints, options: ProcessorThroughputOptions) =>
  Effect.gen(function* () {
    const started = performance.now()
    const generated = generateChanges(options.rows, CHANGES_SEED)
    const { counts } = generated
    options.log(
      `${BENCHMARK_NAME}: generated ${counts.total.toLocaleString("en-GB")} changes (${counts.reads} snapshot reads, ${counts.inserts.toLocaleString("en-GB")} inserts, ${counts.updates.toLocaleString("en-GB")} updates in ${counts.transactions.toLocaleString("en-GB")} transactions) in ${((performance.now() - started) / 1000).toFixed(1)} s`
    )
    if (options.warmupRows > 0) {
      yield* processorThroughputRep(stack, 0, workload(generated.changes.slice(0, Math.min(options.warmupRows, options.rows))), options)
    }
    const work = workload(generated.changes)
    const reps: Array<RepResult> = []
    for (let rep = 1; rep <= options.reps; rep++) reps.push(yield* processorThroughputRep(stack, rep, work, options))
    const factChanges = Object.fromEntries([...work.expected].map(([table, positions]) => [table, positions.length]))
    return { reps, counts, factChanges }
  })
