/**
 * `npm run bench`: the project's benchmarks on one local stack (never part of `npm test`),
 * one after the other: the reader drain (ReaderDrain.ts), then the processor throughput
 * (ProcessorThroughput.ts).
 *
 *   npm run bench                      both: 300,000 changes × 5 repetitions each
 *   npm run bench -- --quick           both: 50,000 changes × 3 repetitions each (< 5 min in all)
 *   npm run bench -- --only reader|processor [--quick]
 *   npm run bench -- --rows N --reps N [--warmup-rows N]
 *   npm run bench -- … --cpu-prof-dir DIR | --kinesalite-process | --no-record   (diagnostics)
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
import { startKinesaliteProcess } from "./KinesaliteProcess.ts"
import { CHANGES_SEED, BENCHMARK_NAME as PROCESSOR_BENCHMARK, runProcessorThroughput } from "./ProcessorThroughput.ts"
import * as ProcessorReport from "./ProcessorThroughputReport.ts"
import { BENCHMARK_NAME, runReaderDrain } from "./ReaderDrain.ts"
import { type ReaderDrainEntry, consoleReport, entryName, makeEntry, markdownSection } from "./ReaderDrainReport.ts"
import { BENCHMARKS_FILE, RESULTS_FILE, commandLine, entryKey, machineFacts, mergeResult, readResults, writeSection } from "./Report.ts"

const USAGE = `usage: npm run bench -- [--quick] [--only reader|processor] [--rows N] [--reps N] [--warmup-rows N]
                              [--cpu-prof-dir DIR] [--kinesalite-process] [--no-record] [--report]
  --quick             50,000 changes × 3 repetitions per benchmark (default: 300,000 × 5)
  --only BENCHMARK    run one benchmark: reader (reader drain) or processor (processor
                      throughput); default: both, reader first
  --rows N            changes per repetition (≥ 1,000): the reader's backlog, the processor's stream
  --reps N            repetitions (≥ 3)
  --warmup-rows N     changes of the unmeasured warm-up repetition (default 10,000; 0 = none)
  --cpu-prof-dir DIR  write a V8 CPU profile of every measured phase (reader: bare and reader
                      drains; processor: processor and baseline) into DIR; the results are
                      printed, not recorded (profiling slows them down)
  --no-record         print the results only (bench/results.json and BENCHMARKS.md untouched)
  --report            run nothing: regenerate the BENCHMARKS.md sections from bench/results.json
  --kinesalite-process
                      diagnostic of the reader benchmark: the reader writes to a kinesalite in a
                      separate child process instead of the local stack's; printed, not recorded`

const BENCHMARKS = ["reader", "processor"] as const
type Benchmark = (typeof BENCHMARKS)[number]

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
        "cpu-prof-dir": { type: "string" },
        "kinesalite-process": { type: "boolean", default: false },
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
const selected: ReadonlyArray<Benchmark> = only === undefined ? BENCHMARKS : [only as Benchmark]
if (parsed["kinesalite-process"] && !selected.includes("reader")) {
  process.stderr.write("bench: --kinesalite-process is a diagnostic of the reader benchmark: drop it, or run --only reader\n")
  process.exit(2)
}

const quick = parsed.quick
const rows = wholeNumber("rows", parsed.rows, quick ? 50_000 : 300_000, 1_000)
const reps = wholeNumber("reps", parsed.reps, quick ? 3 : 5, 3)
const warmupRows = Math.min(wholeNumber("warmup-rows", parsed["warmup-rows"], 10_000, 0), rows)
const custom = parsed.rows !== undefined || parsed.reps !== undefined || parsed["warmup-rows"] !== undefined
const cpuProfileDir = parsed["cpu-prof-dir"] === undefined ? undefined : resolve(parsed["cpu-prof-dir"])
const kinesaliteProcess = parsed["kinesalite-process"]
const diagnostic = cpuProfileDir !== undefined || kinesaliteProcess || parsed["no-record"]

// The reader writes CloudWatch EMF metric lines to stdout when stdout is not a terminal
// (cdc-reader/src/MetricsReport.ts); they are not this program's output: drop them.
const stdoutWrite = process.stdout.write.bind(process.stdout)
process.stdout.write = ((chunk: string | Uint8Array, ...rest: Array<never>) =>
  typeof chunk === "string" && chunk.startsWith('{"_aws":') ? true : stdoutWrite(chunk, ...rest)) as typeof process.stdout.write

const started = performance.now()
const log = (line: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`)

const SECTIONS: Record<Benchmark, string> = { reader: BENCHMARK_NAME, processor: PROCESSOR_BENCHMARK }

const regenerateSection = async (benchmark: Benchmark) => {
  const all = await readResults()
  if (benchmark === "reader") {
    const stored = (key: string) => all.benchmarks[key] as ReaderDrainEntry | undefined
    await writeSection(BENCHMARK_NAME, markdownSection(stored(entryName(false, false)), stored(entryName(true, false)), stored(entryName(false, true))))
  } else {
    const stored = (quick: boolean, custom: boolean) =>
      all.benchmarks[entryKey(PROCESSOR_BENCHMARK, quick, custom)] as ProcessorReport.ProcessorThroughputEntry | undefined
    await writeSection(PROCESSOR_BENCHMARK, ProcessorReport.markdownSection(stored(false, false), stored(true, false), stored(false, true)))
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

const program = Effect.scoped(
  Effect.gen(function* () {
    const loadAverageAtStart = os.loadavg()
    log(
      `${selected.map((b) => SECTIONS[b]).join(" + ")}: ${rows.toLocaleString("en-GB")} changes × ${reps} repetitions (+ a warm-up of ${warmupRows.toLocaleString("en-GB")}); starting the local stack`
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
      const stack = kinesaliteProcess
        ? { ...localStack, kinesis: { ...localStack.kinesis, endpoint: yield* startKinesaliteProcess } }
        : localStack
      const results = yield* runReaderDrain(stack, { rows, reps, warmupRows, log, ...(cpuProfileDir === undefined ? {} : { cpuProfileDir }) })
      const name = entryName(quick, custom)
      const entry = makeEntry({
        name,
        command: commandLine(args),
        date,
        durationSeconds: Number(((performance.now() - started) / 1000).toFixed(1)),
        config: { rows, reps, warmupRows, quick, shards: stack.kinesis.shards, kinesalite: kinesaliteProcess ? "child process" : "in-process" },
        machine: machineFacts(postgres, loadAverageAtStart),
        reps: results
      })
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
      yield* report("processor", name, entry, ProcessorReport.consoleReport(entry))
    }
    log(`done in ${((performance.now() - started) / 60_000).toFixed(1)} min`)
  })
)

NodeRuntime.runMain(program)
