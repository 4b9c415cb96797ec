/**
 * `dev`'s live status line, once a second (issue 5 "the main job"):
 *
 *   [10:05:01] captured 102 changes/s · loaded 98 rows/s · slot lag 1,234 bytes · commit→warehouse p50 640 ms p99 1,310 ms · dead letters 0 · simulated 5,120
 *
 * - captured: change records the reader made durable in Kinesis in the last second
 *   (the reader's `totes_cdc_reader_changes_written_total` counter; same process);
 * - loaded: warehouse rows the loader applied in the last second;
 * - slot lag: bytes of WAL between the source's current LSN and the slot's confirmed LSN;
 * - p50/p99: commit→warehouse latency of the rows loaded in the last minute
 *   (LatencyWindow.ts; "–" before any row with a commit time was loaded);
 * - dead letters: objects under `dlq/` in the ingestion bucket (every stage; PipelineStatus.ts).
 * Replaying a recording (`dev --replay`: no reader, no slot, no simulator) the line is
 *
 *   [10:05:01] replayed 2,480 changes/s · loaded 2,391 rows/s · dead letters 0
 *
 * (commit→warehouse latency is left out: the commit times are the recording's, not now).
 * Pure formatting (`formatStatusLine`) is separate from gathering the figures.
 */
import { slotStatus } from "@totes-cdc/cdc-reader"
import { Metrics } from "@totes-cdc/core"
import { type LatencyWindow, latencyPercentiles } from "@totes-cdc/loader"
import type { SimulatorStats } from "@totes-cdc/local-stack"
import type { PgPool } from "@totes-cdc/platform"
import { Clock, Console, Effect, Metric, Ref, Schedule } from "effect"
import { deadLetterCounts } from "./PipelineStatus.ts"

/** What the loader has done so far in this `dev` run. */
export interface LoadStats {
  readonly rows: number
  readonly latency: LatencyWindow
}

export interface StatusFigures {
  /** `replay`: a recording fed by the producer in place of a reader (the figures of a source are not shown). */
  readonly mode: "source" | "replay"
  readonly at: number
  readonly capturedPerSecond: number
  readonly loadedPerSecond: number
  readonly slotLagBytes: number | null
  readonly p50Ms: number | null
  readonly p99Ms: number | null
  readonly deadLetters: number
  readonly simulated: number
}

const n = (value: number) => Math.round(value).toLocaleString("en-GB")
const ms = (value: number | null) => (value === null ? "–" : `${n(value)} ms`)

/** Pure: the status line of `figures`. */
export const formatStatusLine = (f: StatusFigures): string => {
  const time = `[${new Date(f.at).toISOString().slice(11, 19)}]`
  const loaded = `loaded ${n(f.loadedPerSecond)} rows/s`
  const letters = `dead letters ${n(f.deadLetters)}`
  if (f.mode === "replay") return `${time} replayed ${n(f.capturedPerSecond)} changes/s · ${loaded} · ${letters}`
  const lag = f.slotLagBytes === null ? "?" : `${n(f.slotLagBytes)} bytes`
  return `${time} captured ${n(f.capturedPerSecond)} changes/s · ${loaded} · slot lag ${lag} · commit→warehouse p50 ${ms(f.p50Ms)} p99 ${ms(f.p99Ms)} · ${letters} · simulated ${n(f.simulated)}`
}

/** Prints the status line every second until interrupted; without a `slot`, the replay's line. */
export const runStatusLine = (options: {
  readonly source: PgPool
  /** The reader's slot; undefined when a recording is replayed (no reader). */
  readonly slot: string | undefined
  readonly deadLetterBucket: string
  readonly load: Ref.Ref<LoadStats>
  readonly simulator: Ref.Ref<SimulatorStats>
}) =>
  Effect.gen(function* () {
    let previous = { at: yield* Clock.currentTimeMillis, captured: (yield* Metric.value(Metrics.readerChangesWritten)).count, loaded: (yield* Ref.get(options.load)).rows }
    const tick = Effect.gen(function* () {
      const at = yield* Clock.currentTimeMillis
      const captured = (yield* Metric.value(Metrics.readerChangesWritten)).count
      const load = yield* Ref.get(options.load)
      const seconds = Math.max(0.001, (at - previous.at) / 1000)
      const slot =
        options.slot === undefined ? ({ exists: false } as const) : yield* slotStatus(options.source, options.slot).pipe(Effect.orElseSucceed(() => ({ exists: false }) as const))
      const letters = yield* deadLetterCounts(options.deadLetterBucket).pipe(Effect.orElseSucceed(() => ({})))
      const [p50Ms = null, p99Ms = null] = latencyPercentiles(load.latency, at, [50, 99])
      const figures: StatusFigures = {
        mode: options.slot === undefined ? "replay" : "source",
        at,
        capturedPerSecond: (captured - previous.captured) / seconds,
        loadedPerSecond: (load.rows - previous.loaded) / seconds,
        slotLagBytes: slot.exists ? (slot.confirmedLagBytes ?? null) : null,
        p50Ms,
        p99Ms,
        deadLetters: Object.values(letters).reduce((a, b) => a + b, 0),
        simulated: (yield* Ref.get(options.simulator)).changes
      }
      previous = { at, captured, loaded: load.rows }
      yield* Console.log(formatStatusLine(figures))
    })
    return yield* tick.pipe(Effect.repeat(Schedule.spaced("1 second")), Effect.andThen(Effect.never))
  })
