/**
 * The hand-off between dev's processor and its in-process loader, with a scripted loader
 * (our own queue logic; the loader itself is tested against PostgreSQL in Loader.integration.test.ts).
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schedule } from "effect"
import type { LoadReport, Loader, ObjectRef } from "../src/Loader.ts"
import { LoaderError } from "../src/Loader.ts"
import { makeLoaderQueue } from "../src/LoaderQueue.ts"

const report = (rows: number): LoadReport => ({ applied: 1, alreadyApplied: 0, quarantined: [], rows, commitTimes: [], newestCommitOfTable: {} })
const batch = (name: string): ReadonlyArray<ObjectRef> => [{ key: `fact_payment/2024/02/23/${name}.parquet` }]

/** A loader that records each attempt, fails the attempts listed in `failing` (by attempt number), and waits for `gate` before its first attempt. */
const scriptedLoader = (failing: ReadonlySet<number>, gate: Deferred.Deferred<void>) => {
  const attempts: Array<string> = []
  const loader: Loader = {
    target: undefined as never,
    catchUp: Effect.die("not used"),
    applyManifest: () => Effect.die("not used"),
    applyObjects: (objects) =>
      Effect.gen(function* () {
        yield* Deferred.await(gate)
        attempts.push(objects[0]!.key.split("/").at(-1)!)
        if (failing.has(attempts.length)) return yield* new LoaderError({ message: `attempt ${attempts.length} failed` })
        return report(attempts.length)
      })
  }
  return { loader, attempts }
}

describe("LoaderQueue", () => {
  it.effect("applies micro-batches one at a time in the order offered, retrying a failed one before the next", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      yield* Deferred.succeed(gate, undefined)
      const { loader, attempts } = scriptedLoader(new Set([2]), gate)
      const reports: Array<number> = []
      const done = yield* Deferred.make<void>()
      const queue = yield* makeLoaderQueue(loader, {
        capacity: 1,
        retry: Schedule.forever,
        onReport: (r) =>
          Effect.suspend(() => {
            reports.push(r.rows)
            return reports.length === 3 ? Deferred.succeed(done, undefined) : Effect.void
          })
      })
      const fiber = yield* Effect.forkChild(queue.run)
      for (const name of ["b1", "b2", "b3"]) yield* queue.offer(batch(name))
      yield* Deferred.await(done)
      yield* Fiber.interrupt(fiber)
      expect(attempts).toEqual(["b1.parquet", "b2.parquet", "b2.parquet", "b3.parquet"])
      expect(reports).toEqual([1, 3, 4])
    })
  )

  it.effect("makes the processor wait once `capacity` micro-batches wait behind the one loading", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const { loader, attempts } = scriptedLoader(new Set(), gate)
      const queue = yield* makeLoaderQueue(loader, { capacity: 1, retry: Schedule.forever, onReport: () => Effect.void })
      const fiber = yield* Effect.forkChild(queue.run)
      yield* queue.offer(batch("b1")) // taken by the loader, which waits at the gate
      yield* Effect.yieldNow
      yield* queue.offer(batch("b2")) // waits in the queue
      const third = yield* Effect.forkChild(queue.offer(batch("b3")))
      yield* Effect.yieldNow
      expect(third.pollUnsafe()).toBeUndefined() // still waiting: the queue is full
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(third) // the loader took b2 once b1 was done, which made room for b3
      yield* Fiber.interrupt(fiber)
      expect(attempts[0]).toBe("b1.parquet")
    })
  )

  it.effect("an empty micro-batch is not handed over", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const { loader, attempts } = scriptedLoader(new Set(), gate)
      const queue = yield* makeLoaderQueue(loader, { capacity: 1, retry: Schedule.forever, onReport: () => Effect.void })
      // With nothing taking from the queue, a second non-empty offer would wait forever.
      yield* queue.offer([])
      yield* queue.offer([])
      yield* queue.offer(batch("b1"))
      expect(attempts).toEqual([])
    })
  )
})
