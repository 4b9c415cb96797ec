/**
 * SharedShardReads.ts on the in-memory Kinesis (platform's `layerTest`, contract-checked
 * against kinesalite) and the TestClock: consumers sharing reads see exactly the shard's
 * records, in order, each once; the shared part costs one GetRecords instead of one per
 * consumer; a consumer behind the kept run, or a run whose iterator expired, still reads
 * everything. `ShardRun` is checked by itself, without I/O.
 */
import { describe, expect, it } from "@effect/vitest"
import { Kinesis, type KinesisRecord, type RecordsPage } from "@totes-cdc/platform"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { decodePosition, encodePosition, ShardRun, shareShardReads } from "../src/index.ts"

const STREAM = "shared-reads"

/** The fake Kinesis, counting its GetRecords calls, and the shared-reads service over it (`maxBytesPerShard` as given). */
const sharedOverFake = (maxBytesPerShard?: number) =>
  Effect.gen(function* () {
    const fake = yield* Kinesis
    const calls = { getRecords: 0 }
    const kinesis = Kinesis.of({ ...fake, getRecords: (iterator, limit) => Effect.suspend(() => ((calls.getRecords += 1), fake.getRecords(iterator, limit))) })
    return { kinesis, calls, shared: yield* shareShardReads(kinesis, maxBytesPerShard) }
  })

/** One fresh one-shard stream per test. */
const ONE_SHARD = Kinesis.layerTest({ streams: { [STREAM]: 1 } })

/** Puts `n` records (1 KiB each, partition key "k": one shard) numbered from `from`; answers their shard. */
const put = (kinesis: Kinesis["Service"], from: number, n: number) =>
  Effect.gen(function* () {
    let shardId = ""
    for (let i = from; i < from + n; i++) {
      const data = new Uint8Array(1024)
      new DataView(data.buffer).setUint32(0, i)
      const [result] = yield* kinesis.putRecords(STREAM, [{ partitionKey: "k", data }])
      if (result?._tag === "Written") shardId = result.shardId
    }
    return shardId
  })

const numberOf = (record: KinesisRecord) => new DataView(record.data.buffer, record.data.byteOffset).getUint32(0)

/** A consumer's cursor: reads pages of `limit` from its iterator, collecting record numbers. */
const consumer = (kinesis: Kinesis["Service"], shardId: string, limit: number) =>
  Effect.gen(function* () {
    let iterator: string | undefined = yield* kinesis.getShardIterator(STREAM, shardId, {})
    const seen: Array<number> = []
    const read = Effect.gen(function* () {
      const page: RecordsPage = yield* kinesis.getRecords(iterator!, limit)
      seen.push(...page.records.map(numberOf))
      iterator = page.nextIterator
      return page
    })
    return { seen, read }
  })

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i)

describe("shareShardReads", () => {
  it.effect("two consumers read every record once, in order, with one GetRecords for both", () =>
    Effect.gen(function* () {
      const { kinesis, calls, shared } = yield* sharedOverFake()
      const shardId = yield* put(kinesis, 0, 30)
      const a = yield* consumer(shared, shardId, 10)
      const b = yield* consumer(shared, shardId, 25)
      for (let i = 0; i < 3; i++) yield* a.read
      yield* b.read
      yield* b.read
      expect(a.seen).toEqual(range(0, 30))
      expect(b.seen).toEqual(range(0, 30))
      // a read Kinesis three times; b was answered from what a read.
      expect(calls.getRecords).toBe(3)
      yield* put(kinesis, 30, 5)
      yield* b.read // b is at the end: it reads Kinesis, once
      yield* a.read // a gets what b read
      expect(a.seen).toEqual(range(0, 35))
      expect(b.seen).toEqual(range(0, 35))
      expect(calls.getRecords).toBe(4)
    }).pipe(Effect.provide(ONE_SHARD))
  )

  it.effect("two consumers at the end of the run at once cause one GetRecords", () =>
    Effect.gen(function* () {
      const { kinesis, calls, shared } = yield* sharedOverFake()
      const shardId = yield* put(kinesis, 0, 8)
      const a = yield* consumer(shared, shardId, 100)
      const b = yield* consumer(shared, shardId, 100)
      const both = yield* Effect.forkChild(Effect.all([a.read, b.read], { concurrency: 2 }))
      yield* Fiber.join(both)
      expect(a.seen).toEqual(range(0, 8))
      expect(b.seen).toEqual(range(0, 8))
      expect(calls.getRecords).toBe(1)
    }).pipe(Effect.provide(ONE_SHARD))
  )

  it.effect("a consumer behind the kept run reads Kinesis itself, then joins the run, and misses nothing", () =>
    Effect.gen(function* () {
      // 8 KiB per shard: the run keeps 8 of the 1 KiB records.
      const { kinesis, shared } = yield* sharedOverFake(8 * 1024)
      const shardId = yield* put(kinesis, 0, 40)
      const a = yield* consumer(shared, shardId, 10)
      const b = yield* consumer(shared, shardId, 7)
      for (let i = 0; i < 4; i++) yield* a.read
      while (b.seen.length < 40) yield* b.read
      expect(a.seen).toEqual(range(0, 40))
      expect(b.seen).toEqual(range(0, 40))
    }).pipe(Effect.provide(ONE_SHARD))
  )

  it.effect("a run whose Kinesis iterator expired reads on from a fresh one", () =>
    Effect.gen(function* () {
      const { kinesis, shared } = yield* sharedOverFake()
      const shardId = yield* put(kinesis, 0, 3)
      const a = yield* consumer(shared, shardId, 100)
      yield* a.read
      // The fake's iterators expire after 5 minutes, as Kinesis' do.
      yield* TestClock.adjust("6 minutes")
      yield* put(kinesis, 3, 2)
      yield* a.read
      expect(a.seen).toEqual(range(0, 5))
    }).pipe(Effect.provide(ONE_SHARD))
  )

  it.effect("an empty read at the end says the consumer is not behind, and its next read starts where it was", () =>
    Effect.gen(function* () {
      const { kinesis, shared } = yield* sharedOverFake()
      const shardId = yield* put(kinesis, 0, 2)
      const a = yield* consumer(shared, shardId, 100)
      const first = yield* a.read
      const empty = yield* a.read
      expect(empty.records).toEqual([])
      expect(empty.millisBehindLatest).toBe(0)
      expect(decodePosition(empty.nextIterator!)?.after).toBe(first.records[1]!.sequenceNumber)
      expect(decodePosition("AAAA-a-kinesis-iterator")).toBeUndefined()
      expect(decodePosition(encodePosition({ stream: STREAM, shardId, after: null, real: "x" }))).toEqual({ stream: STREAM, shardId, after: null, real: "x" })
    }).pipe(Effect.provide(ONE_SHARD))
  )
})

describe("ShardRun", () => {
  const record = (n: number, bytes = 1): KinesisRecord => ({ sequenceNumber: String(1000 + n), partitionKey: "k", data: new Uint8Array(bytes) })
  const page = (from: number, n: number, closed = false): RecordsPage => ({ records: range(from, n).map((i) => record(i)), nextIterator: closed ? undefined : "it", millisBehindLatest: 0 })
  const seqs = (records: ReadonlyArray<KinesisRecord> | undefined) => records?.map((r) => Number(r.sequenceNumber) - 1000)

  it("answers reads from its start, inside it and at its end; nothing before it", () => {
    const run = new ShardRun(1_000)
    expect(run.unstarted).toBe(true)
    run.extend("1004", page(5, 5))
    expect(seqs(run.read("1004", 3))).toEqual([5, 6, 7])
    expect(seqs(run.read("1006", 10))).toEqual([7, 8, 9])
    expect(run.read("1009", 10)).toEqual([])
    expect(run.atEnd("1009")).toBe(true)
    expect(run.read("1003", 10)).toBeUndefined()
    expect(run.read(null, 10)).toBeUndefined()
  })

  it("refuses a page that does not continue it", () => {
    const run = new ShardRun(1_000)
    run.extend(null, page(0, 3))
    expect(() => run.extend("1000", page(1, 2))).toThrow(/does not continue/)
    run.extend("1002", page(3, 2))
    expect(seqs(run.read(null, 10))).toEqual([0, 1, 2, 3, 4])
  })

  it("drops its oldest records beyond its byte limit, keeping positions of the rest", () => {
    const run = new ShardRun(4)
    run.extend(null, page(0, 3))
    run.extend("1002", page(3, 3))
    expect(run.read(null, 10)).toBeUndefined()
    expect(seqs(run.read("1001", 10))).toEqual([2, 3, 4, 5])
    expect(seqs(run.read("1003", 1))).toEqual([4])
  })

  it("keeps the shard's end: no iterator after a closed shard's last page", () => {
    const run = new ShardRun(1_000)
    run.extend(null, page(0, 2, true))
    expect(run.tipIterator).toBeUndefined()
    expect(run.atEnd("1001")).toBe(true)
  })
})
