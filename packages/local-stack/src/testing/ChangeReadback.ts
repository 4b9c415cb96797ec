/**
 * Reads back every change record in a Kinesis stream, the way a consumer sees it:
 * every shard from TRIM_HORIZON, KPL aggregates de-aggregated (the contract's reader,
 * core's contracts/KplDecode.ts; a plain record is one user record), each user record
 * decoded with the envelope schema. For tests: it reads until a shard has nothing more.
 */
import { type ChangeRecord, decodeChangeRecord, decodeKplAggregate, hasKplMagic } from "@totes-cdc/core"
import { Kinesis, type RecordsPage } from "@totes-cdc/platform"
import { Effect, Result } from "effect"

/** One change as read from Kinesis, with the shard it came from. */
export interface ReadChange {
  readonly shardId: string
  readonly partitionKey: string
  readonly record: ChangeRecord
}

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
            const record = yield* decodeChangeRecord(new TextDecoder().decode(user.data))
            out.push({ shardId: shard.shardId, partitionKey: user.partitionKey, record })
          }
        }
        iterator = page.records.length === 0 ? undefined : page.nextIterator
      }
    }
    return out
  })
