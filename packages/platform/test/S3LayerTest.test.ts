/**
 * `S3.layerTest`, the in-memory S3, on its own (its contract with the real layer on s3rver:
 * packages/local-stack/test/FakesContract.integration.test.ts): S3's key order where s3rver
 * departs from it, the missing bucket in the real layer's words, fresh state per build, and
 * copies of the bytes.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { compareS3Keys, S3, S3Error } from "../src/S3.ts"

const utf8 = (text: string) => new TextEncoder().encode(text)

describe("compareS3Keys", () => {
  it("orders keys by their UTF-8 bytes, not by JavaScript's UTF-16 order", () => {
    const keys = ["p/a/b", "p/\u{1F600}", "p/a-b", "p/\uFFFD", "p/a", "p/B", "p/é"]
    expect([...keys].sort(compareS3Keys)).toEqual(["p/B", "p/a", "p/a-b", "p/a/b", "p/é", "p/\uFFFD", "p/\u{1F600}"])
    expect(compareS3Keys("a", "a")).toBe(0)
  })
})

describe("S3.layerTest", () => {
  const layer = S3.layerTest({ buckets: ["b"] })

  it.effect("lists in S3's order where s3rver walks its folders instead: p/a, p/a-b, p/a/b", () =>
    Effect.gen(function* () {
      const s3 = yield* S3
      for (const key of ["p/a/b", "p/a-b", "p/a"]) yield* s3.putObject("b", key, key)
      expect(yield* s3.listObjects("b", "p/a")).toEqual([
        { key: "p/a", size: 3 },
        { key: "p/a-b", size: 5 },
        { key: "p/a/b", size: 5 }
      ])
    }).pipe(Effect.provide(layer))
  )

  it.effect("fails on a missing bucket, not retryable, in the real layer's words", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip((yield* S3).getObject("nope", "k"))
      expect(error).toBeInstanceOf(S3Error)
      expect(error.retryable).toBe(false)
      expect(error.message).toBe("S3 bucket nope does not exist at in-memory S3; create it or fix the bucket name setting")
      expect((error.cause as Error).name).toBe("NoSuchBucket")
    }).pipe(Effect.provide(layer))
  )

  it.effect("keeps copies: changing the bytes put or read changes nothing held", () =>
    Effect.gen(function* () {
      const s3 = yield* S3
      const body = utf8("abc")
      yield* s3.putObject("b", "k", body)
      body[0] = 0
      const read = Option.getOrThrow(yield* s3.getObject("b", "k"))
      read[1] = 0
      expect(yield* s3.getObject("b", "k")).toEqual(Option.some(utf8("abc")))
    }).pipe(Effect.provide(layer))
  )

  it.effect("is fresh at each build of the layer", () =>
    Effect.gen(function* () {
      yield* S3.use((s3) => s3.putObject("b", "k", "x")).pipe(Effect.provide(layer))
      expect(yield* S3.use((s3) => s3.listObjects("b", "")).pipe(Effect.provide(layer))).toEqual([])
    })
  )
})
