/**
 * The S3 adapter's pure parts: how an SDK / socket error becomes an `S3Error` (its one
 * line, `retryable`, and the error itself kept as `cause`), and the one retry policy the
 * service applies to every call (`s3RetrySchedule`).
 */
import { it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { describe, expect } from "vitest"
import { describeS3Error, S3Error, s3RetrySchedule } from "../src/S3.ts"

const endpoint = "http://127.0.0.1:4569"

describe("describeS3Error", () => {
  it("marks an unreachable endpoint retryable and keeps the socket error as the cause", () => {
    const socket = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:4569"), { code: "ECONNREFUSED" })
    const error = describeS3Error(socket, "PutObject", "ingestion", "ingestion/a.json", endpoint)
    expect(error).toBeInstanceOf(S3Error)
    expect(error.retryable).toBe(true)
    expect(error.message).toContain(`cannot reach ${endpoint} (ECONNREFUSED`)
    expect(error.cause).toBe(socket)
  })

  it("marks a missing bucket not retryable, naming it, and keeps the SDK error as the cause", () => {
    const sdk = Object.assign(new Error("The specified bucket does not exist"), { name: "NoSuchBucket", $metadata: { httpStatusCode: 404 } })
    const error = describeS3Error(sdk, "GetObject", "nope", "nope/k", endpoint)
    expect(error.retryable).toBe(false)
    expect(error.message).toBe(`S3 bucket nope does not exist at ${endpoint}; create it or fix the bucket name setting`)
    expect(error.cause).toBe(sdk)
  })

  it("marks a 5xx retryable", () => {
    const sdk = Object.assign(new Error("We encountered an internal error"), { name: "InternalError", $fault: "server", $metadata: { httpStatusCode: 500 } })
    expect(describeS3Error(sdk, "ListObjects", "b", "b/p/", endpoint).retryable).toBe(true)
  })
})

describe("s3RetrySchedule", () => {
  /** Runs a call that always fails with `error` under the policy; answers how many attempts were made. */
  const attemptsUntilGivingUp = (error: S3Error) =>
    Effect.gen(function* () {
      let attempts = 0
      const call = Effect.suspend(() => {
        attempts += 1
        return Effect.fail(error)
      })
      const fiber = yield* Effect.forkChild(call.pipe(Effect.retry(s3RetrySchedule), Effect.flip))
      // 100 ms doubling, capped at 2 s, ×1.2 jitter at most: 10 retries wait ≤ 16 s in all.
      for (let second = 0; second < 20; second++) yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(fiber)).toBe(error)
      return attempts
    })

  it.effect("tries a retryable failure 11 times in all (10 retries), then fails with it", () =>
    Effect.gen(function* () {
      expect(yield* attemptsUntilGivingUp(new S3Error({ message: "S3 PutObject … failed temporarily", retryable: true }))).toBe(11)
    })
  )

  it.effect("does not retry a failure that is not retryable", () =>
    Effect.gen(function* () {
      expect(yield* attemptsUntilGivingUp(new S3Error({ message: "S3 bucket nope does not exist", retryable: false }))).toBe(1)
    })
  )
})
