/**
 * The replication stream's back-pressure (platform's `socketHandOff`, used instead of
 * pg-logical-replication's flow control): messages arriving synchronously from a socket go
 * into a bounded queue in order; a full queue pauses the socket until the overflow is in.
 */
import { it } from "@effect/vitest"
import { socketHandOff } from "@totes-cdc/platform"
import { Effect, Queue } from "effect"
import { describe, expect } from "vitest"

const fakeSocket = () => {
  const events: Array<string> = []
  return { events, socket: { pause: () => void events.push("pause"), resume: () => void events.push("resume") } }
}

describe("socketHandOff", () => {
  it.effect("offers straight into a queue with room, without touching the socket", () =>
    Effect.gen(function* () {
      const queue = yield* Queue.bounded<number>(8)
      const { events, socket } = fakeSocket()
      const offer = socketHandOff(queue, () => socket, () => expect.unreachable())
      for (let i = 0; i < 8; i++) offer(i)
      expect(yield* Queue.takeAll(queue)).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
      expect(events).toEqual([])
    })
  )

  it.effect("pauses the socket when the queue is full, delivers the overflow in order as room frees, then resumes it once", () =>
    Effect.gen(function* () {
      const queue = yield* Queue.bounded<number>(4)
      const { events, socket } = fakeSocket()
      const offer = socketHandOff(queue, () => socket, () => expect.unreachable())
      // one socket chunk of 50 messages, all parsed and offered synchronously
      for (let i = 0; i < 50; i++) offer(i)
      expect(events).toEqual(["pause"])
      const received: Array<number> = []
      while (received.length < 50) received.push(...(yield* Queue.takeAll(queue)))
      expect(received).toEqual(Array.from({ length: 50 }, (_, i) => i))
      yield* Effect.yieldNow
      expect(events).toEqual(["pause", "resume"])
      // after the resume, messages go straight in again
      offer(50)
      expect(yield* Queue.takeAll(queue)).toEqual([50])
      expect(events).toEqual(["pause", "resume"])
    })
  )

  it.effect("keeps order for messages offered while the overflow is being delivered", () =>
    Effect.gen(function* () {
      const queue = yield* Queue.bounded<number>(2)
      const { socket } = fakeSocket()
      const offer = socketHandOff(queue, () => socket, () => expect.unreachable())
      for (let i = 0; i < 5; i++) offer(i)
      const received = [...(yield* Queue.takeAll(queue))]
      for (let i = 5; i < 9; i++) offer(i) // e.g. the rest of a chunk that arrived before the pause took effect
      while (received.length < 9) received.push(...(yield* Queue.takeAll(queue)))
      expect(received).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8])
    })
  )

  it.effect("reports a missing socket instead of buffering without bound", () =>
    Effect.gen(function* () {
      const queue = yield* Queue.bounded<number>(1)
      let missing = 0
      const offer = socketHandOff(queue, () => undefined, () => void (missing += 1))
      offer(0)
      offer(1)
      expect(missing).toBe(1)
      expect(yield* Queue.takeAll(queue)).toEqual([0])
    })
  )
})
