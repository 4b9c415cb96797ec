/**
 * Puts change records on a Kinesis stream as the reader does — partition key `table:pk`,
 * routed to its shard by hash key, packed in KPL aggregates (core's contracts), in order
 * per shard; a snapshot chunk's pointer as a plain record of its own — so the consumers'
 * tests make their input from the contracts, not from the reader app. For tests: a failed
 * entry fails the call (nothing is retried).
 */
import { type AggregateInput, aggregateShard, type ChangeRecord, KPL_MAX_RECORD_BYTES, shardFor, type SnapshotChunk, userRecordOf } from "@totes-cdc/core"
import { Kinesis } from "@totes-cdc/platform"
import { Effect, Result } from "effect"

/**
 * Puts `changes` (and snapshot chunks' pointers, whose objects the caller stored) on
 * `stream`, at most `perAggregate` changes per Kinesis record (so a test can ask for many
 * records); answers how many Kinesis records were written.
 */
export const putChanges = (stream: string, changes: ReadonlyArray<ChangeRecord | SnapshotChunk>, perAggregate = 10_000) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const shards = yield* kinesis.listShards(stream)
    const byShard = new Map<string, Array<AggregateInput>>()
    for (const record of changes) {
      const input = userRecordOf(record)
      const shard = Result.getOrThrow(shardFor(input.hashKey, shards))
      const inputs = byShard.get(shard.shardId) ?? []
      inputs.push(input)
      byShard.set(shard.shardId, inputs)
    }
    let written = 0
    for (const [shardId, inputs] of byShard) {
      const entries = []
      for (let at = 0; at < inputs.length; at += perAggregate) entries.push(...aggregateShard(shardId, inputs.slice(at, at + perAggregate), KPL_MAX_RECORD_BYTES))
      // PutRecords takes at most 500 records and 5 MiB per call; one call's records keep their order.
      for (let from = 0; from < entries.length; ) {
        let to = from
        let bytes = 0
        while (to < entries.length && to - from < 500 && bytes + entries[to]!.bytes <= 4 * 1024 * 1024) bytes += entries[to++]!.bytes
        const call = entries.slice(from, Math.max(to, from + 1)).map((e) => e.entry)
        const results = yield* kinesis.putRecords(stream, call)
        const failed = results.filter((r) => r._tag !== "Written")
        if (failed.length > 0) return yield* Effect.die(new Error(`putChanges: ${failed.length} of ${call.length} records were not written to ${stream}`))
        written += call.length
        from += call.length
      }
    }
    return written
  })
