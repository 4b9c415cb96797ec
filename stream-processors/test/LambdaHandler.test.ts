/**
 * The Lambda driver (pure, no AWS): events built here as a Kinesis event source mapping
 * sends them, handlers are stubs recording what they were handed.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Logger, Schema } from "effect"
import {
  groupByShard,
  type KinesisStreamEvent,
  makeKinesisLambdaHandler,
  type MicroBatch,
  pageByPage,
  type PageResult,
  partiallyFailed,
  processed,
  type ShardPage
} from "../src/index.ts"

const SHARD_A = "shardId-000000000000"
const SHARD_B = "shardId-000000000001"

const seq = (shard: string, n: number) => `4965${shard.slice(-1)}${String(n).padStart(50, "0")}`

/** A Kinesis event record of `shard` number `n`, its data `<shard>#<n>`. */
const eventRecord = (shard: string, n: number) => ({
  eventSource: "aws:kinesis",
  eventID: `${shard}:${seq(shard, n)}`,
  eventName: "aws:kinesis:record",
  kinesis: {
    kinesisSchemaVersion: "1.0",
    partitionKey: `key-${n}`,
    sequenceNumber: seq(shard, n),
    data: Buffer.from(`${shard}#${n}`).toString("base64"),
    approximateArrivalTimestamp: 1708689600.25 + n
  }
})

const event = (...records: Array<ReturnType<typeof eventRecord>>): KinesisStreamEvent => ({ Records: records })

class HandlerFailed extends Schema.TaggedError<HandlerFailed>()("HandlerFailed", { message: Schema.String }) {}

/** Services for the handler, counting how often the layer is built. */
class Calls extends Context.Service<Calls, { readonly microBatches: Array<MicroBatch> }>()("test/Calls") {}

const quiet = Logger.layer([])

/** A handler answering each page with `answer`, recording every micro-batch it is handed. */
const setup = (answer: (page: ShardPage) => Effect.Effect<PageResult<HandlerFailed>, HandlerFailed>) => {
  let builds = 0
  const microBatches: Array<MicroBatch> = []
  const layer = Layer.mergeAll(
    Layer.effect(
      Calls,
      Effect.sync(() => {
        builds += 1
        return Calls.of({ microBatches })
      })
    ),
    quiet
  )
  const handler = makeKinesisLambdaHandler(
    (pages: MicroBatch) =>
      Effect.gen(function* () {
        const calls = yield* Calls
        calls.microBatches.push(pages)
        return yield* pageByPage(answer)(pages)
      }),
    layer
  )
  return { handler, microBatches, builds: () => builds }
}

describe("makeKinesisLambdaHandler", () => {
  it("hands an invocation to the handler as one micro-batch of one page per shard, in event order, with decoded bytes and arrival times", async () => {
    const { handler, microBatches } = setup(() => Effect.succeed(processed))
    const response = await handler(event(eventRecord(SHARD_A, 1), eventRecord(SHARD_B, 1), eventRecord(SHARD_A, 2), eventRecord(SHARD_B, 2), eventRecord(SHARD_A, 3)))
    expect(response).toEqual({ batchItemFailures: [] })
    expect(microBatches.length).toBe(1)
    const byShard = new Map(microBatches[0]!.map((page) => [page.shardId, page.records]))
    expect([...byShard.keys()].sort()).toEqual([SHARD_A, SHARD_B])
    expect(byShard.get(SHARD_A)!.map((r) => Buffer.from(r.data).toString())).toEqual([`${SHARD_A}#1`, `${SHARD_A}#2`, `${SHARD_A}#3`])
    expect(byShard.get(SHARD_B)!.map((r) => r.sequenceNumber)).toEqual([seq(SHARD_B, 1), seq(SHARD_B, 2)])
    const first = byShard.get(SHARD_A)![0]!
    expect(first).toMatchObject({ shardId: SHARD_A, partitionKey: "key-1", sequenceNumber: seq(SHARD_A, 1) })
    expect(first.approximateArrivalTimestamp?.toISOString()).toBe("2024-02-23T12:00:01.250Z")
  })

  it("reports the first failed record of a partially failed shard, and nothing for a processed one", async () => {
    const { handler } = setup((batch) => Effect.succeed(batch.shardId === SHARD_A ? partiallyFailed(seq(SHARD_A, 2)) : processed))
    const response = await handler(event(eventRecord(SHARD_A, 1), eventRecord(SHARD_A, 2), eventRecord(SHARD_A, 3), eventRecord(SHARD_B, 1)))
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: seq(SHARD_A, 2) }] })
  })

  it("reports a shard's first record when its handler fails with a typed error or a defect, or names a record not in the batch", async () => {
    const failing = setup((batch) =>
      batch.shardId === SHARD_A ? Effect.fail(new HandlerFailed({ message: "warehouse down" })) : Effect.succeed(partiallyFailed(seq(SHARD_B, 3)))
    )
    expect(await failing.handler(event(eventRecord(SHARD_A, 4), eventRecord(SHARD_A, 5), eventRecord(SHARD_B, 2), eventRecord(SHARD_B, 3)))).toEqual({
      batchItemFailures: [{ itemIdentifier: seq(SHARD_A, 4) }, { itemIdentifier: seq(SHARD_B, 3) }]
    })
    const dying = setup(() => Effect.die(new Error("bug")))
    expect(await dying.handler(event(eventRecord(SHARD_B, 7), eventRecord(SHARD_B, 8)))).toEqual({ batchItemFailures: [{ itemIdentifier: seq(SHARD_B, 7) }] })
    const confused = setup(() => Effect.succeed(partiallyFailed("12345")))
    expect(await confused.handler(event(eventRecord(SHARD_A, 1), eventRecord(SHARD_A, 2)))).toEqual({ batchItemFailures: [{ itemIdentifier: seq(SHARD_A, 1) }] })
  })

  it("builds the layer once per container, across invocations", async () => {
    const { handler, builds, microBatches } = setup(() => Effect.succeed(processed))
    await handler(event(eventRecord(SHARD_A, 1)))
    await handler(event(eventRecord(SHARD_A, 2)))
    await handler(event())
    expect(builds()).toBe(1)
    expect(microBatches.map((pages) => pages.length)).toEqual([1, 1, 0])
  })

  it("rejects the invocation when the layer cannot be built, and builds it afresh on the next one", async () => {
    let attempts = 0
    const layer = Layer.mergeAll(
      Layer.effect(
        Calls,
        Effect.suspend(() => {
          attempts += 1
          return attempts === 1 ? Effect.fail(new HandlerFailed({ message: "no credentials yet" })) : Effect.succeed(Calls.of({ microBatches: [] }))
        })
      ),
      quiet
    )
    const handler = makeKinesisLambdaHandler((pages: MicroBatch) => Effect.as(Calls, pages.map(() => processed)), layer)
    await expect(handler(event(eventRecord(SHARD_A, 1)))).rejects.toThrow("no credentials yet")
    expect(await handler(event(eventRecord(SHARD_A, 1)))).toEqual({ batchItemFailures: [] })
    expect(attempts).toBe(2)
  })

  it("rejects a malformed event instead of guessing", async () => {
    const { handler, microBatches } = setup(() => Effect.succeed(processed))
    const bad = { Records: [{ eventID: `${SHARD_A}:1`, kinesis: { partitionKey: "k", sequenceNumber: "1" } }] } as unknown as KinesisStreamEvent
    await expect(handler(bad)).rejects.toThrow()
    expect(microBatches).toEqual([])
  })
})

describe("groupByShard", () => {
  it("keeps event order inside each shard and shards in order of first appearance", () => {
    const r = (shardId: string, sequenceNumber: string) => ({ shardId, sequenceNumber, partitionKey: "k", data: new Uint8Array() })
    const groups = groupByShard([r("b", "1"), r("a", "1"), r("b", "2"), r("a", "2"), r("b", "3")])
    expect(groups.map((g) => [g.shardId, g.records.map((x) => x.sequenceNumber)])).toEqual([
      ["b", ["1", "2", "3"]],
      ["a", ["1", "2"]]
    ])
  })
})
