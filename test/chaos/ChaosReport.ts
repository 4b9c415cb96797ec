/**
 * Pure: the chaos suite's figures from its rounds, and RELIABILITY.md's text from them
 * (issue 16 item 1: rounds, faults per kind, recovery p50/p99/max, peak retained WAL,
 * worst freshness during faults, dead letters, anything lost or doubled).
 *
 * Invariants:
 *  - A round passes only if verify found no drift (0 missing, 0 extra, 0 different, 0
 *    duplicate versions, 0 foreign-key violations), the ledger's count of committed fact
 *    versions and deletes equals the warehouse's, dead letters are exactly the poison
 *    records put on the stream, and every fault-specific check held.
 *  - "Lost or doubled" is the sum of verify's missing + extra + different + duplicates
 *    and of every |expected − warehouse| count difference: 0 or the run failed.
 *  - Percentiles are nearest-rank (FreshnessTraffic.ts `percentile`).
 */
import { percentile } from "../bench/FreshnessTraffic.ts"
import { FAULT_DESCRIPTIONS, FAULT_KINDS, type FaultKind } from "./ChaosPlan.ts"

export interface VerifyFigures {
  readonly exitCode: number | null
  readonly missing: number
  readonly extra: number
  readonly different: number
  readonly duplicates: number
  readonly foreignKeyViolations: number
  readonly rowsCompared: number
  /** Rows verify did not compare because the pipeline had not caught up with them (0 when it had: the load is paused). Absent in runs before it was recorded. */
  readonly inFlight?: number
  readonly seconds: number
  /** verify's own first error line when it did not produce a report. */
  readonly error?: string
}

/** Fact versions and payment deletes: what the ledger says committed vs what the warehouse holds. */
export interface CountFigures {
  readonly expected: Readonly<Record<string, number>>
  readonly warehouse: Readonly<Record<string, number>>
}

export interface Check {
  readonly name: string
  readonly ok: boolean
  readonly detail: string
}

export interface RoundResult {
  readonly index: number
  readonly kind: FaultKind
  readonly stack: "components" | "dev"
  /** What exactly struck, e.g. "loader SIGKILLed, restarted after 1.4 s". */
  readonly detail: string
  readonly bigTransaction: boolean
  /** Fault injected → fault cleared (ms). */
  readonly faultMs: number
  /** Fault cleared → a sale committed then is in the warehouse (ms). */
  readonly recoveryMs: number
  /** Fault injected → caught up again (ms). */
  readonly disruptionMs: number
  readonly worstFreshnessMs: number
  readonly peakRetainedWalBytes: number
  readonly deadLetters: { readonly expected: number; readonly found: Readonly<Record<string, number>> }
  readonly verify: VerifyFigures
  readonly counts: CountFigures
  readonly checks: ReadonlyArray<Check>
  /** Load events that failed during the round (retried as new events). */
  readonly loadFailures: number
}

export interface ChaosRun {
  readonly date: string
  readonly command: string
  readonly seed: number
  readonly machine: { readonly cpus: number; readonly cpuModel: string; readonly node: string; readonly git: string }
  readonly eventsPerSecond: number
  readonly outageSeconds: number
  readonly durationSeconds: number
  readonly rounds: ReadonlyArray<RoundResult>
  readonly unexpectedExits: ReadonlyArray<{ readonly component: string; readonly round: number; readonly code: number | null; readonly signal: string | null; readonly lastLines: string }>
  /** Set when the run stopped early. */
  readonly aborted?: string
}

const sum = (values: ReadonlyArray<number>) => values.reduce((a, b) => a + b, 0)

/** Lost or doubled in one round (module header). */
export const lostOrDoubled = (round: RoundResult): number =>
  round.verify.missing +
  round.verify.extra +
  round.verify.different +
  round.verify.duplicates +
  sum(Object.keys(round.counts.expected).map((k) => Math.abs((round.counts.expected[k] ?? 0) - (round.counts.warehouse[k] ?? 0))))

const deadLetterTotal = (found: Readonly<Record<string, number>>) => sum(Object.values(found))

/** Why a round failed; empty when it passed. */
export const failures = (round: RoundResult): ReadonlyArray<string> => [
  ...(round.verify.exitCode === 0 ? [] : [`verify exit ${round.verify.exitCode}${round.verify.error === undefined ? "" : `: ${round.verify.error}`}`]),
  ...(round.verify.foreignKeyViolations > 0 ? [`${round.verify.foreignKeyViolations} foreign-key violations`] : []),
  ...((round.verify.inFlight ?? 0) > 0 ? [`verify left ${round.verify.inFlight} rows in flight (not compared)`] : []),
  ...(lostOrDoubled(round) > 0 ? [`${lostOrDoubled(round)} rows lost or doubled`] : []),
  ...(deadLetterTotal(round.deadLetters.found) === round.deadLetters.expected
    ? []
    : [`${deadLetterTotal(round.deadLetters.found)} dead letters, ${round.deadLetters.expected} expected`]),
  ...round.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`)
]

const stats = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? 0 }
}

export interface ChaosSummary {
  readonly rounds: number
  readonly passed: number
  readonly perKind: ReadonlyArray<{ readonly kind: FaultKind; readonly rounds: number; readonly passed: number; readonly recovery: ReturnType<typeof stats>; readonly worstFreshnessMs: number }>
  readonly recovery: ReturnType<typeof stats>
  readonly disruption: ReturnType<typeof stats>
  readonly peakRetainedWalBytes: number
  readonly worstFreshnessMs: number
  readonly deadLetters: { readonly expected: number; readonly found: number }
  readonly lostOrDoubled: number
}

export const summarizeRun = (run: ChaosRun): ChaosSummary => {
  const rounds = run.rounds
  return {
    rounds: rounds.length,
    passed: rounds.filter((r) => failures(r).length === 0).length,
    perKind: FAULT_KINDS.flatMap((kind) => {
      const of = rounds.filter((r) => r.kind === kind)
      if (of.length === 0) return []
      return [
        {
          kind,
          rounds: of.length,
          passed: of.filter((r) => failures(r).length === 0).length,
          recovery: stats(of.map((r) => r.recoveryMs)),
          worstFreshnessMs: Math.max(...of.map((r) => r.worstFreshnessMs))
        }
      ]
    }),
    recovery: stats(rounds.map((r) => r.recoveryMs)),
    disruption: stats(rounds.map((r) => r.disruptionMs)),
    peakRetainedWalBytes: Math.max(0, ...rounds.map((r) => r.peakRetainedWalBytes)),
    worstFreshnessMs: Math.max(0, ...rounds.map((r) => r.worstFreshnessMs)),
    deadLetters: { expected: sum(rounds.map((r) => r.deadLetters.expected)), found: sum(rounds.map((r) => deadLetterTotal(r.deadLetters.found))) },
    lostOrDoubled: sum(rounds.map(lostOrDoubled))
  }
}

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`
const mib = (bytes: number) => `${(bytes / 1_048_576).toFixed(1)} MiB`
const n = (x: number) => x.toLocaleString("en-GB")

/** RELIABILITY.md, whole. */
export const markdown = (run: ChaosRun): string => {
  const summary = summarizeRun(run)
  const lines = [
    "# Reliability",
    "",
    "<!-- Generated by `npm run chaos` (test/chaos/run.ts) from bench/reliability.json; `npm run chaos -- --report` regenerates it. Do not edit by hand. -->",
    "",
    `What the pipeline survives, from the project's own fault-injection suite (\`npm run chaos\`): the components as separate \`totes-cdc\` processes on a local stack (embedded PostgreSQL, kinesalite, s3rver) under steady totesys-shaped load, one fault per round at a random moment; after every round \`totes-cdc verify\` and an independent count of what the load committed (a ledger written in the same source transactions) against what reached the warehouse.`,
    "",
    `Run: ${run.date}, \`${run.command}\`, seed ${run.seed}, ${run.eventsPerSecond} events/s (≈ ${Math.round(run.eventsPerSecond * 1.6)} row changes/s), warehouse outages of ${run.outageSeconds} s; ${run.machine.cpus} × ${run.machine.cpuModel}, Node ${run.machine.node}, commit ${run.machine.git}; ${s(run.durationSeconds * 1000)} in all.${run.aborted === undefined ? "" : ` **Stopped early: ${run.aborted}**`}`,
    "",
    "## Method",
    "",
    "- **Load**: one event at a time at the rate above, each one source transaction: 30% sales and 15% purchases (order + transaction + payment), 20% paid flips, 15% updates that leave `last_updated` as it was (replaced in place in the warehouse), 8% address and 5% department changes (they cascade into dim_location, dim_counterparty and dim_staff), 7% payment deletes; every 5th round also a 50,000-row transaction. Every event appends a row to `chaos.ledger` in the same transaction (a table outside the publication), so what committed is known even when a fault cuts a COMMIT's connection.",
    "- **A round**: the load runs; the fault strikes 2–10 s in (the plan's random moment, from the seed) and is cleared; a sale committed then must appear in the warehouse (**recovery** = fault cleared → that sale visible; **disruption** = fault struck → visible); the load pauses; `totes-cdc verify --wait-for-lsn current` must find no drift; the warehouse's fact rows per table, dim_transaction rows and payments flagged deleted must equal the seeded rows plus the ledger's sums; the dead letters must be exactly the poison records; no component may have exited by itself (a supervisor would restart it, as ECS does, but the pipeline should ride out each fault in its processes).",
    "- **Freshness** is measured on single sales: committed → first seen in fact_sales_order by a poll every 250 ms. **Retained WAL** is the slot's `pg_current_wal_lsn() - restart_lsn`, sampled every second.",
    "- **Slot drop**: the load pauses and the pipeline catches up first, the walsender is terminated and the slot dropped; the reader must stop by itself with the re-snapshot instruction and no slot may reappear; then the operator's fix (`totes-cdc reader slot drop`, start the reader) runs and the load resumes with the reader's start, so deletes committed before the new slot exists are reconciled by the new snapshot's resync markers. The load is paused while no reader runs because versions committed and superseded while no slot exists cannot be recovered by any log-based capture (README \"The slot\"); the ledger count would report them as lost.",
    "- **Dev kill**: `totes-cdc dev --data-dir DIR --seed …` under the same load, SIGKILLed and started again on the same directory (new ports: the load and watchers follow the new state file).",
    "",
    "## Summary",
    "",
    "| measure | value |",
    "|---|---|",
    `| rounds passed | ${summary.passed} of ${summary.rounds} |`,
    `| lost or doubled (verify missing + extra + different + duplicate versions, ledger count differences) | ${summary.lostOrDoubled} |`,
    `| recovery, fault cleared → caught up: p50 / p99 / max | ${s(summary.recovery.p50)} / ${s(summary.recovery.p99)} / ${s(summary.recovery.max)} |`,
    `| disruption, fault injected → caught up: p50 / p99 / max | ${s(summary.disruption.p50)} / ${s(summary.disruption.p99)} / ${s(summary.disruption.max)} |`,
    `| peak slot retained WAL | ${mib(summary.peakRetainedWalBytes)} |`,
    `| worst freshness during a fault (commit → in the warehouse) | ${s(summary.worstFreshnessMs)} |`,
    `| dead letters (poison records put on the stream) | ${summary.deadLetters.found} (${summary.deadLetters.expected}) |`,
    `| components that exited by themselves (restarted as ECS would) | ${run.unexpectedExits.length} |`,
    "",
    "## Per fault",
    "",
    "| fault | what it does | rounds | passed | recovery p50 / p99 / max | worst freshness |",
    "|---|---|---|---|---|---|",
    ...summary.perKind.map(
      (k) => `| ${k.kind} | ${FAULT_DESCRIPTIONS[k.kind]} | ${k.rounds} | ${k.passed} | ${s(k.recovery.p50)} / ${s(k.recovery.p99)} / ${s(k.recovery.max)} | ${s(k.worstFreshnessMs)} |`
    ),
    "",
    "## Rounds",
    "",
    "| # | fault | stack | detail | 50k txn | recovery | freshness | retained WAL | dead letters | verify (rows) | outcome |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    ...run.rounds.map((r) => {
      const failed = failures(r)
      return `| ${r.index} | ${r.kind} | ${r.stack} | ${r.detail.replaceAll("|", "\\|")} | ${r.bigTransaction ? "yes" : ""} | ${s(r.recoveryMs)} | ${s(r.worstFreshnessMs)} | ${mib(r.peakRetainedWalBytes)} | ${deadLetterTotal(r.deadLetters.found)} | ${r.verify.exitCode === 0 ? `OK (${n(r.verify.rowsCompared)})` : `exit ${r.verify.exitCode}`} | ${failed.length === 0 ? "passed" : `**failed**: ${failed.join("; ").replaceAll("|", "\\|")}`} |`
    }),
    "",
    "## Components that exited by themselves",
    "",
    ...(run.unexpectedExits.length === 0
      ? ["None."]
      : [
          "The supervisor starts such a component again after 1 s, as ECS restarts a stopped task. Each is listed with its last line.",
          "",
          "| round | component | exit | last line |",
          "|---|---|---|---|",
          ...run.unexpectedExits.map(
            (e) => `| ${e.round} | ${e.component} | ${e.code ?? e.signal} | ${(e.lastLines.split("\n").pop() ?? "").slice(0, 300).replaceAll("|", "\\|")} |`
          )
        ]),
    "",
    "## Checks per round",
    "",
    ...run.rounds.flatMap((r) => r.checks.map((c) => `- round ${r.index} (${r.kind}) — ${c.name}: ${c.ok ? "held" : "**failed**"}; ${c.detail}`)),
    ""
  ]
  return lines.join("\n")
}
