/**
 * The processor: one `MicroBatchHandler` that turns the change records of a micro-batch
 * (KPL-aggregated or not; DESIGN.md §3) into star-schema Parquet objects in the processed
 * bucket (DESIGN.md §4), behind the local poller (`runProcessor`) or a Lambda event source
 * mapping (`makeKinesisLambdaHandler`). Its steps and the join state's rules:
 * stream-processors/SPEC.md §3.
 *
 * Invariants:
 *  - Every page is answered `Processed` only once the micro-batch's dead letters, Parquet
 *    objects, manifest (after its objects: a loader applies the micro-batch whole) and join
 *    state (after its objects, alongside the manifest) are stored.
 *  - A record that does not decode or transform is a dead letter; the micro-batch goes on.
 *  - Every key written is a function of the micro-batch's pages: a retry rewrites them.
 *  - Memory: a micro-batch's change records and star rows are garbage once it is encoded
 *    (`buildMicroBatch`); while its objects are put and `onObjects` waits (dev's loader hand-off)
 *    it holds only the encoded objects (bytes and values) and its dead letters.
 *  - Micro-batches are handled one at a time; the in-memory join state moves forward only
 *    once the state object is stored, and is read afresh for a micro-batch holding a
 *    joined table's change (only the joined tables' one shard writes it: SPEC.md §3).
 */
import { type ChangeRecord, isJoinedSourceTable, lsnHalves, decodeJoinState, emptyJoinState, encodeJoinState, INGESTION_LAYOUT, type JoinState, transformBatch } from "@totes-cdc/core"
import { DeadLetters, type Kinesis, S3, type S3Error } from "@totes-cdc/platform"
import { Clock, Effect, Option, Ref, Result, Schema, Semaphore } from "effect"
import type { CheckpointStore } from "../consumer/CheckpointStore.ts"
import { deaggregate, type MicroBatch, type MicroBatchHandler, processed, type ShardPage } from "../consumer/MicroBatch.ts"
import type { MicroBatchWindow } from "../consumer/MicroBatchWindow.ts"
import { defaultPollerConfig, type PollerConfig, type PollerError, runShardPoller } from "../consumer/ShardPoller.ts"
import { decodeChangeBytes } from "./DecodeChange.ts"
import { type ArchiveLocation, type JoinStateRebuildError, restoreJoinState } from "./JoinStateRebuild.ts"
import { encodeMicroBatch, writeMicroBatch } from "./MicroBatchWriter.ts"
import {
  microBatchDateOf,
  microBatchIdOf,
  orderPages,
  PROCESSOR_STAGE,
  type ProcessedObject
} from "./ProcessedObjects.ts"

/** Where the processor reads and writes, and whom it tells about new objects. */
export interface ProcessorConfig<E = never, R = never> {
  /** Bucket of the Parquet objects (`<table>/YYYY/MM/DD/<batchId>.parquet`). */
  readonly processedBucket: string
  /** Bucket of the join state object: the ingestion bucket (kept out of the processed bucket, whose object events feed the loader). */
  readonly stateBucket: string
  /** Key of the join state object, e.g. `DEFAULT_JOIN_STATE_KEY`. */
  readonly stateKey: string
  /** Called after each batch's objects and state are stored, before the batch counts as processed; a failure fails the batch. */
  readonly onObjects?: (objects: ReadonlyArray<ProcessedObject>) => Effect.Effect<void, E, R>
  /** Told what each stored micro-batch did, after `onObjects` (the Lambda entry's metrics, CloudWatchMetrics.ts in core). */
  readonly onMicroBatch?: (summary: MicroBatchSummary) => Effect.Effect<void>
}

/** What one micro-batch did: change records transformed, records dead-lettered, rows and objects written. */
export interface MicroBatchSummary {
  readonly changes: number
  readonly deadLetters: number
  readonly rows: number
  readonly objects: number
}

/**
 * The processor's window under `runProcessor`: 16 MiB of Kinesis data, 1 s after its first
 * page (`PROCESSOR_WINDOW_MS`), or a page of every shard — whichever first. Not on a full
 * page: while the stream is behind every shard's pages are full, and micro-batches of one
 * page each would multiply the objects per change (the window before this one took a page
 * of every shard too).
 */
export const DEFAULT_MICRO_BATCH_WINDOW: MicroBatchWindow = { maxBytes: 16 * 1024 * 1024, maxWaitMs: 1_000, closeWhenEveryShard: true, closeOnFullPage: false }

/** The conventional join state key. */
export const DEFAULT_JOIN_STATE_KEY = INGESTION_LAYOUT.joinStateKey

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

const firstLine = (text: string) => (text.split("\n")[0] ?? "").trim()

/** Step 1: every change of the page with its origin, and the letters of the records that are not changes. Pure. */
export const decodePage = (
  page: ShardPage
): { readonly changes: ReadonlyArray<{ readonly change: ChangeRecord; readonly origin: Origin }>; readonly letters: ReadonlyArray<Letter> } => {
  const changes: Array<{ change: ChangeRecord; origin: Origin }> = []
  const letters: Array<Letter> = []
  for (const record of page.records) {
    const users = deaggregate(record)
    if (Result.isFailure(users)) {
      letters.push({
        origin: { bytes: record.data, shardId: page.shardId, sequenceNumber: record.sequenceNumber, subSequenceNumber: null },
        error: users.failure.message
      })
      continue
    }
    for (const user of users.success) {
      const origin: Origin = { bytes: user.data, shardId: page.shardId, sequenceNumber: user.sequenceNumber, subSequenceNumber: user.subSequenceNumber }
      const decoded = decodeChangeBytes(user.data)
      if (Result.isFailure(decoded)) letters.push({ origin, error: decoded.failure })
      else changes.push({ change: decoded.success, origin })
    }
  }
  return { changes, letters }
}

/**
 * The processor's micro-batch handler (module header; SPEC.md §3). Needs S3 and
 * DeadLetters; the join state is loaded on the first micro-batch. Fails the whole
 * micro-batch with `ProcessorError` (a state that does not decode, rows that do not
 * encode), `S3Error`, or `onObjects`' error E.
 */
export const makeProcessorHandler = <E = never, R = never>(
  config: ProcessorConfig<E, R>
): Effect.Effect<MicroBatchHandler<ProcessorError | S3Error | E, R>, never, S3 | DeadLetters> =>
  Effect.gen(function* () {
    const s3 = yield* S3
    const deadLetters = yield* DeadLetters
    const stateBucket = config.stateBucket
    const where = `s3://${stateBucket}/${config.stateKey}`
    const lock = yield* Semaphore.make(1)
    /** The state in memory and its stored JSON (None until loaded). */
    const current = yield* Ref.make(Option.none<{ readonly state: JoinState; readonly stored: string | undefined }>())

    /**
     * The join state for a micro-batch: read from S3 when the micro-batch holds a change of
     * a joined table (`fresh`) — behind Lambda the previous micro-batch of the joined
     * tables' shard may have run in another container — else the copy in memory (read once:
     * the other tables' rows do not depend on it, and their micro-batches never change it).
     */
    const loadState = (fresh: boolean) => Effect.gen(function* () {
      const loaded = yield* Ref.get(current)
      if (Option.isSome(loaded) && !fresh) return loaded.value
      const body = yield* s3.getObject(stateBucket, config.stateKey)
      let value: { readonly state: JoinState; readonly stored: string | undefined }
      if (Option.isNone(body)) {
        yield* Effect.logWarning(
          `no join state at ${where}: starting from an empty state; counterparties and staff whose address or department arrived before now stay pending until their partner changes again (runProcessor rebuilds a lost state from the archive before it starts; this handler alone cannot)`
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

    /** Parks `letter` (filed under the micro-batch's date, so a retried batch overwrites it). */
    const putLetter = (letter: Letter, date: Date) => {
      const position = positionText(letter.origin)
      const { bytes, shardId, sequenceNumber, subSequenceNumber } = letter.origin
      return deadLetters
        .put({ stage: PROCESSOR_STAGE, bytes, error: letter.error, position, origin: { shardId, sequenceNumber, subSequenceNumber }, filedAt: date })
        .pipe(Effect.tap((key) => Effect.logWarning(`dead-lettered ${position} at ${key}: ${letter.error}`)))
    }

    /**
     * Steps 1–2 of a micro-batch: decode, order, transform, encode. Answers only what storing
     * it needs, so that the change records, their origins and the star rows are garbage once it
     * returns — not held while the objects are put and the loader is waited for (`onObjects`).
     */
    const buildMicroBatch = Effect.fnUntraced(function* (ordered: MicroBatch, batchId: string) {
      const decoded = ordered.map(decodePage)
      const letters = decoded.flatMap((page) => page.letters)
      // In commit order (comparePosition), ties in arrival order; each LSN parsed once, not per comparison.
      const sorted = decoded
        .flatMap((page) => page.changes)
        .map((entry, index) => ({ ...entry, index, at: lsnHalves(entry.change.commitLsn) }))
        .sort((a, b) => a.at.high - b.at.high || a.at.low - b.at.low || a.change.commitIdx - b.change.commitIdx || a.index - b.index)
      const { state, stored } = yield* loadState(sorted.some((entry) => isJoinedSourceTable(entry.change.table)))
      const origins = new Map(sorted.map((entry) => [entry.change, entry.origin] as const))
      const changes = sorted.map((entry) => entry.change)
      const result = transformBatch(state, changes)
      for (const problem of result.problems) {
        const origin = origins.get(problem.change)
        if (origin === undefined) return yield* Effect.die(new Error(`transform problem for a change not in the batch: ${problem.error}`))
        letters.push({
          origin,
          error: `${problem.change.table} ${problem.change.op} at ${problem.change.commitLsn}/${problem.change.commitIdx}: ${problem.error}`
        })
      }
      const encoded = yield* encodeMicroBatch(result.rows, changes, (table, message) => new ProcessorError({ message: `${table} rows of batch ${batchId} do not encode as Parquet: ${message}` }))
      return {
        letters,
        encoded,
        commitLsns: new Set(result.rows.map((row) => row.commitLsn)),
        state: result.state,
        stored,
        changes: changes.length,
        rows: result.rows.length
      }
    })

    /** Transforms and stores one micro-batch (SPEC.md §3 steps 1–6). Run under `lock`. */
    const processMicroBatch = Effect.fn("Processor.microBatch")(function* (pages: MicroBatch) {
      const ordered = orderPages(pages)
      const batchId = microBatchIdOf(ordered)
      const date = microBatchDateOf(ordered, new Date(yield* Clock.currentTimeMillis))

      // 1–2: decode, order, transform, encode.
      const { letters, encoded, commitLsns, state, stored, changes, rows } = yield* buildMicroBatch(ordered, batchId)

      // 3: dead letters.
      yield* Effect.forEach(letters, (letter) => putLetter(letter, date), { concurrency: 8, discard: true })

      // 4–5: Parquet objects, then the micro-batch's manifest and — alongside it, after its
      // output — the join state (MicroBatchWriter.ts).
      const next = encodeJoinState(state)
      const saveState = next === stored ? Effect.void : s3.putObject(stateBucket, config.stateKey, next, "application/json")
      const objects = yield* writeMicroBatch(config.processedBucket, batchId, date, encoded, commitLsns, saveState).pipe(Effect.provideService(S3, s3))
      yield* Ref.set(current, Option.some({ state, stored: next }))

      // 6: tell the loader.
      yield* Effect.logDebug(
        `batch ${batchId}: ${pages.length} pages, ${changes} changes → ${rows} rows in ${objects.length} objects, ${letters.length} dead letters`
      )
      if (config.onObjects !== undefined) yield* config.onObjects(objects)
      if (config.onMicroBatch !== undefined) {
        yield* config.onMicroBatch({ changes, deadLetters: letters.length, rows, objects: objects.length })
      }
    })

    return (pages: MicroBatch) => lock.withPermit(processMicroBatch(pages)).pipe(Effect.as(pages.map(() => processed)))
  })

/** The processor's consumer name under `runProcessor` (its checkpoints are `state/consumers/processor/<shard>.json`). */
export const PROCESSOR_CONSUMER = "processor"

/** What `runProcessor` needs: the handler's config, the stream to consume and the archive a lost join state is rebuilt from. */
export interface RunProcessorConfig<E = never, R = never> extends ProcessorConfig<E, R> {
  readonly stream: string
  /** The raw archive of `stream` (the archiver's bucket, prefix and consumer name; JoinStateRebuild.ts). */
  readonly archive: ArchiveLocation
  /** When a micro-batch closes (`DEFAULT_MICRO_BATCH_WINDOW` for what is not given). */
  readonly window?: Partial<MicroBatchWindow>
  /** Poller tuning (consumer name is always `processor`). */
  readonly poller?: Partial<Omit<PollerConfig, "consumer" | "stream" | "window">>
}

/**
 * Consumes `config.stream` with the processor's handler, forever (ShardPoller.ts), as
 * consumer `processor` — after making sure the join state exists (`restoreJoinState`:
 * rebuilt from `config.archive` when it was lost).
 */
export const runProcessor = <E = never, R = never>(
  config: RunProcessorConfig<E, R>
): Effect.Effect<never, ProcessorError | JoinStateRebuildError | S3Error | E | PollerError, R | S3 | Kinesis | CheckpointStore | DeadLetters> =>
  Effect.gen(function* () {
    yield* restoreJoinState({
      stream: config.stream,
      stateBucket: config.stateBucket,
      stateKey: config.stateKey,
      consumer: PROCESSOR_CONSUMER,
      archive: config.archive
    })
    // Pages of up to 10,000 records (as the archiver), so a shard that is behind catches up in large micro-batches.
    const poller: PollerConfig = {
      ...defaultPollerConfig(PROCESSOR_CONSUMER, config.stream),
      batchSize: 10_000,
      ...config.poller,
      consumer: PROCESSOR_CONSUMER,
      stream: config.stream,
      window: { ...DEFAULT_MICRO_BATCH_WINDOW, ...config.window }
    }
    return yield* runShardPoller(poller, yield* makeProcessorHandler(config))
  })
