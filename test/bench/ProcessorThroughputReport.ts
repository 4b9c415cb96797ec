/**
 * The processor-throughput benchmark's results: summary (median/min/max over
 * repetitions; the processor/baseline ratios computed per repetition, from two figures
 * of the same repetition), the stdout table, the results.json entry and the BENCHMARKS.md
 * section (the full run, the quick run and the last custom run, each from its own
 * results.json entry, so a quick run never hides the full numbers).
 */
import type { ChangeCounts } from "./ProcessorChanges.ts"
import { BENCHMARK_NAME, type RepResult } from "./ProcessorThroughput.ts"
import {
  type EntryBase,
  type MachineFacts,
  type RunConfig,
  type Summary,
  fmt,
  machineLines,
  pct,
  recordedRuns,
  runFooter,
  summarize,
  summaryRow,
  table
} from "./Report.ts"

/** The packages whose versions matter to this benchmark. */
export const PROCESSOR_PACKAGES = [
  "effect",
  "parquet-wasm",
  "apache-arrow",
  "aws-kinesis-agg",
  "kinesalite",
  "s3rver",
  "@aws-sdk/client-kinesis",
  "@aws-sdk/client-s3",
  "@faker-js/faker"
] as const

export interface ProcessorThroughputEntry extends EntryBase {
  readonly config: RunConfig & {
    /** Seed of the simulator model that generated the changes. */
    readonly seed: number
  }
  /** What was put on the stream (the same records in every repetition). */
  readonly workload: {
    readonly counts: ChangeCounts
    /** Changes that must each give one fact row, per fact table. */
    readonly factChanges: Readonly<Record<string, number>>
  }
  readonly unit: "change records/s"
  readonly summary: {
    readonly processor: Summary
    readonly baseline: Summary
    readonly ratio: Summary
    readonly cpuRatio: Summary
    readonly processorSeconds: Summary
    readonly baselineSeconds: Summary
    readonly microBatches: Summary
  }
  readonly reps: ReadonlyArray<RepResult>
}

export const makeEntry = (options: {
  readonly name: string
  readonly command: string
  readonly date: string
  readonly durationSeconds: number
  readonly config: ProcessorThroughputEntry["config"]
  readonly workload: ProcessorThroughputEntry["workload"]
  readonly machine: MachineFacts
  readonly reps: ReadonlyArray<RepResult>
}): ProcessorThroughputEntry => {
  const { reps } = options
  return {
    name: options.name,
    title: "Processor throughput",
    description:
      "the processor (runProcessor: shard poller, micro-batches, transform, Parquet, S3 puts, checkpoints) draining a kinesalite stream of totesys-shaped change records into Parquet objects in s3rver, beside the same transform and Parquet encoding in memory (same micro-batch sizes) in the same repetition",
    command: options.command,
    date: options.date,
    durationSeconds: options.durationSeconds,
    config: options.config,
    workload: options.workload,
    unit: "change records/s",
    summary: {
      processor: summarize(reps.map((r) => r.processor.rate), 0),
      baseline: summarize(reps.map((r) => r.baseline.rate), 0),
      ratio: summarize(reps.map((r) => r.ratio)),
      cpuRatio: summarize(reps.map((r) => r.cpuRatio ?? NaN)),
      processorSeconds: summarize(reps.map((r) => r.processor.seconds)),
      baselineSeconds: summarize(reps.map((r) => r.baseline.seconds)),
      microBatches: summarize(reps.map((r) => r.processor.microBatches.length), 0)
    },
    machine: options.machine,
    reps
  }
}

const summaryTable = (e: ProcessorThroughputEntry) =>
  table(
    ["measure", "median", "min", "max"],
    [
      summaryRow("processor: Kinesis → Parquet in S3 (changes/s)", e.summary.processor),
      summaryRow("baseline: transform + Parquet in memory (changes/s)", e.summary.baseline),
      [
        "processor / baseline (per repetition)",
        `${fmt(e.summary.ratio.median, 2)} (${pct(e.summary.ratio.median)})`,
        fmt(e.summary.ratio.min, 2),
        fmt(e.summary.ratio.max, 2)
      ],
      summaryRow("processor / baseline by CPU time (per repetition)", e.summary.cpuRatio, 2),
      summaryRow("processor time (s)", e.summary.processorSeconds, 2),
      summaryRow("baseline time (s)", e.summary.baselineSeconds, 2),
      summaryRow("micro-batches", e.summary.microBatches)
    ]
  )

const mib = (bytes: number) => fmt(bytes / 1024 ** 2, 1)

const repTable = (e: ProcessorThroughputEntry) =>
  table(
    [
      "rep",
      "micro-batches (changes)",
      "Kinesis records",
      "processor s",
      "processor/s",
      "baseline s",
      "baseline/s",
      "ratio",
      "load",
      "CPU s processor (node + kinesalite) / baseline",
      "first page s",
      "GetRecords s",
      "S3 PUTs (s)",
      "rows made processor / baseline",
      "Parquet MiB processor / baseline"
    ],
    e.reps.map((r) => [
      String(r.rep),
      r.processor.microBatches.map((n) => fmt(n)).join(" + "),
      fmt(r.stream.kinesisRecords),
      fmt(r.processor.seconds, 2),
      fmt(r.processor.rate),
      fmt(r.baseline.seconds, 2),
      fmt(r.baseline.rate),
      fmt(r.ratio, 2),
      fmt(r.loadAverage, 1),
      `${fmt(r.processor.nodeCpuSeconds, 1)} + ${fmt(r.processor.kinesaliteCpuSeconds, 1)} / ${fmt(r.baseline.nodeCpuSeconds, 1)}`,
      fmt(r.processor.firstPageSeconds, 2),
      `${fmt(r.processor.getRecords.seconds, 2)}`,
      `${fmt(r.processor.s3Puts.calls)} (${fmt(r.processor.s3Puts.seconds, 2)})`,
      `${fmt(r.processor.rows as number | undefined)} / ${fmt(r.baseline.rows as number | undefined)}`,
      `${mib(r.processor.parquetBytes)} / ${mib(r.baseline.parquetBytes)}`
    ])
  )

const workloadLine = (e: ProcessorThroughputEntry) => {
  const c = e.workload.counts
  const facts = Object.entries(e.workload.factChanges)
    .map(([table, n]) => `${table} ${fmt(n)}`)
    .join(", ")
  return `${fmt(c.total)} change records (seed ${e.config.seed}): ${fmt(c.reads)} snapshot reads, ${fmt(c.inserts)} inserts, ${fmt(c.updates)} updates in ${fmt(c.transactions)} transactions; fact rows expected: ${facts}`
}

/** What a run prints to stdout. */
export const consoleReport = (e: ProcessorThroughputEntry): string =>
  [
    "",
    `${e.title} — ${fmt(e.config.rows)} change records × ${e.config.reps} repetitions (${e.name}; ${e.config.shards} shards)`,
    "",
    summaryTable(e),
    "",
    repTable(e),
    "",
    `workload: ${workloadLine(e)}`,
    `command: ${e.command}`,
    `date: ${e.date}; the run took ${fmt(e.durationSeconds / 60, 1)} min`,
    machineLines(e.machine),
    ""
  ].join("\n")

const entrySection = (heading: string, e: ProcessorThroughputEntry) =>
  [
    `### ${heading}: ${fmt(e.config.rows)} change records × ${e.config.reps} repetitions — ${e.date.slice(0, 10)}`,
    "",
    summaryTable(e),
    "",
    repTable(e),
    "",
    `- workload: ${workloadLine(e)}`,
    runFooter(e)
  ].join("\n")

/** The BENCHMARKS.md section, from the results.json entries present. */
export const markdownSection = (
  full: ProcessorThroughputEntry | undefined,
  quick: ProcessorThroughputEntry | undefined,
  custom: ProcessorThroughputEntry | undefined
) =>
  [
    `## Processor throughput (\`${BENCHMARK_NAME}\`)`,
    "",
    "How fast the processor turns change records in Kinesis (kinesalite) into star-schema Parquet",
    "objects in S3 (s3rver), in change records per second, beside the raw rate of the same",
    "transform and Parquet encoding in memory, without Kinesis or S3, in the same repetition.",
    "",
    "- Changes (`test/bench/ProcessorChanges.ts`): generated in memory by the simulator's seeded",
    "  model, as the reader would emit them: a snapshot of the reference data (addresses,",
    "  counterparties, staff, departments, currencies, designs, payment types), then one source",
    "  transaction per business event in commit order — sales and purchases (order + transaction +",
    "  payment), new designs, the daily batch flipping due payments to paid, and 0.5% address,",
    "  department, counterparty or staff updates. The same records in every repetition.",
    "- Per repetition: a fresh stream (the local stack's shard count) and buckets; the changes put",
    "  untimed by the reader's producer (`runProducer`: KPL aggregates per shard). processor:",
    "  `runProcessor` with `runProcessorProgram`'s configuration (real shard poller from",
    "  TRIM_HORIZON, S3 checkpoints, default window: 16 MiB / 1 s / a page of every shard), timed from its",
    "  start (start-up included) until its checkpoint of every shard reaches the shard's last",
    "  record — every change is then in Parquet in S3. baseline: the same records, already decoded,",
    "  cut in commit order into micro-batches of the sizes the processor just used (so both make the",
    "  same number of transform calls and Parquet objects), through `transformBatch` →",
    "  `parquetRows` → `encodeParquet` per table. It runs after the processor, which tells its sizes.",
    "- Every repetition checks: no dead letters; the processed objects are exactly those reported;",
    "  each fact table holds exactly one row per fact change put, at its (commitLsn, commitIdx); the",
    "  baseline had no transform problem. A repetition that loses or duplicates data fails the run.",
    "- kinesalite answers GetRecords with up to 10,000 records whatever their size (Kinesis stops at",
    "  10 MiB), so each page here is a whole shard's backlog, and the window (closed at 16 MiB) takes",
    "  one such page alone in the full run (~77 MB: one micro-batch per shard) and both shards' pages",
    "  in the quick run (~13 MB each) — not the ≤ 10 MiB pages Kinesis would give.",
    "- \"rows made\": warehouse rows of all tables (dim_date included). Whole-shard micro-batches and",
    "  commit-order slices repeat slightly different dim_date and joined rows, hence the small",
    "  difference in rows and Parquet bytes between the two phases.",
    "- s3rver runs in the benchmark's process, kinesalite in a child process: \"CPU s processor\" is",
    "  this process (processor + s3rver) + kinesalite. \"first page s\": start until the first records",
    "  arrived. \"GetRecords s\" and \"S3 PUTs (s)\": time spent waiting in those calls (summed over",
    "  calls). \"load\": the 1-minute load average before the timed phases (other work skews them).",
    "- Reproduce: `npm run bench -- --only processor` (300,000 × 5) or",
    "  `npm run bench -- --quick --only processor` (50,000 × 3); `--cpu-prof-dir DIR` writes V8",
    "  profiles of both phases (`node test/bench/ProfileSummary.ts --categories processor FILE`).",
    "",
    ...recordedRuns({ full, quick, custom }, entrySection)
  ].join("\n")
