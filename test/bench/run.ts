/**
 * `npm run bench`: the project's benchmarks on one local stack (never part of `npm test`).
 *
 *   npm run bench                      reader drain: 300,000 row changes × 5 repetitions
 *   npm run bench -- --quick           reader drain: 50,000 row changes × 3 repetitions
 *   npm run bench -- --rows N --reps N [--warmup-rows N]
 *   npm run bench -- … --cpu-prof-dir DIR | --kinesalite-process | --no-record   (diagnostics)
 *   npm run bench -- --report          regenerate BENCHMARKS.md from bench/results.json
 *
 * Prints a table, merges the results into bench/results.json and regenerates the
 * benchmark's section of BENCHMARKS.md — except for diagnostic runs (profiled drains are
 * slower; a separate kinesalite process is not the local stack), which are printed only.
 * Exit code 1 when a benchmark fails (including a data check: a benchmark that loses
 * data is wrong), 2 on bad flags.
 */
import { NodeRuntime } from "@effect/platform-node"
import { makeLocalStack } from "@totes-cdc/local-stack"
import { makePgPool } from "@totes-cdc/platform"
import { Effect } from "effect"
import os from "node:os"
import { resolve } from "node:path"
import { parseArgs } from "node:util"
import { startKinesaliteProcess } from "./KinesaliteProcess.ts"
import { BENCHMARK_NAME, runReaderDrain } from "./ReaderDrain.ts"
import { type ReaderDrainEntry, consoleReport, entryName, makeEntry, markdownSection } from "./ReaderDrainReport.ts"
import { BENCHMARKS_FILE, RESULTS_FILE, commandLine, machineFacts, mergeResult, readResults, writeSection } from "./Report.ts"

const USAGE = `usage: npm run bench -- [--quick] [--rows N] [--reps N] [--warmup-rows N]
                              [--cpu-prof-dir DIR] [--kinesalite-process] [--no-record] [--report]
  --quick             50,000 row changes × 3 repetitions (default: 300,000 × 5)
  --rows N            row changes per backlog (≥ 1,000)
  --reps N            repetitions (≥ 3)
  --warmup-rows N     row changes of the unmeasured warm-up repetition (default 10,000; 0 = none)
  --cpu-prof-dir DIR  write a V8 CPU profile of every measured drain (bare and reader) into DIR;
                      the results are printed, not recorded (profiling slows the drains)
  --no-record         print the results only (bench/results.json and BENCHMARKS.md untouched)
  --report            run nothing: regenerate the BENCHMARKS.md section from bench/results.json
  --kinesalite-process
                      diagnostic: the reader writes to a kinesalite in a child process instead of
                      the local stack's in-process one; printed, not recorded`

const args = process.argv.slice(2)

const parsed = (() => {
  try {
    const { values } = parseArgs({
      args,
      options: {
        quick: { type: "boolean", default: false },
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

const regenerateSection = async () => {
  const all = await readResults()
  const stored = (key: string) => all.benchmarks[key] as ReaderDrainEntry | undefined
  await writeSection(BENCHMARK_NAME, markdownSection(stored(entryName(false, false)), stored(entryName(true, false)), stored(entryName(false, true))))
}

if (parsed.report) {
  await regenerateSection()
  log(`section ${BENCHMARK_NAME} of ${BENCHMARKS_FILE} regenerated from ${RESULTS_FILE}`)
  process.exit(0)
}

const program = Effect.scoped(
  Effect.gen(function* () {
    const date = new Date().toISOString()
    const loadAverageAtStart = os.loadavg()
    log(
      `${BENCHMARK_NAME}: ${rows.toLocaleString("en-GB")} row changes × ${reps} repetitions (+ a warm-up of ${warmupRows.toLocaleString("en-GB")}); starting the local stack`
    )
    const localStack = yield* makeLocalStack()
    const stack = kinesaliteProcess
      ? { ...localStack, kinesis: { ...localStack.kinesis, endpoint: yield* startKinesaliteProcess } }
      : localStack
    const postgres = yield* Effect.scoped(
      Effect.gen(function* () {
        const pool = yield* makePgPool(stack.postgres.url("postgres"), { max: 1 })
        const [row] = yield* pool.query("SHOW server_version")
        return row?.server_version ?? "?"
      })
    )
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
    process.stdout.write(consoleReport(entry))
    if (diagnostic) {
      log(
        `results not recorded${cpuProfileDir === undefined ? "" : `; CPU profiles in ${cpuProfileDir} (summarize: node test/bench/ProfileSummary.ts FILE)`}`
      )
      return
    }
    yield* Effect.promise(() => mergeResult(name, entry))
    yield* Effect.promise(regenerateSection)
    log(`results merged into ${RESULTS_FILE} (${name}); section ${BENCHMARK_NAME} of ${BENCHMARKS_FILE} regenerated`)
  })
)

NodeRuntime.runMain(program)
