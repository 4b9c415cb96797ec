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
 *  - A snapshot chunk's pointer (core's SnapshotChunk.ts) is resolved after the rest of its
 *    micro-batch is stored: the chunk is read from S3, checked against its pointer, and
 *    stored as a micro-batch of its own (`snapshot-<hash of its key>`, filed under the
 *    snapshot's date): keys that depend on the chunk alone, memory of one chunk at a time.
 *    A chunk that is missing or not the one its pointer names fails the micro-batch (it is
 *    retried; nothing is skipped). A chunk's line of a joined table is a dead letter. Past
 *    `chunkBudgetMs` the chunks left are answered `PartiallyFailed` at their pointers.
 */
import {
  type ChangeRecord,
  chunkLines,
  decodeJoinState,
  decodeSnapshotChunk,
  emptyJoinState,
  encodeJoinState,
  INGESTION_LAYOUT,
  isJoinedSourceTable,
  type JoinState,
  lsnHalves,
  type SnapshotChunk,
  transformBatch
} from "@totes-cdc/core"
import { DeadLetters, type Kinesis, S3, type S3Error } from "@totes-cdc/platform"
import { Clock, Effect, Option, Ref, Result, Schema, Semaphore } from "effect"
import { createHash } from "node:crypto"
import type { CheckpointStore } from "../consumer/CheckpointStore.ts"
import { deaggregate, type MicroBatch, type MicroBatchHandler, type PageResult, partiallyFailed, processed, type ShardPage } from "../consumer/MicroBatch.ts"
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
  /**
   * Time after a micro-batch's start (ms) past which it starts no further snapshot chunk:
   * the page of each chunk left is answered `PartiallyFailed` at the chunk pointer's record,
   * to be handed over again (a Lambda's timeout; the first chunk always runs). Default: no limit.
   */
  readonly chunkBudgetMs?: number
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
  /** A line of the snapshot chunk the user record points at (1-based). */
  readonly chunkLine?: number
}

interface Letter {
  readonly origin: Origin
  readonly error: string
}

const positionText = (origin: Origin) =>
  `${origin.shardId}/${origin.sequenceNumber}/${origin.subSequenceNumber ?? "-"}${origin.chunkLine === undefined ? "" : `#${origin.chunkLine}`}`

/** A change with where it came from. */
interface Decoded {
  readonly change: ChangeRecord
  readonly origin: Origin
}

/** A snapshot chunk's pointer with the user record that carried it. */
interface ChunkPointer {
  readonly pointer: SnapshotChunk
  readonly origin: Origin
}

/** Pure: the id of a snapshot chunk's micro-batch: `snapshot-<32 hex>`, the SHA-1 of its bucket and key. */
export const chunkBatchIdOf = (pointer: SnapshotChunk): string =>
  `snapshot-${createHash("sha1").update(`${pointer.snapshotChunk.bucket}/${pointer.snapshotChunk.key}`, "utf8").digest("hex").slice(0, 32)}`

/**
 * Pure: the changes of a snapshot chunk's `lines` (read for the pointer carried at `origin`),
 * and the letters of the lines that are not changes or belong to a joined table.
 */
export const decodeChunkLines = (lines: ReadonlyArray<Uint8Array>, origin: Origin): { readonly changes: ReadonlyArray<Decoded>; readonly letters: ReadonlyArray<Letter> } => {
  const changes: Array<Decoded> = []
  const letters: Array<Letter> = []
  lines.forEach((bytes, index) => {
    const at: Origin = { ...origin, bytes, chunkLine: index + 1 }
    const decoded = decodeChangeBytes(bytes)
    if (Result.isFailure(decoded)) letters.push({ origin: at, error: decoded.failure })
    else if (isJoinedSourceTable(decoded.success.table)) {
      letters.push({ origin: at, error: `a snapshot chunk cannot carry ${decoded.success.table} rows: the joined tables' changes keep to their one shard` })
    } else changes.push({ change: decoded.success, origin: at })
  })
  return { changes, letters }
}

const firstLine = (text: string) => (text.split("\n")[0] ?? "").trim()

/**
 * Pure: each page's result once a micro-batch is stored but for the snapshot chunks `left`
 * (in page order): `Processed`, or `PartiallyFailed` at the record carrying the page's first
 * chunk left — a retry hands that record and the page's later ones over again.
 */
export const pageResults = (pages: ReadonlyArray<ShardPage>, left: ReadonlyArray<ChunkPointer>): ReadonlyArray<PageResult<never>> =>
  pages.map((page) => {
    const first = left.find((chunk) => chunk.origin.shardId === page.shardId && page.records.some((record) => record.sequenceNumber === chunk.origin.sequenceNumber))
    return first === undefined ? processed : partiallyFailed(first.origin.sequenceNumber)
  })

/**
 * Pure: the processor's Debug line for a stored micro-batch, e.g. "batch B: 3 pages, 37500
 * changes → 38012 rows in 11 objects, 0 dead letters". `source`: "P pages", or
 * "1 snapshot chunk". The processor benchmark reads micro-batch sizes from it
 * (test/bench/ProcessorThroughput.ts, `MICRO_BATCH_LINE`).
 */
export const microBatchLine = (batchId: string, source: string, counts: MicroBatchSummary): string => `batch ${batchId}: ${source}, ${counts.changes} changes → ${counts.rows} rows in ${counts.objects} objects, ${counts.deadLetters} dead letters`

/**
 * Pure: `entries` in commit order (`comparePosition`: commit LSN, then commit index), ties in
 * arrival order. Each LSN is parsed once into its two 32-bit halves (`lsnHalves`), not per
 * comparison, and the order is sorted as indices over typed arrays (no object per change).
 * Throws on a malformed commit LSN (the change records were decoded: they have none).
 */
export const inCommitOrder = <T extends { readonly change: ChangeRecord }>(entries: ReadonlyArray<T>): Array<T> => {
  const high = new Float64Array(entries.length)
  const low = new Float64Array(entries.length)
  const index = new Int32Array(entries.length)
  let last: string | undefined
  let halves = { high: 0, low: 0 }
  for (let i = 0; i < entries.length; i++) {
    const lsn = entries[i]!.change.commitLsn
    if (lsn !== last) {
      halves = lsnHalves(lsn)
      last = lsn
    }
    high[i] = halves.high
    low[i] = halves.low
    index[i] = i
  }
  index.sort((a, b) => high[a]! - high[b]! || low[a]! - low[b]! || entries[a]!.change.commitIdx - entries[b]!.change.commitIdx || a - b)
  return Array.from(index, (i) => entries[i]!)
}

/** Step 1: every change of the page with its origin, its snapshot chunks' pointers, and the letters of the records that are neither. Pure. */
export const decodePage = (
  page: ShardPage
): { readonly changes: ReadonlyArray<Decoded>; readonly chunks: ReadonlyArray<ChunkPointer>; readonly letters: ReadonlyArray<Letter> } => {
  const changes: Array<Decoded> = []
  const chunks: Array<ChunkPointer> = []
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
      const chunk = decodeSnapshotChunk(user.data)
      if (chunk !== undefined) {
        if (Result.isFailure(chunk)) letters.push({ origin, error: chunk.failure })
        else chunks.push({ pointer: chunk.success, origin })
        continue
      }
      const decoded = decodeChangeBytes(user.data)
      if (Result.isFailure(decoded)) letters.push({ origin, error: decoded.failure })
      else changes.push({ change: decoded.success, origin })
    }
  }
  return { changes, chunks, letters }
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
     * Step 2 for changes in commit order (with their origins): transform with `state`,
     * encode. Answers only what storing them needs — not the change records or star rows,
     * which are garbage once it returns (not held while the objects are put and `onObjects`
     * waits): the transform's problems as letters, the encoded objects, the commit LSNs (a
     * set), the next join state, counts.
     */
    const transformEncode = Effect.fnUntraced(function* (entries: ReadonlyArray<Decoded>, state: JoinState, batchId: string) {
      const changes = entries.map((entry) => entry.change)
      const result = transformBatch(state, changes)
      const letters: Array<Letter> = []
      // Problems are rare: the change → origin map is built only when there is one.
      const origins = result.problems.length === 0 ? undefined : new Map(entries.map((entry) => [entry.change, entry.origin] as const))
      for (const problem of result.problems) {
        const origin = origins?.get(problem.change)
        if (origin === undefined) return yield* Effect.die(new Error(`transform problem for a change not in the batch: ${problem.error}`))
        letters.push({
          origin,
          error: `${problem.change.table} ${problem.change.op} at ${problem.change.commitLsn}/${problem.change.commitIdx}: ${problem.error}`
        })
      }
      const encoded = yield* encodeMicroBatch(result.rows, changes, (table, message) => new ProcessorError({ message: `${table} rows of batch ${batchId} do not encode as Parquet: ${message}` }))
      return { letters, encoded, commitLsns: new Set(result.rows.map((row) => row.commitLsn)), state: result.state, changes: changes.length, rows: result.rows.length }
    })

    /** Steps 1–2 of a micro-batch: decode, order, transform, encode (`transformEncode`); its chunks' pointers are only collected. */
    const buildMicroBatch = Effect.fnUntraced(function* (ordered: MicroBatch, batchId: string) {
      const decoded = ordered.map(decodePage)
      const sorted = inCommitOrder(decoded.flatMap((page) => page.changes))
      const { state, stored } = yield* loadState(sorted.some((entry) => isJoinedSourceTable(entry.change.table)))
      const built = yield* transformEncode(sorted, state, batchId)
      return { ...built, letters: [...decoded.flatMap((page) => page.letters), ...built.letters], stored, chunks: decoded.flatMap((page) => page.chunks) }
    })

    /**
     * Steps 3–6 for built micro-batch `batchId` filed under `date`: dead letters, objects and
     * manifest (with `saveState` alongside), the loader; then its Debug line
     * (`microBatchLine`), `source` naming what it was read from.
     */
    const store = Effect.fnUntraced(function* (
      batchId: string,
      source: string,
      date: Date,
      built: Effect.Success<ReturnType<typeof transformEncode>>,
      saveState: Effect.Effect<void, S3Error>
    ) {
      // 3: dead letters.
      yield* Effect.forEach(built.letters, (letter) => putLetter(letter, date), { concurrency: 8, discard: true })
      // 4–5: Parquet objects, then the micro-batch's manifest and — alongside it, after its output — the join state (MicroBatchWriter.ts).
      const objects = yield* writeMicroBatch(config.processedBucket, batchId, date, built.encoded, built.commitLsns, saveState).pipe(Effect.provideService(S3, s3))
      // 6: tell the loader.
      const counts = { changes: built.changes, deadLetters: built.letters.length, rows: built.rows, objects: objects.length }
      yield* Effect.logDebug(microBatchLine(batchId, source, counts))
      if (config.onObjects !== undefined) yield* config.onObjects(objects)
      if (config.onMicroBatch !== undefined) yield* config.onMicroBatch(counts)
    })

    /**
     * A snapshot chunk (its pointer carried at `origin`) as a micro-batch of its own: read,
     * checked against the pointer, decoded, transformed with the join state in memory (a chunk
     * holds no joined table: it leaves the state as it is), stored. Fails with `ProcessorError`
     * when the chunk is missing or is not the one its pointer names.
     */
    const processChunk = Effect.fn("Processor.snapshotChunk")(function* ({ pointer, origin }: ChunkPointer) {
      const { bucket, key, commitTs } = pointer.snapshotChunk
      const fix = `(pointed at by ${positionText(origin)}): restore the object into the archive, or take a new snapshot (\`totes-cdc reader slot drop\`, then start the reader)`
      const body = yield* s3.getObject(bucket, key)
      if (Option.isNone(body)) return yield* new ProcessorError({ message: `snapshot chunk s3://${bucket}/${key} does not exist ${fix}` })
      const lines = chunkLines(pointer, body.value)
      if (Result.isFailure(lines)) return yield* new ProcessorError({ message: `${lines.failure} ${fix}` })
      // Each step is tens of ms of synchronous work: between them, the event loop serves the
      // I/O of others (dev's loader streaming the previous micro-batch's COPY).
      yield* Effect.yieldNow
      const decoded = decodeChunkLines(lines.success, origin)
      yield* Effect.yieldNow
      const batchId = chunkBatchIdOf(pointer)
      const built = yield* transformEncode(decoded.changes, (yield* loadState(false)).state, batchId)
      yield* store(batchId, "1 snapshot chunk", new Date(commitTs), { ...built, letters: [...decoded.letters, ...built.letters] }, Effect.void)
    })

    /**
     * Transforms and stores one micro-batch (SPEC.md §3 steps 1–6), then its snapshot chunks
     * one by one, within `chunkBudgetMs`; answers the pages' results, in `pages`' order. Run
     * under `lock`.
     */
    const processMicroBatch = Effect.fn("Processor.microBatch")(function* (pages: MicroBatch) {
      const started = yield* Clock.currentTimeMillis
      const ordered = orderPages(pages)
      const batchId = microBatchIdOf(ordered)
      const date = microBatchDateOf(ordered, new Date(yield* Clock.currentTimeMillis))
      const { stored, chunks, ...built } = yield* buildMicroBatch(ordered, batchId)
      const next = encodeJoinState(built.state)
      yield* store(batchId, `${ordered.length} pages`, date, built, next === stored ? Effect.void : s3.putObject(stateBucket, config.stateKey, next, "application/json"))
      yield* Ref.set(current, Option.some({ state: built.state, stored: next }))
      let done = 0
      for (const chunk of chunks) {
        if (done > 0 && config.chunkBudgetMs !== undefined && (yield* Clock.currentTimeMillis) - started >= config.chunkBudgetMs) break
        yield* processChunk(chunk)
        done++
      }
      return pageResults(pages, chunks.slice(done))
    })

    return (pages: MicroBatch) => lock.withPermit(processMicroBatch(pages))
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
