/**
 * The processor: one `BatchHandler` that turns a batch of Kinesis records (change records,
 * KPL-aggregated or not; DESIGN.md §3) into star-schema Parquet objects in the processed
 * bucket (DESIGN.md §4), and either succeeds or fails the batch as a whole. The same
 * handler runs behind the local poller (`runProcessor`) and behind a Lambda event source
 * mapping (`makeKinesisLambdaHandler`).
 *
 * Per batch, in this order:
 *  1. De-aggregate every Kinesis record and decode every user record with
 *     `decodeChangeRecord`. A record that does not de-aggregate or decode becomes a dead
 *     letter (its original bytes, the error, its position) and the batch goes on.
 *  2. Order the batch's changes by (commitLsn, commitIdx) (stable) and run `transformBatch`
 *     with the join state. Each transform problem becomes a dead letter holding the
 *     change's original bytes and position; the batch goes on.
 *  3. Write the dead letters: `dlq/processor/YYYY/MM/DD/<uuid>.json` in `deadLetterBucket`,
 *     the same JSON object as the reader's letters (`stage`, `error`, `position`,
 *     `parkedAt`, `size`, `encoding: "base64"`, `bytes`) plus `shardId`, `sequenceNumber`,
 *     `subSequenceNumber`. `position` is `<shardId>/<sequenceNumber>/<subSequenceNumber>`
 *     (subsequence `-` for a Kinesis record that is not a valid aggregate). The uuid is
 *     name-based (SHA-1 of stage, position and error): a retried batch overwrites its
 *     letters rather than adding copies.
 *  4. Write one Parquet object per warehouse table the batch produced rows for, at
 *     `<table>/YYYY/MM/DD/<batchId>.parquet` in `processedBucket`; batchId =
 *     `<shardId>-<firstSequenceNumber>-<lastSequenceNumber>`, date = the first record's
 *     Kinesis arrival date (ProcessedObjects.ts). Columns: `processedColumns(table,
 *     { relaxed: true })` (deletes and truncates carry only a key or nothing).
 *  5. Persist the new join state (`encodeJoinState`) at `stateBucket/stateKey` — AFTER the
 *     Parquet objects, and only when it changed. Saved before its output, a crash in
 *     between would leave a state that claims rows (its `emitted` positions, the partner
 *     versions it joined) that no object holds: a gap whenever that batch is not handed
 *     over again. Saved after, a crash in between only means the retry transforms the
 *     batch against the old state again (or, after a crash between the state and the
 *     checkpoint, against a state that already holds it: the transform re-emits every
 *     touched key from the state, so the rows are the same).
 *  6. Call `onObjects` with the objects written (the in-process loader hook), then answer
 *     `Processed`. The driver checkpoints after that.
 *  Any failure in 3–6 (S3, an encoding that does not fit, `onObjects`) fails the whole
 *  batch; the driver hands it over again and, since every key is a function of the batch,
 *  the retry rewrites the same objects: a retry after a crash duplicates nothing.
 *
 * Join state:
 *  - Loaded once, on the first batch (a failed load fails that batch, and is tried again
 *    with the next hand-over), then kept in memory; the in-memory copy moves forward only
 *    once the state object is stored.
 *  - Batches are handled one at a time (a semaphore): the poller runs one fiber per shard
 *    and the state is shared by all shards. In AWS, run the processor with one
 *    concurrent invocation per shard and ParallelizationFactor 1 on a single-shard
 *    stream, or move the state to a store with conditional writes before scaling out —
 *    two containers writing the same state object would lose each other's updates.
 *  - A state object that exists but does not decode fails the batch (never read as
 *    empty: that would silently stop emitting joined rows until the partners change).
 *  - A MISSING state object starts empty, with a logged warning. The plan for a lost state
 *    (NOT implemented yet) is to rebuild it from the ARCHIVE: replay the raw NDJSON in the
 *    ingestion bucket (the source of truth, append-only) through `transformBatch`,
 *    keeping only the state. Not from the warehouse: it keeps only the transformed
 *    dimensions — dim_counterparty already joined with its address and dim_staff with its
 *    department — so neither `counterparty.legal_address_id` nor `staff.department_id`
 *    (the join keys) can be recovered from it.
 *
 * At-least-once caveats: a batch re-read after a restart can be paged differently by
 * GetRecords (a different first/last sequence number), so its rows can land a second
 * time under another batch id; and rows of a batch retried after other batches were
 * handled re-emit the newest joined values at the same keys. Both are harmless to the
 * loader, which applies rows by position (DESIGN.md §5).
 */
import {
  type ChangeRecord,
  comparePosition,
  decodeChangeRecord,
  decodeJoinState,
  emptyJoinState,
  encodeJoinState,
  type JoinState,
  transformBatch
} from "@totes-cdc/core"
import { encodeParquet, type Kinesis, S3, type S3Error } from "@totes-cdc/platform"
import { Clock, DateTime, Effect, Option, Ref, Result, Schema, Semaphore } from "effect"
import { type BatchHandler, deaggregate, type KinesisBatch, processed } from "../consumer/BatchHandler.ts"
import type { CheckpointStore } from "../consumer/CheckpointStore.ts"
import { defaultPollerConfig, type PollerConfig, type PollerError, runShardPoller } from "../consumer/ShardPoller.ts"
import {
  batchDateOf,
  batchIdOf,
  deadLetterKey,
  nameBasedUuid,
  parquetRows,
  PROCESSOR_STAGE,
  type ProcessedObject,
  processedKey,
  processedParquetColumns,
  rowsByTable
} from "./ProcessedObjects.ts"

/** Where the processor reads and writes, and whom it tells about new objects. */
export interface ProcessorConfig<E = never, R = never> {
  /** Bucket of the Parquet objects (`<table>/YYYY/MM/DD/<batchId>.parquet`). */
  readonly processedBucket: string
  /** Bucket of the dead letters (`dlq/processor/…`). */
  readonly deadLetterBucket: string
  /** Bucket of the join state object. Default: `deadLetterBucket` (kept out of the processed bucket, whose object events feed the loader). */
  readonly stateBucket?: string
  /** Key of the join state object, e.g. `DEFAULT_JOIN_STATE_KEY`. */
  readonly stateKey: string
  /** Called after each batch's objects and state are stored, before the batch counts as processed; a failure fails the batch. */
  readonly onObjects?: (objects: ReadonlyArray<ProcessedObject>) => Effect.Effect<void, E, R>
}

/** The conventional join state key. */
export const DEFAULT_JOIN_STATE_KEY = "state/processor/join-state.json"

/** The stored join state does not decode, or a batch's rows do not encode as Parquet. */
export class ProcessorError extends Schema.TaggedError<ProcessorError>()("ProcessorError", {
  message: Schema.String
}) {}

/** Where a change came from, to dead-letter it with its original bytes. */
interface Origin {
  readonly bytes: Uint8Array
  readonly shardId: string
  readonly sequenceNumber: string
  /** `null`: the Kinesis record itself (not a valid aggregate). */
  readonly subSequenceNumber: number | null
}

interface Letter {
  readonly origin: Origin
  readonly error: string
}

const positionText = (origin: Origin) => `${origin.shardId}/${origin.sequenceNumber}/${origin.subSequenceNumber ?? "-"}`

const utf8 = new TextDecoder("utf-8", { fatal: true })

const firstLine = (text: string) => (text.split("\n")[0] ?? "").trim()

/** Step 1: every change of the batch with its origin, and the letters of the records that are not changes. Pure. */
export const decodeBatch = (
  batch: KinesisBatch
): Effect.Effect<{ readonly changes: ReadonlyArray<{ readonly change: ChangeRecord; readonly origin: Origin }>; readonly letters: ReadonlyArray<Letter> }> =>
  Effect.gen(function* () {
    const changes: Array<{ change: ChangeRecord; origin: Origin }> = []
    const letters: Array<Letter> = []
    for (const record of batch.records) {
      const users = deaggregate(record)
      if (Result.isFailure(users)) {
        letters.push({
          origin: { bytes: record.data, shardId: batch.shardId, sequenceNumber: record.sequenceNumber, subSequenceNumber: null },
          error: users.failure.message
        })
        continue
      }
      for (const user of users.success) {
        const origin: Origin = { bytes: user.data, shardId: batch.shardId, sequenceNumber: user.sequenceNumber, subSequenceNumber: user.subSequenceNumber }
        let text: string
        try {
          text = utf8.decode(user.data)
        } catch {
          letters.push({ origin, error: `not a change record: ${user.data.byteLength} bytes that are not UTF-8` })
          continue
        }
        const decoded = yield* Effect.result(decodeChangeRecord(text))
        if (Result.isFailure(decoded)) letters.push({ origin, error: `not a change record: ${firstLine(decoded.failure.message)}` })
        else changes.push({ change: decoded.success, origin })
      }
    }
    return { changes, letters }
  })

/**
 * The processor's batch handler (module header). Needs S3; the join state is loaded on
 * the first batch.
 */
export const makeProcessorHandler = <E = never, R = never>(
  config: ProcessorConfig<E, R>
): Effect.Effect<BatchHandler<ProcessorError | S3Error | E, R>, never, S3> =>
  Effect.gen(function* () {
    const s3 = yield* S3
    const stateBucket = config.stateBucket ?? config.deadLetterBucket
    const where = `s3://${stateBucket}/${config.stateKey}`
    const lock = yield* Semaphore.make(1)
    /** The state in memory and its stored JSON (None until loaded). */
    const current = yield* Ref.make(Option.none<{ readonly state: JoinState; readonly stored: string | undefined }>())

    const loadState = Effect.gen(function* () {
      const loaded = yield* Ref.get(current)
      if (Option.isSome(loaded)) return loaded.value
      const body = yield* s3.getObject(stateBucket, config.stateKey)
      let value: { readonly state: JoinState; readonly stored: string | undefined }
      if (Option.isNone(body)) {
        yield* Effect.logWarning(
          `no join state at ${where}: starting from an empty state; counterparties and staff whose address or department changed before now stay pending until their partner changes again (rebuild the state from the archive: not implemented yet)`
        )
        value = { state: emptyJoinState, stored: undefined }
      } else {
        const text = new TextDecoder().decode(body.value)
        const state = yield* decodeJoinState(text).pipe(
          Effect.mapError((error) => new ProcessorError({ message: `${where} is not a join state (${firstLine(error.message)}); inspect it, fix or restore it` }))
        )
        value = { state, stored: text }
      }
      yield* Ref.set(current, Option.some(value))
      return value
    })

    const putLetter = (letter: Letter, date: Date, parkedAt: string) => {
      const position = positionText(letter.origin)
      const { bytes } = letter.origin
      const body = {
        stage: PROCESSOR_STAGE,
        error: letter.error,
        position,
        parkedAt,
        size: bytes.byteLength,
        encoding: "base64",
        bytes: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64"),
        shardId: letter.origin.shardId,
        sequenceNumber: letter.origin.sequenceNumber,
        subSequenceNumber: letter.origin.subSequenceNumber
      }
      const key = deadLetterKey(PROCESSOR_STAGE, date, nameBasedUuid(`${PROCESSOR_STAGE}\n${position}\n${letter.error}`))
      return s3.putObject(config.deadLetterBucket, key, JSON.stringify(body), "application/json").pipe(
        Effect.andThen(Effect.logWarning(`dead-lettered ${position} at s3://${config.deadLetterBucket}/${key}: ${letter.error}`))
      )
    }

    const handle = Effect.fn("Processor.batch")(function* (batch: KinesisBatch) {
      const batchId = batchIdOf(batch)
      const date = batchDateOf(batch, new Date(yield* Clock.currentTimeMillis))
      const { state, stored } = yield* loadState

      // 1–2: decode, order, transform.
      const decoded = yield* decodeBatch(batch)
      const letters = [...decoded.letters]
      const ordered = decoded.changes
        .map((entry, index) => ({ ...entry, index }))
        .sort((a, b) => comparePosition(a.change, b.change) || a.index - b.index)
      const origins = new Map(ordered.map((entry) => [entry.change, entry.origin] as const))
      const result = transformBatch(
        state,
        ordered.map((entry) => entry.change)
      )
      for (const problem of result.problems) {
        const origin = origins.get(problem.change)
        if (origin === undefined) return yield* Effect.die(new Error(`transform problem for a change not in the batch: ${problem.error}`))
        letters.push({
          origin,
          error: `${problem.change.table} ${problem.change.op} at ${problem.change.commitLsn}/${problem.change.commitIdx}: ${problem.error}`
        })
      }

      // Encode every object before writing anything: an encoding failure writes nothing.
      const encoded = yield* Effect.forEach(rowsByTable(result.rows), ([table, rows]) =>
        encodeParquet(processedParquetColumns(table), parquetRows(table, rows)).pipe(
          Effect.mapError((error) => new ProcessorError({ message: `${table} rows of batch ${batchId} do not encode as Parquet: ${error.message}` })),
          Effect.map((bytes) => ({ table, rows: rows.length, bytes, key: processedKey(table, date, batchId) }))
        )
      )

      // 3: dead letters.
      const parkedAt = DateTime.formatIso(yield* DateTime.now)
      yield* Effect.forEach(letters, (letter) => putLetter(letter, date, parkedAt), { concurrency: 8, discard: true })

      // 4: Parquet objects.
      yield* Effect.forEach(encoded, (object) => s3.putObject(config.processedBucket, object.key, object.bytes, "application/vnd.apache.parquet"), {
        concurrency: 8,
        discard: true
      })

      // 5: join state, after its output.
      const next = encodeJoinState(result.state)
      if (next !== stored) yield* s3.putObject(stateBucket, config.stateKey, next, "application/json")
      yield* Ref.set(current, Option.some({ state: result.state, stored: next }))

      // 6: tell the loader.
      const objects: ReadonlyArray<ProcessedObject> = encoded.map((object) => ({
        table: object.table,
        bucket: config.processedBucket,
        key: object.key,
        rows: object.rows,
        batchId
      }))
      yield* Effect.logDebug(
        `batch ${batchId}: ${ordered.length} changes → ${result.rows.length} rows in ${objects.length} objects, ${letters.length} dead letters`
      )
      if (config.onObjects !== undefined) yield* config.onObjects(objects)
      return processed
    })

    return (batch: KinesisBatch) => lock.withPermit(handle(batch))
  })

/** What `runProcessor` needs: the handler's config and the stream to consume. */
export interface RunProcessorConfig<E = never, R = never> extends ProcessorConfig<E, R> {
  readonly stream: string
  /** Poller tuning (consumer name is always `processor`). */
  readonly poller?: Partial<Omit<PollerConfig, "consumer" | "stream">>
}

/** Consumes `config.stream` with the processor's handler, forever (ShardPoller.ts), as consumer `processor`. */
export const runProcessor = <E = never, R = never>(
  config: RunProcessorConfig<E, R>
): Effect.Effect<never, ProcessorError | S3Error | E | PollerError, R | S3 | Kinesis | CheckpointStore> =>
  Effect.gen(function* () {
    const handler = yield* makeProcessorHandler(config)
    return yield* runShardPoller({ ...defaultPollerConfig("processor", config.stream), ...config.poller, consumer: "processor", stream: config.stream }, handler)
  })
