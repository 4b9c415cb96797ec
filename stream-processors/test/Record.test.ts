/**
 * The recording (Record.ts) over an archive laid out as the archiver and Firehose write it,
 * on the in-memory S3 (held to s3rver's contract by FakesContract.integration.test.ts):
 * commit order restored across objects, lines byte for byte, duplicates once, filters,
 * and an archive out of order beyond the window failing with the object and line.
 */
import { describe, expect, it } from "@effect/vitest"
import { type ChangeRecord, encodeChangeRecord } from "@totes-cdc/core"
import { S3 } from "@totes-cdc/platform"
import { Effect, Option } from "effect"
import { recordArchive, type RecordConfig } from "../src/replay/Record.ts"

const BUCKET = "ingestion"

const change = (table: string, commitLsn: string, commitIdx: number, commitTs: string): ChangeRecord => ({
  v: 1,
  source: "replication",
  op: "insert",
  table,
  key: { id: `${commitLsn}/${commitIdx}` },
  before: null,
  after: { id: `${commitLsn}/${commitIdx}` },
  unchangedToast: [],
  commitLsn,
  commitIdx,
  xid: 7,
  commitTs
})

// Two shards' changes, archived in two objects that each hold both shards' pages.
const a1 = change("payment", "0/100", 0, "2024-02-23T10:00:00.000Z")
const b1 = change("sales_order", "0/100", 1, "2024-02-23T10:00:00.000Z")
const a2 = change("payment", "0/200", 0, "2024-02-23T10:00:01.000Z")
const b2 = change("sales_order", "0/300", 0, "2024-02-23T10:00:02.000Z")
const a3 = change("payment", "0/400", 0, "2024-02-23T11:00:00.000Z")
// Archived with spacing encodeChangeRecord would not write: the recording keeps the bytes, never re-encodes.
const b2Bytes = encodeChangeRecord(b2).replace(',"op":', ', "op": ')

const lines = (...items: ReadonlyArray<string>) => `${items.join("\n")}\n`
const ARCHIVE = {
  "raw/2024/02/23/10/totes-cdc-changes-1-2024-02-23-10-00-00-aaa": lines(encodeChangeRecord(a2), encodeChangeRecord(b1), "this is not json {"),
  "raw/2024/02/23/10/totes-cdc-changes-1-2024-02-23-10-00-05-bbb": lines(encodeChangeRecord(a1), b2Bytes, encodeChangeRecord(a2)),
  "raw/2024/02/23/11/totes-cdc-changes-1-2024-02-23-11-00-00-ccc": lines(encodeChangeRecord(a3))
}

const record = (config: Omit<RecordConfig, "ingestionBucket">) =>
  Effect.gen(function* () {
    const s3 = yield* S3
    for (const [key, body] of Object.entries(ARCHIVE)) yield* s3.putObject(BUCKET, key, body)
    const written: Array<string> = []
    const progress: Array<number> = []
    const report = yield* recordArchive(
      { ingestionBucket: BUCKET, ...config },
      (line) => Effect.sync(() => void written.push(new TextDecoder().decode(line))),
      (p) => Effect.sync(() => void progress.push(p.objects))
    )
    return { report, written, progress }
  }).pipe(Effect.provide(S3.layerTest({ buckets: [BUCKET] })))

describe("recordArchive", () => {
  it.effect("writes every change once, in commit order across objects, each line as archived; skips lines that are no change record", () =>
    Effect.gen(function* () {
      expect(b2Bytes).not.toBe(encodeChangeRecord(b2))
      const { report, written, progress } = yield* record({})
      expect(written).toEqual([encodeChangeRecord(a1), encodeChangeRecord(b1), encodeChangeRecord(a2), b2Bytes, encodeChangeRecord(a3)])
      expect(report).toEqual({ objects: 3, totalObjects: 3, written: 5, skippedLines: 1, duplicates: 1, filteredOut: 0 })
      expect(progress).toEqual([1, 2, 3])
    })
  )

  it.effect("keeps changes committed in [since, until) of the tables asked for", () =>
    Effect.gen(function* () {
      const { written, report } = yield* record({
        since: new Date("2024-02-23T10:00:01.000Z"),
        until: new Date("2024-02-23T11:00:00.000Z"),
        tables: new Set(["payment", "sales_order"] as const)
      })
      expect(written).toEqual([encodeChangeRecord(a2), b2Bytes])
      expect(report.filteredOut).toBe(3)
      const payments = yield* record({ tables: new Set(["payment"] as const) })
      expect(payments.written).toEqual([a1, a2, a3].map(encodeChangeRecord))
    })
  )

  it.effect("fails, naming the object and line, when the archive is out of order by more than the window — never a misordered file", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(record({ reorderWindow: 1 }))
      expect(error._tag).toBe("RecordError")
      expect(error.message).toBe(
        "s3://ingestion/raw/2024/02/23/10/totes-cdc-changes-1-2024-02-23-10-00-05-bbb line 1 (0/100/0) is older than s3://ingestion/raw/2024/02/23/10/totes-cdc-changes-1-2024-02-23-10-00-00-aaa line 2 (0/100/1), already written: the archive is out of commit order by more than 1 records; record again with a larger --reorder-window"
      )
      expect((yield* Effect.flip(record({ since: new Date("yesterday") }))).message).toBe("--since is not a time: give ISO-8601, e.g. 2024-02-23T10:00:00Z")
    })
  )

  it.effect("fails when a listed archive object is gone when read (the archive is append-only), never writing a shorter recording silently", () =>
    Effect.gen(function* () {
      const s3 = yield* S3
      for (const [key, body] of Object.entries(ARCHIVE)) yield* s3.putObject(BUCKET, key, body)
      const gone = "raw/2024/02/23/10/totes-cdc-changes-1-2024-02-23-10-00-05-bbb"
      const vanishing = S3.of({ ...s3, getObject: (bucket, key) => (key === gone ? Effect.succeed(Option.none()) : s3.getObject(bucket, key)) })
      const error = yield* Effect.flip(recordArchive({ ingestionBucket: BUCKET }, () => Effect.void).pipe(Effect.provideService(S3, vanishing)))
      expect(error.message).toBe(`archive object s3://ingestion/${gone} was listed but is gone; the archive is append-only: restore it, then record again`)
    }).pipe(Effect.provide(S3.layerTest({ buckets: [BUCKET] })))
  )
})
