/**
 * Snapshot chunks in the raw archive (core's SnapshotChunk.ts), on the in-memory S3: the
 * archive holds the stream's pointer lines (as Firehose or the archiver wrote them) and the
 * chunk objects the reader stored beside them. `record` and `replay` read a chunk's rows where
 * its pointer stands — never the chunk object by itself, never a pointer as a bad line — and
 * fail, naming the pointer's line and the chunk, when a chunk is gone.
 */
import { describe, expect, it } from "@effect/vitest"
import { type ChangeRecord, encodeChangeRecord, encodeSnapshotChunk, makeSnapshotChunk, snapshotChunkKey, snapshotRecord } from "@totes-cdc/core"
import { decodeParquet, S3 } from "@totes-cdc/platform"
import { Effect, Option } from "effect"
import { type ProcessedObject, recordArchive, replayArchive } from "../src/index.ts"

const INGESTION = "ingestion"
const PROCESSED = "processed"
const SNAPSHOT_TS = "2024-02-23T10:00:00.000Z"

const sales = (id: number): ChangeRecord =>
  snapshotRecord(
    "sales_order",
    {
      sales_order_id: String(id), design_id: "9", staff_id: "16", counterparty_id: "18", units_sold: String(100 + id), unit_price: "2.50", currency_id: "1",
      agreed_delivery_date: "2024-03-01", agreed_payment_date: "2024-03-02", agreed_delivery_location_id: "4",
      created_at: "2024-02-22 09:00:00", last_updated: "2024-02-22 09:00:00"
    },
    { commitLsn: "0/1000", commitIdx: id },
    SNAPSHOT_TS
  )
const marker = snapshotRecord("currency", { currency_id: "1", currency_code: "GBP", created_at: "2024-02-22 09:00:00", last_updated: "2024-02-22 09:00:00" }, { commitLsn: "0/1000", commitIdx: 0 }, SNAPSHOT_TS)
const later: ChangeRecord = { ...sales(9), source: "replication", op: "insert", commitLsn: "0/2000", commitIdx: 0, xid: 901, commitTs: "2024-02-23T10:00:05.000Z" }

const chunkKey = snapshotChunkKey("raw/", new Date(SNAPSHOT_TS), "totes_cdc", "0/1000", "sales_order", 0)
const chunk = makeSnapshotChunk(INGESTION, chunkKey, [sales(1), sales(2), sales(3)])
// Firehose's object of the same hour: its name sorts BEFORE the chunk's, and it holds a change committed after the snapshot.
const FIREHOSE_KEY = "raw/2024/02/23/10/totes-cdc-changes-1-2024-02-23-10-00-06-aaa"
const firehoseBody = [encodeChangeRecord(marker), encodeSnapshotChunk(chunk.pointer), encodeChangeRecord(later)].map((line) => `${line}\n`).join("")

const archive = (withChunk: boolean) =>
  Effect.gen(function* () {
    const s3 = yield* S3
    yield* s3.putObject(INGESTION, FIREHOSE_KEY, firehoseBody)
    if (withChunk) yield* s3.putObject(INGESTION, chunkKey, chunk.body)
  })

const layer = S3.layerTest({ buckets: [INGESTION, PROCESSED] })

describe("snapshot chunks in the archive", () => {
  it.effect("record: a chunk's rows come where its pointer stands, in commit order, and the chunk object is not read again", () =>
    Effect.gen(function* () {
      yield* archive(true)
      const written: Array<string> = []
      const report = yield* recordArchive({ ingestionBucket: INGESTION, reorderWindow: 1 }, (line) => Effect.sync(() => void written.push(new TextDecoder().decode(line))), () => Effect.void)
      expect(written).toEqual([marker, sales(1), sales(2), sales(3), later].map(encodeChangeRecord))
      expect(report).toMatchObject({ objects: 1, totalObjects: 1, written: 5, skippedLines: 0, duplicates: 0 })
    }).pipe(Effect.provide(layer))
  )

  it.effect("replay: a chunk's rows are replayed with the rest, nothing counted as a skipped line", () =>
    Effect.gen(function* () {
      yield* archive(true)
      const written: Array<ProcessedObject> = []
      const report = yield* replayArchive({ ingestionBucket: INGESTION, processedBucket: PROCESSED, since: new Date("2024-02-23T00:00:00Z") }, (objects) =>
        Effect.sync(() => void written.push(...objects))
      )
      expect(report).toMatchObject({ archiveObjects: 1, replayed: 5, skippedLines: 0, problems: 0 })
      const facts = written.find((object) => object.table === "fact_sales_order")!
      const rows = (yield* decodeParquet(Option.getOrThrow(yield* (yield* S3).getObject(PROCESSED, facts.key)))).rows
      expect(rows.map((row) => [row["sales_order_id"], row["units_sold"], row["_commit_lsn"]])).toEqual([
        [1, 101, "0/1000"],
        [2, 102, "0/1000"],
        [3, 103, "0/1000"],
        [9, 109, "0/2000"]
      ])
    }).pipe(Effect.provide(layer))
  )

  it.effect("a pointer whose chunk is gone fails record and replay, naming the line and the chunk", () =>
    Effect.gen(function* () {
      yield* archive(false)
      const recorded = yield* Effect.flip(recordArchive({ ingestionBucket: INGESTION }, () => Effect.void, () => Effect.void))
      const replayed = yield* Effect.flip(replayArchive({ ingestionBucket: INGESTION, processedBucket: PROCESSED, since: new Date("2024-02-23T00:00:00Z") }, () => Effect.void))
      const message = `the snapshot chunk that ${FIREHOSE_KEY} line 2 points at, s3://${INGESTION}/${chunkKey}, does not exist: restore it into the archive`
      expect([recorded.message, replayed.message]).toEqual([message, message])
    }).pipe(Effect.provide(layer))
  )
})
