import { describe, expect, it, layer } from "@effect/vitest"
import { type ChangeRecord, decodeChangeRecord, hashKeyOf, shardFor } from "@totes-cdc/core"
import { LocalStack } from "@totes-cdc/local-stack"
import { DeadLetters, Kinesis, KinesisError, type KinesisShard, type PutResult, S3 } from "@totes-cdc/platform"
import { deaggregateSync } from "aws-kinesis-agg"
import { Effect, Layer, Logger, Metric, Option, Result, Stream } from "effect"
import { createHash } from "node:crypto"
import { defaultProducerConfig, type ProducerConfig, type ProducerItem, runProducer } from "../src/KinesisProducer.ts"
import { packCalls, splitIntoBatches } from "../src/ProducerPlan.ts"
import { Metrics } from "@totes-cdc/core"

// ---------------------------------------------------------------------------------------
// Test data and independent oracles (nothing here calls the code under test).

/** Kinesis' hash of a partition key, computed here independently: MD5 as a 128-bit integer. */
const md5HashKey = (partitionKey: string) => BigInt(`0x${createHash("md5").update(partitionKey, "utf8").digest("hex")}`)

/** The open shard whose inclusive range holds `hashKey`, found independently of `shardFor`. */
const expectedShard = (hashKey: bigint, shards: ReadonlyArray<KinesisShard>) =>
  shards.find((s) => s.open && s.startingHashKey <= hashKey && hashKey <= s.endingHashKey)?.shardId

const lsn = (n: number) => `1/${(0x10000 + n * 0x100).toString(16).toUpperCase()}`

/** A deterministic pseudo-random sequence (LCG), so every run sees the same workload. */
const lcg = (seed: number) => {
  let state = seed >>> 0
  return (bound: number) => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    return state % bound
  }
}

interface Workload {
  readonly items: ReadonlyArray<ProducerItem>
  readonly changes: ReadonlyArray<ChangeRecord>
  /** For each marker, in order: its LSN and how many changes precede it. */
  readonly markers: ReadonlyArray<{ readonly lsn: string; readonly changesBefore: number }>
}

/**
 * `transactions` transactions of 1–`maxSize` changes over `keys` rows of three tables
 * named `<tag>_…`, each transaction followed by its Durable marker. Every change carries
 * a `seq` column (its position in the workload) so order can be checked per key.
 */
const workload = (tag: string, options: { transactions: number; maxSize: number; keys: number; pad?: number; seed?: number }): Workload => {
  const next = lcg(options.seed ?? 7)
  const tables = [`${tag}_sales_order`, `${tag}_payment`, `${tag}_staff`]
  const items: Array<ProducerItem> = []
  const changes: Array<ChangeRecord> = []
  const markers: Array<{ lsn: string; changesBefore: number }> = []
  for (let t = 0; t < options.transactions; t++) {
    const size = 1 + next(options.maxSize)
    for (let i = 0; i < size; i++) {
      const table = tables[next(tables.length)]!
      const id = String(1 + next(options.keys))
      const record: ChangeRecord = {
        v: 1,
        source: "replication",
        op: "update",
        table,
        key: { id },
        before: null,
        after: { id, seq: String(changes.length), note: "x".repeat(options.pad ?? 40) },
        unchangedToast: [],
        commitLsn: lsn(t),
        commitIdx: i,
        xid: 1000 + t,
        commitTs: new Date(Date.UTC(2024, 1, 23, 12, 0, 0) + t * 1000).toISOString()
      }
      changes.push(record)
      items.push({ _tag: "Change", record })
    }
    const marker = { lsn: lsn(t + 1), changesBefore: changes.length }
    markers.push(marker)
    items.push({ _tag: "Durable", lsn: marker.lsn })
  }
  return { items, changes, markers }
}

/** One Kinesis record split back into its user records (partition key + JSON), with aws-kinesis-agg. */
const deaggregate = (data: Uint8Array, partitionKey: string, sequenceNumber: string) => {
  let users: Array<{ partitionKey: string; json: string }> = []
  let failure: Error | undefined
  deaggregateSync({ partitionKey, sequenceNumber, data: Buffer.from(data).toString("base64") }, true, (error, records) => {
    if (error) failure = error
    else users = (records ?? []).map((r) => ({ partitionKey: r.partitionKey, json: Buffer.from(r.data, "base64").toString("utf8") }))
  })
  if (failure !== undefined) throw failure
  return users
}

interface ReadBack {
  /** Per shard, in shard order: the user records of `tag`'s tables. */
  readonly byShard: ReadonlyMap<string, ReadonlyArray<{ readonly partitionKey: string; readonly record: ChangeRecord }>>
  /** Kinesis records holding at least one of `tag`'s changes. */
  readonly kinesisRecords: number
  readonly shards: ReadonlyArray<KinesisShard>
}

/** Everything in `stream` from TRIM_HORIZON, de-aggregated and decoded; only tables named `<tag>_…`. */
const readBack = (kinesis: Kinesis["Service"], stream: string, tag: string) =>
  Effect.gen(function* () {
    const shards = yield* kinesis.listShards(stream)
    const byShard = new Map<string, Array<{ partitionKey: string; record: ChangeRecord }>>()
    let kinesisRecords = 0
    for (const shard of shards) {
      const out: Array<{ partitionKey: string; record: ChangeRecord }> = []
      let iterator: string | undefined = yield* kinesis.getShardIterator(stream, shard.shardId, {})
      while (iterator !== undefined) {
        const page: { records: ReadonlyArray<{ data: Uint8Array; partitionKey: string; sequenceNumber: string }>; nextIterator: string | undefined } =
          yield* kinesis.getRecords(iterator)
        for (const kr of page.records) {
          let mine = false
          for (const user of deaggregate(kr.data, kr.partitionKey, kr.sequenceNumber)) {
            if (!user.partitionKey.startsWith(`${tag}_`)) continue
            const record = yield* decodeChangeRecord(user.json)
            mine = true
            out.push({ partitionKey: user.partitionKey, record })
          }
          if (mine) kinesisRecords += 1
        }
        iterator = page.records.length === 0 ? undefined : page.nextIterator
      }
      byShard.set(shard.shardId, out)
    }
    return { byShard, kinesisRecords, shards } satisfies ReadBack
  })

const seqOf = (record: ChangeRecord) => Number(record.after?.seq)

/** Asserts `read` holds exactly `changes`, each on its key's shard, in workload order per key. */
const expectExactlyInOrder = (read: ReadBack, changes: ReadonlyArray<ChangeRecord>) => {
  const all = [...read.byShard.values()].flat()
  expect(all.length).toBe(changes.length)
  expect([...all].map((u) => u.record).sort((a, b) => seqOf(a) - seqOf(b))).toEqual(changes)
  for (const [shardId, users] of read.byShard) {
    const perKey = new Map<string, Array<number>>()
    for (const user of users) {
      const key = `${user.record.table}:${user.record.key.id}`
      expect(user.partitionKey).toBe(key)
      expect(expectedShard(md5HashKey(user.partitionKey), read.shards)).toBe(shardId)
      perKey.set(key, [...(perKey.get(key) ?? []), seqOf(user.record)])
    }
    for (const [key, seqs] of perKey) {
      expect([...seqs].sort((a, b) => a - b), `order of ${key}`).toEqual(seqs)
    }
  }
}

const counter = (metric: Metric.Metric<number, { readonly count: number | bigint }>) =>
  Metric.value(metric).pipe(Effect.map((state) => Number(state.count)))

/** The real Kinesis with `putRecords` wrapped by `wrap`. */
const wrappedKinesis = (
  stack: LocalStack["Service"],
  wrap: (real: Kinesis["Service"]) => Kinesis["Service"]["putRecords"]
) =>
  Layer.effect(
    Kinesis,
    Effect.gen(function* () {
      const real = yield* Kinesis
      return Kinesis.of({ ...real, putRecords: wrap(real) })
    })
  ).pipe(Layer.provide(Kinesis.layer(stack.kinesis)))

const config = (stack: LocalStack["Service"], overrides: Partial<ProducerConfig>): ProducerConfig => ({
  ...defaultProducerConfig(stack.kinesis.streamName),
  lingerMs: 10,
  ...overrides
})

const digest = (data: Uint8Array) => createHash("sha256").update(data).digest("hex")

// ---------------------------------------------------------------------------------------
// Pure parts of the producer.


describe("producer plan (pure)", () => {
  it("packs calls within maxPutRecords entries and maxPutBytes bytes, in order", () => {
    const entries = [400, 400, 300, 900, 100, 100, 100].map((bytes, i) => ({ bytes, i }))
    expect(packCalls(entries, 3, 1000).map((call) => call.map((e) => e.i))).toEqual([[0, 1], [2], [3, 4], [5, 6]])
    expect(packCalls([{ bytes: 5000 }], 500, 1000)).toEqual([[{ bytes: 5000 }]])
  })

  it("splits a group by bytes and attaches each marker to the batch of the change before it", () => {
    const { items } = workload("split", { transactions: 6, maxSize: 4, keys: 5, pad: 200 })
    const batches = splitIntoBatches(items, 1500)
    expect(batches.length).toBeGreaterThan(2)
    let seen = 0
    let lastMarker: string | undefined
    for (const batch of batches) {
      expect(batch.bytes <= 1500 || batch.changes.length === 1).toBe(true)
      seen += batch.changes.length
      if (batch.durableLsn !== undefined) {
        // the marker's changes are all in this or earlier batches
        const position = items.findIndex((item) => item._tag === "Durable" && item.lsn === batch.durableLsn)
        expect(items.slice(0, position).filter((item) => item._tag === "Change").length).toBeLessThanOrEqual(seen)
        lastMarker = batch.durableLsn
      }
    }
    expect(lastMarker).toBe(lsn(6))
    expect(splitIntoBatches([{ _tag: "Durable", lsn: "0/10" }], 1000)).toEqual([{ changes: [], bytes: 0, durableLsn: "0/10" }])
  })
})

// ---------------------------------------------------------------------------------------
// On kinesalite (4 shards) and s3rver. Tests share the stream: each reads back only the
// tables of its own tag.

/** Runs `body` with Kinesis (real, or as `kinesis` builds it), S3 and the dead letters on the stack. */
const onStack = <A, E>(
  body: (stack: LocalStack["Service"]) => Effect.Effect<A, E, Kinesis | S3 | DeadLetters>,
  kinesis?: (stack: LocalStack["Service"]) => Layer.Layer<Kinesis>
) =>
  Effect.gen(function* () {
    const stack = yield* LocalStack
    return yield* body(stack).pipe(
      Effect.provide(
        Layer.mergeAll(
          kinesis?.(stack) ?? Kinesis.layer(stack.kinesis),
          DeadLetters.layer(stack.s3.buckets.ingestion).pipe(Layer.provideMerge(S3.layer(stack.s3))),
          Logger.layer([])
        )
      )
    )
  })

const throttled = (): PutResult => ({ _tag: "Failed", errorCode: "ProvisionedThroughputExceededException", errorMessage: "Rate exceeded for shard" })

layer(LocalStack.layer({ shards: 4 }), { excludeTestServices: true })("KinesisProducer on kinesalite", (it) => {
  it.effect("routes a partition key to the shard hashKeyOf + shardFor predict, as kinesalite does", () =>
    onStack((stack) =>
      Effect.gen(function* () {
        const kinesis = yield* Kinesis
        const shards = yield* kinesis.listShards(stack.kinesis.streamName)
        expect(shards.filter((s) => s.open).length).toBe(4)
        const keys = Array.from({ length: 40 }, (_, i) => `shardcheck_sales_order:${i}`)
        // No ExplicitHashKey: kinesalite hashes the partition key itself.
        const results = yield* kinesis.putRecords(
          stack.kinesis.streamName,
          keys.map((partitionKey) => ({ partitionKey, data: new TextEncoder().encode(`{"probe":true}`) }))
        )
        const predicted = keys.map((key) => Result.getOrThrow(shardFor(hashKeyOf(key), shards)).shardId)
        expect(results.map((r) => (r._tag === "Written" ? r.shardId : r.errorCode))).toEqual(predicted)
        expect(new Set(predicted).size).toBe(4)
      })
    )
  )

  it.effect("adapters: a missing stream or bucket is one line naming it and the fix; a missing key is None; listing follows every page", () =>
    onStack((stack) =>
      Effect.gen(function* () {
        const kinesis = yield* Kinesis
        const s3 = yield* S3
        const noStream = yield* Effect.flip(kinesis.listShards("no-such-stream"))
        expect(noStream).toMatchObject({
          _tag: "KinesisError",
          retryable: false,
          message: `Kinesis stream no-such-stream does not exist at ${stack.kinesis.endpoint}; create it or fix KINESIS_STREAM`
        })
        const noBucket = yield* Effect.flip(s3.getObject("no-such-bucket", "k"))
        expect(noBucket).toMatchObject({ _tag: "S3Error", retryable: false })
        expect(noBucket.message).toContain("S3 bucket no-such-bucket does not exist")
        const bucket = stack.s3.buckets.processed
        expect(Option.isNone(yield* s3.getObject(bucket, "pages/absent"))).toBe(true)
        // s3rver pages ListObjectsV2 at 1,000 keys, like S3.
        const keys = Array.from({ length: 1005 }, (_, i) => `pages/${String(i).padStart(4, "0")}`)
        yield* Effect.forEach(keys, (key) => s3.putObject(bucket, key, key), { concurrency: 16, discard: true })
        const listed = yield* s3.listObjects(bucket, "pages/")
        expect(listed.map((o) => o.key)).toEqual(keys)
        expect(listed.every((o) => o.size === "pages/0000".length)).toBe(true)
        expect(Option.map(yield* s3.getObject(bucket, "pages/0042"), (bytes) => Buffer.from(bytes).toString())).toEqual(Option.some("pages/0042"))
        yield* s3.deleteObject(bucket, "pages/0042")
        expect(Option.isNone(yield* s3.getObject(bucket, "pages/0042"))).toBe(true)
      })
    )
  )

  it.effect("writes every change once, on its key's shard, in order per key, many changes per Kinesis record", () =>
    onStack((stack) =>
      Effect.gen(function* () {
        const w = workload("rt", { transactions: 400, maxSize: 12, keys: 60 })
        const changesBefore = yield* counter(Metrics.readerChangesWritten)
        const recordsBefore = yield* counter(Metrics.readerKinesisRecordsWritten)
        const durable: Array<string> = []
        yield* runProducer(
          Stream.fromIterable(w.items),
          config(stack, { maxBatchChanges: 500, maxRecordBytes: 16 * 1024 }),
          (l) => Effect.sync(() => void durable.push(l))
        )
        const read = yield* readBack(yield* Kinesis, stack.kinesis.streamName, "rt")
        expectExactlyInOrder(read, w.changes)
        expect([...read.byShard.values()].filter((users) => users.length > 0).length).toBe(4)
        // Aggregated: far fewer Kinesis records than changes.
        expect(read.kinesisRecords).toBeLessThan(w.changes.length / 10)
        expect(durable.at(-1)).toBe(w.markers.at(-1)!.lsn)
        expect((yield* counter(Metrics.readerChangesWritten)) - changesBefore).toBe(w.changes.length)
        expect((yield* counter(Metrics.readerKinesisRecordsWritten)) - recordsBefore).toBe(read.kinesisRecords)
      })
    )
  )

  it.effect("reports each marker's LSN only once every change before it is readable from Kinesis", () =>
    onStack((stack) =>
      Effect.gen(function* () {
        const w = workload("dur", { transactions: 120, maxSize: 8, keys: 30 })
        const kinesis = yield* Kinesis
        const reports: Array<{ lsn: string; missing: number }> = []
        const onDurable = (reported: string) =>
          Effect.gen(function* () {
            const read = yield* readBack(kinesis, stack.kinesis.streamName, "dur")
            const present = new Set([...read.byShard.values()].flat().map((u) => seqOf(u.record)))
            const marker = w.markers.find((m) => m.lsn === reported)
            const before = marker?.changesBefore ?? Number.POSITIVE_INFINITY
            let missing = 0
            for (let seq = 0; seq < Math.min(before, w.changes.length); seq++) if (!present.has(seq)) missing += 1
            reports.push({ lsn: reported, missing: marker === undefined ? -1 : missing })
          })
        yield* runProducer(Stream.fromIterable(w.items), config(stack, { maxBatchChanges: 40 }), onDurable)
        expect(reports.length).toBeGreaterThanOrEqual(5)
        expect(reports.filter((r) => r.missing !== 0)).toEqual([])
        const positions = reports.map((r) => w.markers.findIndex((m) => m.lsn === r.lsn))
        expect(positions).toEqual([...positions].sort((a, b) => a - b))
        expect(new Set(positions).size).toBe(positions.length)
        expect(reports.at(-1)!.lsn).toBe(w.markers.at(-1)!.lsn)
      })
    )
  )

  it.effect("retries only the failed entries of a partially failed PutRecords, and every key's changes still arrive in order", () => {
    const sent = new Map<string, number>()
    const failures = new Map<string, number>()
    let calls = 0
    let injected = 0
    const wrap = (real: Kinesis["Service"]): Kinesis["Service"]["putRecords"] => (stream, entries) =>
      Effect.gen(function* () {
        calls += 1
        // Calls 1, 4, 7, …, 28: every other entry is throttled and NOT written (spread over many rounds).
        const fail = entries.map((_, i) => calls % 3 === 1 && calls <= 28 && i % 2 === 0)
        for (const entry of entries) sent.set(digest(entry.data), (sent.get(digest(entry.data)) ?? 0) + 1)
        const passing = entries.filter((_, i) => !fail[i])
        const results = passing.length > 0 ? [...(yield* real.putRecords(stream, passing))] : []
        return entries.map((entry, i) => {
          if (!fail[i]) return results.shift()!
          injected += 1
          failures.set(digest(entry.data), (failures.get(digest(entry.data)) ?? 0) + 1)
          return throttled()
        })
      })
    return onStack(
      (stack) =>
        Effect.gen(function* () {
          const w = workload("pf", { transactions: 150, maxSize: 10, keys: 25 })
          const retriesBefore = yield* counter(Metrics.readerPutRetries)
          yield* runProducer(Stream.fromIterable(w.items), config(stack, { maxBatchChanges: 300, maxRecordBytes: 4096 }), () => Effect.void)
          expect(injected).toBeGreaterThanOrEqual(8)
          // Every entry was sent once, plus once more per injected failure: nothing written was re-sent.
          for (const [d, times] of sent) expect(times, `entry ${d.slice(0, 8)}`).toBe(1 + (failures.get(d) ?? 0))
          const resent = [...sent.values()].reduce((sum, times) => sum + times - 1, 0)
          expect(resent).toBe(injected)
          expect((yield* counter(Metrics.readerPutRetries)) - retriesBefore).toBe(injected)
          expectExactlyInOrder(yield* readBack(yield* Kinesis, stack.kinesis.streamName, "pf"), w.changes)
        }),
      (stack) => wrappedKinesis(stack, wrap)
    )
  })

  it.effect("retries a whole PutRecords call that failed with a retryable error", () => {
    let calls = 0
    let failedEntries = 0
    const wrap = (real: Kinesis["Service"]): Kinesis["Service"]["putRecords"] => (stream, entries) => {
      calls += 1
      if (calls === 1 || calls === 3) {
        failedEntries += entries.length
        return Effect.fail(new KinesisError({ message: "socket hang up", retryable: true }))
      }
      return real.putRecords(stream, entries)
    }
    return onStack(
      (stack) =>
        Effect.gen(function* () {
          const w = workload("wc", { transactions: 40, maxSize: 6, keys: 12 })
          const retriesBefore = yield* counter(Metrics.readerPutRetries)
          yield* runProducer(Stream.fromIterable(w.items), config(stack, { maxBatchChanges: 50, maxRecordBytes: 2048 }), () => Effect.void)
          expect(failedEntries).toBeGreaterThan(0)
          expect((yield* counter(Metrics.readerPutRetries)) - retriesBefore).toBe(failedEntries)
          expectExactlyInOrder(yield* readBack(yield* Kinesis, stack.kinesis.streamName, "wc"), w.changes)
        }),
      (stack) => wrappedKinesis(stack, wrap)
    )
  })

  it.effect("re-reads the shard map when Kinesis stores an aggregate on another shard than predicted", () => {
    let listings = 0
    const staleFirst = (stack: LocalStack["Service"]) =>
      Layer.effect(
        Kinesis,
        Effect.gen(function* () {
          const real = yield* Kinesis
          return Kinesis.of({
            ...real,
            // The first listing is stale: right ranges, but every shard id rotated by one (as after a reshard).
            listShards: (stream) =>
              real.listShards(stream).pipe(
                Effect.map((shards) => {
                  listings += 1
                  return listings > 1 ? shards : shards.map((shard, i) => ({ ...shard, shardId: shards[(i + 1) % shards.length]!.shardId }))
                })
              )
          })
        })
      ).pipe(Layer.provide(Kinesis.layer(stack.kinesis)))
    return onStack(
      (stack) =>
        Effect.gen(function* () {
          const w = workload("rs", { transactions: 60, maxSize: 6, keys: 20 })
          yield* runProducer(Stream.fromIterable(w.items), config(stack, { maxBatchChanges: 30 }), () => Effect.void)
          expect(listings).toBe(2)
          expectExactlyInOrder(yield* readBack(yield* Kinesis, stack.kinesis.streamName, "rs"), w.changes)
        }),
      staleFirst
    )
  })

  it.effect("fails the producer on a non-retryable error, without reporting anything durable", () =>
    Effect.gen(function* () {
      const w = workload("nr", { transactions: 5, maxSize: 3, keys: 4 })
      const runWith = (putRecords: Kinesis["Service"]["putRecords"]) => {
        const durable: Array<string> = []
        return onStack(
          (stack) =>
            runProducer(Stream.fromIterable(w.items), config(stack, {}), (l) => Effect.sync(() => void durable.push(l))).pipe(
              Effect.flip,
              Effect.map((error) => ({ error, durable }))
            ),
          (stack) => wrappedKinesis(stack, () => putRecords)
        )
      }
      const denied = yield* runWith(() => Effect.fail(new KinesisError({ message: "Kinesis PutRecords … was refused", retryable: false })))
      expect(denied.error).toMatchObject({ _tag: "KinesisError", retryable: false })
      expect(denied.durable).toEqual([])
      const kms = yield* runWith((_, entries) =>
        Effect.succeed(entries.map((): PutResult => ({ _tag: "Failed", errorCode: "KMSAccessDeniedException", errorMessage: "no access to the key" })))
      )
      expect(kms.error).toMatchObject({ _tag: "KinesisError", retryable: false })
      expect((kms.error as KinesisError).message).toContain("KMSAccessDeniedException")
      expect(kms.durable).toEqual([])
    })
  )

  it.effect("parks a change too large for Kinesis in dlq/reader/YYYY/MM/DD/ with its original bytes; the rest go on", () =>
    onStack((stack) =>
      Effect.gen(function* () {
        const w = workload("dlq", { transactions: 30, maxSize: 5, keys: 10 })
        const big: ChangeRecord = {
          ...w.changes[0]!,
          table: "dlq_design",
          key: { id: "99" },
          after: { id: "99", blob: "z".repeat(40_000) },
          commitLsn: lsn(14),
          commitIdx: 99
        }
        // Inside transaction 14, just before its marker.
        const markerAt = w.items.findIndex((item) => item._tag === "Durable" && item.lsn === lsn(15))
        const items = [...w.items.slice(0, markerAt), { _tag: "Change", record: big } as const, ...w.items.slice(markerAt)]
        const lettersBefore = yield* counter(Metrics.readerDeadLetters)
        const durable: Array<string> = []
        // Filed under the change's commit date, so a restarted reader parking it again overwrites it.
        const day = big.commitTs.slice(0, 10).replaceAll("-", "/")
        yield* runProducer(Stream.fromIterable(items), config(stack, { maxBatchChanges: 20, maxRecordBytes: 16 * 1024 }), (l) =>
          Effect.sync(() => void durable.push(l))
        )
        const s3 = yield* S3
        const letters = yield* s3.listObjects(stack.s3.buckets.ingestion, "dlq/")
        expect(letters.length).toBe(1)
        expect(letters[0]!.key).toMatch(new RegExp(`^dlq/reader/${day}/[0-9a-f-]{36}\\.json$`))
        const body = JSON.parse(Buffer.from(Option.getOrThrow(yield* s3.getObject(stack.s3.buckets.ingestion, letters[0]!.key))).toString("utf8"))
        expect(Buffer.from(body.bytes, "base64").toString("utf8")).toBe(JSON.stringify(big))
        expect(body.stage).toBe("reader")
        expect(body.error).toContain(String(16 * 1024))
        expect(body.position).toContain("dlq_design")
        expect(body.position).toContain(`${lsn(14)}#99`)
        expect((yield* counter(Metrics.readerDeadLetters)) - lettersBefore).toBe(1)
        expectExactlyInOrder(yield* readBack(yield* Kinesis, stack.kinesis.streamName, "dlq"), w.changes)
        // Markers after the parked change are still reported.
        const after = durable.filter((l) => w.markers.findIndex((m) => m.lsn === l) >= w.markers.findIndex((m) => m.lsn === lsn(15)))
        expect(after.length).toBeGreaterThanOrEqual(2)
        expect(durable.at(-1)).toBe(w.markers.at(-1)!.lsn)
      })
    )
  )
})

layer(LocalStack.layer({ shards: 2 }), { excludeTestServices: true })("KinesisProducer under a large transaction", (it) => {
  it.effect("streams a 200,000-change transaction through with a bounded number of changes in flight", () => {
    const total = 200_000
    const chunk = 500
    const maxBatchChanges = 2_000
    let produced = 0
    let written = 0
    let maxInFlight = 0
    function* generate(): Generator<ProducerItem> {
      for (let i = 0; i < total; i++) {
        const id = String(i % 5000)
        yield {
          _tag: "Change",
          record: {
            v: 1, source: "snapshot", op: "read", table: "big_sales_order", key: { id }, before: null,
            after: { id, n: String(i) }, unchangedToast: [], commitLsn: "2/0", commitIdx: i, xid: null,
            commitTs: "2024-02-23T12:00:00.000Z"
          }
        }
      }
      yield { _tag: "Durable", lsn: "2/100" }
    }
    const items = Stream.fromIterable(generate(), { chunkSize: chunk }).pipe(
      Stream.map((item) => {
        if (item._tag === "Change") produced += 1
        maxInFlight = Math.max(maxInFlight, produced - written)
        return item
      })
    )
    const wrap = (real: Kinesis["Service"]): Kinesis["Service"]["putRecords"] => (stream, entries) =>
      real.putRecords(stream, entries).pipe(
        Effect.tap((results) =>
          Effect.sync(() => {
            results.forEach((result, i) => {
              if (result._tag === "Written") written += deaggregate(entries[i]!.data, entries[i]!.partitionKey, result.sequenceNumber).length
            })
          })
        )
      )
    return onStack(
      (stack) =>
        Effect.gen(function* () {
          const durable: Array<string> = []
          yield* runProducer(items, config(stack, { maxBatchChanges }), (l) => Effect.sync(() => void durable.push(l)))
          expect(written).toBe(total)
          expect(durable).toEqual(["2/100"])
          // At most three groups (one being written, one queued, one planned and waiting to be
          // queued) plus the chunks groupedWithin has pulled ahead.
          expect(maxInFlight).toBeGreaterThan(0)
          expect(maxInFlight).toBeLessThanOrEqual(3 * maxBatchChanges + 2 * chunk)
        }),
      (stack) => wrappedKinesis(stack, wrap)
    )
  })
})
