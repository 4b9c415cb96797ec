/**
 * The reader as one program: settings → source pool, AWS layers, reader config → run.
 * Used by `totes-cdc reader` (settings from the environment) and by `totes-cdc dev`
 * (settings from the local stack), so both run exactly the same reader. `mode` picks
 * logical replication (Reader.ts) or timestamp polling for read-only credentials
 * (poll/PollReader.ts). Every connection to the source is SourceConnection.ts's (SOURCE_URL,
 * TLS of SOURCE_CA_FILE).
 */
import { DeadLetters, Kinesis, S3, SourceDb } from "@totes-cdc/platform"
import { Effect, Layer } from "effect"
import { defaultProducerConfig } from "./KinesisProducer.ts"
import { type ReaderConfig, runReader } from "./Reader.ts"
import { CAPTURED_TABLES, type ReaderSettings } from "./ReaderSettings.ts"
import { deleteReaderState, loadReaderState } from "./ReaderStateStore.ts"
import { DEFAULT_POLL_OVERLAP_MS, DEFAULT_POLL_PAGE_ROWS, type PollReaderConfig, runPollReader } from "./poll/PollReader.ts"
import { reconnecting } from "./Reconnect.ts"
import { dropSlot, slotStatus } from "./Slot.ts"
import { connectSource, sourceLayer } from "./SourceConnection.ts"

/** The reader's configuration from its settings. */
export const readerConfig = (settings: ReaderSettings): ReaderConfig => {
  const url = URL.canParse(settings.sourceUrl) ? new URL(settings.sourceUrl) : undefined
  return {
    sourceHost: url?.hostname ?? "",
    ...(url?.port ? { sourcePort: Number(url.port) } : {}),
    slot: settings.slot,
    publication: settings.publication,
    tables: CAPTURED_TABLES,
    state: { bucket: settings.stateBucket, prefix: settings.statePrefix },
    heartbeatMs: settings.heartbeatMs,
    producer: defaultProducerConfig(settings.streamName),
    ...(settings.metricsEmf === undefined ? {} : { metrics: { intervalMs: settings.metricsIntervalMs ?? 10_000, emf: settings.metricsEmf } })
  }
}

/** The poll reader's configuration (READER_MODE=poll) from its settings; its state is named after the slot setting. */
export const pollReaderConfig = (settings: ReaderSettings): PollReaderConfig => ({
  name: settings.slot,
  tables: CAPTURED_TABLES,
  state: { bucket: settings.stateBucket, prefix: settings.statePrefix },
  intervalMs: settings.pollIntervalMs,
  overlapMs: settings.pollOverlapMs ?? DEFAULT_POLL_OVERLAP_MS,
  pageRows: settings.pollPageRows ?? DEFAULT_POLL_PAGE_ROWS,
  producer: defaultProducerConfig(settings.streamName)
})

/** Kinesis, S3 and the dead-letter sink (in the state bucket) for `settings`. */
export const readerLayer = (settings: ReaderSettings) =>
  Layer.mergeAll(Kinesis.layer(settings.kinesis), DeadLetters.layer(settings.stateBucket).pipe(Layer.provideMerge(S3.layer(settings.s3))))

/**
 * Runs the reader until interrupted: logical replication, or with `mode: "poll"` the poll
 * reader (no replication preflight: only a check that the role can SELECT every table).
 * After a retryable failure (the source restarting, a lost connection) it starts again in
 * this process, connections included (Reconnect.ts). Fails with the reader's errors (see
 * runReader, runPollReader): a non-retryable one at once, a retryable one after
 * Reconnect.ts's failures in a row.
 */
export const runReaderProgram = (settings: ReaderSettings) =>
  reconnecting(
    Effect.gen(function* () {
      return settings.mode === "poll" ? yield* runPollReader(yield* SourceDb, pollReaderConfig(settings)) : yield* runReader(readerConfig(settings))
    }).pipe(Effect.provide(Layer.mergeAll(readerLayer(settings), sourceLayer(settings, { applicationName: "totes-cdc-reader" }))))
  ).pipe(Effect.annotateLogs({ component: "cdc-reader" }))

/** The slot and the reader state, for `totes-cdc reader slot status`. */
export const slotReport = (settings: ReaderSettings) =>
  Effect.scoped(
    Effect.gen(function* () {
      const pool = yield* connectSource(settings, { max: 1 })
      const slot = yield* slotStatus(pool, settings.slot)
      const state = yield* loadReaderState({ bucket: settings.stateBucket, prefix: settings.statePrefix }, settings.slot)
      return { slot: { name: settings.slot, ...slot }, state: state ?? null }
    })
  ).pipe(Effect.provide(S3.layer(settings.s3)))

/** Drops the slot and forgets its snapshot: the next start takes a new snapshot. */
export const dropSlotAndState = (settings: ReaderSettings) =>
  Effect.scoped(
    Effect.gen(function* () {
      const pool = yield* connectSource(settings, { max: 1 })
      const dropped = yield* dropSlot(pool, settings.slot)
      yield* deleteReaderState({ bucket: settings.stateBucket, prefix: settings.statePrefix }, settings.slot)
      return dropped
    })
  ).pipe(Effect.provide(S3.layer(settings.s3)))
