import { describe, expect, it } from "@effect/vitest"
import { S3Error } from "@totes-cdc/platform"
import { Effect, Option } from "effect"
import type { Checkpoint, CheckpointStore } from "../src/consumer/CheckpointStore.ts"
import { makeCheckpointWriter } from "../src/consumer/CheckpointWriter.ts"

/** A store that records every put, and fails the puts of the shards in `failing`. */
const recordingStore = (failing: Set<string> = new Set()) => {
  const puts: Array<{ readonly shardId: string; readonly checkpoint: Checkpoint }> = []
  const store: CheckpointStore["Service"] = {
    get: () => Effect.succeed(Option.none()),
    put: (_consumer, shardId, checkpoint) =>
      failing.has(shardId)
        ? Effect.fail(new S3Error({ message: `put of ${shardId} failed`, retryable: true }))
        : Effect.sync(() => void puts.push({ shardId, checkpoint }))
  }
  return { store, puts }
}

const at = (sequenceNumber: string, shardEnded = false): Checkpoint => ({ sequenceNumber, shardEnded })

describe("CheckpointWriter", () => {
  it.effect("with an interval 0, writes every checkpoint when it is recorded", () =>
    Effect.gen(function* () {
      const { store, puts } = recordingStore()
      const writer = yield* makeCheckpointWriter(store, "c", 0)
      yield* writer.record("s1", at("1"))
      yield* writer.record("s1", at("2"))
      expect(puts).toEqual([{ shardId: "s1", checkpoint: at("1") }, { shardId: "s1", checkpoint: at("2") }])
    })
  )

  it.effect("with an interval, writes nothing when recording; a flush writes each shard's newest once", () =>
    Effect.gen(function* () {
      const { store, puts } = recordingStore()
      const writer = yield* makeCheckpointWriter(store, "c", 1_000)
      yield* writer.record("s1", at("1"))
      yield* writer.record("s2", at("5"))
      yield* writer.record("s1", at("3"))
      expect(puts).toEqual([])
      yield* writer.flush
      expect([...puts].sort((a, b) => a.shardId.localeCompare(b.shardId))).toEqual([{ shardId: "s1", checkpoint: at("3") }, { shardId: "s2", checkpoint: at("5") }])
      yield* writer.flush
      expect(puts.length).toBe(2)
    })
  )

  it.effect("writes a checkpoint that ends its shard at once, and a later flush does not write an older one over it", () =>
    Effect.gen(function* () {
      const { store, puts } = recordingStore()
      const writer = yield* makeCheckpointWriter(store, "c", 1_000)
      yield* writer.record("s1", at("1"))
      yield* writer.record("s1", at("2", true))
      expect(puts).toEqual([{ shardId: "s1", checkpoint: at("2", true) }])
      yield* writer.flush
      expect(puts).toEqual([{ shardId: "s1", checkpoint: at("2", true) }])
    })
  )

  it.effect("a failed write fails the flush and keeps the checkpoint for the next one", () =>
    Effect.gen(function* () {
      const failing = new Set(["s1"])
      const { store, puts } = recordingStore(failing)
      const writer = yield* makeCheckpointWriter(store, "c", 1_000)
      yield* writer.record("s1", at("7"))
      expect((yield* writer.flush.pipe(Effect.flip)).message).toBe("put of s1 failed")
      failing.clear()
      yield* writer.flush
      expect(puts).toEqual([{ shardId: "s1", checkpoint: at("7") }])
    })
  )
})
