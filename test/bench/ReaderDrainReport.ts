/**
 * The reader-drain benchmark's results: summary (median/min/max over repetitions, the
 * reader/bare ratio computed per repetition), the stdout table, the results.json entry
 * and the BENCHMARKS.md section (which shows the full run and the quick run, each from
 * its own results.json entry, so a quick run never hides the full numbers).
 */
import { BENCHMARK_NAME, type RepResult } from "./ReaderDrain.ts"
import { type MachineFacts, type Summary, fmt, summarize, table } from "./Report.ts"

/** The reader must reach this fraction of the bare client's rate. */
export const TARGET_RATIO = 0.5

export interface ReaderDrainEntry {
  readonly name: string
  readonly title: string
  readonly description: string
  readonly command: string
  readonly date: string
  readonly durationSeconds: number
  readonly config: {
    readonly rows: number
    readonly reps: number
    readonly warmupRows: number
    readonly quick: boolean
    readonly shards: number
  }
  readonly unit: "row changes/s"
  readonly summary: {
    readonly bare: Summary
    readonly reader: Summary
    readonly ratio: Summary
    /**
     * bare node CPU seconds ÷ reader node CPU seconds, per repetition: the ratio with the
     * machine's other load taken out.
     */
    readonly cpuRatio: Summary
    readonly bareSeconds: Summary
    readonly readerSeconds: Summary
    readonly readerStartupSeconds: Summary
  }
  readonly target: { readonly ratio: number; readonly met: boolean }
  readonly machine: MachineFacts
  readonly reps: ReadonlyArray<RepResult>
}

/** results.json key: the default run, the quick run, or any other configuration. */
export const entryName = (quick: boolean, custom: boolean) =>
  quick ? `${BENCHMARK_NAME}-quick` : custom ? `${BENCHMARK_NAME}-custom` : BENCHMARK_NAME

export const makeEntry = (options: {
  readonly name: string
  readonly command: string
  readonly date: string
  readonly durationSeconds: number
  readonly config: ReaderDrainEntry["config"]
  readonly machine: MachineFacts
  readonly reps: ReadonlyArray<RepResult>
}): ReaderDrainEntry => {
  const { reps } = options
  const ratio = summarize(reps.map((r) => r.ratio))
  return {
    name: options.name,
    title: "Reader drain rate",
    description:
      "cdc-reader draining a replication-slot backlog of totesys row changes into kinesalite (confirmed_flush_lsn past the last backlog commit), beside a bare pg-logical-replication client counting the same slot's WAL",
    command: options.command,
    date: options.date,
    durationSeconds: options.durationSeconds,
    config: options.config,
    unit: "row changes/s",
    summary: {
      bare: summarize(reps.map((r) => r.bare.rate), 0),
      reader: summarize(reps.map((r) => r.reader.rate), 0),
      ratio,
      cpuRatio: summarize(reps.map((r) => r.bare.nodeCpuSeconds / r.reader.nodeCpuSeconds)),
      bareSeconds: summarize(reps.map((r) => r.bare.seconds)),
      readerSeconds: summarize(reps.map((r) => r.reader.seconds)),
      readerStartupSeconds: summarize(reps.map((r) => r.reader.startupSeconds ?? NaN))
    },
    target: { ratio: TARGET_RATIO, met: ratio.median >= TARGET_RATIO },
    machine: options.machine,
    reps
  }
}

const pct = (x: number) => `${(x * 100).toFixed(0)}%`

/** A summary row; entries recorded by older versions of this benchmark may lack a measure. */
const summaryRow = (label: string, x: Summary | undefined, digits: number): Array<string> => [
  label,
  fmt(x?.median, digits),
  fmt(x?.min, digits),
  fmt(x?.max, digits)
]

const summaryTable = (e: ReaderDrainEntry) =>
  table(
    ["measure", "median", "min", "max"],
    [
      ["bare pg-logical-replication client (changes/s)", fmt(e.summary.bare.median), fmt(e.summary.bare.min), fmt(e.summary.bare.max)],
      ["cdc-reader → kinesalite (changes/s)", fmt(e.summary.reader.median), fmt(e.summary.reader.min), fmt(e.summary.reader.max)],
      [
        "reader / bare (per repetition)",
        `${fmt(e.summary.ratio.median, 2)} (${pct(e.summary.ratio.median)})`,
        fmt(e.summary.ratio.min, 2),
        fmt(e.summary.ratio.max, 2)
      ],
      summaryRow("reader / bare by Node CPU time (per repetition)", e.summary.cpuRatio as Summary | undefined, 2),
      ["bare drain time (s)", fmt(e.summary.bareSeconds.median, 2), fmt(e.summary.bareSeconds.min, 2), fmt(e.summary.bareSeconds.max, 2)],
      ["reader drain time (s)", fmt(e.summary.readerSeconds.median, 2), fmt(e.summary.readerSeconds.min, 2), fmt(e.summary.readerSeconds.max, 2)],
      [
        "  of which reader start-up (s)",
        fmt(e.summary.readerStartupSeconds.median, 2),
        fmt(e.summary.readerStartupSeconds.min, 2),
        fmt(e.summary.readerStartupSeconds.max, 2)
      ]
    ]
  )

const repTable = (e: ReaderDrainEntry) =>
  table(
    [
      "rep",
      "order",
      "txns",
      "WAL MiB",
      "bare s",
      "bare/s",
      "reader s",
      "reader/s",
      "ratio",
      "load",
      "node CPU s bare / reader",
      "walsender CPU s bare / reader",
      "kinesalite CPU s",
      "reader GC s"
    ],
    e.reps.map((r) => [
      String(r.rep),
      r.order,
      fmt(r.backlog.transactions),
      fmt(r.backlog.walBytes / 1024 ** 2, 1),
      fmt(r.bare.seconds, 2),
      fmt(r.bare.rate),
      fmt(r.reader.seconds, 2),
      fmt(r.reader.rate),
      fmt(r.ratio, 2),
      fmt(r.loadAverage as number | undefined, 1),
      `${fmt(r.bare.nodeCpuSeconds, 2)} / ${fmt(r.reader.nodeCpuSeconds, 2)}`,
      `${fmt(r.bare.walsenderCpuSeconds, 2)} / ${fmt(r.reader.walsenderCpuSeconds, 2)}`,
      fmt(r.reader.kinesaliteCpuSeconds, 2),
      fmt(r.reader.gcSeconds, 2)
    ])
  )

const machineLines = (m: MachineFacts) =>
  [
    `- machine: ${m.cpus} × ${m.cpuModel}${m.cpuMHz > 0 ? ` (${m.cpuMHz} MHz)` : ""}, ${m.memoryGiB} GiB RAM, ${m.os}; load average at start ${m.loadAverageAtStart.join(" / ")}`,
    `- versions: Node ${m.node}, PostgreSQL ${m.postgres}, ${Object.entries(m.packages)
      .map(([name, version]) => `${name} ${version}`)
      .join(", ")}`,
    `- code: ${m.git === null ? "unknown" : `commit ${m.git.commit}${m.git.dirty ? " with uncommitted changes" : ""}`}`
  ].join("\n")

/** What a run prints to stdout. */
export const consoleReport = (e: ReaderDrainEntry): string =>
  [
    "",
    `${e.title} — ${fmt(e.config.rows)} row changes × ${e.config.reps} repetitions (${e.name})`,
    "",
    summaryTable(e),
    "",
    repTable(e),
    "",
    `target: reader ≥ ${pct(e.target.ratio)} of the bare client: ${e.target.met ? "MET" : "NOT MET"} (median ratio ${fmt(e.summary.ratio.median, 2)})`,
    "",
    `command: ${e.command}`,
    `date: ${e.date}; the run took ${fmt(e.durationSeconds / 60, 1)} min`,
    machineLines(e.machine),
    ""
  ].join("\n")

const entrySection = (heading: string, e: ReaderDrainEntry) =>
  [
    `### ${heading}: ${fmt(e.config.rows)} row changes × ${e.config.reps} repetitions — ${e.date.slice(0, 10)}`,
    "",
    summaryTable(e),
    "",
    `Target (reader ≥ ${pct(e.target.ratio)} of the bare client): **${e.target.met ? "met" : "not met"}** — median ratio ${fmt(e.summary.ratio.median, 2)}.`,
    "",
    repTable(e),
    "",
    `- command: \`${e.command}\` (${fmt(e.durationSeconds / 60, 1)} min), ${e.date}`,
    machineLines(e.machine)
  ].join("\n")

/** The BENCHMARKS.md section, from the results.json entries present. */
export const markdownSection = (full: ReaderDrainEntry | undefined, quick: ReaderDrainEntry | undefined, custom: ReaderDrainEntry | undefined) =>
  [
    `## Reader drain rate (\`${BENCHMARK_NAME}\`)`,
    "",
    "How fast `cdc-reader` drains a replication-slot backlog of totesys row changes into Kinesis",
    "(kinesalite), in row changes per second, beside a bare `pg-logical-replication` client",
    "(`LogicalReplicationService` + `PgoutputPlugin`, same acknowledge/flow-control settings) that",
    "only counts the messages of the same WAL. Target: the reader reaches ≥ 50% of the bare rate.",
    "",
    "- Per repetition: a fresh totesys database with the simulator's reference data, two pgoutput",
    "  slots created **before** the backlog (one each), the reader's state set to \"snapshot complete\"",
    "  so it resumes its slot, a fresh 2-shard stream; then the backlog, written by a PL/pgSQL",
    "  generator (`test/bench/Backlog.ts`): sales and purchases as 3-insert transactions",
    "  (order + transaction + payment), occasional design inserts, a payment-flip batch of ~18",
    "  updates every 30 events — ~3 changes per transaction — and an end-marker transaction.",
    "- bare: `subscribe` → first commit past the end marker. reader: fork of `runReaderProgram`",
    "  (start-up included) → its slot's `confirmed_flush_lsn` past the end marker, i.e. every change",
    "  durable in Kinesis (polled every 20 ms). The two drain one after the other, order alternating,",
    "  after an unmeasured warm-up repetition (10,000 changes) that takes JIT warm-up out of rep 1.",
    "- Every repetition checks the bare client counted exactly the backlog's row changes and the",
    "  stream holds each of them exactly once; a repetition that loses or duplicates data fails the run.",
    "- s3rver runs inside the benchmark's Node process (its CPU is in the \"node CPU\" column), kinesalite",
    "  in the local stack's child process (\"kinesalite CPU\", during the reader's drain). \"walsender CPU\"",
    "  is PostgreSQL's decoding process for the slot; \"reader GC s\" the garbage-collection pauses of",
    "  the reader's thread. \"load\" is the 1-minute load average before the drains: the machines have",
    "  2 CPUs shared by PostgreSQL, the reader and kinesalite, and other work running at the same time",
    "  lengthens the drains (compare the CPU columns).",
    "- Reproduce: `npm run bench` (300,000 × 5) or `npm run bench -- --quick` (50,000 × 3).",
    "  Diagnostics (printed, not recorded): `--cpu-prof-dir DIR` writes V8 profiles of each drain",
    "  (`node test/bench/ProfileSummary.ts FILE` summarizes one).",
    "",
    ...(full === undefined ? ["_No full run recorded yet (`npm run bench`)._", ""] : [entrySection("Full run", full), ""]),
    ...(quick === undefined ? [] : [entrySection("Quick run", quick), ""]),
    ...(custom === undefined ? [] : [entrySection("Last custom run", custom), ""])
  ].join("\n")
