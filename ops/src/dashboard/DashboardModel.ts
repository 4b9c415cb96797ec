/**
 * The dashboard's contract: what `GET /api/health` and `GET /api/business` answer (JSON),
 * read by the page (ops/src/dashboard/page/). Plain data, no I/O.
 *
 * Invariants:
 *  - Times are ms since the epoch (`at`, `now`) or ISO-8601 strings from the warehouse.
 *  - A figure not known yet is `null`, never 0: the page draws a gap, not a false zero.
 *  - `samples` are in time order, one per sampling tick (1 s), at most `HISTORY_SAMPLES`.
 */
import type { Alert } from "../status/Alerts.ts"

/** Samples kept for the health charts: 10 minutes at one per second. */
export const HISTORY_SAMPLES = 600

/** One tick of pipeline health. */
export interface HealthSample {
  readonly at: number
  /** WAL the replication slot holds back (bytes). */
  readonly slotRetainedWalBytes: number | null
  /** Bytes between the WAL end and the slot's confirmed LSN. */
  readonly slotLagBytes: number | null
  /** Change records made durable in Kinesis per second (since the previous sample). */
  readonly capturedPerSecond: number | null
  /** Warehouse rows applied per second (since the previous sample). */
  readonly loadedPerSecond: number | null
  /** Commit→warehouse latency of the rows loaded in the last minute (ms). */
  readonly commitToWarehouseP50Ms: number | null
  readonly commitToWarehouseP99Ms: number | null
}

/** A warehouse table's freshness: how old its newest applied source commit is. */
export interface TableFreshness {
  readonly table: string
  readonly lastCommitTs: string | null
  readonly lastLoadedAt: string | null
  /** now − lastCommitTs (s); null for a table loaded only by the snapshot. */
  readonly seconds: number | null
}

/** The reader's snapshot: running (with progress) or done. */
export type SnapshotProgress =
  | {
      readonly status: "running"
      readonly table: string
      /** Rows of the whole snapshot so far, and the estimate of all rows (pg_class.reltuples; null when unknown). */
      readonly rows: number
      readonly totalRows: number | null
      readonly percent: number | null
      readonly rowsPerSecond: number | null
    }
  | { readonly status: "complete"; readonly rows: number; readonly completedAt: string }

/** `GET /api/health`. */
export interface HealthResponse {
  readonly now: number
  readonly slot: { readonly name: string; readonly exists: boolean; readonly active: boolean | null; readonly walStatus: string | null }
  readonly samples: ReadonlyArray<HealthSample>
  readonly freshness: ReadonlyArray<TableFreshness>
  readonly deadLetters: Readonly<Record<string, number>>
  readonly snapshot: SnapshotProgress | null
  readonly alerts: ReadonlyArray<Alert>
}

/** `GET /api/business`: the analysts' questions (totesys/business_queries.sql) on the `<fact>_latest` views. */
export interface BusinessResponse {
  readonly at: number
  /** Q1: revenue (units × unit price, mixed currencies as in the queries) per delivery country, largest first. */
  readonly revenueByCountry: ReadonlyArray<{ readonly country: string; readonly revenue: number }>
  /** Q2: the ten staff with the most revenue. */
  readonly topStaff: ReadonlyArray<{ readonly name: string; readonly revenue: number }>
  /** Q5: the ten designs with the most units sold. */
  readonly topDesigns: ReadonlyArray<{ readonly design: string; readonly units: number }>
  /** Payments per payment type: how many, their amount, how many are paid. */
  readonly paymentsByType: ReadonlyArray<{ readonly type: string; readonly payments: number; readonly amount: number; readonly paid: number }>
  /** Q6: revenue and units per month of order creation, oldest first (`month` = YYYY-MM). */
  readonly salesOverTime: ReadonlyArray<{ readonly month: string; readonly revenue: number; readonly units: number }>
}
