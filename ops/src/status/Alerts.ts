/**
 * Pure: the alerts of a status report (`totes-cdc status --check`, and the dashboard):
 * conditions an operator must act on, each one line naming the problem and what to do.
 *
 * Invariants:
 *  - A report with no alert is healthy; the order of alerts follows the pipeline.
 *  - Every rule reads only the report and `nowMs` (no I/O), so one report always gives the
 *    same alerts.
 *  - "Pipeline stalled" needs all three: a change durable in Kinesis newer than anything
 *    the warehouse applied, that change older than `stalledSeconds`, and no load for
 *    `stalledSeconds` — so an idle source (heartbeats only) or a change that produced no
 *    new commit time in the warehouse (a re-emitted joined row) is not a stall.
 */
import type { StatusReport } from "./PipelineStatus.ts"

/** When a condition becomes an alert. */
export interface AlertThresholds {
  /** Slot lag (bytes between the WAL end and the confirmed LSN) above which the slot is "not advancing". */
  readonly slotLagBytes: number
  /** Age of the reader's last metrics report (ms) after which the reader is "silent" (3 × its 10 s interval). */
  readonly readerSilentMs: number
  /** Seconds a change may be durable in Kinesis without reaching the warehouse. */
  readonly stalledSeconds: number
}

export const DEFAULT_ALERT_THRESHOLDS: AlertThresholds = { slotLagBytes: 64 * 1024 * 1024, readerSilentMs: 30_000, stalledSeconds: 60 }

/** Every alert's stable id (for scripts and the `alert` label of `totes_cdc_pipeline_alert_active`), in pipeline order. */
export const ALERT_IDS = [
  "slot-missing",
  "slot-lost",
  "slot-inactive",
  "slot-lag",
  "reader-silent",
  "stream-unavailable",
  "archive-failing",
  "pipeline-stalled",
  "dead-letters",
  "truncate-quarantined"
] as const

/** One alert: its id and its line. */
export interface Alert {
  readonly id: (typeof ALERT_IDS)[number]
  readonly message: string
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toLocaleString("en-GB", { maximumFractionDigits: 1 })} MiB`

/** Pure: the newest of ISO timestamps (ms), or undefined. */
const newest = (values: ReadonlyArray<string | null | undefined>): number | undefined => {
  const times = values.flatMap((value) => (value === null || value === undefined ? [] : [Date.parse(value)])).filter(Number.isFinite)
  return times.length === 0 ? undefined : Math.max(...times)
}

/** Pure: the alerts of `report` at `nowMs` (ms since the epoch). */
export const statusAlerts = (report: StatusReport, nowMs: number, thresholds: AlertThresholds = DEFAULT_ALERT_THRESHOLDS): ReadonlyArray<Alert> => {
  const alerts: Array<Alert> = []
  const { slot, reader } = report
  if (report.replay !== null && !slot.exists) {
    // A replayed recording (`dev --replay`): no reader, so no slot to watch.
  } else if (!slot.exists) {
    alerts.push({ id: "slot-missing", message: `replication slot ${slot.name} does not exist: the reader has not started, or the slot was dropped (changes since are not captured; see README "The slot")` })
  } else if (slot.walStatus === "lost") {
    alerts.push({ id: "slot-lost", message: `replication slot ${slot.name} lost WAL it needed (wal_status = lost): changes were dropped by PostgreSQL; re-snapshot (README "The slot")` })
  } else {
    if (slot.active !== true) alerts.push({ id: "slot-inactive", message: `replication slot ${slot.name} is inactive: no reader is streaming from it; start the reader` })
    if (slot.confirmedLagBytes != null && slot.confirmedLagBytes > thresholds.slotLagBytes) {
      alerts.push({
        id: "slot-lag",
        message: `replication slot ${slot.name} is ${mib(slot.confirmedLagBytes)} behind the WAL end (alert above ${mib(thresholds.slotLagBytes)}): its confirmed LSN is not keeping up with the source; see the reader's log`
      })
    }
  }
  if (reader !== null && nowMs - Date.parse(reader.at) > thresholds.readerSilentMs) {
    alerts.push({ id: "reader-silent", message: `the reader's last metrics report is ${Math.round((nowMs - Date.parse(reader.at)) / 1000)} s old (at ${reader.at}): the reader is not running` })
  }
  if (report.kinesis.summary === null || report.kinesis.summary.status !== "ACTIVE") {
    alerts.push({ id: "stream-unavailable", message: `kinesis stream ${report.kinesis.name} is ${report.kinesis.summary?.status ?? `unreadable: ${report.kinesis.error ?? "no summary"}`}` })
  }
  const firehose = report.firehose
  if (firehose !== null && (firehose.description === null || firehose.description.status !== "ACTIVE" || firehose.description.failure !== undefined)) {
    alerts.push({
      id: "archive-failing",
      message: `firehose delivery stream ${firehose.name} is ${firehose.description === null ? `unreadable: ${firehose.error ?? "no description"}` : `${firehose.description.status}${firehose.description.failure === undefined ? "" : `: ${firehose.description.failure}`}`}`
    })
  }
  const captured = reader?.lastDurableCommitMs ?? null
  const applied = newest(report.freshness.map((f) => f.last_commit_ts))
  const loaded = newest(report.freshness.map((f) => f.last_loaded_at))
  const stalledMs = thresholds.stalledSeconds * 1000
  if (captured !== null && (applied === undefined || captured > applied) && nowMs - captured > stalledMs && (loaded === undefined || nowMs - loaded > stalledMs)) {
    alerts.push({
      id: "pipeline-stalled",
      message: `pipeline stalled: a change committed at ${new Date(captured).toISOString()} is in Kinesis but not in the warehouse after ${Math.round((nowMs - captured) / 1000)} s, and nothing was loaded for ${loaded === undefined ? "ever" : `${Math.round((nowMs - loaded) / 1000)} s`}; check the processor and the loader`
    })
  }
  const letters = Object.entries(report.deadLetters)
  if (letters.length > 0) {
    alerts.push({ id: "dead-letters", message: `dead letters waiting: ${letters.map(([stage, n]) => `${stage} ${n}`).join(", ")} (under dlq/ of the ingestion bucket; README "Dead letters")` })
  }
  for (const q of report.quarantined) {
    alerts.push({
      id: "truncate-quarantined",
      message: `${q.warehouse_table} is quarantined by a source truncate at ${q.commit_lsn}: its changes wait; decide with \`totes-cdc loader release ${q.warehouse_table} --as apply|ignore\``
    })
  }
  return alerts
}
