/**
 * The processor on kinesalite + s3rver. Change records are written BY HAND (source rows
 * from the 2024-02-23 dump, values as PostgreSQL text), put on a 2-shard stream as the
 * reader puts them (KPL aggregates from core's contracts), processed by `runProcessor`, and the Parquet
 * objects are decoded and compared with hand-written warehouse rows. Every test has its
 * own stream, buckets and state key. The join-state rebuild tests run the real archiver
 * next to the processor, delete the state object and restart the processor.
 */
import { expect, layer } from "@effect/vitest"
import {
  type ChangeRecord,
  decodeJoinState,
  decodeManifest,
  emptyJoinState,
  encodeChangeRecord,
  encodeJoinState,
  encodeSnapshotChunk,
  MANIFEST_PREFIX,
  makeSnapshotChunk,
  manifestKeyOfObject,
  pendingJoins,
  processedColumns,
  type RowImage,
  snapshotChunkKey
} from "@totes-cdc/core"
import { createKinesisStream, LocalStack } from "@totes-cdc/local-stack"
import { DeadLetters, decodeParquet, Kinesis, type ParquetValue, S3 } from "@totes-cdc/platform"
import { freshBucket, putChanges } from "@totes-cdc/local-stack/testing"
import { Effect, Fiber, Layer, Logger, Option, Schedule } from "effect"
import { CheckpointStore, chunkBatchIdOf, type KinesisStreamEvent, makeProcessorHandler, partiallyFailed, makeProcessorLambdaHandler, microBatchIdOf, type ProcessedObject, processed, runArchiver, runProcessor, type ShardPage } from "../src/index.ts"
import { restoreJoinState } from "../src/processor/JoinStateRebuild.ts"

// ---------------------------------------------------------------------------------------
// Hand-written change records.

const change = (
  table: string,
  op: ChangeRecord["op"],
  key: RowImage,
  after: RowImage | null,
  commitLsn: string,
  commitIdx: number,
  before: RowImage | null = null
): ChangeRecord => ({
  v: 1,
  source: op === "read" ? "snapshot" : "replication",
  op,
  table,
  key,
  before,
  after,
  unchangedToast: [],
  commitLsn,
  commitIdx,
  xid: op === "read" ? null : 750,
  commitTs: "2024-02-23T10:00:00.000Z"
})

const TS = { created_at: "2022-11-03 14:20:49.962", last_updated: "2022-11-03 14:20:49.962" }
const address1: RowImage = {
  address_id: "1", address_line_1: "6826 Herzog Via", address_line_2: null, district: "Avon", city: "New Patienceburgh",
  postal_code: "28441", country: "Turkey", phone: "1803 637401", ...TS
}
const address15: RowImage = {
  address_id: "15", address_line_1: "605 Haskell Trafficway", address_line_2: "Axel Freeway", district: null,
  city: "East Bobbie", postal_code: "88253-4257", country: "Heard Island and McDonald Islands", phone: "9687 937447", ...TS
}
const counterparty1: RowImage = {
  counterparty_id: "1", counterparty_legal_name: "Fahey and Sons", legal_address_id: "15", commercial_contact: "Micheal Toy",
  delivery_contact: "Mrs. Lucy Runolfsdottir", created_at: "2022-11-03 14:20:51.563", last_updated: "2022-11-03 14:20:51.563"
}
const department2: RowImage = { department_id: "2", department_name: "Purchasing", location: "Manchester", manager: "Naomi Lapaglia", ...TS }
const staff1: RowImage = {
  staff_id: "1", first_name: "Jeremie", last_name: "Franey", department_id: "2", email_address: "jeremie.franey@terrifictotes.com",
  created_at: "2022-11-03 14:20:51.563", last_updated: "2022-11-03 14:20:51.563"
}
const salesOrder1: RowImage = {
  sales_order_id: "1", created_at: "2022-11-03 14:20:52.186", last_updated: "2022-11-03 14:20:52.186", design_id: "9",
  staff_id: "16", counterparty_id: "18", units_sold: "84754", unit_price: "2.43", currency_id: "3",
  agreed_delivery_date: "2022-11-10", agreed_payment_date: "2022-11-03", agreed_delivery_location_id: "4"
}
const payment2: RowImage = {
  payment_id: "2", created_at: "2022-11-03 14:20:52.187", last_updated: "2022-11-03 14:20:52.187", transaction_id: "2",
  counterparty_id: "15", payment_amount: "552548.62", currency_id: "2", payment_type_id: "3", paid: "f",
  payment_date: "2022-11-04", company_ac_number: "67305075", counterparty_ac_number: "31622269"
}
const payment2Paid: RowImage = { ...payment2, paid: "t", last_updated: "2022-11-05 09:30:00" }

/** The snapshot of the dimensions' source rows and the first facts (one transaction). */
const snapshot = (lsn: string): ReadonlyArray<ChangeRecord> => [
  change("address", "read", { address_id: "1" }, address1, lsn, 0),
  change("address", "read", { address_id: "15" }, address15, lsn, 1),
  change("department", "read", { department_id: "2" }, department2, lsn, 2),
  change("counterparty", "read", { counterparty_id: "1" }, counterparty1, lsn, 3),
  change("staff", "read", { staff_id: "1" }, staff1, lsn, 4),
  change("sales_order", "read", { sales_order_id: "1" }, salesOrder1, lsn, 5),
  change("payment", "read", { payment_id: "2" }, payment2, lsn, 6)
]

// Expected warehouse rows, written by hand from totesys/transform_rules.md.
const dimCounterparty1 = {
  counterparty_id: 1, counterparty_legal_name: "Fahey and Sons",
  counterparty_legal_address_line_1: "605 Haskell Trafficway", counterparty_legal_address_line_2: "Axel Freeway",
  counterparty_legal_district: null, counterparty_legal_city: "East Bobbie", counterparty_legal_postal_code: "88253-4257",
  counterparty_legal_country: "Heard Island and McDonald Islands", counterparty_legal_phone_number: "9687 937447"
}
const dimStaff1 = {
  staff_id: 1, first_name: "Jeremie", last_name: "Franey", department_name: "Purchasing", location: "Manchester",
  email_address: "jeremie.franey@terrifictotes.com"
}
const factPayment2 = {
  payment_id: 2, created_date: "2022-11-03", created_time: "14:20:52.187", last_updated_date: "2022-11-03",
  last_updated_time: "14:20:52.187", transaction_id: 2, counterparty_id: 15, payment_amount: "552548.62", currency_id: 2,
  payment_type_id: 3, paid: false, payment_date: "2022-11-04"
}
const factSalesOrder1 = {
  sales_order_id: 1, created_date: "2022-11-03", created_time: "14:20:52.186", last_updated_date: "2022-11-03",
  last_updated_time: "14:20:52.186", sales_staff_id: 16, counterparty_id: 18, units_sold: 84754, unit_price: "2.43",
  currency_id: 3, design_id: 9, agreed_payment_date: "2022-11-03", agreed_delivery_date: "2022-11-10", agreed_delivery_location_id: 4
}

// ---------------------------------------------------------------------------------------
// Local-stack helpers.

const quiet = Logger.layer([])

/** A fresh bucket `name` on s3rver. */
const createBucket = freshBucket

const createStream = (name: string, shards: number) => LocalStack.pipe(Effect.flatMap((stack) => createKinesisStream(stack.kinesis, name, shards)))

/** Puts `changes` on `stream` as the reader does (`perAggregate` changes per KPL aggregate at most). */
const produce = putChanges

interface Decoded {
  readonly key: string
  readonly rows: ReadonlyArray<Record<string, ParquetValue>>
}

/** Every processed object under `prefix` of `bucket` (not the manifests), decoded as Parquet, in key order. */
const readParquet = (bucket: string, prefix: string) =>
  Effect.gen(function* () {
    const s3 = yield* S3
    const out: Array<Decoded> = []
    for (const summary of yield* s3.listObjects(bucket, prefix)) {
      if (summary.key.startsWith(MANIFEST_PREFIX)) continue
      const body = yield* s3.getObject(bucket, summary.key)
      out.push({ key: summary.key, rows: (yield* decodeParquet(Option.getOrThrow(body))).rows })
    }
    return out
  })

/** The dead letters under `dlq/processor/` of `bucket`, parsed. */
const readLetters = (bucket: string) =>
  Effect.gen(function* () {
    const s3 = yield* S3
    const out: Array<{ key: string; error: string; position: string; bytes: string; stage: string }> = []
    for (const summary of yield* s3.listObjects(bucket, "dlq/processor/")) {
      const body = yield* s3.getObject(bucket, summary.key)
      const letter = JSON.parse(new TextDecoder().decode(Option.getOrThrow(body))) as { error: string; position: string; bytes: string; stage: string }
      out.push({ key: summary.key, ...letter, bytes: Buffer.from(letter.bytes, "base64").toString("utf8") })
    }
    return out
  })

/** Snapshot chunk `n` of `records` (one table's, snapshot at 0/1000) stored in `bucket` as the reader stores it. */
const storeChunk = (bucket: string, table: string, n: number, records: ReadonlyArray<ChangeRecord>) =>
  Effect.gen(function* () {
    const key = snapshotChunkKey("raw/", new Date("2024-02-23T10:00:00.000Z"), "totes_cdc", "0/1000", table, n)
    const chunk = makeSnapshotChunk(bucket, key, records)
    yield* (yield* S3).putObject(bucket, key, chunk.body)
    return { key, ...chunk }
  })

/** Polls `check` every 50 ms (up to 60 s); fails at once if `fiber` fails first. */
const waitUntil = <E, R, PE>(check: Effect.Effect<boolean, E, R>, fiber: Fiber.Fiber<never, PE>) =>
  Effect.raceFirst(
    check.pipe(Effect.repeat({ until: (ok) => ok, schedule: Schedule.spaced("50 millis") }), Effect.timeout("60 seconds"), Effect.asVoid),
    Fiber.join(fiber)
  )

/** The rows of `objects` (in order) of `table` without the pipeline columns, and the pipeline columns apart. */
const stripPipeline = (row: Record<string, ParquetValue>) => {
  const { _commit_lsn, _commit_idx, _op, _commit_ts, ...values } = row
  return { values, position: { lsn: _commit_lsn as string, idx: _commit_idx as number, op: _op as string, ts: _commit_ts as string | null } }
}

const lsnValue = (lsn: string) => {
  const [hi, lo] = lsn.split("/")
  return BigInt(`0x${hi}`) * 2n ** 32n + BigInt(`0x${lo}`)
}

/**
 * The final row per key the loader would keep: rows applied in emission order (objects as
 * `onObjects` reported them, rows in file order), a row replacing the kept one when its
 * position is ≥ the kept one's (DESIGN.md §5, TransformBatch.ts).
 */
const finalRows = (decoded: ReadonlyArray<Decoded>, keyColumn: string) => {
  const kept = new Map<string, { values: Record<string, ParquetValue>; lsn: bigint; idx: number; op: string }>()
  for (const object of decoded) {
    for (const row of object.rows) {
      const { values, position } = stripPipeline(row)
      const key = String(values[keyColumn])
      const previous = kept.get(key)
      const lsn = lsnValue(position.lsn)
      if (previous === undefined || lsn > previous.lsn || (lsn === previous.lsn && position.idx >= previous.idx)) {
        kept.set(key, { values, lsn, idx: position.idx, op: position.op })
      }
    }
  }
  return kept
}

/** Reads every object `objects` names (in that order) and decodes it. */
const readReported = (objects: ReadonlyArray<ProcessedObject>) =>
  Effect.gen(function* () {
    const s3 = yield* S3
    const out: Array<Decoded & { table: string }> = []
    for (const object of objects) {
      const body = yield* s3.getObject(object.bucket, object.key)
      out.push({ key: object.key, table: object.table, rows: (yield* decodeParquet(Option.getOrThrow(body))).rows })
    }
    return out
  })

/** The sequence number of the last record of each shard of `stream`. */
const lastSequenceNumbers = (stream: string) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const out = new Map<string, string>()
    for (const shard of yield* kinesis.listShards(stream)) {
      let iterator: string | undefined = yield* kinesis.getShardIterator(stream, shard.shardId, {})
      while (iterator !== undefined) {
        const page: { readonly records: ReadonlyArray<{ readonly sequenceNumber: string }>; readonly nextIterator: string | undefined } = yield* kinesis.getRecords(iterator)
        const last = page.records.at(-1)
        if (last !== undefined) out.set(shard.shardId, last.sequenceNumber)
        iterator = page.records.length === 0 ? undefined : page.nextIterator
      }
    }
    return out
  })

/** Checkpoints of this test's own: every test's consumer is named `processor`. */
const ownCheckpoints = (stream: string) =>
  Layer.unwrap(LocalStack.pipe(Effect.map((stack) => CheckpointStore.layer({ bucket: stack.s3.buckets.ingestion, prefix: `state/${stream}/consumers/` }))))

/** A logger layer collecting each entry as `LEVEL message` in `lines`. */
const capturing = (lines: Array<string>) =>
  Logger.layer([
    Logger.make(({ logLevel, message }) =>
      void lines.push(`${logLevel.toUpperCase()} ${(Array.isArray(message) ? message : [message]).map((part) => (typeof part === "string" ? part : JSON.stringify(part))).join(" ")}`)
    )
  ])

const services = Layer.unwrap(
  Effect.gen(function* () {
    const stack = yield* LocalStack
    const s3 = S3.layer(stack.s3)
    return Layer.mergeAll(
      Kinesis.layer(stack.kinesis),
      CheckpointStore.layer({ bucket: stack.s3.buckets.ingestion }).pipe(Layer.provideMerge(s3)),
      DeadLetters.layer(stack.s3.buckets.ingestion).pipe(Layer.provide(s3)),
      quiet
    )
  })
)

/** A page of `changes` from `shardId`, sequence numbers from `from`. */
const pageOf = (shardId: string, changes: ReadonlyArray<ChangeRecord>, from: number): ShardPage => ({
  shardId,
  records: changes.map((c, i) => ({
    shardId,
    sequenceNumber: String(from + i),
    partitionKey: `${c.table}:${Object.values(c.key).join(",")}`,
    data: new TextEncoder().encode(encodeChangeRecord(c)),
    approximateArrivalTimestamp: new Date("2024-02-23T10:00:01.000Z")
  }))
})

layer(Layer.provideMerge(services, LocalStack.layer()), { excludeTestServices: true })("Processor on kinesalite + s3rver", (it) => {
  it.effect("writes typed Parquet per warehouse table (joins, fact versions, dim_date) and dead-letters a poison record and a bad change without stopping its batch", () =>
    Effect.gen(function* () {
      const stream = "processor-e2e"
      yield* createStream(stream, 2)
      const processedBucket = yield* createBucket("processed-e2e")
      const deadLetterBucket = yield* createBucket("dlq-e2e")
      const kinesis = yield* Kinesis

      const badSalesOrder = change("sales_order", "insert", { sales_order_id: "2" }, { ...salesOrder1, sales_order_id: "2", units_sold: "lots" }, "0/2000", 0)
      yield* produce(stream, snapshot("0/1000"))
      // A poison record on the payment's shard (same partition key), between its two versions.
      const poison = yield* kinesis.putRecords(stream, [{ partitionKey: "payment:2", data: new TextEncoder().encode("this is not json {") }])
      expect(poison[0]?._tag).toBe("Written")
      yield* produce(stream, [badSalesOrder, change("payment", "update", { payment_id: "2" }, payment2Paid, "0/3000", 0)])

      const reported: Array<ProcessedObject> = []
      const fiber = yield* Effect.forkChild(
        runProcessor({
          stream,
          processedBucket,
          stateBucket: deadLetterBucket,
          archive: { bucket: deadLetterBucket },
          stateKey: "state/processor/e2e.json",
          poller: { idleMs: 20, shardRefreshMs: 200 },
          onObjects: (objects) => Effect.sync(() => void reported.push(...objects))
        }).pipe(Effect.provide(ownCheckpoints(stream)), Effect.provide(DeadLetters.layer(deadLetterBucket)))
      )
      const factPaymentRows = () => reported.filter((o) => o.table === "fact_payment").reduce((n, o) => n + o.rows, 0)
      yield* waitUntil(
        readLetters(deadLetterBucket).pipe(
          Effect.map((letters) => letters.length === 2 && factPaymentRows() === 2 && reported.some((o) => o.table === "dim_counterparty"))
        ),
        fiber
      )
      yield* Fiber.interrupt(fiber)

      // Layout: <table>/YYYY/MM/DD/<batchId>.parquet, batchId <shardId>-<first>-<last> for a micro-batch of one page,
      // mb-<hash of its pages> for several; everything listed was reported.
      const all = yield* readParquet(processedBucket, "")
      for (const object of all) expect(object.key).toMatch(/^(dim|fact)_[a-z_]+\/\d{4}\/\d{2}\/\d{2}\/(shardId-\d+-\d+-\d+|mb-[0-9a-f]{32})\.parquet$/)
      expect(all.map((o) => o.key).sort()).toEqual(reported.map((o) => o.key).sort())
      const decoded = yield* readReported(reported)
      const ofTable = (table: string) => decoded.filter((o) => o.table === table)

      // Columns: the warehouse columns (relaxed) then the pipeline's.
      const s3 = yield* S3
      const paymentFile = yield* decodeParquet(Option.getOrThrow(yield* s3.getObject(processedBucket, ofTable("fact_payment")[0]!.key)))
      expect(paymentFile.columns.map((c) => c.name)).toEqual(processedColumns("fact_payment").map((c) => c.name))
      expect(paymentFile.columns.find((c) => c.name === "payment_amount")?.arrowType).toMatch(/Decimal/)

      // dim_counterparty joined with its legal address; dim_staff with its department; dim_location.
      expect(finalRows(ofTable("dim_counterparty"), "counterparty_id").get("1")?.values).toEqual(dimCounterparty1)
      expect(finalRows(ofTable("dim_staff"), "staff_id").get("1")?.values).toEqual(dimStaff1)
      const locations = finalRows(ofTable("dim_location"), "location_id")
      expect([...locations.keys()].sort()).toEqual(["1", "15"])
      expect(locations.get("1")?.values).toEqual({
        location_id: 1, address_line_1: "6826 Herzog Via", address_line_2: null, district: "Avon", city: "New Patienceburgh",
        postal_code: "28441", country: "Turkey", phone: "1803 637401"
      })

      // Facts: sales order 1; payment 2 in two versions (paid flipped), in commit order.
      expect(ofTable("fact_sales_order").flatMap((o) => o.rows).map((r) => stripPipeline(r).values)).toEqual([factSalesOrder1])
      const payments = ofTable("fact_payment")
        .flatMap((o) => o.rows)
        .map(stripPipeline)
        .sort((a, b) => (lsnValue(a.position.lsn) < lsnValue(b.position.lsn) ? -1 : 1))
      expect(payments.map((p) => p.values)).toEqual([
        factPayment2,
        { ...factPayment2, paid: true, last_updated_date: "2022-11-05", last_updated_time: "09:30:00.000" }
      ])
      expect(payments.map((p) => p.position)).toEqual([
        // A snapshot row has no commit of its own: no commit time.
        { lsn: "0/1000", idx: 6, op: "upsert", ts: null },
        { lsn: "0/3000", idx: 0, op: "upsert", ts: "2024-02-23T10:00:00.000Z" }
      ])

      // dim_date covers every date the facts reference.
      const dates = ofTable("dim_date").flatMap((o) => o.rows).map((r) => stripPipeline(r).values)
      expect([...new Set(dates.map((d) => d["date_id"]))].sort()).toEqual(["2022-11-03", "2022-11-04", "2022-11-05", "2022-11-10"])
      expect(dates.find((d) => d["date_id"] === "2022-11-03")).toEqual({
        date_id: "2022-11-03", year: 2022, month: 11, day: 3, day_of_week: 4, day_name: "Thursday", month_name: "November", quarter: 4
      })

      // Dead letters: the original bytes, the error, the position.
      const letters = yield* readLetters(deadLetterBucket)
      for (const letter of letters) expect(letter.key).toMatch(/^dlq\/processor\/\d{4}\/\d{2}\/\d{2}\/[0-9a-f-]{36}\.json$/)
      const poisonLetter = letters.find((l) => l.bytes === "this is not json {")
      expect(poisonLetter?.error).toMatch(/not a change record/)
      const poisonWritten = poison[0]!
      if (poisonWritten._tag !== "Written") throw new Error("poison not written")
      expect(poisonLetter?.position).toBe(`${poisonWritten.shardId}/${poisonWritten.sequenceNumber}/0`)
      const badLetter = letters.find((l) => l.bytes === encodeChangeRecord(badSalesOrder))
      expect(badLetter?.error).toMatch(/units_sold/)
      expect(badLetter?.position).toMatch(/^shardId-\d+\/\d+\/\d+$/)
    })
  )

  it.effect("keeps each row's final state right when changes to a joined row and to its partner interleave across the two shards", () =>
    Effect.gen(function* () {
      const stream = "processor-interleave"
      yield* createStream(stream, 2)
      const processedBucket = yield* createBucket("processed-interleave")
      const deadLetterBucket = yield* createBucket("dlq-interleave")
      // address:15 and counterparty:1 hash to different shards of a 2-shard stream; one change per Kinesis record, one record per batch.
      const changes: Array<ChangeRecord> = [...snapshot("0/1000")]
      let address = address15
      let counterparty = counterparty1
      let department = department2
      let staff = staff1
      for (let t = 1; t <= 6; t++) {
        const lsn = `0/${(0x1000 + t * 0x100).toString(16).toUpperCase()}`
        address = { ...address, city: `City ${t}`, phone: `0000 00000${t}` }
        changes.push(change("address", "update", { address_id: "15" }, address, lsn, 0))
        if (t % 2 === 0) {
          counterparty = { ...counterparty, counterparty_legal_name: `Fahey and Sons ${t}` }
          changes.push(change("counterparty", "update", { counterparty_id: "1" }, counterparty, lsn, 1))
          staff = { ...staff, last_name: `Franey ${t}` }
          changes.push(change("staff", "update", { staff_id: "1" }, staff, lsn, 2))
        } else {
          department = { ...department, location: `Leeds ${t}` }
          changes.push(change("department", "update", { department_id: "2" }, department, lsn, 1))
        }
      }
      yield* produce(stream, changes, 1)

      const reported: Array<ProcessedObject> = []
      const fiber = yield* Effect.forkChild(
        runProcessor({
          stream,
          processedBucket,
          stateBucket: deadLetterBucket,
          archive: { bucket: deadLetterBucket },
          stateKey: "state/processor/interleave.json",
          // One change per micro-batch: every page (of one record) closes its window, interleaved across the shards.
          window: { maxBytes: 1 },
          poller: { batchSize: 1, idleMs: 20, shardRefreshMs: 200 },
          onObjects: (objects) => Effect.sync(() => void reported.push(...objects))
        }).pipe(Effect.provide(ownCheckpoints(stream)), Effect.provide(DeadLetters.layer(deadLetterBucket)))
      )
      const expectedCounterparty = { ...dimCounterparty1, counterparty_legal_name: "Fahey and Sons 6", counterparty_legal_city: "City 6", counterparty_legal_phone_number: "0000 000006" }
      const expectedStaff = { ...dimStaff1, last_name: "Franey 6", location: "Leeds 5" }
      const current = Effect.gen(function* () {
        const decoded = yield* readReported([...reported])
        return {
          counterparty: finalRows(decoded.filter((o) => o.table === "dim_counterparty"), "counterparty_id").get("1")?.values,
          staff: finalRows(decoded.filter((o) => o.table === "dim_staff"), "staff_id").get("1")?.values,
          location: finalRows(decoded.filter((o) => o.table === "dim_location"), "location_id").get("15")?.values
        }
      })
      // Wait until every shard is checkpointed at its last record, then check the final rows.
      const tips = yield* lastSequenceNumbers(stream)
      expect(tips.size).toBe(2)
      const done = Effect.gen(function* () {
        const store = yield* CheckpointStore
        for (const [shardId, last] of tips) {
          const checkpoint = yield* store.get("processor", shardId)
          if (Option.getOrUndefined(checkpoint)?.sequenceNumber !== last) return false
        }
        return true
      }).pipe(Effect.provide(ownCheckpoints(stream)), Effect.provide(DeadLetters.layer(deadLetterBucket)))
      yield* waitUntil(done, fiber)
      yield* Fiber.interrupt(fiber)
      const final = yield* current
      expect(final.counterparty).toEqual(expectedCounterparty)
      expect(final.staff).toEqual(expectedStaff)
      expect(final.location).toEqual({
        location_id: 15, address_line_1: "605 Haskell Trafficway", address_line_2: "Axel Freeway", district: null,
        city: "City 6", postal_code: "88253-4257", country: "Heard Island and McDonald Islands", phone: "0000 000006"
      })
      expect(yield* readLetters(deadLetterBucket)).toEqual([])
      // Both shards' batches went into the joins.
      expect(new Set(reported.map((o) => o.batchId.replace(/-\d+-\d+$/, ""))).size).toBe(2)
    })
  )

  it.effect("a micro-batch handled twice writes the same keys with identical bytes", () =>
    Effect.gen(function* () {
      const processedBucket = yield* createBucket("processed-retry")
      const deadLetterBucket = yield* createBucket("dlq-retry")
      const s3 = yield* S3
      const encoder = new TextEncoder()
      const changes = [...snapshot("0/1000"), change("payment", "update", { payment_id: "2" }, payment2Paid, "0/3000", 0)]
      const batch: ShardPage = {
        shardId: "shardId-000000000007",
        records: [
          ...changes.map((c, i) => ({
            shardId: "shardId-000000000007",
            sequenceNumber: String(1000 + i),
            partitionKey: `${c.table}:${Object.values(c.key).join(",")}`,
            data: encoder.encode(encodeChangeRecord(c)),
            approximateArrivalTimestamp: new Date("2024-02-23T10:00:01.000Z")
          })),
          { shardId: "shardId-000000000007", sequenceNumber: "2000", partitionKey: "x", data: encoder.encode("not json") }
        ]
      }
      const snapshotOf = Effect.gen(function* () {
        const out = new Map<string, string>()
        for (const bucket of [processedBucket, deadLetterBucket]) {
          for (const summary of yield* s3.listObjects(bucket, "")) {
            if (summary.key.startsWith("state/")) continue
            out.set(`${bucket}/${summary.key}`, Buffer.from(Option.getOrThrow(yield* s3.getObject(bucket, summary.key))).toString("base64"))
          }
        }
        return out
      })
      const processedOnly = (m: Map<string, string>) => [...m].filter(([k]) => k.startsWith(processedBucket))

      const reported: Array<Array<ProcessedObject>> = []
      const handler = yield* makeProcessorHandler({
        processedBucket,
        stateBucket: deadLetterBucket,
        stateKey: "state/processor/retry.json",
        onObjects: (objects) => Effect.sync(() => void reported.push([...objects]))
      }).pipe(Effect.provide(DeadLetters.layer(deadLetterBucket)))
      expect(yield* handler([batch])).toEqual([processed])
      const first = yield* snapshotOf
      expect(yield* handler([batch])).toEqual([processed])
      const second = yield* snapshotOf

      expect([...first.keys()].sort()).toEqual([...second.keys()].sort())
      expect(processedOnly(second)).toEqual(processedOnly(first))
      expect([...first.keys()].filter((k) => k.startsWith(`${deadLetterBucket}/dlq/`))).toHaveLength(1)
      expect(reported[1]).toEqual(reported[0])
      expect(reported[0]!.map((o) => o.key).sort()).toEqual(
        ["dim_counterparty", "dim_date", "dim_location", "dim_staff", "fact_payment", "fact_sales_order"].map(
          (table) => `${table}/2024/02/23/shardId-000000000007-1000-2000.parquet`
        )
      )
      // A fresh handler (state loaded from S3, as after a crash) writes the same bytes again.
      const restarted = yield* makeProcessorHandler({ processedBucket, stateBucket: deadLetterBucket, stateKey: "state/processor/retry.json" }).pipe(Effect.provide(DeadLetters.layer(deadLetterBucket)))
      expect(yield* restarted([batch])).toEqual([processed])
      expect(processedOnly(yield* snapshotOf)).toEqual(processedOnly(first))
    })
  )

  it.effect("resolves snapshot chunk pointers: each chunk's rows become a micro-batch of their own (the same keys on a retry); a joined table's line is a dead letter; a missing or altered chunk fails the micro-batch", () =>
    Effect.gen(function* () {
      const processedBucket = yield* createBucket("processed-chunks")
      const ingestionBucket = yield* createBucket("ingestion-chunks")
      const s3 = yield* S3
      const encoder = new TextEncoder()
      const sales = yield* storeChunk(ingestionBucket, "sales_order", 0, [change("sales_order", "read", { sales_order_id: "1" }, salesOrder1, "0/1000", 5)])
      const addresses = yield* storeChunk(ingestionBucket, "address", 0, [change("address", "read", { address_id: "15" }, address15, "0/1000", 1)])
      const shardId = "shardId-000000000003"
      const record = (sequenceNumber: string, partitionKey: string, json: string) => ({
        shardId, sequenceNumber, partitionKey, data: encoder.encode(json), approximateArrivalTimestamp: new Date("2024-02-23T10:00:01.000Z")
      })
      const page: ShardPage = {
        shardId,
        records: [
          record("100", "payment:2", encodeChangeRecord(change("payment", "read", { payment_id: "2" }, payment2, "0/1000", 6))),
          record("101", "sales_order:chunk:5", encodeSnapshotChunk(sales.pointer)),
          record("102", "address:chunk:1", encodeSnapshotChunk(addresses.pointer))
        ]
      }
      const reported: Array<ProcessedObject> = []
      const handler = yield* makeProcessorHandler({
        processedBucket,
        stateBucket: ingestionBucket,
        stateKey: "state/processor/chunks.json",
        onObjects: (objects) => Effect.sync(() => void reported.push(...objects))
      }).pipe(Effect.provide(DeadLetters.layer(ingestionBucket)))

      expect(yield* handler([page])).toEqual([processed])
      const chunkBatch = chunkBatchIdOf(sales.pointer)
      expect(chunkBatch).toMatch(/^snapshot-[0-9a-f]{32}$/)
      // The page's own change first, then the chunk's rows under the chunk's id, filed under the snapshot's date.
      expect(reported.map((o) => o.key)).toEqual([
        "dim_date/2024/02/23/shardId-000000000003-100-102.parquet",
        "fact_payment/2024/02/23/shardId-000000000003-100-102.parquet",
        `dim_date/2024/02/23/${chunkBatch}.parquet`,
        `fact_sales_order/2024/02/23/${chunkBatch}.parquet`
      ])
      const facts = yield* readParquet(processedBucket, "fact_sales_order/")
      expect(facts.flatMap((o) => o.rows.map((row) => stripPipeline(row)))).toEqual([
        { values: factSalesOrder1, position: { lsn: "0/1000", idx: 5, op: "upsert", ts: null } }
      ])
      const letters = yield* readLetters(ingestionBucket)
      expect(letters.map((l) => [l.position, l.error, l.bytes])).toEqual([
        [`${shardId}/102/0#1`, "a snapshot chunk cannot carry address rows: the joined tables' changes keep to their one shard", encodeChangeRecord(change("address", "read", { address_id: "15" }, address15, "0/1000", 1))]
      ])
      const manifests = (yield* s3.listObjects(processedBucket, MANIFEST_PREFIX)).map((o) => o.key).sort()
      expect(manifests).toEqual([`manifests/2024/02/23/${chunkBatch}.json`, "manifests/2024/02/23/shardId-000000000003-100-102.json"].sort())

      // A retry rewrites the same objects.
      const before = reported.splice(0)
      expect(yield* handler([page])).toEqual([processed])
      expect(reported.map((o) => [o.key, o.body])).toEqual(before.map((o) => [o.key, o.body]))

      // A chunk altered or gone fails the micro-batch, naming the chunk, its pointer and the fix.
      yield* s3.putObject(ingestionBucket, sales.key, encoder.encode(new TextDecoder().decode(sales.body).replace("84754", "84755")))
      const altered = yield* Effect.flip(handler([page]))
      expect(altered.message).toMatch(new RegExp(`^snapshot chunk s3://${ingestionBucket}/${sales.key.replaceAll(".", "\\.")} has SHA-256 [0-9a-f]{64}, its pointer says [0-9a-f]{64} \\(pointed at by ${shardId}/101/0\\): restore the object into the archive, or take a new snapshot`))
      yield* s3.deleteObject(ingestionBucket, sales.key)
      const gone = yield* Effect.flip(handler([page]))
      expect(gone.message).toContain(`snapshot chunk s3://${ingestionBucket}/${sales.key} does not exist (pointed at by ${shardId}/101/0)`)
    })
  )

  it.effect("past its chunk budget a micro-batch starts no further chunk: each page with chunks left is answered PartiallyFailed at its first pointer left", () =>
    Effect.gen(function* () {
      const processedBucket = yield* createBucket("processed-chunk-budget")
      const ingestionBucket = yield* createBucket("ingestion-chunk-budget")
      const encoder = new TextEncoder()
      const chunks = yield* Effect.forEach([5, 6, 7], (idx, n) =>
        storeChunk(ingestionBucket, "sales_order", n, [change("sales_order", "read", { sales_order_id: String(idx) }, { ...salesOrder1, sales_order_id: String(idx) }, "0/1000", idx)])
      )
      const pageOfPointers = (shardId: string, from: number, pointers: ReadonlyArray<(typeof chunks)[number]>): ShardPage => ({
        shardId,
        records: pointers.map((chunk, i) => ({ shardId, sequenceNumber: String(from + i), partitionKey: "p", data: encoder.encode(encodeSnapshotChunk(chunk.pointer)) }))
      })
      const pageA = pageOfPointers("shardId-000000000000", 10, [chunks[0]!, chunks[1]!])
      const pageB = pageOfPointers("shardId-000000000001", 20, [chunks[2]!])
      const reported: Array<ProcessedObject> = []
      const handler = yield* makeProcessorHandler({
        processedBucket,
        stateBucket: ingestionBucket,
        stateKey: "state/processor/chunk-budget.json",
        chunkBudgetMs: 0,
        onObjects: (objects) => Effect.sync(() => void reported.push(...objects))
      }).pipe(Effect.provide(DeadLetters.layer(ingestionBucket)))

      // Budget 0: the first chunk only, whatever the budget; both pages have chunks left.
      expect(yield* handler([pageA, pageB])).toEqual([partiallyFailed("11"), partiallyFailed("20")])
      expect(reported.filter((o) => o.table === "fact_sales_order").map((o) => o.batchId)).toEqual([chunkBatchIdOf(chunks[0]!.pointer)])
      // Handed over again from there, one chunk per call, until every page is processed.
      expect(yield* handler([{ ...pageA, records: pageA.records.slice(1) }, pageB])).toEqual([processed, partiallyFailed("20")])
      expect(yield* handler([pageB])).toEqual([processed])
      expect(reported.filter((o) => o.table === "fact_sales_order").map((o) => o.batchId)).toEqual(chunks.map((chunk) => chunkBatchIdOf(chunk.pointer)))
    })
  )

  it.effect("behind Lambda: two containers, the shards of a 2-shard stream invoked at once and each invocation in another container, keep the join state and the joined rows right", () =>
    Effect.gen(function* () {
      const stack = yield* LocalStack
      const stream = "processor-lambda"
      yield* createStream(stream, 2)
      const processedBucket = yield* createBucket("processed-lambda")
      const stateBucket = yield* createBucket("state-lambda")
      // The snapshot, then 12 transactions: the joined rows and their partners change, and new sales orders and payments arrive.
      const changes: Array<ChangeRecord> = [...snapshot("0/1000")]
      let address = address15
      let counterparty = counterparty1
      let department = department2
      let staff = staff1
      for (let t = 1; t <= 12; t++) {
        const lsn = `0/${(0x1000 + t * 0x100).toString(16).toUpperCase()}`
        address = { ...address, city: `City ${t}` }
        changes.push(change("address", "update", { address_id: "15" }, address, lsn, 0))
        if (t % 3 === 0) {
          counterparty = { ...counterparty, counterparty_legal_name: `Fahey and Sons ${t}` }
          changes.push(change("counterparty", "update", { counterparty_id: "1" }, counterparty, lsn, 1))
        } else if (t % 3 === 1) {
          department = { ...department, location: `Leeds ${t}` }
          changes.push(change("department", "update", { department_id: "2" }, department, lsn, 1))
        } else {
          staff = { ...staff, last_name: `Franey ${t}` }
          changes.push(change("staff", "update", { staff_id: "1" }, staff, lsn, 1))
        }
        changes.push(change("sales_order", "insert", { sales_order_id: String(100 + t) }, { ...salesOrder1, sales_order_id: String(100 + t) }, lsn, 2))
        changes.push(change("payment", "insert", { payment_id: String(100 + t) }, { ...payment2, payment_id: String(100 + t) }, lsn, 3))
      }
      yield* produce(stream, changes, 1)

      // What the event source mapping hands Lambda: each shard's records in order, 3 per invocation, as AWS encodes them.
      const kinesis = yield* Kinesis
      const eventsByShard: Array<Array<KinesisStreamEvent>> = []
      for (const shard of yield* kinesis.listShards(stream)) {
        const page = yield* kinesis.getRecords(yield* kinesis.getShardIterator(stream, shard.shardId, {}))
        const records = page.records.map((record) => ({
          eventSource: "aws:kinesis",
          eventID: `${shard.shardId}:${record.sequenceNumber}`,
          kinesis: {
            partitionKey: record.partitionKey,
            sequenceNumber: record.sequenceNumber,
            data: Buffer.from(record.data).toString("base64"),
            approximateArrivalTimestamp: (record.approximateArrivalTimestamp ?? new Date()).getTime() / 1000
          }
        }))
        const events: Array<KinesisStreamEvent> = []
        for (let at = 0; at < records.length; at += 3) events.push({ Records: records.slice(at, at + 3) })
        eventsByShard.push(events)
      }
      expect(eventsByShard.filter((events) => events.length > 0)).toHaveLength(2)

      // Two containers; per shard one invocation at a time (the mapping's order), both shards at once, each invocation in the other container than the last.
      const services = Layer.mergeAll(DeadLetters.layer(stateBucket).pipe(Layer.provideMerge(S3.layer(stack.s3))), quiet)
      const config = { processedBucket, stateBucket, stateKey: "state/processor/lambda.json" }
      const containers = [makeProcessorLambdaHandler(config, services), makeProcessorLambdaHandler(config, services)]
      yield* Effect.forEach(
        eventsByShard,
        (events, shard) =>
          Effect.forEach(
            events,
            (event, i) =>
              Effect.promise(() => containers[(i + shard) % 2]!(event)).pipe(Effect.tap((response) => Effect.sync(() => expect(response).toEqual({ batchItemFailures: [] })))),
            { discard: true }
          ),
        { concurrency: "unbounded", discard: true }
      )

      // The joined rows the loader keeps are the newest, and the stored state holds every partner's last version.
      const decoded = yield* readParquet(processedBucket, "")
      const ofTable = (table: string) => decoded.filter((object) => object.key.startsWith(`${table}/`))
      expect(finalRows(ofTable("dim_counterparty"), "counterparty_id").get("1")?.values).toEqual({
        ...dimCounterparty1,
        counterparty_legal_name: "Fahey and Sons 12",
        counterparty_legal_city: "City 12"
      })
      expect(finalRows(ofTable("dim_staff"), "staff_id").get("1")?.values).toEqual({ ...dimStaff1, last_name: "Franey 11", location: "Leeds 10" })
      expect(finalRows(ofTable("fact_sales_order"), "sales_order_id").size).toBe(13)
      const stored = yield* (yield* S3).getObject(stateBucket, config.stateKey)
      const state = yield* decodeJoinState(new TextDecoder().decode(Option.getOrThrow(stored)))
      expect(state.address.rows["15"]?.row?.["city"]).toBe("City 12")
      expect(state.counterparty.rows["1"]?.row?.["counterparty_legal_name"]).toBe("Fahey and Sons 12")
      expect(state.department.rows["2"]?.row?.["location"]).toBe("Leeds 10")
      expect(state.staff.rows["1"]?.row?.["last_name"]).toBe("Franey 11")
    })
  )

  it.effect("handles the pages of two shards as one micro-batch (one object per table, one id for both), and fails all of it when it fails", () =>
    Effect.gen(function* () {
      const processedBucket = yield* createBucket("processed-fail")
      const deadLetterBucket = yield* createBucket("dlq-fail")
      const [a, b] = [pageOf("shardId-000000000000", snapshot("0/1000").slice(0, 4), 100), pageOf("shardId-000000000001", snapshot("0/1000").slice(4), 200)]
      let failing = true
      const reported: Array<Array<ProcessedObject>> = []
      const handler = yield* makeProcessorHandler({
        processedBucket,
        stateBucket: deadLetterBucket,
        stateKey: "state/processor/fail.json",
        onObjects: (objects) =>
          failing ? Effect.fail("loader down" as const) : Effect.sync(() => void reported.push([...objects]))
      }).pipe(Effect.provide(DeadLetters.layer(deadLetterBucket)))
      expect(yield* Effect.flip(handler([a, b]))).toBe("loader down")
      failing = false
      // The retry comes with the pages in another order: the same micro-batch.
      expect(yield* handler([b, a])).toEqual([processed, processed])
      // One micro-batch: one call of onObjects, one object per table, under the id of both pages (in either order).
      expect(reported).toHaveLength(1)
      expect(new Set(reported[0]!.map((o) => o.table)).size).toBe(reported[0]!.length)
      expect(reported[0]![0]!.batchId).toBe(microBatchIdOf([a, b]))
      expect(microBatchIdOf([a, b])).toBe(microBatchIdOf([b, a]))
    })
  )

  it.effect("groups pages of both shards arriving within one window into one object per table, and closes a window by time when traffic is low", () =>
    Effect.gen(function* () {
      const stream = "processor-window"
      yield* createStream(stream, 2)
      const processedBucket = yield* createBucket("processed-window")
      const deadLetterBucket = yield* createBucket("dlq-window")
      yield* produce(stream, snapshot("0/1000"))
      const tips = yield* lastSequenceNumbers(stream)
      expect(tips.size).toBe(2)

      const reported: Array<ProcessedObject> = []
      const fiber = yield* Effect.forkChild(
        runProcessor({
          stream,
          processedBucket,
          stateBucket: deadLetterBucket,
          archive: { bucket: deadLetterBucket },
          stateKey: "state/processor/window.json",
          // Long enough for both shards' first pages (read at once) to join the first window.
          window: { maxWaitMs: 2_000 },
          poller: { idleMs: 20, shardRefreshMs: 200 },
          onObjects: (objects) => Effect.sync(() => void reported.push(...objects))
        }).pipe(Effect.provide(ownCheckpoints(stream)), Effect.provide(DeadLetters.layer(deadLetterBucket)))
      )
      const checkpointedAt = (expected: ReadonlyMap<string, string>) =>
        Effect.gen(function* () {
          const store = yield* CheckpointStore
          for (const [shardId, last] of expected) {
            if (Option.getOrUndefined(yield* store.get("processor", shardId))?.sequenceNumber !== last) return false
          }
          return true
        }).pipe(Effect.provide(ownCheckpoints(stream)), Effect.provide(DeadLetters.layer(deadLetterBucket)))
      yield* waitUntil(checkpointedAt(tips), fiber)

      // One micro-batch holding a page of each shard: one object per table, all under one batch id.
      const s3 = yield* S3
      const listed = (yield* s3.listObjects(processedBucket, "")).map((summary) => summary.key)
      const keys = listed.filter((key) => !key.startsWith(MANIFEST_PREFIX))
      const tables = ["dim_counterparty", "dim_date", "dim_location", "dim_staff", "fact_payment", "fact_sales_order"]
      expect(keys.map((key) => key.split("/")[0]).sort()).toEqual(tables)
      // And its manifest, listing exactly those objects, with the LSN range of their rows.
      const manifestKeys = listed.filter((key) => key.startsWith(MANIFEST_PREFIX))
      expect(manifestKeys).toEqual([manifestKeyOfObject(keys[0]!)])
      const manifest = yield* decodeManifest(manifestKeys[0]!, Buffer.from(Option.getOrThrow(yield* s3.getObject(processedBucket, manifestKeys[0]!))).toString("utf8"))
      expect(manifest.objects.map((object) => object.key).sort()).toEqual([...keys].sort())
      expect(manifest.objects.map((object) => object.rows)).toEqual(manifest.objects.map((object) => reported.find((o) => o.key === object.key)!.rows))
      expect(new Set(reported.map((o) => o.batchId)).size).toBe(1)
      expect(reported[0]!.batchId).toMatch(/^mb-[0-9a-f]{32}$/)
      expect(reported.map((o) => o.key).sort()).toEqual([...keys].sort())
      const decoded = yield* readReported(reported)
      expect(finalRows(decoded.filter((o) => o.table === "dim_counterparty"), "counterparty_id").get("1")?.values).toEqual(dimCounterparty1)

      // Low traffic: one change, nothing after it; its window closes by time alone (S3 polled, no sleep).
      yield* produce(stream, [change("payment", "update", { payment_id: "2" }, payment2Paid, "0/3000", 0)])
      const paymentObjects = s3.listObjects(processedBucket, "fact_payment/").pipe(Effect.map((objects) => objects.length))
      yield* waitUntil(paymentObjects.pipe(Effect.map((n) => n === 2)), fiber)
      yield* waitUntil(checkpointedAt(yield* lastSequenceNumbers(stream)), fiber)
      yield* Fiber.interrupt(fiber)
      const late = reported.filter((o) => o.batchId !== reported[0]!.batchId)
      expect(late.map((o) => o.table).sort()).toEqual(["dim_date", "fact_payment"])
      expect(late[0]!.batchId).toMatch(/^shardId-\d+-\d+-\d+$/)
      const latePayment = (yield* readReported(late.filter((o) => o.table === "fact_payment"))).flatMap((o) => o.rows).map(stripPipeline)
      expect(latePayment.map((p) => p.values["paid"])).toEqual([true])
      expect(yield* readLetters(deadLetterBucket)).toEqual([])
    })
  )

  // -------------------------------------------------------------------------------------
  // A lost join state, rebuilt from the archive (JoinStateRebuild.ts).

  /** Every test's archiver and processor: own checkpoints, fast polling, the archive flushed within 50 ms. */
  const rebuildRig = (stream: string, bucket: string, processedBucket: string, stateKey: string) => {
    const processor = (reported: Array<ProcessedObject>, logs: Array<string> = []) =>
      runProcessor({
        stream,
        processedBucket,
        stateBucket: bucket,
        stateKey,
        archive: { bucket },
        poller: { idleMs: 20, shardRefreshMs: 200 },
        onObjects: (objects) => Effect.sync(() => void reported.push(...objects))
      }).pipe(Effect.provide(ownCheckpoints(stream)), Effect.provide(DeadLetters.layer(bucket)), Effect.provide(capturing(logs)))
    const archiver = runArchiver({ stream, bucket, bufferIntervalMs: 50, poller: { idleMs: 20, shardRefreshMs: 200 } }).pipe(
      Effect.provide(ownCheckpoints(stream))
    )
    /** Whether `consumer` has checkpointed the stream's last record on every shard. */
    const caughtUp = (consumer: string) =>
      Effect.gen(function* () {
        const store = yield* CheckpointStore
        for (const [shardId, last] of yield* lastSequenceNumbers(stream)) {
          if (Option.getOrUndefined(yield* store.get(consumer, shardId))?.sequenceNumber !== last) return false
        }
        return true
      }).pipe(Effect.provide(ownCheckpoints(stream)))
    const restore = restoreJoinState({ stream, stateBucket: bucket, stateKey, consumer: "processor", archive: { bucket } }).pipe(
      Effect.provide(ownCheckpoints(stream))
    )
    /** Waits until both running consumers have checkpointed the stream's last record on every shard. */
    const bothCaughtUp = (processorFiber: Fiber.Fiber<never, unknown>, archiverFiber: Fiber.Fiber<never, unknown>) =>
      Effect.raceFirst(waitUntil(Effect.zipWith(caughtUp("processor"), caughtUp("archiver"), (a, b) => a && b), processorFiber), Fiber.join(archiverFiber))
    /**
     * The state object is deleted; then counterparty 1 and staff 1 change at `lsn` (their
     * partners do not) and the processor starts again, alone, until it has handled the
     * stream: what it reported and logged.
     */
    const loseStateThenRestart = (lsn: string) =>
      Effect.gen(function* () {
        yield* S3.use((s3) => s3.deleteObject(bucket, stateKey))
        yield* produce(stream, [
          change("counterparty", "update", { counterparty_id: "1" }, { ...counterparty1, counterparty_legal_name: "Fahey and Daughters" }, lsn, 0),
          change("staff", "update", { staff_id: "1" }, { ...staff1, last_name: "Franey-Smith" }, lsn, 1)
        ])
        const after: Array<ProcessedObject> = []
        const logs: Array<string> = []
        const restarted = yield* Effect.forkChild(processor(after, logs))
        yield* waitUntil(caughtUp("processor"), restarted)
        yield* Fiber.interrupt(restarted)
        return { after, logs }
      })
    return { processor, archiver, caughtUp, restore, bothCaughtUp, loseStateThenRestart }
  }

  /** The final dim_counterparty 1, dim_staff 1 and dim_location 15 of `reported` (as the loader would keep them). */
  const joinedRows = (reported: ReadonlyArray<ProcessedObject>) =>
    Effect.gen(function* () {
      const decoded = yield* readReported(reported)
      const of = (table: string, key: string, id: string) => finalRows(decoded.filter((o) => o.table === table), key).get(id)?.values
      return {
        counterparty: of("dim_counterparty", "counterparty_id", "1"),
        staff: of("dim_staff", "staff_id", "1"),
        location: of("dim_location", "location_id", "15")
      }
    })

  it.effect("rebuilds a lost join state from the archive: a counterparty and a staff change after the loss are joined with the address and department that arrived only before it", () =>
    Effect.gen(function* () {
      const stream = "processor-rebuild"
      yield* createStream(stream, 2)
      const processedBucket = yield* createBucket("processed-rebuild")
      const bucket = yield* createBucket("ingestion-rebuild")
      const stateKey = "state/processor/rebuild.json"
      const rig = rebuildRig(stream, bucket, processedBucket, stateKey)
      const s3 = yield* S3
      const kinesis = yield* Kinesis

      // First start: no checkpoints, no state → the empty state is stored, nothing rebuilt.
      expect(yield* rig.restore).toEqual({ _tag: "FirstStart" })
      expect(new TextDecoder().decode(Option.getOrThrow(yield* s3.getObject(bucket, stateKey)))).toBe(encodeJoinState(emptyJoinState))

      // Before the loss: the snapshot and a poison record, archived and processed.
      yield* produce(stream, snapshot("0/1000"))
      const poison = yield* kinesis.putRecords(stream, [{ partitionKey: "payment:2", data: new TextEncoder().encode("this is not json {") }])
      expect(poison[0]?._tag).toBe("Written")
      const archiver = yield* Effect.forkChild(rig.archiver)
      const before: Array<ProcessedObject> = []
      const first = yield* Effect.forkChild(rig.processor(before))
      yield* rig.bothCaughtUp(first, archiver)
      yield* Fiber.interrupt(first)
      yield* Fiber.interrupt(archiver)
      expect((yield* joinedRows(before)).counterparty).toEqual(dimCounterparty1)

      // The state is lost; after it, the counterparty and the staff member change (their partners do not).
      const { after, logs } = yield* rig.loseStateThenRestart("0/5000")

      // Joined with the address and the department from before the loss (without the rebuild both would be pending: no row).
      const rows = yield* joinedRows(after)
      expect(rows.counterparty).toEqual({ ...dimCounterparty1, counterparty_legal_name: "Fahey and Daughters" })
      expect(rows.staff).toEqual({ ...dimStaff1, last_name: "Franey-Smith" })
      expect(after.map((o) => o.table).sort()).toEqual(["dim_counterparty", "dim_staff"])

      // The stored state holds the snapshot's rows and the changes after it; nothing pending.
      const state = yield* decodeJoinState(new TextDecoder().decode(Option.getOrThrow(yield* s3.getObject(bucket, stateKey))))
      expect(Object.keys(state.address.rows).sort()).toEqual(["1", "15"])
      expect(state.counterparty.rows["1"]?.row?.["legal_address_id"]).toBe("15")
      expect(state.staff.rows["1"]?.row?.["last_name"]).toBe("Franey-Smith")
      expect(pendingJoins(state)).toEqual([])
      // Stored: a restart does not rebuild again.
      expect(yield* rig.restore).toEqual({ _tag: "Present" })

      // One line for the rebuild (the snapshot's 5 joined changes; the poison line skipped with its own warning), nothing moved back.
      const rebuilt = logs.filter((line) => line.includes("rebuilt the join state"))
      expect(rebuilt).toHaveLength(1)
      expect(rebuilt[0]).toMatch(/ 5 changes of the joined tables → rows address 2, department 1, counterparty 1, staff 1; lines skipped 1, problems 0; processor checkpoints moved back to the archive's end on 0 of 2 shards \(none\); \d+ ms$/)
      expect(logs.filter((line) => /line \d+: not a change record/.test(line))).toHaveLength(1)
    })
  )

  it.effect("archive lag: partner changes the processor handled but the archiver had not archived when the state was lost are handled again, not missed", () =>
    Effect.gen(function* () {
      const stream = "processor-rebuild-lag"
      yield* createStream(stream, 2)
      const processedBucket = yield* createBucket("processed-rebuild-lag")
      const bucket = yield* createBucket("ingestion-rebuild-lag")
      const stateKey = "state/processor/rebuild-lag.json"
      const rig = rebuildRig(stream, bucket, processedBucket, stateKey)

      // The snapshot, archived and processed.
      yield* produce(stream, snapshot("0/1000"))
      const archiver = yield* Effect.forkChild(rig.archiver)
      const processor = yield* Effect.forkChild(rig.processor([]))
      yield* rig.bothCaughtUp(processor, archiver)
      yield* Fiber.interrupt(archiver)

      // The archiver stops; the address and the department change, and only the processor handles that.
      const address15Moved = { ...address15, city: "Lagtown", phone: "0113 496000" }
      const department2Moved = { ...department2, location: "Leeds" }
      yield* produce(stream, [
        change("address", "update", { address_id: "15" }, address15Moved, "0/2000", 0),
        change("department", "update", { department_id: "2" }, department2Moved, "0/2000", 1)
      ])
      yield* waitUntil(rig.caughtUp("processor"), processor)
      yield* Fiber.interrupt(processor)
      expect(yield* rig.caughtUp("archiver")).toBe(false)

      // The state is lost; then the counterparty and the staff member change. The archiver is still down.
      const { after, logs } = yield* rig.loseStateThenRestart("0/3000")

      // Joined with the partners' versions the archive lacks (from the archive alone: the old city and location).
      const rows = yield* joinedRows(after)
      expect(rows.counterparty).toEqual({
        ...dimCounterparty1, counterparty_legal_name: "Fahey and Daughters", counterparty_legal_city: "Lagtown", counterparty_legal_phone_number: "0113 496000"
      })
      expect(rows.staff).toEqual({ ...dimStaff1, last_name: "Franey-Smith", location: "Leeds" })
      // The unarchived address change passed through the transform again.
      expect(rows.location?.["city"]).toBe("Lagtown")
      const rebuilt = logs.filter((line) => line.includes("rebuilt the join state"))
      expect(rebuilt).toHaveLength(1)
      expect(rebuilt[0]).toMatch(/ 5 changes of the joined tables → rows address 2, department 1, counterparty 1, staff 1; lines skipped 0, problems 0; processor checkpoints moved back to the archive's end on [12] of 2 shards /)
    })
  )
})
