import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Ref, Schema } from "effect"
import { TestClock } from "effect/testing"
import { failuresInARow, HEALTHY_RUN_MS, MAX_CONSECUTIVE_FAILURES, reconnectDelayMs, reconnecting } from "../src/Reconnect.ts"

class Lost extends Schema.TaggedError<Lost>()("Lost", { message: Schema.String, retryable: Schema.Boolean }) {}

describe("Reconnect: the reader starts again after a retryable failure", () => {
  it("backs off 0.5 s, doubling, at most 10 s", () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(reconnectDelayMs)).toEqual([500, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000])
  })

  it("counts failures in a row, and starts again after a healthy run", () => {
    expect(failuresInARow(3, 100)).toBe(4)
    expect(failuresInARow(3, HEALTHY_RUN_MS)).toBe(1)
  })

  it.effect("a retryable failure runs the program again, until it succeeds", () =>
    Effect.gen(function* () {
      const runs = yield* Ref.make(0)
      const program = Ref.updateAndGet(runs, (n) => n + 1).pipe(
        Effect.flatMap((n) => (n < 3 ? Effect.fail(new Lost({ message: "connection lost", retryable: true })) : Effect.succeed("streaming")))
      )
      const fiber = yield* Effect.forkChild(reconnecting(program))
      yield* TestClock.adjust("2 seconds")
      expect(yield* Fiber.join(fiber)).toBe("streaming")
      expect(yield* Ref.get(runs)).toBe(3)
    })
  )

  it.effect("a failure that is not retryable (a dropped slot, a wrong password) ends it at once", () =>
    Effect.gen(function* () {
      const runs = yield* Ref.make(0)
      const program = Ref.update(runs, (n) => n + 1).pipe(Effect.andThen(Effect.fail(new Lost({ message: "slot gone", retryable: false }))))
      const error = yield* Effect.flip(reconnecting(program))
      expect(error.message).toBe("slot gone")
      expect(yield* Ref.get(runs)).toBe(1)
    })
  )

  it.effect(`gives up after ${MAX_CONSECUTIVE_FAILURES} retryable failures in a row, with the last error`, () =>
    Effect.gen(function* () {
      const runs = yield* Ref.make(0)
      const program = Ref.updateAndGet(runs, (n) => n + 1).pipe(Effect.flatMap((n) => Effect.fail(new Lost({ message: `lost ${n}`, retryable: true }))))
      const fiber = yield* Effect.forkChild(Effect.flip(reconnecting(program)))
      yield* TestClock.adjust("10 minutes")
      expect((yield* Fiber.join(fiber)).message).toBe(`lost ${MAX_CONSECUTIVE_FAILURES}`)
      expect(yield* Ref.get(runs)).toBe(MAX_CONSECUTIVE_FAILURES)
    })
  )
})
