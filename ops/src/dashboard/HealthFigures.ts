/**
 * Pure: the dashboard's health figures from what the sampler read (Sampler.ts) — a status
 * report (the same `status` and `status --check` read), recent loads from
 * `totes_cdc.applied_objects`, the reader's recorded snapshot and the source's row
 * estimate.
 *
 * Invariants:
 *  - Unknown stays null (no report yet, a stale report, nothing loaded in the window).
 *  - The commit→warehouse percentiles combine per-object percentiles weighted by their
 *    rows (loader migration 5 stores each object's p50 and p99): exact for one object,
 *    an approximation across objects — the page says "objects of the last minute".
 */
import type { ReaderState } from "@totes-cdc/cdc-reader"
import type { Alert } from "../status/Alerts.ts"
import type { StatusReport } from "../status/PipelineStatus.ts"
import type { HealthSample, SnapshotProgress, TableFreshness } from "./DashboardModel.ts"

/** One applied object of the recent window: its rows and its own latency percentiles (ms). */
export interface RecentLoad {
  readonly rows: number
  readonly p50Ms: number | null
  readonly p99Ms: number | null
}

/** What one sampling tick read. */
export interface HealthFacts {
  readonly at: number
  readonly status: StatusReport
  readonly alerts: ReadonlyArray<Alert>
  /** Rows applied in the last `loadedWindowSeconds`. */
  readonly loadedRows: number
  readonly loadedWindowSeconds: number
  /** Objects applied in the last minute. */
  readonly recentLoads: ReadonlyArray<RecentLoad>
  readonly readerState: ReaderState | undefined
  /** Σ pg_class.reltuples of the captured tables (null: unknown). */
  readonly sourceRowEstimate: number | null
}

/** Pure: the row-weighted `p`-th percentile (0–100) of per-object values; null when no object has one. */
export const weightedPercentile = (loads: ReadonlyArray<{ readonly rows: number; readonly value: number | null }>, p: number): number | null => {
  const known = loads.filter((load): load is { rows: number; value: number } => load.value !== null && load.rows > 0).sort((a, b) => a.value - b.value)
  const total = known.reduce((sum, load) => sum + load.rows, 0)
  if (total === 0) return null
  const rank = Math.max(1, Math.ceil((p / 100) * total))
  let seen = 0
  for (const load of known) {
    seen += load.rows
    if (seen >= rank) return load.value
  }
  return known.at(-1)!.value
}

/** Pure: a PostgreSQL `timestamptz::text` (or ISO) as ms; undefined for null or unparsable. */
export const parseTimestamp = (value: string | null | undefined): number | undefined => {
  if (value === null || value === undefined) return undefined
  const ms = Date.parse(value)
  return Number.isFinite(ms) ? ms : undefined
}

/** Pure: the sample of one tick. `readerSilentMs`: a report older than this gives no captured rate. */
export const healthSample = (facts: HealthFacts, readerSilentMs: number): HealthSample => {
  const { slot, reader } = facts.status
  const fresh = reader !== null && facts.at - Date.parse(reader.at) <= readerSilentMs
  return {
    at: facts.at,
    slotRetainedWalBytes: slot.exists ? (slot.retainedWalBytes ?? null) : null,
    slotLagBytes: slot.exists ? (slot.confirmedLagBytes ?? null) : null,
    capturedPerSecond: fresh ? reader.changesPerSecond : null,
    loadedPerSecond: facts.loadedRows / facts.loadedWindowSeconds,
    commitToWarehouseP50Ms: weightedPercentile(facts.recentLoads.map((load) => ({ rows: load.rows, value: load.p50Ms })), 50),
    commitToWarehouseP99Ms: weightedPercentile(facts.recentLoads.map((load) => ({ rows: load.rows, value: load.p99Ms })), 99)
  }
}

/** Pure: each warehouse table's freshness at `at`. */
export const tableFreshness = (status: StatusReport, at: number): ReadonlyArray<TableFreshness> =>
  status.freshness.map((row) => {
    const commit = parseTimestamp(row.last_commit_ts)
    return {
      table: row.warehouse_table ?? "?",
      lastCommitTs: row.last_commit_ts ?? null,
      lastLoadedAt: row.last_loaded_at ?? null,
      seconds: commit === undefined ? null : Math.max(0, Math.round((at - commit) / 1000))
    }
  })

/** Pure: the snapshot as the page shows it: running (the reader's report), else complete (its state), else null. */
export const snapshotProgress = (facts: HealthFacts): SnapshotProgress | null => {
  const running = facts.status.reader?.snapshot
  if (running !== undefined && running !== null) {
    const estimate = facts.sourceRowEstimate
    return {
      status: "running",
      table: running.table,
      rows: running.rows,
      totalRows: estimate,
      percent: estimate === null || estimate <= 0 ? null : Math.min(100, Math.round((running.rows / estimate) * 1000) / 10),
      rowsPerSecond: running.rowsPerSecond
    }
  }
  const recorded = facts.readerState?.snapshot
  return recorded?.status === "complete" ? { status: "complete", rows: recorded.rows, completedAt: recorded.completedAt } : null
}
