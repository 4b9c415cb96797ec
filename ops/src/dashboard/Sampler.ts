/**
 * The dashboard's sampler: once a second it reads the pipeline's state from where it is
 * kept — the source (slot), the ingestion bucket (the reader's report and state, dead
 * letters), the Kinesis stream, the warehouse (freshness, quarantines, recent loads) —
 * keeps the last `HISTORY_SAMPLES` health samples, and publishes the figures as the
 * catalogue's gauges (core Metrics.ts, component `pipeline`, and the slot's), which
 * `/metrics` exposes.
 *
 * Invariants:
 *  - It reads only; it runs the same status report and alert rules as `totes-cdc status`
 *    and `status --check` (PipelineStatus.ts, Alerts.ts), on pools opened once.
 *  - A failed tick is logged and skipped: the page keeps the last good answer, whose `now`
 *    shows its age.
 *  - Memory is bounded: `HISTORY_SAMPLES` samples.
 */
import { loadReaderState, type ReaderSettings } from "@totes-cdc/cdc-reader"
import { Metrics, quoteIdent, TOTESYS_TABLES } from "@totes-cdc/core"
import type { PgPool } from "@totes-cdc/platform"
import { Clock, Effect, Metric, Ref, Schedule } from "effect"
import { ALERT_IDS, DEFAULT_ALERT_THRESHOLDS, statusAlerts } from "../status/Alerts.ts"
import { gatherStatusWith, statusServices, type StatusOptions } from "../status/PipelineStatus.ts"
import { HISTORY_SAMPLES, type HealthResponse, type HealthSample } from "./DashboardModel.ts"
import { type HealthFacts, healthSample, snapshotProgress, tableFreshness } from "./HealthFigures.ts"

/** Seconds of loads the loaded-rows rate averages over. */
export const LOADED_WINDOW_SECONDS = 5

export interface SamplerOptions {
  readonly settings: ReaderSettings
  readonly source: PgPool
  readonly warehouse: PgPool
  readonly warehouseSchema: string
  readonly status?: StatusOptions
  /** ms between samples (default 1,000). */
  readonly intervalMs?: number
}

/** Rows applied in the last `LOADED_WINDOW_SECONDS`, and the objects of the last minute with their latency percentiles. */
const recentLoads = (warehouse: PgPool, schema: string) =>
  Effect.gen(function* () {
    const [loaded] = yield* warehouse.query(
      `SELECT coalesce(sum(row_count), 0)::bigint AS rows FROM totes_cdc.applied_objects
        WHERE target_schema = $1 AND applied_at > now() - make_interval(secs => $2)`,
      [schema, LOADED_WINDOW_SECONDS]
    )
    const objects = yield* warehouse.query(
      `SELECT row_count, commit_lag_p50_ms, commit_lag_p99_ms FROM totes_cdc.applied_objects
        WHERE target_schema = $1 AND applied_at > now() - interval '60 seconds' AND commit_lag_p50_ms IS NOT NULL`,
      [schema]
    )
    return {
      loadedRows: Number(loaded?.rows ?? 0),
      recentLoads: objects.map((row) => ({ rows: Number(row.row_count), p50Ms: Number(row.commit_lag_p50_ms), p99Ms: Number(row.commit_lag_p99_ms) }))
    }
  })

/** Rows of the captured tables now (the running snapshot's denominator; read once per snapshot). */
const sourceRows = (source: PgPool) =>
  source
    .query(`SELECT (${TOTESYS_TABLES.map((table) => `(SELECT count(*) FROM public.${quoteIdent(table)})`).join(" + ")})::bigint AS n`)
    .pipe(Effect.map((rows) => Number(rows[0]?.n ?? 0)))

/** Sets the catalogue's gauges from one tick. */
const publishGauges = (facts: HealthFacts, sample: HealthSample, health: HealthResponse) =>
  Effect.gen(function* () {
    const set = (gauge: Metric.Gauge<number>, value: number | null, attributes?: Record<string, string>) =>
      value === null ? Effect.void : Metric.update(attributes === undefined ? gauge : Metric.withAttributes(gauge, attributes), value)
    const slot = { slot: facts.status.slot.name }
    yield* set(Metrics.readerSlotRetainedWalBytes, sample.slotRetainedWalBytes, slot)
    yield* set(Metrics.readerSlotConfirmedLagBytes, sample.slotLagBytes, slot)
    yield* set(Metrics.pipelineCapturedPerSecond, sample.capturedPerSecond)
    yield* set(Metrics.pipelineLoadedRowsPerSecond, sample.loadedPerSecond)
    yield* set(Metrics.pipelineCommitToWarehouseP50Ms, sample.commitToWarehouseP50Ms)
    yield* set(Metrics.pipelineCommitToWarehouseP99Ms, sample.commitToWarehouseP99Ms)
    for (const table of health.freshness) yield* set(Metrics.pipelineTableFreshnessSeconds, table.seconds, { table: table.table })
    for (const stage of ["reader", "archiver", "processor", "loader", ...Object.keys(health.deadLetters)]) {
      yield* set(Metrics.pipelineDeadLetters, health.deadLetters[stage] ?? 0, { stage })
    }
    const active = new Set<string>(health.alerts.map((alert) => alert.id))
    for (const alert of ALERT_IDS) yield* set(Metrics.pipelineAlertActive, active.has(alert) ? 1 : 0, { alert })
    yield* set(Metrics.pipelineSnapshotRows, health.snapshot?.status === "running" ? health.snapshot.rows : 0)
  })

/**
 * Starts sampling in the background of the current scope; answers the latest health
 * (undefined before the first tick). Needs nothing else: the AWS clients come from the
 * reader's settings.
 */
export const startSampler = (options: SamplerOptions) =>
  Effect.gen(function* () {
    const latest = yield* Ref.make<HealthResponse | undefined>(undefined)
    const samples = yield* Ref.make<ReadonlyArray<HealthSample>>([])
    let rowEstimate: number | null = null
    const { settings, source, warehouse, warehouseSchema } = options
    const tick = Effect.gen(function* () {
      const at = yield* Clock.currentTimeMillis
      const status = yield* gatherStatusWith(source, warehouse, settings, options.status ?? {})
      const loads = yield* recentLoads(warehouse, warehouseSchema)
      const readerState = yield* loadReaderState({ bucket: settings.stateBucket, prefix: settings.statePrefix }, settings.slot)
      if (status.reader?.snapshot == null) rowEstimate = null
      else if (rowEstimate === null) rowEstimate = yield* sourceRows(source)
      const alerts = statusAlerts(status, at)
      const facts: HealthFacts = { at, status, alerts, ...loads, loadedWindowSeconds: LOADED_WINDOW_SECONDS, readerState, sourceRowEstimate: rowEstimate }
      const sample = healthSample(facts, DEFAULT_ALERT_THRESHOLDS.readerSilentMs)
      const history = yield* Ref.updateAndGet(samples, (all) => [...all.slice(Math.max(0, all.length - HISTORY_SAMPLES + 1)), sample])
      const health: HealthResponse = {
        now: at,
        slot: { name: status.slot.name, exists: status.slot.exists, active: status.slot.active ?? null, walStatus: status.slot.walStatus ?? null },
        samples: history,
        freshness: tableFreshness(status, at),
        deadLetters: status.deadLetters,
        snapshot: snapshotProgress(facts),
        alerts
      }
      yield* Ref.set(latest, health)
      yield* publishGauges(facts, sample, health)
    }).pipe(Effect.catch((error) => Effect.logWarning(`dashboard sample failed: ${error.message}`)))
    yield* tick.pipe(Effect.repeat(Schedule.spaced(`${options.intervalMs ?? 1_000} millis`)), Effect.provide(statusServices(settings)), Effect.forkScoped)
    return { latest: Ref.get(latest) }
  })
