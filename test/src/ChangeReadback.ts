/**
 * Reads back every change record in a Kinesis stream, the way a consumer sees it:
 * every shard from TRIM_HORIZON, KPL aggregates de-aggregated, each user record
 * decoded with the envelope schema. For tests: it reads until a shard has nothing more.
 */
import { type ChangeRecord, decodeChangeRecord } from "@totes-cdc/core"
import { Kinesis, type RecordsPage } from "@totes-cdc/platform"
import { deaggregateSync } from "aws-kinesis-agg"
import { Effect } from "effect"

/** One change as read from Kinesis, with the shard it came from. */
export interface ReadChange {
  readonly shardId: string
  readonly partitionKey: string
  readonly record: ChangeRecord
}

const userRecords = (data: Uint8Array, partitionKey: string, sequenceNumber: string) =>
  Effect.sync(() => {
    let out: Array<{ partitionKey: string; data: string }> = []
    deaggregateSync({ partitionKey, sequenceNumber, data: Buffer.from(data).toString("base64") }, true, (error, records) => {
      if (error) throw error
      out = records ?? []
    })
    return out
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
          for (const user of yield* userRecords(kr.data, kr.partitionKey, kr.sequenceNumber)) {
            const record = yield* decodeChangeRecord(Buffer.from(user.data, "base64").toString("utf8"))
            out.push({ shardId: shard.shardId, partitionKey: user.partitionKey, record })
          }
        }
        iterator = page.records.length === 0 ? undefined : page.nextIterator
      }
    }
    return out
  })
