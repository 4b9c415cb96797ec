/**
 * The processor: one `BatchHandler` that turns Kinesis records (change records,
 * KPL-aggregated or not; DESIGN.md §3) into star-schema Parquet objects in the processed
 * bucket (DESIGN.md §4). The same handler runs behind the local poller (`runProcessor`)
 * and behind a Lambda event source mapping (`makeKinesisLambdaHandler`).
 *
 * Micro-batches: the handler calls of ALL shards (each one GetRecords page of one shard)
 * are collected in a shared window and handled together as ONE micro-batch, like the
 * archiver's buffer (Archiver.ts). The window closes when it holds `maxChanges` change
 * records (user records, letters included; default 100,000), or `maxBytes` of Kinesis
 * record data (default 16 MiB), or `maxWaitMs` after its first page joined it (default
 * 1,000; `PROCESSOR_WINDOW_MS`), or as soon as it holds a page of every shard being
 * consumed (`consumedShards`: no shard can add a second one) — whichever comes first; a
 * page that makes it due closes it at once (it is never split). Each call waits, and
 * answers `Processed` only once the micro-batch holding its page is stored (steps 1–6): the driver checkpoints a page only
 * after its rows, letters and the join state are in S3. A failed micro-batch (or one whose
 * flushing call is interrupted: `ProcessorError`) fails every call it held; the driver
 * hands each of those pages over again. Within one shard a window holds at most one page
 * (the poller reads a shard's next page only after the previous one is answered), so
 * pages of a shard are stored in shard order. Behind Lambda (one invocation at a time per
 * container) every window holds one page: set `maxWaitMs: 0` there, or each invocation
 * waits the whole window for nothing.
 *
 * Per micro-batch, in this order (its pages in canonical order: by shard id, then first
 * sequence number — so the result depends on the set of pages, not on their arrival):
 *  1. De-aggregate every Kinesis record and decode every user record with
 *     `decodeChangeRecord`. A record that does not de-aggregate or decode becomes a dead
 *     letter (its original bytes, the error, its position) and the batch goes on.
 *  2. Order the micro-batch's changes by (commitLsn, commitIdx) (stable) and run `transformBatch`
 *     with the join state. Each transform problem becomes a dead letter holding the
 *     change's original bytes and position; the batch goes on.
 *  3. Write the dead letters: `dlq/processor/YYYY/MM/DD/<uuid>.json` in `deadLetterBucket`,
 *     the same JSON object as the reader's letters (`stage`, `error`, `position`,
 *     `parkedAt`, `size`, `encoding: "base64"`, `bytes`) plus `shardId`, `sequenceNumber`,
 *     `subSequenceNumber`. `position` is `<shardId>/<sequenceNumber>/<subSequenceNumber>`
 *     (subsequence `-` for a Kinesis record that is not a valid aggregate). The uuid is
 *     name-based (SHA-1 of stage, position and error): a retried batch overwrites its
 *     letters rather than adding copies.
 *  4. Write one Parquet object per warehouse table the micro-batch produced rows for —
 *     dimension objects first, then (once they are stored) fact objects, so a crash in
 *     between never leaves a fact object whose dim_date or dimension rows are missing — at
 *     `<table>/YYYY/MM/DD/<batchId>.parquet` in `processedBucket`; batchId =
 *     `<shardId>-<firstSequenceNumber>-<lastSequenceNumber>` for one page, else
 *     `mb-<SHA-1 of its pages' (shardId, first, last)>` (`microBatchIdOf`); date = the
 *     earliest Kinesis arrival date of its pages' first records (ProcessedObjects.ts).
 *     Columns: `processedColumns(table, { relaxed: true })` (deletes and truncates carry
 *     only a key or nothing).
 *  5. Persist the new join state (`encodeJoinState`) at `stateBucket/stateKey` — AFTER the
 *     Parquet objects, and only when it changed. Saved before its output, a crash in
 *     between would leave a state that claims rows (its `emitted` positions, the partner
 *     versions it joined) that no object holds: a gap whenever that batch is not handed
 *     over again. Saved after, a crash in between only means the retry transforms the
 *     batch against the old state again (or, after a crash between the state and the
 *     checkpoint, against a state that already holds it: the transform re-emits every
 *     touched key from the state, so the rows are the same).
 *  6. Call `onObjects` with the objects written (the in-process loader hook), then answer
 *     `Processed` to every call of the micro-batch. The driver checkpoints after that.
 *  Any failure in 3–6 (S3, an encoding that does not fit, `onObjects`) fails the whole
 *  micro-batch; the driver hands its pages over again and, when they are cut and grouped
 *  the same way, the retry rewrites the same objects (every key is a function of the pages).
 *
 * Join state:
 *  - Loaded once, on the first batch (a failed load fails that batch, and is tried again
 *    with the next hand-over), then kept in memory; the in-memory copy moves forward only
 *    once the state object is stored.
 *  - Micro-batches are handled one at a time (a semaphore): the poller runs one fiber per
 *    shard and the state is shared by all shards. In AWS, run the processor with one
 *    concurrent invocation per shard and ParallelizationFactor 1 on a single-shard
 *    stream, or move the state to a store with conditional writes before scaling out —
 *    two containers writing the same state object would lose each other's updates.
 *  - A state object that exists but does not decode fails the batch (never read as
 *    empty: that would silently stop emitting joined rows until the partners change).
 *  - A MISSING state object: `runProcessor` never meets one. Before its poller starts it
 *    calls `restoreJoinState` (JoinStateRebuild.ts): on a first start (no checkpoint of
 *    `processor`) it stores the empty state; after a loss (checkpoints, no state) it
 *    rebuilds the state from the raw ARCHIVE — not from the warehouse, whose joined
 *    dimensions have lost the join keys `counterparty.legal_address_id` and
 *    `staff.department_id` — and moves the processor's checkpoints back to the archiver's
 *    where the archive lags, so no partner change is missed. The handler alone (behind
 *    Lambda, where the event source mapping owns the checkpoints) cannot move them: there a
 *    missing state starts empty with a logged warning.
 *
 * At-least-once caveats: pages re-delivered after a failure or a restart are not always
 * cut and grouped the same way — GetRecords can page a shard differently (other first/last
 * sequence numbers), and which pages of which shards meet in one window depends on timing
 * (a failed micro-batch's pages are retried by each shard on its own backoff). Their rows
 * then land a second time under another batch id, next to the objects of the earlier
 * attempt that were already written (a failed micro-batch can leave some of its objects
 * behind); nothing is lost, since nothing unacknowledged is checkpointed. And rows of a
 * page retried after other micro-batches were handled re-emit the newest joined values at
 * the same keys. Both are harmless to the
 * loader, which applies rows by position (DESIGN.md §5).
 */
import { type ChangeRecord, comparePosition, decodeJoinState, emptyJoinState, encodeJoinState, INGESTION_LAYOUT, isFactTable, type JoinState, processedColumns, processedKey, processedRows, transformBatch } from "@totes-cdc/core"
import { DeadLetters, encodeParquet, type Kinesis, S3, type S3Error } from "@totes-cdc/platform"
import { Clock, Deferred, Effect, Option, Ref, Result, Schema, Semaphore } from "effect"
import { type BatchHandler, deaggregate, type KinesisBatch, processed } from "../consumer/BatchHandler.ts"
import type { CheckpointStore } from "../consumer/CheckpointStore.ts"
import { defaultPollerConfig, type PollerConfig, type PollerError, runShardPoller } from "../consumer/ShardPoller.ts"
import { decodeChangeBytes } from "./DecodeChange.ts"
import { type ArchiveLocation, type JoinStateRebuildError, restoreJoinState } from "./JoinStateRebuild.ts"
import {
  microBatchDateOf,
  microBatchIdOf,
  orderPages,
  PROCESSOR_STAGE,
  type ProcessedObject,
  rowsByTable
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
  /** When a micro-batch closes (`DEFAULT_MICRO_BATCH_WINDOW` for what is not given). */
  readonly window?: Partial<MicroBatchWindow>
}

/** When a micro-batch window closes: whichever limit is reached first. */
export interface MicroBatchWindow {
  /** Change records (user records, dead letters included) in the window. Default 100,000. */
  readonly maxChanges: number
  /** Bytes of Kinesis record data in the window. Default 16 MiB. */
  readonly maxBytes: number
  /** Milliseconds since the window's first page joined it. Default 1,000. */
  readonly maxWaitMs: number
  /**
   * A page of at least this many records means its shard is behind: the window closes at
   * once instead of waiting (catching up is not held to one page per shard per window).
   * `runProcessor` sets it to the poller's page size.
   */
  readonly fullPageRecords?: number
  /**
   * How many shards feed the window (the poller's running shards). A window holding a page
   * of each of them closes at once: no shard can add a second page before the window is
   * stored, so waiting longer only delays it. `runProcessor` sets it; behind Lambda it is
   * absent.
   */
  readonly consumedShards?: () => number
}

/** The default window: 100,000 changes, 16 MiB, 1 s. */
export const DEFAULT_MICRO_BATCH_WINDOW: MicroBatchWindow = { maxChanges: 100_000, maxBytes: 16 * 1024 * 1024, maxWaitMs: 1_000 }

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

/** One handler call's page in a window, decoded on arrival. */
interface Page {
  readonly batch: KinesisBatch
  readonly decoded: ReturnType<typeof decodeBatch>
}

/** A micro-batch being collected, and the outcome of the flush that stores it. */
interface Window<Err> {
  readonly pages: Array<Page>
  changes: number
  bytes: number
  readonly firstAt: number
  readonly done: Deferred.Deferred<void, Err>
}

const positionText = (origin: Origin) => `${origin.shardId}/${origin.sequenceNumber}/${origin.subSequenceNumber ?? "-"}`

const firstLine = (text: string) => (text.split("\n")[0] ?? "").trim()

/** Step 1: every change of the batch with its origin, and the letters of the records that are not changes. Pure. */
export const decodeBatch = (
  batch: KinesisBatch
): { readonly changes: ReadonlyArray<{ readonly change: ChangeRecord; readonly origin: Origin }>; readonly letters: ReadonlyArray<Letter> } => {
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
      const decoded = decodeChangeBytes(user.data)
      if (Result.isFailure(decoded)) letters.push({ origin, error: decoded.failure })
      else changes.push({ change: decoded.success, origin })
    }
  }
  return { changes, letters }
}

/**
 * The processor's batch handler (module header). Needs S3; the join state is loaded on
 * the first batch.
 */
export const makeProcessorHandler = <E = never, R = never>(
  config: ProcessorConfig<E, R>
): Effect.Effect<BatchHandler<ProcessorError | S3Error | E, R>, never, S3 | DeadLetters> =>
  Effect.gen(function* () {
    const s3 = yield* S3
    const deadLetters = yield* DeadLetters
    const stateBucket = config.stateBucket
    const where = `s3://${stateBucket}/${config.stateKey}`
    const limits: MicroBatchWindow = { ...DEFAULT_MICRO_BATCH_WINDOW, ...config.window }
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

    /** Transforms and stores one micro-batch (steps 1–6 of the module header). Run under `lock`. */
    const processWindow = Effect.fn("Processor.microBatch")(function* (pages: ReadonlyArray<Page>) {
      const ordered = orderPages(pages)
      const batches = ordered.map((page) => page.batch)
      const batchId = microBatchIdOf(batches)
      const date = microBatchDateOf(batches, new Date(yield* Clock.currentTimeMillis))
      const { state, stored } = yield* loadState

      // 1–2: decode (done when each page joined the window), order, transform.
      const letters = ordered.flatMap((page) => page.decoded.letters)
      const sorted = ordered
        .flatMap((page) => page.decoded.changes)
        .map((entry, index) => ({ ...entry, index }))
        .sort((a, b) => comparePosition(a.change, b.change) || a.index - b.index)
      const origins = new Map(sorted.map((entry) => [entry.change, entry.origin] as const))
      const result = transformBatch(
        state,
        sorted.map((entry) => entry.change)
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
      // Snapshot rows have no commit of their own (their commitTs is the snapshot's start): no `_commit_ts`.
      const commitTimes = new Map(sorted.flatMap(({ change }) => (change.source === "snapshot" ? [] : [[change.commitLsn, change.commitTs] as const])))
      const encoded = yield* Effect.forEach(rowsByTable(result.rows), ([table, rows]) =>
        encodeParquet(processedColumns(table, { relaxed: true }), processedRows(table, rows, commitTimes)).pipe(
          Effect.mapError((error) => new ProcessorError({ message: `${table} rows of batch ${batchId} do not encode as Parquet: ${error.message}` })),
          Effect.map((bytes) => ({ table, rows: rows.length, bytes, key: processedKey(table, date, batchId) }))
        )
      )

      // 3: dead letters.
      yield* Effect.forEach(letters, (letter) => putLetter(letter, date), { concurrency: 8, discard: true })

      // 4: Parquet objects, dimensions (dim_date included) before facts: a crash mid-way leaves
      // at most dimension objects without their facts, never a fact object without the rows it references.
      const put = (objects: ReadonlyArray<(typeof encoded)[number]>) =>
        Effect.forEach(objects, (object) => s3.putObject(config.processedBucket, object.key, object.bytes, "application/vnd.apache.parquet"), {
          concurrency: 8,
          discard: true
        })
      yield* put(encoded.filter((object) => !isFactTable(object.table)))
      yield* put(encoded.filter((object) => isFactTable(object.table)))

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
        batchId,
        body: object.bytes
      }))
      yield* Effect.logDebug(
        `batch ${batchId}: ${pages.length} pages, ${sorted.length} changes → ${result.rows.length} rows in ${objects.length} objects, ${letters.length} dead letters`
      )
      if (config.onObjects !== undefined) yield* config.onObjects(objects)
    })

    // The window: the micro-batch collecting pages, and the outcome of the flush that writes it.
    const windowLock = yield* Semaphore.make(1)
    let open: Window<ProcessorError | S3Error | E> | undefined

    /** Takes `window` for flushing, unless it was already taken (by a due append or another caller's timer). */
    const take = (window: Window<ProcessorError | S3Error | E>) =>
      windowLock.withPermits(1)(
        Effect.sync(() => {
          if (open !== window) return false
          open = undefined
          return true
        })
      )

    /** Adds `page` to the open window (a new one when there is none); takes the window at once when that makes it due. */
    const append = (page: Page) =>
      windowLock.withPermits(1)(
        Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          const window: Window<ProcessorError | S3Error | E> =
            open ?? { pages: [], changes: 0, bytes: 0, firstAt: now, done: yield* Deferred.make<void, ProcessorError | S3Error | E>() }
          window.pages.push(page)
          window.changes += page.decoded.changes.length + page.decoded.letters.length
          window.bytes += page.batch.records.reduce((sum, record) => sum + record.data.byteLength, 0)
          const full = limits.fullPageRecords !== undefined && page.batch.records.length >= limits.fullPageRecords
          // A shard has at most one page in a window, so pages = shards.
          const everyShard = limits.consumedShards !== undefined && window.pages.length >= limits.consumedShards()
          const due = full || everyShard || window.changes >= limits.maxChanges || window.bytes >= limits.maxBytes || now >= window.firstAt + limits.maxWaitMs
          open = due ? undefined : window
          return { window, mine: due }
        })
      )

    /**
     * Processes a taken window (one micro-batch at a time, under `lock`) and completes its
     * `done` with the outcome — an interruption when the flushing fiber is interrupted (the
     * consumer is stopping: every shard waiting on the window stops with it, nothing
     * checkpointed). Call it masked.
     */
    const flush = (window: Window<ProcessorError | S3Error | E>, restore: <A, E1, R1>(effect: Effect.Effect<A, E1, R1>) => Effect.Effect<A, E1, R1>) =>
      Effect.gen(function* () {
        const exit = yield* Effect.exit(restore(lock.withPermit(processWindow(window.pages))))
        yield* Deferred.done(window.done, exit)
      })

    /** Flushes `window` if nobody took it yet (its time is up). */
    const flushIfOpen = (window: Window<ProcessorError | S3Error | E>) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function* () {
          if (yield* take(window)) yield* flush(window, restore)
        })
      )

    /** Puts `batch` in the window and waits until the micro-batch holding it is stored (flushing it when due). */
    const submit = (batch: KinesisBatch) =>
      Effect.gen(function* () {
        const decoded = decodeBatch(batch)
        const window = yield* Effect.uninterruptibleMask((restore) =>
          Effect.gen(function* () {
            const { window, mine } = yield* append({ batch, decoded })
            if (mine) yield* flush(window, restore)
            return window
          })
        )
        const wait = Math.max(0, window.firstAt + limits.maxWaitMs - (yield* Clock.currentTimeMillis))
        yield* Effect.raceFirst(Deferred.await(window.done), Effect.sleep(wait).pipe(Effect.andThen(flushIfOpen(window))))
        yield* Deferred.await(window.done)
        return processed
      })

    return (batch: KinesisBatch) =>
      submit(batch).pipe(Effect.withSpan("Processor.batch", { attributes: { shardId: batch.shardId, records: batch.records.length } }))
  })

/** The processor's consumer name under `runProcessor` (its checkpoints are `state/consumers/processor/<shard>.json`). */
export const PROCESSOR_CONSUMER = "processor"

/** What `runProcessor` needs: the handler's config, the stream to consume and the archive a lost join state is rebuilt from. */
export interface RunProcessorConfig<E = never, R = never> extends ProcessorConfig<E, R> {
  readonly stream: string
  /** The raw archive of `stream` (the archiver's bucket, prefix and consumer name; JoinStateRebuild.ts). */
  readonly archive: ArchiveLocation
  /** Poller tuning (consumer name is always `processor`). */
  readonly poller?: Partial<Omit<PollerConfig, "consumer" | "stream">>
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
    // Pages of up to 10,000 records (as the archiver), so a shard that is behind catches up in large batches.
    let running = 0
    const poller: PollerConfig = {
      ...defaultPollerConfig(PROCESSOR_CONSUMER, config.stream),
      batchSize: 10_000,
      ...config.poller,
      consumer: PROCESSOR_CONSUMER,
      stream: config.stream,
      onShardsRunning: (shards) => {
        running = shards
      }
    }
    const handler = yield* makeProcessorHandler({ ...config, window: { ...config.window, fullPageRecords: poller.batchSize, consumedShards: () => running } })
    return yield* runShardPoller(poller, handler)
  })
