/**
 * `npm run bench`: the project's benchmarks (never part of `npm test`), one after the
 * other: the reader drain (ReaderDrain.ts) and the processor throughput
 * (ProcessorThroughput.ts) on one local stack, then the freshness benchmark
 * (Freshness.ts), which starts `totes-cdc dev` itself, once per repetition.
 *
 *   npm run bench                      all: 300,000 changes × 5 repetitions (reader, processor);
 *                                      100, 1,000, 5,000 changes/s × 60 s × 3 repetitions (freshness)
 *   npm run bench -- --quick           all: 50,000 changes × 3; 100/s × 10 s and 1,000/s × 15 s × 3 (< 5 min in all)
 *   npm run bench -- --only reader|processor|freshness|e2e [--quick]
 *   (e2e, EndToEnd.ts: end to end through `totes-cdc dev`, after the others; its own dev per part and repetition)
 *   npm run bench -- --rows N --reps N [--warmup-rows N]
 *   npm run bench -- --only freshness --rates 100,1000 --seconds N --reps N
 *   npm run bench -- --only soak [--quick] [--rate N] [--seconds N]
 *   (soak, Soak.ts: one `totes-cdc dev` under a steady load, 1,000 changes/s × 30 min
 *   (--quick: × 2 min), memory, slot lag and freshness sampled every 10 s and judged flat
 *   or not; only with --only, never part of "all")
 *   npm run bench -- … --cpu-prof-dir DIR | --no-record   (diagnostics)
 *   npm run bench -- --report          regenerate BENCHMARKS.md from bench/results.json
 *
 * Prints a table per benchmark, merges the results into bench/results.json and
 * regenerates each benchmark's section of BENCHMARKS.md — except for diagnostic runs
 * (profiled runs are slower; a separate kinesalite process is not the local stack), which
 * are printed only. Exit code 1 when a benchmark fails (including a data check: a
 * benchmark that loses data is wrong), 2 on bad flags.
 */
import { NodeRuntime } from "@effect/platform-node"
import { makeLocalStack } from "@totes-cdc/local-stack"
import { makePgPool } from "@totes-cdc/platform"
import { Effect } from "effect"
import os from "node:os"
import { resolve } from "node:path"
import { parseArgs } from "node:util"
import { CHANGES_SEED, BENCHMARK_NAME as PROCESSOR_BENCHMARK, runProcessorThroughput } from "./ProcessorThroughput.ts"
import * as ProcessorReport from "./ProcessorThroughputReport.ts"
import { BENCHMARK_NAME as FRESHNESS_BENCHMARK, type Phase, runFreshness, TRAFFIC_SEED } from "./Freshness.ts"
import * as FreshnessReport from "./FreshnessReport.ts"
import { BENCHMARK_NAME as E2E_BENCHMARK, runEndToEnd } from "./EndToEnd.ts"
import * as E2EReport from "./EndToEndReport.ts"
import { BENCHMARK_NAME as SOAK_BENCHMARK, runSoak, SOAK_DUMP, SOAK_SEED } from "./Soak.ts"
import * as SoakReport from "./SoakReport.ts"
import { BENCHMARK_NAME, runReaderDrain } from "./ReaderDrain.ts"
import { type ReaderDrainEntry, consoleReport, entryName, makeEntry, markdownSection } from "./ReaderDrainReport.ts"
import { BENCHMARKS_FILE, RESULTS_FILE, commandLine, entryKey, machineFacts, mergeResult, readResults, writeSection } from "./Report.ts"
import { TOTESYS_DUMP } from "@totes-cdc/local-stack/testing"

const USAGE = `usage: npm run bench -- [--quick] [--only reader|processor|freshness|e2e|soak] [--rows N] [--reps N] [--warmup-rows N]
                              [--parts drain,transaction,snapshot] [--rates R,R,…] [--rate N] [--seconds N] [--cpu-prof-dir DIR]
                              [--no-record] [--report]
  --quick             50,000 changes × 3 repetitions (reader, processor; default: 300,000 × 5);
                      freshness: 100/s × 10 s and 1,000/s × 15 s × 3 (default: 100, 1,000 and
                      5,000/s × 60 s × 3)
  --only BENCHMARK    run one benchmark: reader (reader drain), processor (processor
                      throughput), freshness (commit→visible latency) or e2e (end to end:
                      EndToEnd.ts; quick: a 50,000-change drain × 3; full: 1,000,000 changes,
                      a 1,000,000-row transaction and snapshot × 3) or soak (Soak.ts: a
                      steady load for a long time, memory, slot lag and freshness sampled
                      every 10 s and judged flat or not; 1,000 changes/s × 1,800 s, quick:
                      × 120 s); default: the first four, in that order (soak only with --only)
  --rows N            changes per repetition (≥ 1,000): the reader's backlog, the processor's stream;
                      e2e: the size of each part it runs (drain changes: a multiple of 1,000)
  --parts P,P,…       e2e: run only these parts (drain, transaction, snapshot; default: all three,
                      quick: drain)
  --reps N            repetitions (≥ 3)
  --rates R,R,…       freshness: the steady rates (changes/s), in order
  --rate N            soak: the steady rate, changes/s (1 to 50,000; default 1,000)
  --seconds N         freshness: seconds of load per rate (≥ 5); soak: seconds of load (≥ 60)
  --warmup-rows N     changes of the unmeasured warm-up repetition (default 10,000; 0 = none)
  --cpu-prof-dir DIR  write a V8 CPU profile of every measured phase (reader: bare and reader
                      drains; processor: processor and baseline; freshness: each
                      repetition's dev) into DIR; the results are printed, not recorded
                      (profiling slows them down)
  --no-record         print the results only (bench/results.json and BENCHMARKS.md untouched)
  --report            run nothing: regenerate the BENCHMARKS.md sections from bench/results.json`

const BENCHMARKS = ["reader", "processor", "freshness", "e2e", "soak"] as const
type Benchmark = (typeof BENCHMARKS)[number]
/** What runs without --only (the soak takes half an hour: only on request). */
const ALL: ReadonlyArray<Benchmark> = ["reader", "processor", "freshness", "e2e"]

const args = process.argv.slice(2)

const parsed = (() => {
  try {
    const { values } = parseArgs({
      args,
      options: {
        quick: { type: "boolean", default: false },
        only: { type: "string" },
        rows: { type: "string" },
        reps: { type: "string" },
        "warmup-rows": { type: "string" },
        parts: { type: "string" },
        rates: { type: "string" },
        rate: { type: "string" },
        seconds: { type: "string" },
        "cpu-prof-dir": { type: "string" },
        report: { type: "boolean", default: false },
        "no-record": { type: "boolean", default: false },
        help: { type: "boolean", default: false }
      },
      strict: true
    })
    return values
  } catch (error) {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`)
    process.exit(2)
  }
})()

if (parsed.help) {
  process.stdout.write(`${USAGE}\n`)
  process.exit(0)
}

const wholeNumber = (flag: string, value: string | undefined, fallback: number, min: number) => {
  if (value === undefined) return fallback
  const n = Number(value.replaceAll("_", "").replaceAll(",", ""))
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`bench: --${flag} ${value}: give a whole number ≥ ${min}\n`)
    process.exit(2)
  }
  return n
}

const only = parsed.only
if (only !== undefined && !(BENCHMARKS as ReadonlyArray<string>).includes(only)) {
  process.stderr.write(`bench: --only ${only}: give one of ${BENCHMARKS.join(", ")}\n`)
  process.exit(2)
}
const selected: ReadonlyArray<Benchmark> = only === undefined ? (parsed.report ? BENCHMARKS : ALL) : [only as Benchmark]

if (only === "e2e" && parsed["warmup-rows"] !== undefined) {
  process.stderr.write("bench: --warmup-rows applies to the reader and processor benchmarks; the e2e benchmark takes --parts, --rows and --reps (and --quick)\n")
  process.exit(2)
}
if (parsed.parts !== undefined && only !== "e2e") {
  process.stderr.write("bench: --parts selects the e2e benchmark's parts: run it with --only e2e\n")
  process.exit(2)
}
if (only === "freshness" && (parsed.rows !== undefined || parsed["warmup-rows"] !== undefined)) {
  process.stderr.write("bench: --rows and --warmup-rows apply to the reader and processor benchmarks; the freshness benchmark takes --rates, --seconds and --reps\n")
  process.exit(2)
}

const quick = parsed.quick
const E2E_PARTS = ["drain", "transaction", "snapshot"] as const
type E2EPart = (typeof E2E_PARTS)[number]
const e2eParts: ReadonlyArray<E2EPart> = (() => {
  if (parsed.parts === undefined) return quick ? ["drain"] : E2E_PARTS
  const parts = parsed.parts.split(",").map((part) => part.trim())
  if (parts.length === 0 || parts.some((part) => !(E2E_PARTS as ReadonlyArray<string>).includes(part))) {
    process.stderr.write(`bench: --parts ${parsed.parts}: give parts of ${E2E_PARTS.join(", ")}, comma-separated\n`)
    process.exit(2)
  }
  return parts as ReadonlyArray<E2EPart>
})()
const rows = wholeNumber("rows", parsed.rows, quick ? 50_000 : 300_000, 1_000)
const reps = wholeNumber("reps", parsed.reps, quick ? 3 : 5, 3)
const warmupRows = Math.min(wholeNumber("warmup-rows", parsed["warmup-rows"], 10_000, 0), rows)
const custom = parsed.rows !== undefined || parsed.reps !== undefined || parsed["warmup-rows"] !== undefined
if (only === "e2e" && e2eParts.includes("drain") && parsed.rows !== undefined && rows % 1_000 !== 0) {
  process.stderr.write(`bench: --rows ${parsed.rows}: the e2e drain runs 1,000-change transactions; give a multiple of 1,000\n`)
  process.exit(2)
}

if (
  only === "soak" &&
  (parsed.rows !== undefined || parsed["warmup-rows"] !== undefined || parsed["cpu-prof-dir"] !== undefined || parsed.reps !== undefined || parsed.rates !== undefined)
) {
  process.stderr.write("bench: --rows, --warmup-rows, --reps, --rates and --cpu-prof-dir are other benchmarks'; the soak benchmark takes --rate, --seconds (and --quick)\n")
  process.exit(2)
}
if (parsed.rate !== undefined && only !== "soak") {
  process.stderr.write("bench: --rate sets the soak benchmark's load: drop it, or run --only soak (the freshness benchmark takes --rates)\n")
  process.exit(2)
}

// Freshness: phases of steady load (rate × seconds), 3 repetitions unless --reps says otherwise.
if ((parsed.rates !== undefined || parsed.seconds !== undefined) && !selected.includes("freshness") && only !== "soak") {
  process.stderr.write("bench: --rates and --seconds set the freshness benchmark's load (--seconds: the soak's too): drop them, or run --only freshness\n")
  process.exit(2)
}
const freshnessRates = (() => {
  if (parsed.rates === undefined) return quick ? [100, 1_000] : [100, 1_000, 5_000]
  const rates = parsed.rates.split(",").map((rate) => Number(rate.trim().replaceAll("_", "")))
  if (rates.length === 0 || rates.some((rate) => !Number.isInteger(rate) || rate < 1 || rate > 50_000)) {
    process.stderr.write(`bench: --rates ${parsed.rates}: give changes per second as whole numbers from 1 to 50,000, comma-separated (e.g. 100,1000)\n`)
    process.exit(2)
  }
  return rates
})()
const freshnessSeconds = only === "soak" ? 0 : wholeNumber("seconds", parsed.seconds, quick ? 0 : 60, 5)
const freshnessPhases: ReadonlyArray<Phase> = freshnessRates.map((rate) => ({
  rate,
  // quick: 1,000 changes at 100/s (issue 5's check), 15 s at higher rates
  seconds: freshnessSeconds > 0 ? freshnessSeconds : rate <= 100 ? 10 : 15
}))
const freshnessReps = wholeNumber("reps", parsed.reps, 3, 3)
const freshnessCustom = parsed.rates !== undefined || parsed.seconds !== undefined || parsed.reps !== undefined
const FRESHNESS_WARMUP: Phase = { rate: 100, seconds: 3 }

// Soak: one steady load, 1,000 changes/s × 30 min (quick: × 2 min) unless --rate / --seconds say otherwise.
const soakRate = only === "soak" ? wholeNumber("rate", parsed.rate, 1_000, 1) : 0
if (soakRate > 50_000) {
  process.stderr.write(`bench: --rate ${parsed.rate}: give changes per second as a whole number from 1 to 50,000\n`)
  process.exit(2)
}
const soakSeconds = only === "soak" ? wholeNumber("seconds", parsed.seconds, quick ? 120 : 1_800, 60) : 0
const soakCustom = parsed.rate !== undefined || parsed.seconds !== undefined
const cpuProfileDir = parsed["cpu-prof-dir"] === undefined ? undefined : resolve(parsed["cpu-prof-dir"])
const diagnostic = cpuProfileDir !== undefined || parsed["no-record"]

// The reader writes CloudWatch EMF metric lines to stdout when stdout is not a terminal
// (cdc-reader/src/MetricsReport.ts); they are not this program's output: drop them.
const stdoutWrite = process.stdout.write.bind(process.stdout)
process.stdout.write = ((chunk: string | Uint8Array, ...rest: Array<never>) =>
  typeof chunk === "string" && chunk.startsWith('{"_aws":') ? true : stdoutWrite(chunk, ...rest)) as typeof process.stdout.write

const started = performance.now()
/** The reader's and processor's figures of this invocation, beside the e2e benchmark's. */
const stages: { reader?: E2EReport.StageFigures; processor?: E2EReport.StageFigures } = {}
const log = (line: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`)

const SECTIONS: Record<Benchmark, string> = { reader: BENCHMARK_NAME, processor: PROCESSOR_BENCHMARK, freshness: FRESHNESS_BENCHMARK, e2e: E2E_BENCHMARK, soak: SOAK_BENCHMARK }

const regenerateSection = async (benchmark: Benchmark) => {
  const all = await readResults()
  if (benchmark === "reader") {
    const stored = (key: string) => all.benchmarks[key] as ReaderDrainEntry | undefined
    await writeSection(BENCHMARK_NAME, markdownSection(stored(entryName(false, false)), stored(entryName(true, false)), stored(entryName(false, true))))
  } else if (benchmark === "processor") {
    const stored = (quick: boolean, custom: boolean) =>
      all.benchmarks[entryKey(PROCESSOR_BENCHMARK, quick, custom)] as ProcessorReport.ProcessorThroughputEntry | undefined
    await writeSection(PROCESSOR_BENCHMARK, ProcessorReport.markdownSection(stored(false, false), stored(true, false), stored(false, true)))
  } else if (benchmark === "e2e") {
    const stored = (quick: boolean, custom: boolean) => all.benchmarks[entryKey(E2E_BENCHMARK, quick, custom)] as E2EReport.EndToEndEntry | undefined
    await writeSection(E2E_BENCHMARK, E2EReport.markdownSection(stored(false, false), stored(true, false), stored(false, true)))
  } else if (benchmark === "soak") {
    const stored = (quick: boolean, custom: boolean) => all.benchmarks[entryKey(SOAK_BENCHMARK, quick, custom)] as SoakReport.SoakEntry | undefined
    await writeSection(SOAK_BENCHMARK, SoakReport.markdownSection(stored(false, false), stored(true, false), stored(false, true)))
  } else {
    const stored = (quick: boolean, custom: boolean) =>
      all.benchmarks[entryKey(FRESHNESS_BENCHMARK, quick, custom)] as FreshnessReport.FreshnessEntry | undefined
    await writeSection(FRESHNESS_BENCHMARK, FreshnessReport.markdownSection(stored(false, false), stored(true, false), stored(false, true)))
  }
}

if (parsed.report) {
  for (const benchmark of selected) {
    await regenerateSection(benchmark)
    log(`section ${SECTIONS[benchmark]} of ${BENCHMARKS_FILE} regenerated from ${RESULTS_FILE}`)
  }
  process.exit(0)
}

/** Prints `entry` (its console report), then records it unless the run is diagnostic. */
const report = (benchmark: Benchmark, name: string, entry: unknown, text: string) =>
  Effect.gen(function* () {
    process.stdout.write(text)
    if (diagnostic) {
      log(
        `results not recorded${cpuProfileDir === undefined ? "" : `; CPU profiles in ${cpuProfileDir} (summarize: node test/bench/ProfileSummary.ts${benchmark === "processor" ? " --categories processor" : ""} FILE)`}`
      )
      return
    }
    yield* Effect.promise(() => mergeResult(name, entry))
    yield* Effect.promise(() => regenerateSection(benchmark))
    log(`results merged into ${RESULTS_FILE} (${name}); section ${SECTIONS[benchmark]} of ${BENCHMARKS_FILE} regenerated`)
  })

/** The reader and processor benchmarks, on one local stack (stopped when they are done). */
const onLocalStack = Effect.scoped(
  Effect.gen(function* () {
    const loadAverageAtStart = os.loadavg()
    log(
      `${selected.filter((b) => b === "reader" || b === "processor").map((b) => SECTIONS[b]).join(" + ")}: ${rows.toLocaleString("en-GB")} changes × ${reps} repetitions (+ a warm-up of ${warmupRows.toLocaleString("en-GB")}); starting the local stack`
    )
    const localStack = yield* makeLocalStack()
    const postgres = yield* Effect.scoped(
      Effect.gen(function* () {
        const pool = yield* makePgPool(localStack.postgres.url("postgres"), { max: 1 })
        const [row] = yield* pool.query("SHOW server_version")
        return row?.server_version ?? "?"
      })
    )

    if (selected.includes("reader")) {
      const date = new Date().toISOString()
      const stack = localStack
      const results = yield* runReaderDrain(stack, { rows, reps, warmupRows, log, ...(cpuProfileDir === undefined ? {} : { cpuProfileDir }) })
      const name = entryName(quick, custom)
      const entry = makeEntry({
        name,
        command: commandLine(args),
        date,
        durationSeconds: Number(((performance.now() - started) / 1000).toFixed(1)),
        config: { rows, reps, warmupRows, quick, shards: stack.kinesis.shards },
        machine: machineFacts(postgres, loadAverageAtStart),
        reps: results
      })
      stages.reader = { benchmark: `${name}, this invocation`, rate: entry.summary.reader, baseline: entry.summary.bare, ratio: entry.summary.ratio }
      yield* report("reader", name, entry, consoleReport(entry))
    }

    if (selected.includes("processor")) {
      const date = new Date().toISOString()
      const processorStarted = performance.now()
      const loadAverage = os.loadavg()
      log(`${PROCESSOR_BENCHMARK}: ${rows.toLocaleString("en-GB")} changes × ${reps} repetitions (+ a warm-up of ${warmupRows.toLocaleString("en-GB")})`)
      const results = yield* runProcessorThroughput(localStack, { rows, reps, warmupRows, log, ...(cpuProfileDir === undefined ? {} : { cpuProfileDir }) })
      const name = entryKey(PROCESSOR_BENCHMARK, quick, custom)
      const entry = ProcessorReport.makeEntry({
        name,
        command: commandLine(args),
        date,
        durationSeconds: Number(((performance.now() - processorStarted) / 1000).toFixed(1)),
        config: { rows, reps, warmupRows, quick, shards: localStack.kinesis.shards, seed: CHANGES_SEED },
        workload: { counts: results.counts, factChanges: results.factChanges },
        machine: machineFacts(postgres, loadAverage, ProcessorReport.PROCESSOR_PACKAGES),
        reps: results.reps
      })
      stages.processor = { benchmark: `${name}, this invocation`, rate: entry.summary.processor, baseline: entry.summary.baseline, ratio: entry.summary.ratio }
      yield* report("processor", name, entry, ProcessorReport.consoleReport(entry))
    }
  })
)

/** The freshness benchmark: it starts `totes-cdc dev` itself, once per repetition. */
const freshness = Effect.gen(function* () {
  const date = new Date().toISOString()
  const freshnessStarted = performance.now()
  const loadAverage = os.loadavg()
  log(
    `${FRESHNESS_BENCHMARK}: ${freshnessPhases.map((p) => `${p.rate.toLocaleString("en-GB")}/s × ${p.seconds} s`).join(", ")} × ${freshnessReps} repetitions, each on a fresh totes-cdc dev`
  )
  const settings = { phases: freshnessPhases, reps: freshnessReps, warmup: FRESHNESS_WARMUP, pollMs: 25, graceSeconds: 120, maxDrainSeconds: 600 }
  const results = yield* runFreshness({ ...settings, log, ...(cpuProfileDir === undefined ? {} : { cpuProfileDir }) })
  const name = entryKey(FRESHNESS_BENCHMARK, quick, freshnessCustom)
  const entry = FreshnessReport.makeEntry({
    name,
    command: commandLine(args),
    date,
    durationSeconds: Number(((performance.now() - freshnessStarted) / 1000).toFixed(1)),
    config: {
      ...settings,
      rows: freshnessPhases.reduce((sum, p) => sum + p.rate * p.seconds, 0),
      warmupRows: FRESHNESS_WARMUP.rate * FRESHNESS_WARMUP.seconds,
      quick,
      shards: results[0]?.shards ?? 0,
      seed: TRAFFIC_SEED,
      dump: TOTESYS_DUMP.slice(TOTESYS_DUMP.indexOf("shared/"))
    },
    machine: machineFacts(results[0]?.postgres ?? "?", loadAverage, FreshnessReport.FRESHNESS_PACKAGES),
    reps: results
  })
  if (entry.summary.missing > 0) {
    process.stdout.write(FreshnessReport.consoleReport(entry))
    return yield* Effect.fail(
      new Error(
        `${FRESHNESS_BENCHMARK}: ${entry.summary.missing} changes were not visible in the warehouse after ${settings.graceSeconds} s without progress (see "missing" above); the results are not recorded`
      )
    )
  }
  yield* report("freshness", name, entry, FreshnessReport.consoleReport(entry))
})

/** The e2e benchmark (EndToEnd.ts): it starts `totes-cdc dev` itself, once per part and repetition. */
const e2e = Effect.gen(function* () {
  const date = new Date().toISOString()
  const e2eStarted = performance.now()
  const loadAverage = os.loadavg()
  const size = parsed.rows === undefined ? (quick ? 50_000 : 1_000_000) : rows
  const sizeOf = (part: E2EPart) => (e2eParts.includes(part) ? size : 0)
  const sizes = { drainChanges: sizeOf("drain"), bigTransactionRows: sizeOf("transaction"), snapshotRows: sizeOf("snapshot") }
  const e2eReps = wholeNumber("reps", parsed.reps, 3, 3)
  log(`${E2E_BENCHMARK}: ${JSON.stringify(sizes)} × ${e2eReps} repetitions, each on a fresh totes-cdc dev`)
  const results = yield* runEndToEnd({ ...sizes, reps: e2eReps, drainOnOneDev: quick, log, ...(cpuProfileDir === undefined ? {} : { cpuProfileDir }) })
  const name = entryKey(E2E_BENCHMARK, quick, parsed.reps !== undefined || parsed.rows !== undefined || parsed.parts !== undefined)
  const entry = E2EReport.makeEntry({
    name,
    command: commandLine(args),
    date,
    durationSeconds: Number(((performance.now() - e2eStarted) / 1000).toFixed(1)),
    config: { ...sizes, reps: e2eReps, quick, drainOnOneDev: quick, shards: results.drain[0]?.shards ?? 0, profiledRep: cpuProfileDir === undefined ? null : 1 },
    machine: machineFacts(results.drain[0]?.postgres ?? "?", loadAverage, E2EReport.E2E_PACKAGES),
    results,
    stages,
    profileSummary: E2EReport.summarizeDevProfile(results.drain[0]?.cpuProfile ?? null)
  })
  yield* report("e2e", name, entry, E2EReport.consoleReport(entry))
})

/** The soak benchmark (Soak.ts): one `totes-cdc dev` under a steady load for `soakSeconds`. */
const soak = Effect.gen(function* () {
  const date = new Date().toISOString()
  const soakStarted = performance.now()
  const loadAverage = os.loadavg()
  const settings = { rate: soakRate, seconds: soakSeconds, sampleSeconds: 10, pollMs: 25, graceSeconds: 120, maxDrainSeconds: 600, seed: SOAK_SEED }
  log(`${SOAK_BENCHMARK}: ${soakRate.toLocaleString("en-GB")} changes/s × ${soakSeconds.toLocaleString("en-GB")} s on a fresh totes-cdc dev, sampled every ${settings.sampleSeconds} s`)
  const { workers, run } = yield* runSoak({ ...settings, log })
  const name = entryKey(SOAK_BENCHMARK, quick && !soakCustom, soakCustom)
  const entry = SoakReport.makeEntry({
    name,
    command: commandLine(args),
    date,
    durationSeconds: Number(((performance.now() - soakStarted) / 1000).toFixed(1)),
    config: {
      ...settings,
      workers,
      warmupSeconds: SoakReport.warmupSeconds(soakSeconds),
      rows: soakRate * soakSeconds,
      reps: 1,
      warmupRows: 0,
      quick,
      shards: run.shards,
      dump: SOAK_DUMP
    },
    machine: machineFacts(run.postgres, loadAverage, SoakReport.SOAK_PACKAGES),
    run
  })
  if (entry.summary.lost > 0) {
    process.stdout.write(SoakReport.consoleReport(entry))
    return yield* Effect.fail(
      new Error(
        `${SOAK_BENCHMARK}: ${entry.summary.lost} changes were not in the warehouse after ${settings.graceSeconds} s without progress (see "lost" above); the results are not recorded`
      )
    )
  }
  yield* report("soak", name, entry, SoakReport.consoleReport(entry))
})

const program = Effect.gen(function* () {
  if (selected.some((b) => b === "reader" || b === "processor")) yield* onLocalStack
  if (selected.includes("freshness")) yield* freshness
  if (selected.includes("e2e")) yield* e2e
  if (selected.includes("soak")) yield* soak
  log(`done in ${((performance.now() - started) / 60_000).toFixed(1)} min`)
})

NodeRuntime.runMain(program)
