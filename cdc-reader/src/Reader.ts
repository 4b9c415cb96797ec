/**
 * The cdc-reader: preflight → publication → slot plan → (consistent snapshot) →
 * pgoutput streaming → Kinesis, confirming the slot only up to what is durable.
 *
 * Invariants (DESIGN.md §6):
 *  - The slot is confirmed only up to the last LSN whose every change is durably in
 *    Kinesis (the producer's `onDurable`), never further.
 *  - The snapshot is recorded complete (reader state in S3) only once all its rows are
 *    durable (a chunk's once its object is stored and its pointer is in Kinesis); a start
 *    that finds it incomplete drops the slot and snapshots again.
 *  - Blocking preflight findings stop the reader before it touches anything.
 *  - Heartbeats keep an idle source's slot moving.
 */
import { compareLsn, INGESTION_LAYOUT, type TotesysTable } from "@totes-cdc/core"
import { type PgError, type PgPool, Replication, ReplicationError, type S3, type S3Error, SourceDb } from "@totes-cdc/platform"
import { Clock, Effect, Ref, Schedule, Schema, Stream } from "effect"
import { decodeStream } from "./Decoder.ts"
import { type ProducerConfig, type ProducerItem, runProducer } from "./KinesisProducer.ts"
import { reportMetrics } from "./MetricsReport.ts"
import { blockingFindings, evaluatePreflight, formatFinding } from "./preflight/Preflight.ts"
import { gatherPreflightFacts } from "./preflight/GatherFacts.ts"
import { type ReaderStateLocation, loadReaderState, readerStateUri, saveReaderState } from "./ReaderStateStore.ts"
import { dropSlot, emitHeartbeat, ensurePublication, slotStatus } from "./Slot.ts"
import { planSlot } from "./SlotPlan.ts"
import { type SnapshotProgress, snapshotStream } from "./Snapshot.ts"

/** The reader cannot start or go on; `message` names the problem and the fix. */
export class ReaderError extends Schema.TaggedError<ReaderError>()("ReaderError", {
  message: Schema.String
}) {}

export interface ReaderConfig {
  /** Host and port of the source, for preflight's pooler check. */
  readonly sourceHost: string
  readonly sourcePort?: number
  readonly slot: string
  readonly publication: string
  readonly tables: ReadonlyArray<TotesysTable>
  readonly state: ReaderStateLocation
  /** Interval of logical-message heartbeats, ms. */
  readonly heartbeatMs: number
  readonly producer: ProducerConfig
  /** How long to wait for a slot held by another connection before giving up, ms (default 90,000: beyond wal_sender_timeout). */
  readonly slotBusyTimeoutMs?: number
  /** Metrics report interval (ms, default 10,000) and EMF lines on stdout (default: when stdout is not a terminal). */
  readonly metrics?: { readonly intervalMs: number; readonly emf: boolean }
}

const logProgress = (p: SnapshotProgress) =>
  Effect.logInfo(
    `snapshot ${p.table}: ${p.tableRows.toLocaleString("en-GB")} rows${p.done ? " (done)" : ""}; total ${p.totalRows.toLocaleString("en-GB")} rows, ${p.rowsPerSecond.toLocaleString("en-GB")} rows/s`
  ).pipe(Effect.annotateLogs({ component: "cdc-reader", table: p.table }))

/** Stops with the blocking findings, logs the rest. */
const preflight = (pool: PgPool, config: ReaderConfig) =>
  Effect.gen(function* () {
    const preflightConfig = {
      publication: config.publication,
      slot: config.slot,
      tables: config.tables,
      sourceHost: config.sourceHost,
      ...(config.sourcePort === undefined ? {} : { sourcePort: config.sourcePort })
    }
    const findings = evaluatePreflight(yield* gatherPreflightFacts(pool, preflightConfig), preflightConfig)
    for (const finding of findings.filter((f) => f.level !== "error")) yield* Effect.logInfo(formatFinding(finding))
    const blocking = blockingFindings(findings)
    if (blocking.length > 0) {
      return yield* new ReaderError({ message: blocking.map(formatFinding).join("\n") })
    }
  })

/**
 * Change records and markers of the slot's stream, from its confirmed position. Fails with
 * `ReplicationError` (the connection, slot or publication) or `DecodeError` (a message the
 * decoder cannot place).
 */
const replicationItems = (config: ReaderConfig, confirmRef: Ref.Ref<(lsn: string) => Effect.Effect<void>>) =>
  Stream.unwrap(
    Effect.gen(function* () {
      const session = yield* (yield* Replication).start({ slot: config.slot, publication: config.publication })
      yield* Ref.set(confirmRef, session.confirm)
      return decodeStream(session.messages)
    })
  )

/**
 * Runs the reader until interrupted. Fails with `ReaderError` (preflight, slot plan),
 * `DecodeError` (a pgoutput message out of place), `ReaderStateError` (a corrupt state
 * object), or the errors of PostgreSQL (`PgError`), replication (`ReplicationError`),
 * Kinesis (`KinesisError`) and S3 (`S3Error`). Nothing here retries a `ReplicationError`:
 * the reader fails, and its `retryable` tells whoever runs it whether starting again can help.
 */
export const runReader = (config: ReaderConfig) =>
  Effect.gen(function* () {
    const pool = yield* SourceDb
    yield* preflight(pool, config)
    if (yield* ensurePublication(pool, config.publication, config.tables)) {
      yield* Effect.logInfo(`created publication ${config.publication} for ${config.tables.length} tables`)
    }
    const state = yield* loadReaderState(config.state, config.slot)
    const plan = yield* slotStatus(pool, config.slot).pipe(
      Effect.map((status) => planSlot(config.slot, status, state, readerStateUri(config.state, config.slot))),
      Effect.tap((plan) => (plan._tag === "Busy" ? Effect.logWarning(`${plan.message}; waiting for it to be released`) : Effect.void)),
      Effect.repeat({
        until: (plan) => plan._tag !== "Busy",
        schedule: Schedule.spaced("1 second").pipe(Schedule.upTo({ duration: `${config.slotBusyTimeoutMs ?? 90_000} millis` }))
      })
    )
    if (plan._tag === "Stop" || plan._tag === "Busy") return yield* new ReaderError({ message: plan.message })
    if (plan._tag === "DropAndSnapshot") {
      yield* Effect.logWarning(`dropping replication slot ${config.slot} to snapshot again: ${plan.reason}`)
      yield* dropSlot(pool, config.slot)
    }

    const confirmRef = yield* Ref.make<(lsn: string) => Effect.Effect<void>>(() => Effect.void)
    // The running snapshot's latest progress, for the metrics report (the dashboard); cleared once durable.
    const progressRef = yield* Ref.make<SnapshotProgress | null>(null)
    let pendingSnapshot: { consistentPoint: string; startedAt: string; rows: number } | undefined
    let snapshot: Stream.Stream<ProducerItem, ReplicationError | PgError | S3Error, Replication | S3> = Stream.empty
    if (plan._tag !== "Resume") {
      const startedAt = new Date(yield* Clock.currentTimeMillis).toISOString()
      yield* saveReaderState(config.state, { version: 1, slot: config.slot, snapshot: { status: "in-progress", startedAt } })
      snapshot = snapshotStream(pool, {
        slot: config.slot,
        tables: config.tables,
        onProgress: (p) =>
          Effect.sync(() => {
            if (pendingSnapshot !== undefined) pendingSnapshot.rows = p.totalRows
          }).pipe(Effect.andThen(Ref.set(progressRef, p)), Effect.andThen(logProgress(p))),
        // The snapshot's chunks go to the raw archive of the ingestion bucket the reader's state is in.
        chunks: { bucket: config.state.bucket, prefix: INGESTION_LAYOUT.rawPrefix },
        onSlotCreated: (consistentPoint) =>
          Effect.sync(() => {
            pendingSnapshot = { consistentPoint, startedAt, rows: 0 }
          }).pipe(Effect.andThen(Effect.logInfo(`created replication slot ${config.slot} at ${consistentPoint}; snapshot started`)))
      })
    }

    const onDurable = (lsn: string) =>
      Effect.gen(function* () {
        if (pendingSnapshot !== undefined && compareLsn(lsn, pendingSnapshot.consistentPoint) >= 0) {
          const done = pendingSnapshot
          pendingSnapshot = undefined
          const completedAt = new Date(yield* Clock.currentTimeMillis).toISOString()
          yield* saveReaderState(config.state, {
            version: 1,
            slot: config.slot,
            snapshot: { status: "complete", startedAt: done.startedAt, completedAt, consistentPoint: done.consistentPoint, rows: done.rows }
          })
          yield* Ref.set(progressRef, null)
          yield* Effect.logInfo(`snapshot complete: ${done.rows.toLocaleString("en-GB")} rows durable (in Kinesis and the archive's snapshot chunks)`)
        }
        const confirm = yield* Ref.get(confirmRef)
        yield* confirm(lsn)
      })

    const heartbeats = emitHeartbeat(pool).pipe(
      Effect.catch((error) => Effect.logWarning(`heartbeat failed: ${error.message}`)),
      Effect.repeat(Schedule.spaced(config.heartbeatMs)),
      Effect.andThen(Effect.never)
    )
    const metrics = reportMetrics(pool, {
      slot: config.slot,
      location: config.state,
      intervalMs: config.metrics?.intervalMs ?? 10_000,
      emf: config.metrics?.emf ?? !process.stdout.isTTY,
      snapshot: Ref.get(progressRef)
    })
    const items = Stream.concat(snapshot, replicationItems(config, confirmRef))
    // Fail fast: the first of the three to fail interrupts the others.
    return yield* Effect.all([runProducer(items, config.producer, onDurable), heartbeats, metrics], {
      concurrency: "unbounded",
      discard: true
    }).pipe(
      Effect.andThen(
        // Unreachable while the heartbeats run forever: a broken invariant, not a lost connection.
        Effect.fail(new ReplicationError({ message: `replication from slot ${config.slot} ended unexpectedly`, retryable: false }))
      )
    )
  })
