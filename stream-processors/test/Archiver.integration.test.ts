/**
 * The archiver on kinesalite + s3rver: change records go on a 2-shard stream as the reader
 * puts them (KPL aggregates from core's contracts, as in production), the archiver runs, and the oracles
 * are independent of it: the records that were put, the objects S3 lists, every put S3
 * saw (recorded by a wrapper around the S3 service), and the stream's own last sequence
 * numbers read back with GetRecords.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import { type ChangeRecord, decodeChangeRecord, partitionKeyOf } from "@totes-cdc/core"
import { createKinesisStream, LocalStack } from "@totes-cdc/local-stack"
import { DeadLetters, Kinesis, type RecordsPage, S3 } from "@totes-cdc/platform"
import { Effect, Fiber, Layer, Logger, Option, Schedule } from "effect"
import { putChanges } from "@totes-cdc/local-stack/testing"
import { archiveObjectKey, CheckpointStore, cutObjects, runArchiver } from "../src/index.ts"

// ---------------------------------------------------------------------------------------
// Pure.

describe("archive objects", () => {
  it("are named as Firehose names them, in UTC", () => {
    expect(archiveObjectKey("raw/", "totes-cdc-changes", new Date(Date.UTC(2024, 1, 3, 4, 5, 6)), "u-u-i-d")).toBe(
      "raw/2024/02/03/04/totes-cdc-changes-1-2024-02-03-04-05-06-u-u-i-d"
    )
  })
  it("hold whole lines, at most bufferBytes unless one line is larger, every line once in order", () => {
    const enc = (s: string) => new TextEncoder().encode(s)
    const lines = ["aaa", "bb", "c", "dddddddddd", "e"].map(enc)
    const objects = cutObjects(lines, 7).map((o) => new TextDecoder().decode(o))
    expect(objects).toEqual(["aaa\nbb\n", "c\n", "dddddddddd\n", "e\n"])
    expect(cutObjects([], 7)).toEqual([])
  })
})

// ---------------------------------------------------------------------------------------
// On the local stack.

const lsn = (n: number) => `1/${(0x10000 + n * 0x100).toString(16).toUpperCase()}`

/** `count` changes over 24 rows of two tables named after `tag`, numbered by `seq` from `from`, in transactions of 5. */
const workload = (tag: string, from: number, count: number, pad = 20) => {
  const changes: Array<ChangeRecord> = []
  for (let i = 0; i < count; i++) {
    const seq = from + i
    const id = String(seq % 24)
    const record: ChangeRecord = {
      v: 1,
      source: "replication",
      op: "update",
      table: `${tag}_${seq % 2 === 0 ? "sales_order" : "payment"}`,
      key: { id },
      before: null,
      after: { id, seq: String(seq), note: "x".repeat(pad) },
      unchangedToast: [],
      commitLsn: lsn(Math.floor(seq / 5)),
      commitIdx: seq % 5,
      xid: 1000 + Math.floor(seq / 5),
      commitTs: new Date(Date.UTC(2024, 1, 23, 12) + seq * 1000).toISOString()
    }
    changes.push(record)
  }
  return { changes }
}

/** Puts `changes` on `stream` as the reader does, at most 20 changes per KPL aggregate (so there are many records). */
const produce = (stream: string, changes: ReadonlyArray<ChangeRecord>) => putChanges(stream, changes, 20)

/** Every successful put S3 saw, in order: `bucket/key` and size. */
const puts: Array<{ readonly key: string; readonly size: number }> = []

const recordingS3 = (stack: LocalStack["Service"]) =>
  Layer.effect(
    S3,
    Effect.gen(function* () {
      const real = yield* S3
      return S3.of({
        ...real,
        putObject: (bucket, key, body, contentType) =>
          real.putObject(bucket, key, body, contentType).pipe(
            Effect.tap(() => Effect.sync(() => void puts.push({ key: `${bucket}/${key}`, size: typeof body === "string" ? Buffer.byteLength(body) : body.byteLength })))
          )
      })
    })
  ).pipe(Layer.provide(S3.layer(stack.s3)))

/** Kinesis records GetRecords has returned (to any reader of any stream) since the layer was built. */
let recordsRead = 0

const countingKinesis = (stack: LocalStack["Service"]) =>
  Layer.effect(
    Kinesis,
    Effect.gen(function* () {
      const real = yield* Kinesis
      return Kinesis.of({
        ...real,
        getRecords: (iterator, limit) => real.getRecords(iterator, limit).pipe(Effect.tap((page) => Effect.sync(() => void (recordsRead += page.records.length))))
      })
    })
  ).pipe(Layer.provide(Kinesis.layer(stack.kinesis)))

const services = Layer.unwrap(
  Effect.gen(function* () {
    const stack = yield* LocalStack
    const s3 = recordingS3(stack)
    return Layer.mergeAll(
      countingKinesis(stack),
      CheckpointStore.layer({ bucket: stack.s3.buckets.ingestion }).pipe(Layer.provideMerge(s3)),
      DeadLetters.layer(stack.s3.buckets.ingestion).pipe(Layer.provide(s3)),
      Logger.layer([])
    )
  })
)

const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
const keyPattern = (stream: string) => new RegExp(`^raw/(\\d{4})/(\\d{2})/(\\d{2})/(\\d{2})/${stream}-1-\\1-\\2-\\3-\\4-\\d{2}-\\d{2}-${UUID}$`)

/** The archive objects of `stream` in the order they were put (S3's listing checked against the recorded puts). */
const archived = (stream: string) =>
  Effect.gen(function* () {
    const stack = yield* LocalStack
    const s3 = yield* S3
    const bucket = stack.s3.buckets.ingestion
    const listed = (yield* s3.listObjects(bucket, "raw/")).filter((o) => o.key.includes(`/${stream}-1-`))
    const order = puts.filter((p) => p.key.startsWith(`${bucket}/raw/`) && p.key.includes(`/${stream}-1-`)).map((p) => p.key.slice(bucket.length + 1))
    const objects: Array<{ key: string; body: string }> = []
    for (const key of order) {
      const body = yield* s3.getObject(bucket, key)
      if (Option.isSome(body)) objects.push({ key, body: new TextDecoder().decode(body.value) })
    }
    return { listed: listed.map((o) => o.key), objects }
  })

/** Every line of `objects`, decoded as a change record, in put order. */
const recordsOf = (objects: ReadonlyArray<{ body: string }>) =>
  Effect.forEach(
    objects.flatMap((o) => {
      expect(o.body.endsWith("\n")).toBe(true)
      return o.body.slice(0, -1).split("\n")
    }),
    (line) => decodeChangeRecord(line)
  )

const seqOf = (r: ChangeRecord) => Number(r.after!["seq"])
const sortedSeqs = (rs: ReadonlyArray<ChangeRecord>) => rs.map(seqOf).sort((a, b) => a - b)

/** Per partition key, the seqs in the order they appear. */
const perKey = (rs: ReadonlyArray<ChangeRecord>) => {
  const out = new Map<string, Array<number>>()
  for (const r of rs) out.set(partitionKeyOf(r), [...(out.get(partitionKeyOf(r)) ?? []), seqOf(r)])
  return out
}

/** The archive of `stream` holds `count` records or more (polling every 50 ms, up to 60 s); fails at once if `fiber` fails. */
const waitForRecords = <E>(stream: string, count: number, fiber: Fiber.Fiber<never, E>) =>
  Effect.raceFirst(
    archived(stream).pipe(
      Effect.flatMap(({ objects }) => recordsOf(objects)),
      Effect.repeat({ until: (rs) => rs.length >= count, schedule: Schedule.spaced("50 millis") }),
      Effect.timeout("60 seconds"),
      Effect.asVoid
    ),
    Fiber.join(fiber)
  )

/** The stream's last sequence number per shard, read back with GetRecords (independent of the archiver). */
const lastSequences = (stream: string) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const out = new Map<string, string>()
    let records = 0
    for (const shard of yield* kinesis.listShards(stream)) {
      let iterator: string | undefined = yield* kinesis.getShardIterator(stream, shard.shardId, {})
      while (iterator !== undefined) {
        const page: RecordsPage = yield* kinesis.getRecords(iterator, 10_000)
        const last = page.records.at(-1)
        if (last !== undefined) out.set(shard.shardId, last.sequenceNumber)
        records += page.records.length
        if (page.records.length === 0 && (page.millisBehindLatest ?? 0) === 0) break
        iterator = page.nextIterator
      }
    }
    return Object.assign(out, { records })
  })

const checkpointed = (consumer: string, stream: string) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const store = yield* CheckpointStore
    const out = new Map<string, string>()
    for (const shard of yield* kinesis.listShards(stream)) {
      const cp = yield* store.get(consumer, shard.shardId)
      if (Option.isSome(cp) && cp.value.sequenceNumber !== null) out.set(shard.shardId, cp.value.sequenceNumber)
    }
    return out
  })

/** Every shard of `stream` is checkpointed by `consumer` at its last record (polled every 25 ms, up to 30 s); fails at once if `fiber` fails. */
const waitForCheckpoints = <E>(consumer: string, stream: string, fiber: Fiber.Fiber<never, E>) =>
  Effect.gen(function* () {
    const last = yield* lastSequences(stream)
    yield* Effect.raceFirst(
      checkpointed(consumer, stream).pipe(
        Effect.repeat({ until: (cps) => cps.size === last.size && [...last].every(([s, seq]) => cps.get(s) === seq), schedule: Schedule.spaced("25 millis") }),
        Effect.timeout("30 seconds"),
        Effect.asVoid
      ),
      Fiber.join(fiber)
    )
  })

/** Each key of `stream` was put exactly once, and the listing holds exactly the keys put. */
const expectWrittenOnce = (stream: string, listed: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const stack = yield* LocalStack
    const bucket = stack.s3.buckets.ingestion
    const keys = puts.filter((p) => p.key.startsWith(`${bucket}/raw/`) && p.key.includes(`/${stream}-1-`)).map((p) => p.key.slice(bucket.length + 1))
    expect(new Set(keys).size).toBe(keys.length)
    expect([...keys].sort()).toEqual([...listed].sort())
    for (const key of keys) expect(key).toMatch(keyPattern(stream))
  })

layer(Layer.provideMerge(services, LocalStack.layer()), { excludeTestServices: true })("Archiver on kinesalite + s3rver", (it) => {
  const run = (stream: string, buffer: { bufferBytes?: number; bufferIntervalMs?: number }) =>
    Effect.gen(function* () {
      const stack = yield* LocalStack
      return yield* Effect.forkChild(
        runArchiver({ stream, bucket: stack.s3.buckets.ingestion, ...buffer, poller: { consumer: `archiver-${stream}`, idleMs: 20, shardRefreshMs: 200 } })
      )
    })

  it.effect("archives every change record, unchanged, as NDJSON objects in Firehose's naming, in order per key, each key put once", () =>
    Effect.gen(function* () {
      const stack = yield* LocalStack
      const name = "arch-all"
      yield* createKinesisStream(stack.kinesis, name, 2)
      const w = workload("all", 0, 400)
      yield* produce(name, w.changes)
      const fiber = yield* run(name, { bufferIntervalMs: 300 })
      yield* waitForRecords(name, w.changes.length, fiber)
      yield* Fiber.interrupt(fiber)
      const { listed, objects } = yield* archived(name)
      const records = yield* recordsOf(objects)
      expect(records).toHaveLength(w.changes.length)
      expect(sortedSeqs(records)).toEqual(sortedSeqs(w.changes))
      // Unchanged: each line decodes to exactly the record that was put.
      const bySeq = new Map(w.changes.map((c) => [seqOf(c), c]))
      for (const r of records) expect(r).toEqual(bySeq.get(seqOf(r)))
      // In order per partition key (a key lives on one shard).
      for (const seqs of perKey(records).values()) expect(seqs).toEqual([...seqs].sort((a, b) => a - b))
      expect([...perKey(records).keys()].sort()).toEqual([...perKey(w.changes).keys()].sort())
      yield* expectWrittenOnce(name, listed)
      // Everything archived is checkpointed at the stream's last record in each shard.
      const last = yield* lastSequences(name)
      expect(last.size).toBe(2)
      expect(last.records).toBeLessThan(w.changes.length / 4) // the reader's KPL aggregates: many changes per Kinesis record
      expect(yield* checkpointed(`archiver-${name}`, name)).toEqual(new Map(last))
    }))

  it.effect("cuts the archive into several objects of at most bufferBytes when the size threshold is small", () =>
    Effect.gen(function* () {
      const stack = yield* LocalStack
      const name = "arch-size"
      yield* createKinesisStream(stack.kinesis, name, 2)
      const w = workload("size", 0, 300, 200)
      yield* produce(name, w.changes)
      const bufferBytes = 4096
      // A long interval: only the size threshold (or a full page) can flush.
      const fiber = yield* run(name, { bufferBytes, bufferIntervalMs: 600_000 })
      yield* waitForRecords(name, w.changes.length, fiber)
      yield* Fiber.interrupt(fiber)
      const { listed, objects } = yield* archived(name)
      expect(objects.length).toBeGreaterThan(5)
      for (const o of objects) {
        const size = new TextEncoder().encode(o.body).byteLength
        const lines = o.body.slice(0, -1).split("\n").length
        expect(size <= bufferBytes || lines === 1).toBe(true)
      }
      const records = yield* recordsOf(objects)
      expect(sortedSeqs(records)).toEqual(sortedSeqs(w.changes))
      for (const seqs of perKey(records).values()) expect(seqs).toEqual([...seqs].sort((a, b) => a - b))
      yield* expectWrittenOnce(name, listed)
    }))

  it.effect("a stop before a flush neither archives nor checkpoints; a restart then archives everything, once", () =>
    Effect.gen(function* () {
      const stack = yield* LocalStack
      const name = "arch-crash"
      yield* createKinesisStream(stack.kinesis, name, 2)
      const w = workload("crash", 0, 200)
      yield* produce(name, w.changes)
      // Neither threshold is reached: every record is read and held in a window, unflushed, then the archiver stops.
      const onStream = (yield* lastSequences(name)).records
      const readBefore = recordsRead
      const first = yield* run(name, { bufferBytes: 64 * 1024 * 1024, bufferIntervalMs: 600_000 })
      yield* Effect.raceFirst(
        Effect.sync(() => recordsRead - readBefore).pipe(Effect.repeat({ until: (read) => read >= onStream, schedule: Schedule.spaced("25 millis") }), Effect.timeout("30 seconds")),
        Fiber.join(first)
      )
      yield* Fiber.interrupt(first)
      expect((yield* archived(name)).objects).toEqual([])
      expect((yield* checkpointed(`archiver-${name}`, name)).size).toBe(0)
      const second = yield* run(name, { bufferIntervalMs: 200 })
      yield* waitForRecords(name, w.changes.length, second)
      yield* Fiber.interrupt(second)
      const { listed, objects } = yield* archived(name)
      const records = yield* recordsOf(objects)
      expect(records.map(seqOf).sort((a, b) => a - b)).toEqual(sortedSeqs(w.changes))
      yield* expectWrittenOnce(name, listed)
    }))

  it.effect("a restart after flush and checkpoint loses nothing and duplicates nothing", () =>
    Effect.gen(function* () {
      const stack = yield* LocalStack
      const name = "arch-restart"
      yield* createKinesisStream(stack.kinesis, name, 2)
      const w1 = workload("restart", 0, 150)
      yield* produce(name, w1.changes)
      const first = yield* run(name, { bufferIntervalMs: 200 })
      const consumer = `archiver-${name}`
      // Wait for the checkpoints of the flushed pages, then stop.
      yield* waitForCheckpoints(consumer, name, first)
      yield* Fiber.interrupt(first)
      const w2 = workload("restart", 150, 150)
      yield* produce(name, w2.changes)
      const second = yield* run(name, { bufferIntervalMs: 200 })
      // Checkpointed at the tip: every page read was flushed first, so a duplicate would be in the archive by now.
      yield* waitForCheckpoints(consumer, name, second)
      yield* Fiber.interrupt(second)
      const { listed, objects } = yield* archived(name)
      const records = yield* recordsOf(objects)
      expect(records.map(seqOf).sort((a, b) => a - b)).toEqual(sortedSeqs([...w1.changes, ...w2.changes]))
      for (const seqs of perKey(records).values()) expect(seqs).toEqual([...seqs].sort((a, b) => a - b))
      yield* expectWrittenOnce(name, listed)
    }))
})
