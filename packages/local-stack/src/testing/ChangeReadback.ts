/**
 * Reads back every change record in a Kinesis stream, the way a consumer sees it:
 * every shard from TRIM_HORIZON, KPL aggregates de-aggregated (the contract's reader,
 * core's contracts/KplDecode.ts; a plain record is one user record), each user record
 * decoded with the envelope schema; a snapshot chunk's pointer (core's SnapshotChunk.ts)
 * is read from S3 and stands for its lines, in its place. For tests: it reads until a shard
 * has nothing more.
 */
import { type ChangeRecord, chunkLines, decodeChangeRecord, decodeKplAggregate, decodeSnapshotChunk, hasKplMagic, partitionKeyOf } from "@totes-cdc/core"
import { Kinesis, type RecordsPage, S3 } from "@totes-cdc/platform"
import { Effect, Option, Result } from "effect"

/** One change as read from Kinesis, with the shard it came from. */
export interface ReadChange {
  readonly shardId: string
  /** The user record's partition key; a snapshot chunk's row: its own (`partitionKeyOf`). */
  readonly partitionKey: string
  readonly record: ChangeRecord
  /** The snapshot chunk the record came in (its key), if it did. */
  readonly chunk?: string
}

const decodeUser = (data: Uint8Array) => decodeChangeRecord(new TextDecoder().decode(data))

/** The records of the snapshot chunk `data` points at, or none when `data` is no pointer. Dies on a pointer it cannot follow. */
const chunkRecords = (data: Uint8Array) =>
  Effect.gen(function* () {
    const pointer = decodeSnapshotChunk(data)
    if (pointer === undefined) return undefined
    if (Result.isFailure(pointer)) return yield* Effect.die(new Error(pointer.failure))
    const { bucket, key } = pointer.success.snapshotChunk
    const body = yield* (yield* S3).getObject(bucket, key)
    if (Option.isNone(body)) return yield* Effect.die(new Error(`snapshot chunk s3://${bucket}/${key} does not exist`))
    const lines = chunkLines(pointer.success, body.value)
    if (Result.isFailure(lines)) return yield* Effect.die(new Error(lines.failure))
    return { key, records: yield* Effect.forEach(lines.success, decodeUser) }
  })

/** Every change in `stream`, in order within each shard. */
export const readAllChanges = (stream: string) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const out: Array<ReadChange> = []
    for (const shard of yield* kinesis.listShards(stream)) {
      let iterator: string | undefined = yield* kinesis.getShardIterator(stream, shard.shardId, {})
      while (iterator !== undefined) {
        const page: RecordsPage = yield* kinesis.getRecords(iterator, 10_000)
        for (const kr of page.records) {
          const users = hasKplMagic(kr.data) ? decodeKplAggregate(kr.data) : Result.succeed([{ partitionKey: kr.partitionKey, data: kr.data }])
          if (Result.isFailure(users)) return yield* Effect.die(new Error(`${shard.shardId}/${kr.sequenceNumber} is not a KPL aggregate: ${users.failure}`))
          for (const user of users.success) {
            const chunk = yield* chunkRecords(user.data)
            if (chunk === undefined) out.push({ shardId: shard.shardId, partitionKey: user.partitionKey, record: yield* decodeUser(user.data) })
            else for (const record of chunk.records) out.push({ shardId: shard.shardId, partitionKey: partitionKeyOf(record), record, chunk: chunk.key })
          }
        }
        iterator = page.records.length === 0 ? undefined : page.nextIterator
      }
    }
    return out
  })
