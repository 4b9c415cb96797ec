/**
 * The poller's windows in time, on the in-memory Kinesis and S3 (platform's `layerTest`)
 * and the TestClock: a window that does not fill closes exactly `maxWaitMs` after its first
 * page — not a millisecond before — and a page of every shard closes it at once. No real
 * time passes: the test moves the clock.
 */
import { describe, expect, it } from "@effect/vitest"
import { hashKeyOf, shardFor } from "@totes-cdc/core"
import { Kinesis, S3 } from "@totes-cdc/platform"
import { Effect, Fiber, Layer, Logger, Result } from "effect"
import { TestClock } from "effect/testing"
import { CheckpointStore, defaultPollerConfig, type MicroBatchHandler, type MicroBatchWindow, processed, runShardPoller } from "../src/index.ts"

const STREAM = "window-clock"
const BUCKET = "ingestion"
const WINDOW: MicroBatchWindow = { maxBytes: Number.POSITIVE_INFINITY, maxWaitMs: 60_000, closeWhenEveryShard: true, closeOnFullPage: false }

/** Fresh in-memory services per test: a 2-shard stream, the checkpoints' bucket. */
const services = () =>
  Layer.mergeAll(
    Kinesis.layerTest({ streams: { [STREAM]: 2 } }),
    CheckpointStore.layer({ bucket: BUCKET }).pipe(Layer.provideMerge(S3.layerTest({ buckets: [BUCKET] }))),
    Logger.layer([])
  )

/** Yields until `done` holds: on in-memory services the poller's fibers need turns, not time. */
const settle = (done: () => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; i < 10_000 && !done(); i++) yield* Effect.yieldNow
    expect(done()).toBe(true)
  })

/** Puts one record on each of `shardIds` (the fake routes partition keys by MD5 like Kinesis: core's sharding). */
const putOnShards = (shardIds: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const shards = yield* kinesis.listShards(STREAM)
    const keyOf = new Map<string, string>()
    for (let i = 0; keyOf.size < shardIds.length && i < 1_000; i++) {
      const shardId = Result.getOrThrow(shardFor(hashKeyOf(`key-${i}`), shards)).shardId
      if (shardIds.includes(shardId) && !keyOf.has(shardId)) keyOf.set(shardId, `key-${i}`)
    }
    for (const key of keyOf.values()) yield* kinesis.putRecords(STREAM, [{ partitionKey: key, data: new TextEncoder().encode(key) }])
    return keyOf
  })

/** A poller over STREAM recording each micro-batch's shards. */
const startPoller = (microBatches: Array<ReadonlyArray<string>>) => {
  const handler: MicroBatchHandler<never, never> = (pages) =>
    Effect.sync(() => {
      microBatches.push(pages.map((page) => page.shardId).sort())
      return pages.map(() => processed)
    })
  return Effect.forkChild(runShardPoller({ ...defaultPollerConfig("clock", STREAM), idleMs: 200, shardRefreshMs: 600_000, window: WINDOW }, handler))
}

describe("micro-batch windows on the TestClock", () => {
  it.effect("a window holding one page of two shards closes 60 s after that page, not before", () =>
    Effect.gen(function* () {
      const shards = (yield* (yield* Kinesis).listShards(STREAM)).map((shard) => shard.shardId)
      yield* putOnShards([shards[0]!])
      const microBatches: Array<ReadonlyArray<string>> = []
      const poller = yield* startPoller(microBatches)
      // Let the shards read: one page waits in the window, the other shard polls and idles (on the TestClock).
      for (let i = 0; i < 1_000; i++) yield* Effect.yieldNow
      yield* TestClock.adjust("59999 millis")
      expect(microBatches).toEqual([])
      yield* TestClock.adjust("1 millis")
      yield* settle(() => microBatches.length === 1)
      expect(microBatches).toEqual([[shards[0]]])
      yield* Fiber.interrupt(poller)
    }).pipe(Effect.provide(services()))
  )

  it.effect("a page of every shard closes the window at once, with no time passing", () =>
    Effect.gen(function* () {
      const shards = (yield* (yield* Kinesis).listShards(STREAM)).map((shard) => shard.shardId)
      const keyOf = yield* putOnShards(shards)
      expect(keyOf.size).toBe(2)
      const microBatches: Array<ReadonlyArray<string>> = []
      const poller = yield* startPoller(microBatches)
      yield* settle(() => microBatches.length === 1)
      expect(microBatches).toEqual([[...shards].sort()])
      yield* Fiber.interrupt(poller)
    }).pipe(Effect.provide(services()))
  )
})
