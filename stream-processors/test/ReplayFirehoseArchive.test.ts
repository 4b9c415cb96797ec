/**
 * `replay` reads an archive written by Firehose (the AWS stack: infra/src/ChangeStream.ts),
 * not only by the local archiver: an object in Firehose's exact layout and naming —
 * `raw/YYYY/MM/DD/HH/<delivery stream>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>`, one change
 * record per line (the `AppendDelimiterToRecord` processor), the reader's KPL records
 * de-aggregated — next to Firehose's error output under `errors/`, on the in-memory S3.
 */
import { describe, expect, it } from "@effect/vitest"
import { type ChangeRecord, encodeChangeRecord, type RowImage } from "@totes-cdc/core"
import { decodeParquet, S3 } from "@totes-cdc/platform"
import { Effect, Option } from "effect"
import { type ProcessedObject, replayArchive } from "../src/index.ts"

const INGESTION = "ingestion"
const PROCESSED = "processed"

const change = (table: string, key: RowImage, after: RowImage, commitLsn: string, commitIdx: number): ChangeRecord => ({
  v: 1,
  source: "replication",
  op: "insert",
  table,
  key,
  before: null,
  after,
  unchangedToast: [],
  commitLsn,
  commitIdx,
  xid: 900,
  commitTs: "2024-02-23T10:15:29.500Z"
})

const TS = { created_at: "2024-02-23 10:15:29.5", last_updated: "2024-02-23 10:15:29.5" }
const changes: ReadonlyArray<ChangeRecord> = [
  change("currency", { currency_id: "1" }, { currency_id: "1", currency_code: "GBP", ...TS }, "0/2000", 0),
  change(
    "sales_order",
    { sales_order_id: "7001" },
    {
      sales_order_id: "7001", design_id: "9", staff_id: "16", counterparty_id: "18", units_sold: "100", unit_price: "2.50", currency_id: "1",
      agreed_delivery_date: "2024-03-01", agreed_payment_date: "2024-03-02", agreed_delivery_location_id: "4", ...TS
    },
    "0/2000",
    1
  )
]

/** Firehose's object: the records as delivered, each followed by the delimiter the processor appends. */
const firehoseBody = changes.map((record) => `${encodeChangeRecord(record)}\n`).join("")
const FIREHOSE_KEY = "raw/2024/02/23/10/totes-cdc-changes-1-2024-02-23-10-15-31-0a8b1d8e-3f5c-4b7e-9a1d-2c3e4f5a6b7c"
/** What Firehose writes when a record cannot be delivered: not change records, and not under `raw/`. */
const ERROR_KEY = "errors/processing-failed/2024/02/23/10/totes-cdc-changes-1-2024-02-23-10-15-31-5d6e7f80-1a2b-4c3d-8e9f-a0b1c2d3e4f5"

describe("replay of a Firehose archive", () => {
  it.effect("reads Firehose's object name and NDJSON, writes the rows of every change after --since, and ignores the error output", () =>
    Effect.gen(function* () {
      const s3 = yield* S3
      yield* s3.putObject(INGESTION, FIREHOSE_KEY, firehoseBody)
      yield* s3.putObject(INGESTION, ERROR_KEY, '{"attemptsMade":4,"errorCode":"Lambda.FunctionError","rawData":"eyJ4IjoxfQ=="}\n')
      const written: Array<ProcessedObject> = []
      const report = yield* replayArchive({ ingestionBucket: INGESTION, processedBucket: PROCESSED, since: new Date("2024-02-23T00:00:00Z") }, (objects) =>
        Effect.sync(() => void written.push(...objects))
      )
      expect(report).toMatchObject({ archiveObjects: 1, folded: 0, replayed: 2, skippedLines: 0, problems: 0 })
      expect(written.map((object) => object.table).sort()).toEqual(["dim_currency", "dim_date", "fact_sales_order"])
      const sales = written.find((object) => object.table === "fact_sales_order")!
      expect(sales.key).toMatch(/^fact_sales_order\/2024\/02\/23\/replay-[0-9a-f]{32}\.parquet$/)
      const rows = (yield* decodeParquet(Option.getOrThrow(yield* s3.getObject(PROCESSED, sales.key)))).rows
      expect(rows.map((row) => [row["sales_order_id"], row["units_sold"], row["unit_price"], row["_commit_lsn"]])).toEqual([[7001, 100, "2.50", "0/2000"]])
    }).pipe(Effect.provide(S3.layerTest({ buckets: [INGESTION, PROCESSED] })))
  )
})
