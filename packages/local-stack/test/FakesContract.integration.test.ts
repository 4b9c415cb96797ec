/**
 * The in-memory fakes (`Kinesis.layerTest`, `S3.layerTest`) held to the contract of the
 * real layers: the SAME assertions run against the fakes and against the real layers on
 * kinesalite + s3rver (the local stack's emulators, started here without PostgreSQL). A
 * last block puts the fake and the real layer side by side on the same calls and compares
 * their answers and error messages (endpoint names aside).
 *
 * Known divergences of the emulators from AWS, not asserted here (the fakes follow AWS):
 *  - s3rver lists keys in the order of a walk of its directory tree, not S3's UTF-8 byte
 *    order, where a key's folder name is a prefix of a sibling key: "p/a/b" before "p/a"
 *    and before "p/a-b" (S3: "p/a" < "p/a-b" < "p/a/b").
 *  - kinesalite answers `millisBehindLatest` 0 even when records are left unread; the fake
 *    answers ≥ 1 then (how long the oldest unread record has waited).
 */
import { describe, expect, layer } from "@effect/vitest"
import { hashKeyOf, MAX_HASH_KEY, shardFor } from "@totes-cdc/core"
import { Kinesis, KinesisError, type KinesisRecord, newStreamShards, type PutEntry, type PutResult, S3, S3Error } from "@totes-cdc/platform"
import { Effect, Layer, Option, Result } from "effect"
import { mkdtemp } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { startKinesalite, startS3rver } from "../src/Emulators.ts"
import { createKinesisStream } from "../src/LocalStack.ts"
import { removeTree } from "../src/RemoveTree.ts"

/** Every stream the contract uses (name → shards): one per test, so tests sharing a layer never see each other's records. */
const STREAMS = {
  "contract-shards": 3,
  "contract-routing": 4,
  "contract-reads": 2,
  "contract-after": 2,
  "contract-limit": 1,
  "contract-errors": 2
} as const
/** Every bucket the contract uses: one per test. */
const BUCKETS = ["contract-roundtrip", "contract-list", "contract-paging", "contract-delete"] as const
const MISSING_BUCKET = "contract-no-such-bucket"
const MISSING_STREAM = "contract-no-such-stream"

const REGION = "eu-west-2"
// kinesalite and s3rver accept any credentials; the SDK needs some to sign.
const CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" }

const utf8 = (text: string) => new TextEncoder().encode(text)
const textOf = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

/** The fakes, fresh. */
const fakes = Layer.mergeAll(Kinesis.layerTest({ streams: STREAMS }), S3.layerTest({ buckets: BUCKETS }))

/** Where the emulators listen, once started. */
interface Emulated {
  readonly kinesisEndpoint: string
  readonly s3Endpoint: string
}
let emulated: Emulated | undefined

/** The real layers on kinesalite + s3rver (started for the block, stopped after it), with `STREAMS` and `BUCKETS` made. */
const real = Layer.unwrap(
  Effect.gen(function* () {
    const dir = yield* Effect.acquireRelease(
      Effect.promise(() => mkdtemp(join(tmpdir(), "totes-cdc-fakes-contract-"))),
      (dir) => Effect.promise(() => removeTree(dir))
    )
    const kinesalite = yield* startKinesalite({})
    const s3Endpoint = (yield* startS3rver({ directory: dir, buckets: BUCKETS })).endpoint
    const kinesis = { region: REGION, endpoint: kinesalite.endpoint, ...CREDENTIALS }
    for (const [name, shards] of Object.entries(STREAMS)) yield* createKinesisStream(kinesis, name, shards)
    emulated = { kinesisEndpoint: kinesalite.endpoint, s3Endpoint }
    return Layer.mergeAll(Kinesis.layer(kinesis), S3.layer({ region: REGION, endpoint: s3Endpoint, ...CREDENTIALS }))
  })
)

// ---------------------------------------------------------------------------------------
// Helpers, on whichever Kinesis is provided.

/** Puts `entries` to `stream`; every one must be written. Answers where each went, aligned with `entries`. */
const putAll = (stream: string, entries: ReadonlyArray<PutEntry>) =>
  Effect.gen(function* () {
    const results = yield* (yield* Kinesis).putRecords(stream, entries)
    expect(results).toHaveLength(entries.length)
    return results.map((result) => {
      if (result._tag !== "Written") throw new Error(`entry not written: ${result.errorCode} ${result.errorMessage}`)
      return result
    })
  })

/** Every record of `stream/shardId` from `from`, page by page (pages of `limit`) until an empty page. */
const readAll = (stream: string, shardId: string, from: { readonly afterSequenceNumber?: string }, limit?: number) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    let iterator = yield* kinesis.getShardIterator(stream, shardId, from)
    const records: Array<KinesisRecord> = []
    const pageSizes: Array<number> = []
    for (let page = 0; page < 100; page++) {
      const result = yield* kinesis.getRecords(iterator, limit)
      if (result.records.length === 0) {
        expect(result.millisBehindLatest ?? 0).toBe(0)
        return { records, pageSizes }
      }
      pageSizes.push(result.records.length)
      records.push(...result.records)
      expect(result.nextIterator).toBeDefined()
      iterator = result.nextIterator!
    }
    throw new Error(`${stream}/${shardId}: no empty page after 100 pages`)
  })

/** The shard Kinesis routes `hashKey` to, by core's routing over `stream`'s listed shards. */
const routedShard = (stream: string, hashKey: bigint) =>
  Effect.gen(function* () {
    const shards = yield* (yield* Kinesis).listShards(stream)
    const shard = shardFor(hashKey, shards)
    if (Result.isFailure(shard)) throw new Error(shard.failure.message)
    return shard.success.shardId
  })

const entry = (partitionKey: string, data: string, explicitHashKey?: string): PutEntry => ({
  partitionKey,
  data: utf8(data),
  ...(explicitHashKey === undefined ? {} : { explicitHashKey })
})

/** The failure of `effect`, which must fail. */
const failureOf = <A, E>(effect: Effect.Effect<A, E, Kinesis | S3>) => Effect.flip(effect)

// ---------------------------------------------------------------------------------------
// The contract: the same assertions on the fakes and on the real layers.

const contract = (name: string, services: Layer.Layer<Kinesis | S3, unknown>) =>
  layer(services, { excludeTestServices: true })(name, (it) => {
    describe("S3", () => {
      it.effect("putObject stores bytes or UTF-8 text and replaces; getObject reads them back, None for a missing key", () =>
        Effect.gen(function* () {
          const s3 = yield* S3
          const bucket = "contract-roundtrip"
          yield* s3.putObject(bucket, "a/bytes.bin", new Uint8Array([0, 1, 2, 255]), "application/octet-stream")
          yield* s3.putObject(bucket, "a/text.json", '{"name":"Zoë"}', "application/json")
          expect(yield* s3.getObject(bucket, "a/bytes.bin")).toEqual(Option.some(new Uint8Array([0, 1, 2, 255])))
          expect(Option.map(yield* s3.getObject(bucket, "a/text.json"), textOf)).toEqual(Option.some('{"name":"Zoë"}'))
          yield* s3.putObject(bucket, "a/text.json", "replaced")
          expect(Option.map(yield* s3.getObject(bucket, "a/text.json"), textOf)).toEqual(Option.some("replaced"))
          yield* s3.putObject(bucket, "a/empty", new Uint8Array())
          expect(yield* s3.getObject(bucket, "a/empty")).toEqual(Option.some(new Uint8Array()))
          expect(yield* s3.getObject(bucket, "a/missing")).toEqual(Option.none())
        })
      )

      it.effect("listObjects answers every object under the prefix, in UTF-8 byte order, with its size in bytes", () =>
        Effect.gen(function* () {
          const s3 = yield* S3
          const bucket = "contract-list"
          // UTF-8 byte order: digits before upper case before lower, "/" (2F) before "b" (62), "z" (7A)
          // before "é" (C3 A9), U+FFFD (EF BF BD) before U+1F600 (F0 9F 98 80; JavaScript's order is the
          // reverse). Not "p/a" or "p/a-b" beside "p/a/b": s3rver lists those in its directory walk's order
          // (see the header); the fake's unit tests hold it to S3's order there.
          const keys = ["p/z", "p/ab", "p/B", "p/a/b", "p/é", "p/10", "p/9", "p/\u{1F600}", "p/\uFFFD"]
          for (const key of keys) yield* s3.putObject(bucket, key, key.repeat(2))
          yield* s3.putObject(bucket, "q/outside", "x")
          yield* s3.putObject(bucket, "pp", "x")
          const inOrder = ["p/10", "p/9", "p/B", "p/a/b", "p/ab", "p/z", "p/é", "p/\uFFFD", "p/\u{1F600}"]
          const listed = yield* s3.listObjects(bucket, "p/")
          expect(listed.map((o) => o.key)).toEqual(inOrder)
          expect(listed.map((o) => o.size)).toEqual(listed.map((o) => new TextEncoder().encode(o.key.repeat(2)).byteLength))
          expect((yield* s3.listObjects(bucket, "")).map((o) => o.key)).toEqual([...inOrder, "pp", "q/outside"])
          expect(yield* s3.listObjects(bucket, "nothing/")).toEqual([])
        })
      )

      it.effect("listObjects answers every object of a listing longer than one page (1,000 keys), in order", () =>
        Effect.gen(function* () {
          const s3 = yield* S3
          const bucket = "contract-paging"
          const keys = Array.from({ length: 1_005 }, (_, i) => `many/${String(i).padStart(4, "0")}`)
          yield* Effect.forEach(keys, (key) => s3.putObject(bucket, key, "x"), { concurrency: 16, discard: true })
          expect((yield* s3.listObjects(bucket, "many/")).map((o) => o.key)).toEqual(keys)
        })
      )

      it.effect("deleteObject removes the object and succeeds again for a key that is gone or never was", () =>
        Effect.gen(function* () {
          const s3 = yield* S3
          const bucket = "contract-delete"
          yield* s3.putObject(bucket, "d/one", "1")
          yield* s3.putObject(bucket, "d/two", "2")
          yield* s3.deleteObject(bucket, "d/one")
          yield* s3.deleteObject(bucket, "d/one")
          yield* s3.deleteObject(bucket, "d/never")
          expect(yield* s3.getObject(bucket, "d/one")).toEqual(Option.none())
          expect((yield* s3.listObjects(bucket, "d/")).map((o) => o.key)).toEqual(["d/two"])
        })
      )

      it.effect("every call on a missing bucket fails, not retryable, naming the bucket", () =>
        Effect.gen(function* () {
          const s3 = yield* S3
          const failures = [
            yield* failureOf(s3.putObject(MISSING_BUCKET, "k", "x")),
            yield* failureOf(s3.getObject(MISSING_BUCKET, "k")),
            yield* failureOf(s3.deleteObject(MISSING_BUCKET, "k")),
            yield* failureOf(s3.listObjects(MISSING_BUCKET, ""))
          ]
          for (const failure of failures) {
            expect(failure).toBeInstanceOf(S3Error)
            expect(failure.retryable).toBe(false)
            expect(failure.message).toMatch(new RegExp(`^S3 bucket ${MISSING_BUCKET} does not exist at .+; create it or fix the bucket name setting$`))
          }
        })
      )
    })

    describe("Kinesis", () => {
      it.effect("a stream of n shards has ids shardId-000000000000, …, the 2^128 hash keys split evenly, all open", () =>
        Effect.gen(function* () {
          const shards = yield* (yield* Kinesis).listShards("contract-shards")
          expect(shards).toEqual(newStreamShards(3))
          expect(shards.map((s) => s.shardId)).toEqual(["shardId-000000000000", "shardId-000000000001", "shardId-000000000002"])
          expect(shards[0]!.startingHashKey).toBe(0n)
          expect(shards.at(-1)!.endingHashKey).toBe(MAX_HASH_KEY)
          for (let i = 1; i < shards.length; i++) expect(shards[i]!.startingHashKey).toBe(shards[i - 1]!.endingHashKey + 1n)
        })
      )

      it.effect("routes by the MD5 of the partition key (or the explicit hash key): one key's records land on one shard, in put order, with increasing sequence numbers", () =>
        Effect.gen(function* () {
          const stream = "contract-routing"
          const keys = Array.from({ length: 12 }, (_, i) => `key-${i}`)
          const entries = Array.from({ length: 60 }, (_, i) => entry(keys[i % keys.length]!, `record ${i}`))
          const written = [...(yield* putAll(stream, entries.slice(0, 30))), ...(yield* putAll(stream, entries.slice(30)))]
          for (const [i, where] of written.entries()) expect(where.shardId).toBe(yield* routedShard(stream, hashKeyOf(entries[i]!.partitionKey)))
          expect(new Set(written.map((w) => w.shardId)).size).toBeGreaterThan(1)
          // Sequence numbers increase per shard in put order, as numbers and as strings (of one length).
          const byShard = new Map<string, Array<PutResult & { _tag: "Written" }>>()
          for (const w of written) byShard.set(w.shardId, [...(byShard.get(w.shardId) ?? []), w])
          for (const [shardId, ws] of byShard) {
            const numbers = ws.map((w) => w.sequenceNumber)
            expect(numbers.every((n) => /^\d+$/.test(n) && n.length === numbers[0]!.length)).toBe(true)
            for (let i = 1; i < numbers.length; i++) {
              expect(BigInt(numbers[i]!) > BigInt(numbers[i - 1]!)).toBe(true)
              expect(numbers[i]! > numbers[i - 1]!).toBe(true)
            }
            // Read back: the shard holds exactly its records, in put order.
            const { records } = yield* readAll(stream, shardId, {})
            expect(records.map((r) => r.sequenceNumber)).toEqual(numbers)
            expect(records.map((r) => r.partitionKey)).toEqual(written.flatMap((w, i) => (w.shardId === shardId ? [entries[i]!.partitionKey] : [])))
          }
          // An explicit hash key overrides the partition key: the last hash key lands on the last shard.
          const [explicit] = yield* putAll(stream, [entry("key-0", "explicit", MAX_HASH_KEY.toString())])
          expect(explicit!.shardId).toBe("shardId-000000000003")
          const [low] = yield* putAll(stream, [entry("key-0", "explicit", "0")])
          expect(low!.shardId).toBe("shardId-000000000000")
        })
      )

      it.effect("TRIM_HORIZON reads every record, as put (data, partition key, sequence number, arrival time)", () =>
        Effect.gen(function* () {
          const stream = "contract-reads"
          const entries = Array.from({ length: 25 }, (_, i) => entry(`pk-${i % 5}`, `data ${i} ✓`))
          const written = yield* putAll(stream, entries)
          for (const shard of yield* (yield* Kinesis).listShards(stream)) {
            const { records } = yield* readAll(stream, shard.shardId, {})
            const expected = written.flatMap((w, i) => (w.shardId === shard.shardId ? [{ w, e: entries[i]! }] : []))
            expect(records.map((r) => ({ data: textOf(r.data), partitionKey: r.partitionKey, sequenceNumber: r.sequenceNumber }))).toEqual(
              expected.map(({ w, e }) => ({ data: textOf(e.data), partitionKey: e.partitionKey, sequenceNumber: w.sequenceNumber }))
            )
            for (const record of records) expect(record.approximateArrivalTimestamp).toBeInstanceOf(Date)
          }
        })
      )

      it.effect("AFTER_SEQUENCE_NUMBER reads exactly what follows that record; after the last one, nothing until more is put", () =>
        Effect.gen(function* () {
          const stream = "contract-after"
          const kinesis = yield* Kinesis
          const written = yield* putAll(stream, Array.from({ length: 10 }, (_, i) => entry("same-key", `r${i}`)))
          const shardId = written[0]!.shardId
          const { records } = yield* readAll(stream, shardId, { afterSequenceNumber: written[3]!.sequenceNumber })
          expect(records.map((r) => textOf(r.data))).toEqual(["r4", "r5", "r6", "r7", "r8", "r9"])
          const atEnd = yield* kinesis.getShardIterator(stream, shardId, { afterSequenceNumber: written[9]!.sequenceNumber })
          const empty = yield* kinesis.getRecords(atEnd)
          expect(empty.records).toEqual([])
          expect(empty.millisBehindLatest ?? 0).toBe(0)
          yield* putAll(stream, [entry("same-key", "r10")])
          expect((yield* kinesis.getRecords(empty.nextIterator!)).records.map((r) => textOf(r.data))).toEqual(["r10"])
        })
      )

      it.effect("getRecords answers at most `limit` records a page, and the next page goes on from there", () =>
        Effect.gen(function* () {
          const stream = "contract-limit"
          const written = yield* putAll(stream, Array.from({ length: 8 }, (_, i) => entry(`k${i}`, `r${i}`)))
          const { records, pageSizes } = yield* readAll(stream, "shardId-000000000000", {}, 3)
          expect(pageSizes).toEqual([3, 3, 2])
          expect(records.map((r) => r.sequenceNumber)).toEqual(written.map((w) => w.sequenceNumber))
        })
      )

      it.effect("an unknown stream, shard or iterator, a foreign sequence number or a bad limit fails, not retryable; no entries is no call", () =>
        Effect.gen(function* () {
          const kinesis = yield* Kinesis
          const stream = "contract-errors"
          expect(yield* kinesis.putRecords(MISSING_STREAM, [])).toEqual([])
          for (const failure of [
            yield* failureOf(kinesis.putRecords(MISSING_STREAM, [entry("k", "x")])),
            yield* failureOf(kinesis.listShards(MISSING_STREAM)),
            yield* failureOf(kinesis.getShardIterator(MISSING_STREAM, "shardId-000000000000", {}))
          ]) {
            expect(failure).toBeInstanceOf(KinesisError)
            expect(failure.retryable).toBe(false)
            expect(failure.message).toContain(MISSING_STREAM)
          }
          const noShard = yield* failureOf(kinesis.getShardIterator(stream, "shardId-000000000007", {}))
          expect(noShard.retryable).toBe(false)
          expect(noShard.message).toContain("shardId-000000000007")
          const badIterator = yield* failureOf(kinesis.getRecords("not-an-iterator"))
          expect(badIterator).toBeInstanceOf(KinesisError)
          expect(badIterator.retryable).toBe(false)
          const [w] = yield* putAll(stream, [entry("k", "x")])
          const other = w!.shardId === "shardId-000000000000" ? "shardId-000000000001" : "shardId-000000000000"
          const foreign = yield* failureOf(kinesis.getShardIterator(stream, other, { afterSequenceNumber: w!.sequenceNumber }))
          expect(foreign.retryable).toBe(false)
          const iterator = yield* kinesis.getShardIterator(stream, w!.shardId, {})
          for (const limit of [0, 10_001]) {
            const badLimit = yield* failureOf(kinesis.getRecords(iterator, limit))
            expect(badLimit.retryable).toBe(false)
          }
        })
      )

      it.effect("describeStreamSummary: an active stream's open shards (kinesalite: provisioned, 24 h, no encryption, no consumers); a missing stream fails, named", () =>
        Effect.gen(function* () {
          const kinesis = yield* Kinesis
          expect(yield* kinesis.describeStreamSummary("contract-shards")).toEqual({
            status: "ACTIVE",
            mode: "PROVISIONED",
            openShards: 3,
            retentionHours: 24,
            encryption: "NONE",
            consumers: 0
          })
          const missing = yield* failureOf(kinesis.describeStreamSummary(MISSING_STREAM))
          expect(missing).toBeInstanceOf(KinesisError)
          expect(missing.retryable).toBe(false)
          expect(missing.message).toContain(MISSING_STREAM)
        })
      )
    })
  })

contract("the in-memory fakes (Kinesis.layerTest, S3.layerTest)", fakes)
contract("the real layers on kinesalite + s3rver", real)

// ---------------------------------------------------------------------------------------
// Side by side: the same calls on a fresh fake and on the real layers, answers compared.

/** `text` with the emulators' endpoints and the fakes' names replaced by `<endpoint>`. */
const normalized = (text: string) =>
  [emulated?.kinesisEndpoint, emulated?.s3Endpoint, "in-memory Kinesis", "in-memory S3"].reduce<string>(
    (out, name) => (name === undefined ? out : out.replaceAll(name, "<endpoint>")),
    text
  )

/** The message of the failure of `effect` on the real layer (in context) and on a fresh fake, normalized. */
const messagesOf = <A, E extends { readonly message: string }>(effect: Effect.Effect<A, E, Kinesis | S3>) =>
  Effect.gen(function* () {
    const onReal = yield* Effect.flip(effect)
    const onFake = yield* Effect.flip(effect.pipe(Effect.provide(fakes)))
    return { real: normalized(onReal.message), fake: normalized(onFake.message) }
  })

layer(real, { excludeTestServices: true })("the fakes beside the real layers", (it) => {
  it.effect("route the same keys to the same shards", () =>
    Effect.gen(function* () {
      const entries = Array.from({ length: 40 }, (_, i) => entry(`side-${i}`, `r${i}`))
      const onReal = yield* putAll("contract-shards", entries)
      const onFake = yield* putAll("contract-shards", entries).pipe(Effect.provide(fakes))
      expect(onFake.map((w) => w.shardId)).toEqual(onReal.map((w) => w.shardId))
      expect(yield* Kinesis.use((k) => k.listShards("contract-shards")).pipe(Effect.provide(fakes))).toEqual(
        yield* Kinesis.use((k) => k.listShards("contract-shards"))
      )
    })
  )

  it.effect("fail with the same messages", () =>
    Effect.gen(function* () {
      const cases = [
        yield* messagesOf(S3.use((s3) => s3.putObject(MISSING_BUCKET, "k", "x"))),
        yield* messagesOf(S3.use((s3) => s3.getObject(MISSING_BUCKET, "k"))),
        yield* messagesOf(S3.use((s3) => s3.deleteObject(MISSING_BUCKET, "k"))),
        yield* messagesOf(S3.use((s3) => s3.listObjects(MISSING_BUCKET, "p/"))),
        yield* messagesOf(Kinesis.use((k) => k.putRecords(MISSING_STREAM, [entry("k", "x")]))),
        yield* messagesOf(Kinesis.use((k) => k.listShards(MISSING_STREAM))),
        yield* messagesOf(Kinesis.use((k) => k.describeStreamSummary(MISSING_STREAM))),
        yield* messagesOf(Kinesis.use((k) => k.getShardIterator(MISSING_STREAM, "shardId-000000000000", {}))),
        yield* messagesOf(Kinesis.use((k) => k.getShardIterator("contract-errors", "shardId-000000000007", {}))),
        yield* messagesOf(Kinesis.use((k) => k.getShardIterator("contract-errors", "no-such-shard", {}))),
        yield* messagesOf(Kinesis.use((k) => k.putRecords("contract-errors", [entry("", "x")]))),
        yield* messagesOf(Kinesis.use((k) => k.putRecords("contract-errors", [entry("k".repeat(257), "x")]))),
        yield* messagesOf(Kinesis.use((k) => k.putRecords("contract-errors", [{ partitionKey: "k", data: new Uint8Array(1_048_577) }]))),
        yield* messagesOf(Kinesis.use((k) => k.putRecords("contract-errors", [entry("k", "x", (MAX_HASH_KEY + 1n).toString())]))),
        yield* messagesOf(Kinesis.use((k) => k.putRecords("contract-errors", [entry("k", "x", "-1")]))),
        ...(yield* Effect.forEach([0, 10_001], (limit) =>
          messagesOf(Kinesis.use((k) => Effect.flatMap(k.getShardIterator("contract-errors", "shardId-000000000000", {}), (iterator) => k.getRecords(iterator, limit))))
        ))
      ]
      for (const { real, fake } of cases) expect(fake).toBe(real)
    })
  )
})
