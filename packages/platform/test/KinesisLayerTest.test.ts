/**
 * `Kinesis.layerTest`, the in-memory Kinesis, on its own (its contract with the real layer
 * on kinesalite: packages/local-stack/test/FakesContract.integration.test.ts): what only a
 * fake can show quickly — time (the TestClock: arrival times, iterator expiry, retention,
 * millisBehindLatest), Kinesis' limits, fresh state per build, and copies of the bytes.
 */
import { describe, expect, it } from "@effect/vitest"
import { hashKeyOf, MAX_HASH_KEY, shardFor } from "@totes-cdc/core"
import { Cause, Effect, Exit, Layer, Result } from "effect"
import { TestClock } from "effect/testing"
import { Kinesis, KinesisError, newStreamShards, type PutEntry, shardIdOf } from "../src/Kinesis.ts"

const utf8 = (text: string) => new TextEncoder().encode(text)
const entry = (partitionKey: string, data = partitionKey): PutEntry => ({ partitionKey, data: utf8(data) })

/** The written results of putting `entries` to `stream` (every one must be written). */
const put = (stream: string, entries: ReadonlyArray<PutEntry>) =>
  Kinesis.use((kinesis) => kinesis.putRecords(stream, entries)).pipe(
    Effect.map((results) =>
      results.map((result) => {
        if (result._tag !== "Written") throw new Error(`not written: ${result.errorCode}`)
        return result
      })
    )
  )

const provided = <A, E>(effect: Effect.Effect<A, E, Kinesis>, streams: Record<string, number> = { s: 2 }) =>
  effect.pipe(Effect.provide(Kinesis.layerTest({ streams })))

describe("newStreamShards", () => {
  it("splits the 2^128 hash keys evenly, as CreateStream: contiguous, the last shard up to 2^128 - 1", () => {
    expect(newStreamShards(1)).toEqual([{ shardId: "shardId-000000000000", startingHashKey: 0n, endingHashKey: MAX_HASH_KEY, open: true }])
    const three = newStreamShards(3)
    const width = (MAX_HASH_KEY + 1n) / 3n
    expect(three.map((s) => [s.startingHashKey, s.endingHashKey])).toEqual([
      [0n, width - 1n],
      [width, 2n * width - 1n],
      [2n * width, MAX_HASH_KEY]
    ])
    expect(shardIdOf(12)).toBe("shardId-000000000012")
  })
})

describe("Kinesis.layerTest", () => {
  it.effect("routes by MD5 of the partition key and numbers records with 56-digit sequence numbers that increase per shard", () =>
    provided(
      Effect.gen(function* () {
        const shards = newStreamShards(4)
        const entries = Array.from({ length: 200 }, (_, i) => entry(`key-${i % 17}`, `r${i}`))
        const written = yield* put("s", entries)
        written.forEach((w, i) => {
          const shard = shardFor(hashKeyOf(entries[i]!.partitionKey), shards)
          expect(Result.isSuccess(shard) && shard.success.shardId).toBe(w.shardId)
          expect(w.sequenceNumber).toMatch(/^\d{56}$/)
        })
        for (const shardId of new Set(written.map((w) => w.shardId))) {
          const numbers = written.filter((w) => w.shardId === shardId).map((w) => w.sequenceNumber)
          expect([...numbers].sort()).toEqual(numbers)
          expect([...numbers].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1))).toEqual(numbers)
          expect(new Set(numbers).size).toBe(numbers.length)
        }
      }),
      { s: 4 }
    )
  )

  it.effect("stamps records with the Clock at put, and answers millisBehindLatest: the wait of the oldest unread record, 0 when caught up", () =>
    provided(
      Effect.gen(function* () {
        const kinesis = yield* Kinesis
        yield* TestClock.setTime(1_700_000_000_000)
        const [first] = yield* put("s", [entry("k", "one")])
        yield* TestClock.adjust("2 seconds")
        yield* put("s", [entry("k", "two")])
        yield* TestClock.adjust("3 seconds")
        const page = yield* kinesis.getRecords(yield* kinesis.getShardIterator("s", first!.shardId, {}), 1)
        expect(page.records.map((r) => r.approximateArrivalTimestamp)).toEqual([new Date(1_700_000_000_000)])
        expect(page.millisBehindLatest).toBe(3_000)
        const rest = yield* kinesis.getRecords(page.nextIterator!, 1)
        expect(rest.records.map((r) => r.approximateArrivalTimestamp)).toEqual([new Date(1_700_000_002_000)])
        expect(rest.millisBehindLatest).toBe(0)
        // Records put in the same instant: still ≥ 1 while any is unread.
        yield* put("s", [entry("k", "three"), entry("k", "four")])
        expect((yield* kinesis.getRecords(rest.nextIterator!, 1)).millisBehindLatest).toBe(1)
      })
    )
  )

  it.effect("an iterator reads the same page again until it expires 5 minutes after it was made; a next iterator is new", () =>
    provided(
      Effect.gen(function* () {
        const kinesis = yield* Kinesis
        const [w] = yield* put("s", [entry("k", "one"), entry("k", "two")])
        const iterator = yield* kinesis.getShardIterator("s", w!.shardId, {})
        yield* TestClock.adjust("5 minutes")
        const page = yield* kinesis.getRecords(iterator)
        expect((yield* kinesis.getRecords(iterator)).records).toEqual(page.records)
        yield* TestClock.adjust("1 millis")
        const expired = yield* Effect.flip(kinesis.getRecords(iterator))
        expect(expired).toBeInstanceOf(KinesisError)
        expect(expired.retryable).toBe(false)
        expect(expired.message).toMatch(/^Kinesis GetRecords on the shard iterator's stream: the shard iterator expired \(Iterator expired\. .*\); get a new iterator from the last sequence number read$/)
        expect((yield* kinesis.getRecords(page.nextIterator!)).records).toEqual([])
      })
    )
  )

  it.effect("no longer reads records older than the 24-hour retention", () =>
    provided(
      Effect.gen(function* () {
        const kinesis = yield* Kinesis
        const [old] = yield* put("s", [entry("k", "old")])
        yield* TestClock.adjust("23 hours")
        yield* put("s", [entry("k", "new")])
        yield* TestClock.adjust("1 hour")
        yield* TestClock.adjust("1 millis")
        const page = yield* kinesis.getRecords(yield* kinesis.getShardIterator("s", old!.shardId, {}))
        expect(page.records.map((r) => new TextDecoder().decode(r.data))).toEqual(["new"])
      })
    )
  )

  it.effect("keeps copies: changing the bytes put or read changes nothing held", () =>
    provided(
      Effect.gen(function* () {
        const kinesis = yield* Kinesis
        const data = utf8("abc")
        const [w] = yield* put("s", [{ partitionKey: "k", data }])
        data[0] = 0
        const iterator = yield* kinesis.getShardIterator("s", w!.shardId, {})
        const [read] = (yield* kinesis.getRecords(iterator)).records
        read!.data[1] = 0
        expect((yield* kinesis.getRecords(iterator)).records[0]!.data).toEqual(utf8("abc"))
      })
    )
  )

  it.effect("is fresh at each build of the layer", () =>
    Effect.gen(function* () {
      const layer = Kinesis.layerTest({ streams: { s: 1 } })
      const readAll = Kinesis.use((k) => Effect.flatMap(k.getShardIterator("s", "shardId-000000000000", {}), (it) => k.getRecords(it)))
      const [w] = yield* put("s", [entry("k")]).pipe(Effect.provide(layer))
      expect((yield* readAll.pipe(Effect.provide(layer))).records).toEqual([])
      expect(w!.sequenceNumber).toBe((yield* put("s", [entry("k")]).pipe(Effect.provide(layer)))[0]!.sequenceNumber)
    })
  )

  it.effect("refuses what Kinesis refuses, not retryable, in the real layer's words", () =>
    provided(
      Effect.gen(function* () {
        const kinesis = yield* Kinesis
        const refused = (entries: ReadonlyArray<PutEntry>) => Effect.flip(kinesis.putRecords("s", entries))
        const tooMany = yield* refused(Array.from({ length: 501 }, () => entry("k")))
        expect(tooMany.message).toContain("Member must have length less than or equal to 500")
        const tooBig = yield* refused([{ partitionKey: "k", data: new Uint8Array(1_048_577) }])
        expect(tooBig.message).toContain("at 'records.1.member.data'")
        const request = yield* refused(Array.from({ length: 6 }, () => ({ partitionKey: "k", data: new Uint8Array(1_000_000) })))
        expect(request.message).toBe("Kinesis PutRecords on s at in-memory Kinesis failed (InvalidArgumentException: Records size exceeds 5 MB limit)")
        const hashKey = yield* refused([{ ...entry("k"), explicitHashKey: "007" }])
        expect(hashKey.message).toContain("Invalid ExplicitHashKey")
        for (const error of [tooMany, tooBig, request, hashKey]) expect(error.retryable).toBe(false)
        expect((yield* Effect.flip(kinesis.listShards("nope"))).message).toBe("Kinesis stream nope does not exist at in-memory Kinesis; create it or fix KINESIS_STREAM")
        expect((yield* Effect.flip(kinesis.getRecords("garbage"))).message).toBe(
          "Kinesis GetRecords on the shard iterator's stream at in-memory Kinesis failed (InvalidArgumentException: Invalid ShardIterator garbage.)"
        )
        expect((yield* Effect.flip(kinesis.getShardIterator("s", "shardId-000000000000", { afterSequenceNumber: "12" }))).message).toContain(
          "StartingSequenceNumber 12 used in GetShardIterator on shard shardId-000000000000 in stream s under account 000000000000 is invalid."
        )
      })
    )
  )

  it.effect("a stream declared with a bad name or shard count is a defect when the layer is built", () =>
    Effect.gen(function* () {
      for (const streams of [{ s: 0 }, { s: 1.5 }, { "bad name": 1 }]) {
        const exit = yield* Effect.exit(Layer.build(Kinesis.layerTest({ streams })).pipe(Effect.scoped))
        expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(true)
      }
    })
  )
})
