/**
 * The reader as one program: settings → source pool, AWS layers, reader config → run.
 * Used by `totes-cdc reader` (settings from the environment) and by `totes-cdc dev`
 * (settings from the local stack), so both run exactly the same reader.
 */
import { Kinesis, S3, makePgPool } from "@totes-cdc/platform"
import { Effect, Layer } from "effect"
import { DeadLetters } from "./DeadLetters.ts"
import { defaultProducerConfig } from "./KinesisProducer.ts"
import { type ReaderConfig, runReader } from "./Reader.ts"
import { CAPTURED_TABLES, type ReaderSettings } from "./ReaderSettings.ts"
import { deleteReaderState, loadReaderState } from "./ReaderStateStore.ts"
import { dropSlot, slotStatus } from "./Slot.ts"

/** The reader's configuration from its settings. */
export const readerConfig = (settings: ReaderSettings): ReaderConfig => {
  const url = URL.canParse(settings.sourceUrl) ? new URL(settings.sourceUrl) : undefined
  return {
    sourceUrl: settings.sourceUrl,
    sourceHost: url?.hostname ?? "",
    ...(url?.port ? { sourcePort: Number(url.port) } : {}),
    slot: settings.slot,
    publication: settings.publication,
    tables: CAPTURED_TABLES,
    state: { bucket: settings.stateBucket, prefix: settings.statePrefix },
    heartbeatMs: settings.heartbeatMs,
    producer: defaultProducerConfig(settings.streamName)
  }
}

/** Kinesis, S3 and the dead-letter sink (in the state bucket) for `settings`. */
export const readerLayer = (settings: ReaderSettings) =>
  Layer.mergeAll(Kinesis.layer(settings.kinesis), DeadLetters.layer(settings.stateBucket).pipe(Layer.provideMerge(S3.layer(settings.s3))))

/** Runs the reader until interrupted. Fails with the reader's errors (see runReader). */
export const runReaderProgram = (settings: ReaderSettings) =>
  Effect.scoped(
    Effect.gen(function* () {
      const pool = yield* makePgPool(settings.sourceUrl, { setting: "SOURCE_URL", applicationName: "totes-cdc-reader" })
      return yield* runReader(pool, readerConfig(settings))
    })
  ).pipe(Effect.provide(readerLayer(settings)), Effect.annotateLogs({ component: "cdc-reader" }))

/** The slot and the reader state, for `totes-cdc reader slot status`. */
export const slotReport = (settings: ReaderSettings) =>
  Effect.scoped(
    Effect.gen(function* () {
      const pool = yield* makePgPool(settings.sourceUrl, { setting: "SOURCE_URL", max: 1 })
      const slot = yield* slotStatus(pool, settings.slot)
      const state = yield* loadReaderState({ bucket: settings.stateBucket, prefix: settings.statePrefix }, settings.slot)
      return { slot: { name: settings.slot, ...slot }, state: state ?? null }
    })
  ).pipe(Effect.provide(S3.layer(settings.s3)))

/** Drops the slot and forgets its snapshot: the next start takes a new snapshot. */
export const dropSlotAndState = (settings: ReaderSettings) =>
  Effect.scoped(
    Effect.gen(function* () {
      const pool = yield* makePgPool(settings.sourceUrl, { setting: "SOURCE_URL", max: 1 })
      const dropped = yield* dropSlot(pool, settings.slot)
      yield* deleteReaderState({ bucket: settings.stateBucket, prefix: settings.statePrefix }, settings.slot)
      return dropped
    })
  ).pipe(Effect.provide(S3.layer(settings.s3)))
