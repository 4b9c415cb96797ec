/**
 * The local poller on kinesalite + s3rver: every test has its own stream and consumer
 * name, writes records whose data says which they are, and runs the poller with a
 * recording handler. Oracles are what PutRecords answered (shard + sequence number of
 * every record), never the poller's own bookkeeping.
 */
import { type KinesisClient, SplitShardCommand } from "@aws-sdk/client-kinesis"
import { describe, expect, it, layer } from "@effect/vitest"
import { LocalStack, createKinesisStream } from "@totes-cdc/local-stack"
import { Kinesis, type KinesisShard, makeKinesisClient, S3, type S3Error } from "@totes-cdc/platform"
import { Cause, Deferred, Effect, Fiber, Layer, Logger, Option, Schedule, Schema } from "effect"
import {
  type Checkpoint,
  type CheckpointError,
  CheckpointStore,
  defaultPollerConfig,
  emptyWindow,
  joinWindow,
  type MicroBatchWindow,
  type OpenWindow,
  windowIsDue,
  nextPageLimit,
  partiallyFailed,
  type PollerConfig,
  type MicroBatchHandler,
  pageByPage,
  type PageResult,
  processed,
  runShardPoller,
  type ShardPage,
  startableShards
} from "../src/index.ts"

// ---------------------------------------------------------------------------------------
// Pure: which shards may start.

const shard = (shardId: string, parents: { parentShardId?: string; adjacentParentShardId?: string } = {}): KinesisShard => ({
  shardId,
  startingHashKey: 0n,
  endingHashKey: 1n,
  open: true,
  ...parents
})

describe("startableShards", () => {
  it("holds a child back until every listed parent has ended; a parent no longer listed holds nothing back", () => {
    const shards = [
      shard("s0"),
      shard("s1"),
      shard("s2", { parentShardId: "s0" }),
      shard("s3", { parentShardId: "s0" }),
      shard("s4", { parentShardId: "s1", adjacentParentShardId: "s2" }),
      shard("s5", { parentShardId: "trimmed" })
    ]
    const ids = (ended: Array<string>, running: Array<string>) => startableShards(shards, new Set(ended), new Set(running)).map((s) => s.shardId)
    expect(ids([], [])).toEqual(["s0", "s1", "s5"])
    expect(ids([], ["s0", "s1", "s5"])).toEqual([])
    expect(ids(["s0"], ["s1", "s5"])).toEqual(["s2", "s3"])
    expect(ids(["s0", "s1"], ["s2", "s3", "s5"])).toEqual([]) // merge child waits for its adjacent parent too
    expect(ids(["s0", "s1", "s2"], ["s3", "s5"])).toEqual(["s4"])
  })
})

// ---------------------------------------------------------------------------------------
// On the local stack.

/** What PutRecords answered for one record: where it is, and its number `n` (also in its data). */
interface Written {
  readonly n: number
  readonly shardId: string
  readonly sequenceNumber: string
}

/** One handler call as the handler saw it; `order` numbers calls across shards. */
interface Call {
  readonly order: number
  readonly shardId: string
  readonly sequenceNumbers: ReadonlyArray<string>
  readonly ns: ReadonlyArray<number>
}

const Payload = Schema.fromJsonString(Schema.Struct({ n: Schema.Number }))
const decodePayload = Schema.decodeUnknownSync(Payload)

const quiet = Logger.layer([])

/** Sends `command` with a Kinesis client of the stack (the SDK's own calls the service does not have). */
const sendKinesis = <A>(send: (client: KinesisClient) => Promise<A>) =>
  Effect.gen(function* () {
    const stack = yield* LocalStack
    return yield* Effect.acquireUseRelease(
      Effect.sync(() => makeKinesisClient(stack.kinesis)),
      (client) => Effect.promise(() => send(client)),
      (client) => Effect.sync(() => client.destroy())
    )
  })

/** A fresh stream `name` with `shards` shards, once ACTIVE. */
const createStream = (name: string, shards: number) =>
  LocalStack.pipe(Effect.flatMap((stack) => createKinesisStream(stack.kinesis, name, shards)))

/** Writes records numbered `from` … `from + count − 1` (partition keys over 16 keys) in calls of 100. */
const writeRecords = (stream: string, from: number, count: number) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const written: Array<Written> = []
    for (let start = from; start < from + count; start += 100) {
      const ns = Array.from({ length: Math.min(100, from + count - start) }, (_, i) => start + i)
      const results = yield* kinesis.putRecords(
        stream,
        ns.map((n) => ({ partitionKey: `key-${n % 16}`, data: new TextEncoder().encode(JSON.stringify({ n })) }))
      )
      results.forEach((result, i) => {
        if (result._tag !== "Written") throw new Error(`record ${ns[i]} not written: ${result.errorCode}`)
        written.push({ n: ns[i]!, shardId: result.shardId, sequenceNumber: result.sequenceNumber })
      })
    }
    return written
  })

/** Per shard, the numbers of `written` in shard (sequence number) order. */
const byShard = (written: ReadonlyArray<Written>) => {
  const out = new Map<string, Array<number>>()
  for (const w of [...written].sort((a, b) => (BigInt(a.sequenceNumber) < BigInt(b.sequenceNumber) ? -1 : 1))) {
    out.set(w.shardId, [...(out.get(w.shardId) ?? []), w.n])
  }
  return out
}

/** Per shard, the numbers handed over by `calls`, in call order. */
const deliveredByShard = (calls: ReadonlyArray<Call>) => {
  const out = new Map<string, Array<number>>()
  for (const call of calls) out.set(call.shardId, [...(out.get(call.shardId) ?? []), ...call.ns])
  return out
}

const sortedEntries = (map: ReadonlyMap<string, ReadonlyArray<number>>) => [...map].sort(([a], [b]) => a.localeCompare(b))

/** A handler recording every page it is handed into `calls`, answering each with `answer` (default: Processed). */
const recording = <E = never, R = never>(
  calls: Array<Call>,
  answer: (batch: ShardPage, call: Call) => Effect.Effect<PageResult<E>, E, R> = () => Effect.succeed(processed)
): MicroBatchHandler<E, R> =>
  pageByPage((batch) =>
    Effect.suspend(() => {
      const call: Call = {
        order: calls.length,
        shardId: batch.shardId,
        sequenceNumbers: batch.records.map((r) => r.sequenceNumber),
        ns: batch.records.map((r) => decodePayload(Buffer.from(r.data).toString("utf8")).n)
      }
      calls.push(call)
      return answer(batch, call)
    })
  )

/** Polls `check` every 25 ms until true (up to 60 s); fails at once if `fiber` fails first. */
const waitUntil = <E, R, PE>(check: Effect.Effect<boolean, E, R>, fiber: Fiber.Fiber<never, PE>) =>
  Effect.raceFirst(
    check.pipe(Effect.repeat({ until: (ok) => ok, schedule: Schedule.spaced("25 millis") }), Effect.timeout("60 seconds"), Effect.asVoid),
    Fiber.join(fiber)
  )

const countOf = (calls: ReadonlyArray<Call>) => calls.reduce((sum, call) => sum + call.ns.length, 0)

const config = (name: string, overrides: Partial<PollerConfig> = {}): PollerConfig => ({
  ...defaultPollerConfig(`consumer-${name}`, name),
  batchSize: 25,
  // Pages of exactly `batchSize` records (these tests are about batch boundaries, not page bytes).
  pageBytes: 1024 * 1024 * 1024,
  idleMs: 20,
  shardRefreshMs: 200,
  ...overrides
})

/** The checkpoint of `consumer` in every shard of `stream`. */
const checkpoints = (consumer: string, stream: string) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const store = yield* CheckpointStore
    const out = new Map<string, Option.Option<Checkpoint>>()
    for (const s of yield* kinesis.listShards(stream)) out.set(s.shardId, yield* store.get(consumer, s.shardId))
    return out
  })

/** The checkpointed sequence number of `consumer` in each shard of `stream` that has one. */
const checkpointedSequences = (consumer: string, stream: string) =>
  checkpoints(consumer, stream).pipe(
    Effect.map((cps) => {
      const out = new Map<string, string | null>()
      for (const [shardId, cp] of cps) if (Option.isSome(cp)) out.set(shardId, cp.value.sequenceNumber)
      return out
    })
  )

/** The sequence number of the last of `written` in each shard. */
const lastWritten = (written: ReadonlyArray<Written>) => {
  const out = new Map<string, string>()
  for (const w of written) if (!out.has(w.shardId) || BigInt(w.sequenceNumber) > BigInt(out.get(w.shardId)!)) out.set(w.shardId, w.sequenceNumber)
  return out
}

const services = Layer.unwrap(
  Effect.gen(function* () {
    const stack = yield* LocalStack
    return Layer.mergeAll(
      Kinesis.layer(stack.kinesis),
      CheckpointStore.layer({ bucket: stack.s3.buckets.ingestion }).pipe(Layer.provideMerge(S3.layer(stack.s3))),
      quiet
    )
  })
)

layer(Layer.provideMerge(services, LocalStack.layer()), { excludeTestServices: true })("ShardPoller on kinesalite + s3rver", (it) => {
  it.effect("hands a page of every shard over in one micro-batch as soon as the window holds them, not after its ten-minute wait", () =>
    Effect.gen(function* () {
      const name = "window"
      yield* createStream(name, 2)
      const written = yield* writeRecords(name, 0, 40)
      expect(new Set(written.map((w) => w.shardId)).size).toBe(2)
      const calls: Array<Call> = []
      const microBatches: Array<ReadonlyArray<string>> = []
      const pages = recording(calls)
      const handler: MicroBatchHandler<never, never> = (batch) =>
        Effect.sync(() => void microBatches.push(batch.map((page) => page.shardId))).pipe(Effect.andThen(pages(batch)))
      const window = { maxBytes: Number.POSITIVE_INFINITY, maxWaitMs: 600_000, closeWhenEveryShard: true, closeOnFullPage: false }
      // Pages of up to 100 records: each shard's records come in its first page.
      const fiber = yield* Effect.forkChild(runShardPoller(config(name, { window, batchSize: 100 }), handler))
      yield* waitUntil(Effect.sync(() => countOf(calls) >= written.length), fiber)
      yield* Fiber.interrupt(fiber)
      expect(microBatches.map((shards) => [...shards].sort())).toEqual([[...new Set(written.map((w) => w.shardId))].sort()])
      expect(sortedEntries(deliveredByShard(calls))).toEqual(sortedEntries(byShard(written)))
    })
  )

  it.effect("hands every record over exactly once, in shard order, in batches of at most batchSize, and checkpoints each shard's last record", () =>
    Effect.gen(function* () {
      const name = "once-in-order"
      yield* createStream(name, 2)
      const written = yield* writeRecords(name, 0, 300)
      const calls: Array<Call> = []
      const cfg = config(name)
      const fiber = yield* Effect.forkChild(runShardPoller(cfg, recording(calls)))
      yield* waitUntil(Effect.sync(() => countOf(calls) >= written.length), fiber)
      yield* Fiber.interrupt(fiber)
      expect(byShard(written).size).toBe(2)
      expect(sortedEntries(deliveredByShard(calls))).toEqual(sortedEntries(byShard(written)))
      expect(calls.every((call) => call.ns.length >= 1 && call.ns.length <= cfg.batchSize)).toBe(true)
      // A completed batch is checkpointed even when the poller is stopped right after it; open shards are not ended.
      expect(yield* checkpointedSequences(cfg.consumer, name)).toEqual(lastWritten(written))
      const cps = yield* checkpoints(cfg.consumer, name)
      expect([...cps.values()].map((cp) => Option.getOrUndefined(cp)?.shardEnded)).toEqual([false, false])
    })
  )

  it.effect("a poller restarted mid-stream resumes after its checkpoints: no checkpointed batch is skipped or handed over again", () =>
    Effect.gen(function* () {
      const name = "restart"
      yield* createStream(name, 2)
      const written = yield* writeRecords(name, 0, 400)
      const cfg = config(name, { batchSize: 10 })

      // First run: after 8 completed batches every further batch hangs in the handler, so
      // the stop lands mid-stream, with batches in flight.
      const first: Array<Call> = []
      const stuck = yield* Deferred.make<void>()
      const firstRun = yield* Effect.forkChild(
        runShardPoller(
          cfg,
          (batch) =>
            first.length >= 8 ? Deferred.succeed(stuck, undefined).pipe(Effect.andThen(Effect.never)) : recording(first)(batch)
        )
      )
      yield* Effect.raceFirst(Deferred.await(stuck), Fiber.join(firstRun))
      yield* Fiber.interrupt(firstRun)
      expect(countOf(first)).toBe(80)

      // Every batch the first run completed is checkpointed: each shard's checkpoint is the last record it handed over.
      const atStop = yield* checkpoints(cfg.consumer, name)
      const handed = deliveredByShard(first)
      const expected = byShard(written)
      for (const [shardId, cp] of atStop) {
        const lastHanded = first.filter((c) => c.shardId === shardId).at(-1)?.sequenceNumbers.at(-1)
        expect(Option.getOrUndefined(cp)?.sequenceNumber, shardId).toBe(lastHanded)
      }

      // Second run: picks up right after the checkpoints.
      const second: Array<Call> = []
      const secondRun = yield* Effect.forkChild(runShardPoller(cfg, recording(second)))
      yield* waitUntil(Effect.sync(() => countOf(first) + countOf(second) >= written.length), secondRun)
      yield* Fiber.interrupt(secondRun)
      const resumed = deliveredByShard(second)
      for (const [shardId, ns] of expected) {
        const before = handed.get(shardId) ?? []
        expect(before, `first run on ${shardId} is a prefix`).toEqual(ns.slice(0, before.length))
        expect(resumed.get(shardId), `second run on ${shardId} starts after the checkpoint`).toEqual(ns.slice(before.length))
      }
      expect(countOf(first) + countOf(second)).toBe(written.length)
    })
  )

  it.effect("reads a shard's next page while its handler works on a full one (the shard is behind), and hands it over only after the current one is checkpointed", () =>
    Effect.gen(function* () {
      const name = "read-ahead"
      yield* createStream(name, 1)
      const written = yield* writeRecords(name, 0, 100)
      const cfg = config(name, { batchSize: 25 })
      const kinesis = yield* Kinesis
      // The poller's Kinesis, counting GetRecords calls: the second call is the read-ahead.
      let reads = 0
      const secondRead = yield* Deferred.make<void>()
      const counting = Kinesis.of({
        ...kinesis,
        getRecords: (iterator, limit) =>
          Effect.suspend(() => (++reads === 2 ? Deferred.succeed(secondRead, undefined) : Effect.void)).pipe(Effect.andThen(kinesis.getRecords(iterator, limit)))
      })
      const calls: Array<Call> = []
      const seen: Array<{ readAheadWhileHandling: boolean; checkpointAtStart: string | null | undefined }> = []
      const store = yield* CheckpointStore
      const fiber = yield* Effect.forkChild(
        runShardPoller(
          cfg,
          recording(calls, (batch) =>
            Effect.gen(function* () {
              const checkpoint = Option.getOrUndefined(yield* store.get(cfg.consumer, batch.shardId))?.sequenceNumber
              // The first batch waits for the second GetRecords: it only comes while this handler runs if the poller reads ahead.
              const readAheadWhileHandling = seen.length > 0 || Option.isSome(yield* Deferred.await(secondRead).pipe(Effect.timeoutOption("20 seconds")))
              seen.push({ readAheadWhileHandling, checkpointAtStart: checkpoint })
              return processed
            })
          )
        ).pipe(Effect.provideService(Kinesis, counting))
      )
      // `recording` notes a call before its handler runs: wait for every handler to have finished too.
      yield* waitUntil(Effect.sync(() => countOf(calls) >= written.length && seen.length === calls.length), fiber)
      yield* Fiber.interrupt(fiber)
      expect(seen[0]!.readAheadWhileHandling).toBe(true)
      // Each batch after the first starts with the previous batch's last record checkpointed.
      expect(seen.map((s) => s.checkpointAtStart)).toEqual([undefined, ...calls.slice(0, -1).map((call) => call.sequenceNumbers.at(-1))])
      expect(deliveredByShard(calls).get(calls[0]!.shardId)).toEqual(written.map((w) => w.n))
    })
  )

  it.effect("reads a caught-up shard again as soon as its page is answered: records put while the page was handled come without waiting idleMs", () =>
    Effect.gen(function* () {
      const name = "caught-up"
      yield* createStream(name, 1)
      yield* writeRecords(name, 0, 5)
      const calls: Array<Call> = []
      const fiber = yield* Effect.forkChild(
        runShardPoller(
          // Pages of up to 100 records (the first is not full: the shard is caught up), and ten minutes
          // between reads of a shard that had nothing: only a read right after the answer delivers the rest in time.
          config(name, { batchSize: 100, idleMs: 600_000 }),
          recording(calls, () => (calls.length === 1 ? writeRecords(name, 5, 5).pipe(Effect.as(processed)) : Effect.succeed(processed)))
        )
      )
      yield* waitUntil(Effect.sync(() => countOf(calls) >= 10), fiber)
      yield* Fiber.interrupt(fiber)
      expect(calls.flatMap((call) => call.ns)).toEqual(Array.from({ length: 10 }, (_, n) => n))
    })
  )

  it.effect("hands a batch whose handler fails twice over again until it succeeds: nothing skipped, order kept", () =>
    Effect.gen(function* () {
      const name = "retry"
      yield* createStream(name, 2)
      const written = yield* writeRecords(name, 0, 200)
      const calls: Array<Call> = []
      let failing: string | undefined
      let failures = 0
      const handler = recording(calls, (_batch, call): Effect.Effect<PageResult, Error> => {
        // The third call's batch fails on its first two hand-overs.
        if (call.order === 2) failing = call.sequenceNumbers[0]
        if (call.sequenceNumbers[0] === failing && failures < 2) {
          failures += 1
          return Effect.fail(new Error(`transient failure ${failures}`))
        }
        return Effect.succeed(processed)
      })
      const cfg = config(name)
      const fiber = yield* Effect.forkChild(runShardPoller(cfg, handler))
      yield* waitUntil(Effect.sync(() => countOf(calls) >= written.length + 2 * cfg.batchSize), fiber)
      yield* Fiber.interrupt(fiber)
      expect(yield* checkpointedSequences(cfg.consumer, name)).toEqual(lastWritten(written))
      expect(failures).toBe(2)
      const attempts = calls.filter((call) => call.sequenceNumbers[0] === failing)
      expect(attempts.length).toBe(3)
      expect(attempts[1]!.ns).toEqual(attempts[0]!.ns)
      expect(attempts[2]!.ns).toEqual(attempts[0]!.ns)
      // On the failing shard nothing moved on until the batch succeeded.
      const shardId = attempts[0]!.shardId
      const onShard = calls.filter((call) => call.shardId === shardId)
      const firstAttempt = onShard.indexOf(attempts[0]!)
      expect(onShard.slice(firstAttempt, firstAttempt + 3)).toEqual(attempts)
      // Successful hand-overs = every record once, in order.
      const succeeded = calls.filter((call) => !(attempts.slice(0, 2) as ReadonlyArray<Call>).includes(call))
      expect(sortedEntries(deliveredByShard(succeeded))).toEqual(sortedEntries(byShard(written)))
    })
  )

  it.effect("stops with the handler's error once maxPageRetries is exhausted, and dies at once on a handler defect; neither checkpoints the batch", () =>
    Effect.gen(function* () {
      const name = "give-up"
      yield* createStream(name, 1)
      yield* writeRecords(name, 0, 30)
      const calls: Array<Call> = []
      const cfg = config(name, { maxPageRetries: 2 })
      const error = yield* Effect.flip(runShardPoller(cfg, recording(calls, () => Effect.fail(new Error("warehouse refuses")))))
      expect(error).toMatchObject({ message: "warehouse refuses" })
      expect(calls.map((call) => call.ns)).toEqual([calls[0]!.ns, calls[0]!.ns, calls[0]!.ns])
      expect(yield* checkpointedSequences(cfg.consumer, name)).toEqual(new Map())

      const dying: Array<Call> = []
      const exit = yield* Effect.exit(runShardPoller(config(name, { consumer: "dying" }), recording(dying, () => Effect.die("bug"))))
      expect(exit._tag === "Failure" && Cause.hasDies(exit.cause)).toBe(true)
      expect(dying.length).toBe(1)
      expect(yield* checkpointedSequences("dying", name)).toEqual(new Map())
    })
  )

  it.effect("PartiallyFailed checkpoints the record before the failed one and hands the batch over again from the failed record", () =>
    Effect.gen(function* () {
      const name = "partial"
      yield* createStream(name, 2)
      const written = yield* writeRecords(name, 0, 200)
      const expected = byShard(written)
      const [shardId, ns] = sortedEntries(expected)[0]!
      const bySeq = new Map(written.map((w) => [w.n, w.sequenceNumber]))
      // Inside the second batch of that shard (batches of 25).
      const failedN = ns[33]!
      const failedSeq = bySeq.get(failedN)!
      const calls: Array<Call> = []
      const results: Array<{ call: Call; result: PageResult }> = []
      let checkpointAtRetry: Option.Option<Checkpoint> | undefined
      let failedOnce = false
      const handler = recording(calls, (_batch, call) =>
        Effect.gen(function* (): Effect.fn.Return<PageResult, CheckpointError | S3Error, CheckpointStore> {
          let result: PageResult = processed
          if (call.sequenceNumbers.includes(failedSeq) && !failedOnce) {
            failedOnce = true
            result = partiallyFailed(failedSeq)
          } else if (failedOnce && checkpointAtRetry === undefined && call.shardId === shardId) {
            checkpointAtRetry = yield* (yield* CheckpointStore).get(cfg.consumer, shardId)
          }
          results.push({ call, result })
          return result
        })
      )
      const cfg = config(name)
      const fiber = yield* Effect.forkChild(runShardPoller(cfg, handler))
      // Everything once, plus the records from the failed one to the end of its batch once more.
      yield* waitUntil(Effect.sync(() => countOf(calls) >= written.length + (50 - 33)), fiber)
      yield* Fiber.interrupt(fiber)
      expect(yield* checkpointedSequences(cfg.consumer, name)).toEqual(lastWritten(written))
      const onShard = results.filter((r) => r.call.shardId === shardId)
      const failedAt = onShard.findIndex((r) => r.result._tag === "PartiallyFailed")
      expect(failedAt).toBe(1)
      // The next hand-over starts at the failed record; the checkpoint then is the record before it.
      expect(onShard[failedAt + 1]!.call.ns[0]).toBe(failedN)
      expect(Option.getOrUndefined(checkpointAtRetry!)?.sequenceNumber).toBe(bySeq.get(ns[32]!))
      // Processed = Processed batches whole + the part before the failed record: every record once, in order.
      const processedNs = new Map<string, Array<number>>()
      for (const { call, result } of results) {
        const upTo = result._tag === "Processed" ? call.ns.length : result._tag === "PartiallyFailed" ? call.sequenceNumbers.indexOf(result.firstFailedSequenceNumber) : 0
        processedNs.set(call.shardId, [...(processedNs.get(call.shardId) ?? []), ...call.ns.slice(0, upTo)])
      }
      expect(sortedEntries(processedNs)).toEqual(sortedEntries(expected))
    })
  )

  it.effect("after a split, hands every record of the parent over before any record of its children, and marks the parent ended", () =>
    Effect.gen(function* () {
      const name = "reshard"
      const kinesis = yield* Kinesis
      yield* createStream(name, 2)
      const calls: Array<Call> = []
      const cfg = config(name, { batchSize: 10, shardRefreshMs: 100 })
      const [parent] = yield* kinesis.listShards(name)
      // The parent's batches wait in the handler until the split is done and the children hold records.
      const release = yield* Deferred.make<void>()
      const parentBlocked = yield* Deferred.make<void>()
      const handler = recording(calls, (batch) =>
        batch.shardId === parent!.shardId
          ? Deferred.succeed(parentBlocked, undefined).pipe(Effect.andThen(Deferred.await(release)), Effect.as(processed))
          : Effect.succeed(processed)
      )
      const fiber = yield* Effect.forkChild(runShardPoller(cfg, handler))
      const before = yield* writeRecords(name, 0, 200)
      yield* Effect.raceFirst(Deferred.await(parentBlocked), Fiber.join(fiber))

      const middle = (parent!.startingHashKey + parent!.endingHashKey + 1n) / 2n
      yield* sendKinesis((client) =>
        client.send(new SplitShardCommand({ StreamName: name, ShardToSplit: parent!.shardId, NewStartingHashKey: middle.toString() }))
      )
      yield* waitUntil(kinesis.listShards(name).pipe(Effect.map((shards) => shards.length === 4)), fiber)
      const shards = yield* kinesis.listShards(name)
      const children = shards.filter((s) => s.parentShardId === parent!.shardId)
      expect(children.map((c) => [c.startingHashKey, c.endingHashKey])).toEqual([
        [parent!.startingHashKey, middle - 1n],
        [middle, parent!.endingHashKey]
      ])
      expect(shards.find((s) => s.shardId === parent!.shardId)!.open).toBe(false)

      const after = yield* writeRecords(name, 200, 200)
      const written = [...before, ...after]
      const childIds = new Set(children.map((c) => c.shardId))
      expect(new Set(after.filter((w) => childIds.has(w.shardId)).map((w) => w.shardId)).size).toBe(2)
      expect(after.some((w) => w.shardId === parent!.shardId)).toBe(false)

      yield* Deferred.succeed(release, undefined)
      yield* waitUntil(Effect.sync(() => countOf(calls) >= written.length), fiber)
      const lastParentCall = calls.findLast((c) => c.shardId === parent!.shardId)!.order
      const firstChildCall = calls.find((c) => childIds.has(c.shardId))!.order
      expect(lastParentCall).toBeLessThan(firstChildCall)
      yield* Fiber.interrupt(fiber)
      expect(sortedEntries(deliveredByShard(calls))).toEqual(sortedEntries(byShard(written)))
      expect(Option.getOrUndefined(yield* (yield* CheckpointStore).get(cfg.consumer, parent!.shardId))).toEqual({
        sequenceNumber: before.filter((w) => w.shardId === parent!.shardId).at(-1)!.sequenceNumber,
        shardEnded: true
      })
    })
  )

  it.effect("CheckpointStore: a stored checkpoint reads back; a corrupt or misplaced object is an error naming its key", () =>
    Effect.gen(function* () {
      const stack = yield* LocalStack
      const store = yield* CheckpointStore
      const s3 = yield* S3
      expect(Option.isNone(yield* store.get("cp-test", "shardId-000000000000"))).toBe(true)
      yield* store.put("cp-test", "shardId-000000000000", { sequenceNumber: "4965001", shardEnded: false })
      yield* store.put("cp-test", "shardId-000000000001", { sequenceNumber: null, shardEnded: true })
      expect(yield* store.get("cp-test", "shardId-000000000000")).toEqual(Option.some({ sequenceNumber: "4965001", shardEnded: false }))
      expect(yield* store.get("cp-test", "shardId-000000000001")).toEqual(Option.some({ sequenceNumber: null, shardEnded: true }))
      const bucket = stack.s3.buckets.ingestion
      const stored = JSON.parse(Buffer.from(Option.getOrThrow(yield* s3.getObject(bucket, "state/consumers/cp-test/shardId-000000000000.json"))).toString())
      expect(stored).toMatchObject({ version: 1, consumer: "cp-test", shardId: "shardId-000000000000", sequenceNumber: "4965001", shardEnded: false })

      const corruptKey = "state/consumers/cp-test/shardId-000000000002.json"
      yield* s3.putObject(bucket, corruptKey, `{"version":1,"sequenceNumber":"x"`)
      const corrupt = yield* Effect.flip(store.get("cp-test", "shardId-000000000002"))
      expect(corrupt).toMatchObject({ _tag: "CheckpointError", key: corruptKey })
      expect(corrupt.message).toContain(`s3://${bucket}/${corruptKey}`)

      const misplacedKey = "state/consumers/cp-test/shardId-000000000003.json"
      yield* s3.putObject(bucket, misplacedKey, JSON.stringify({ ...stored, shardId: "shardId-000000000000" }))
      expect(yield* Effect.flip(store.get("cp-test", "shardId-000000000003"))).toMatchObject({ _tag: "CheckpointError", key: misplacedKey })
    })
  )
})

describe("windowIsDue", () => {
  const limits: MicroBatchWindow = { maxBytes: 100, maxWaitMs: 1_000, closeWhenEveryShard: true, closeOnFullPage: true }
  const of = (...pages: Array<{ bytes: number; full?: boolean }>): OpenWindow<string> =>
    pages.reduce<OpenWindow<string>>((window, page, i) => joinWindow(window, `page-${i}`, page.bytes, page.full ?? false), emptyWindow<string>())
  it("closes on bytes, on a full page, or once it holds a page of every shard; otherwise waits for its time", () => {
    expect(windowIsDue(of({ bytes: 10 }), limits, 3)).toBe(false)
    expect(windowIsDue(of({ bytes: 60 }, { bytes: 40 }), limits, 3)).toBe(true)
    expect(windowIsDue(of({ bytes: 10, full: true }), limits, 3)).toBe(true)
    expect(windowIsDue(of({ bytes: 10, full: true }), { ...limits, closeOnFullPage: false }, 3)).toBe(false)
    expect(windowIsDue(of({ bytes: 10 }, { bytes: 10 }, { bytes: 10 }), limits, 3)).toBe(true)
    expect(windowIsDue(of({ bytes: 10 }, { bytes: 10 }, { bytes: 10 }), { ...limits, closeWhenEveryShard: false }, 3)).toBe(false)
  })
  it("joins pages in order and sums their bytes", () => {
    expect(of({ bytes: 7 }, { bytes: 5, full: true }, { bytes: 1 })).toEqual({ pages: ["page-0", "page-1", "page-2"], bytes: 13, full: true })
  })
})

describe("nextPageLimit", () => {
  it("reads as many records of the last page's average size as fit in the page bytes, between 1 and batchSize", () => {
    const MiB = 1024 * 1024
    // Before any page: as many 1 MiB records (Kinesis' largest) as fit.
    expect(nextPageLimit(undefined, 10_000, 10 * MiB)).toBe(10)
    // KPL aggregates of ~0.5 MiB: 20 per page.
    expect(nextPageLimit({ records: 10, bytes: 5 * MiB }, 10_000, 10 * MiB)).toBe(20)
    // Small plain records: capped by batchSize.
    expect(nextPageLimit({ records: 1_000, bytes: 500_000 }, 10_000, 10 * MiB)).toBe(10_000)
    // A record bigger than the page budget: still one at a time.
    expect(nextPageLimit({ records: 1, bytes: 20 * MiB }, 10_000, 10 * MiB)).toBe(1)
  })
})
