import { describe, expect, it } from "@effect/vitest"
import { makeRandom } from "./FreshnessTraffic.ts"
import { withoutProbe } from "./HeapProbe.ts"
import {
  consoleReport,
  HISTOGRAM_MS,
  leastSquares,
  makeEntry,
  makeWindowBook,
  markdownSection,
  MIN_POINTS,
  type Point,
  type SoakRun,
  type SoakSample,
  trendOf,
  trends,
  verdictOf,
  warmupSeconds
} from "./SoakReport.ts"

/** t = 0, 10, … ≤ seconds, v = f(t) + uniform noise in ±amplitude (deterministic). */
const series = (seconds: number, f: (t: number) => number, amplitude = 0, seed = 7): Array<Point> => {
  const random = makeRandom(seed)
  return Array.from({ length: Math.floor(seconds / 10) + 1 }, (_, i) => ({ t: i * 10, v: f(i * 10) + (random() * 2 - 1) * amplitude }))
}

const MEASURED = { from: 120, to: 1_800 }

describe("leastSquares", () => {
  it("recovers an exact line with no residual", () => {
    const fit = leastSquares([0, 10, 20, 30].map((t) => ({ t, v: 3 + 2 * t })))
    expect(fit.slope).toBeCloseTo(2, 12)
    expect(fit.intercept).toBeCloseTo(3, 12)
    expect(fit.residualSd).toBeCloseTo(0, 12)
    expect(fit.mean).toBeCloseTo(33, 12)
  })

  it("gives the residual standard deviation with n − 2 degrees of freedom", () => {
    // slope 0.2, intercept 0.2, residuals −0.2, 0.6, −0.6, 0.2: Σr² = 0.8, σ = √(0.8 / 2)
    const fit = leastSquares([0, 1, 0, 1].map((v, t) => ({ t, v })))
    expect(fit.slope).toBeCloseTo(0.2, 12)
    expect(fit.intercept).toBeCloseTo(0.2, 12)
    expect(fit.residualSd).toBeCloseTo(Math.sqrt(0.4), 12)
  })

  it("has no slope for a single instant and no noise figure below three points", () => {
    expect(leastSquares([{ t: 5, v: 1 }, { t: 5, v: 2 }]).slope).toBeNaN()
    expect(leastSquares([{ t: 0, v: 1 }, { t: 1, v: 2 }]).residualSd).toBeNaN()
  })
})

describe("trendOf: flat means within max(2σ, floor) over the measured span", () => {
  it("judges noise around a constant flat, and a steady leak under the same noise rising", () => {
    const flat = trendOf(series(1_800, () => 100, 5), MEASURED, 16)
    expect(flat.verdict).toBe("flat")
    expect(Math.abs(flat.slopePer10Min)).toBeLessThan(1)
    expect(flat.mean).toBeCloseTo(100, 0)

    // 1 MB a minute: 28 MB over the 1,680 s measured, noise σ ≈ 2.9
    const leak = trendOf(series(1_800, (t) => 100 + t / 60, 5), MEASURED, 16)
    expect(leak.verdict).toBe("rising")
    expect(leak.slopePer10Min).toBeCloseTo(10, 0)
    expect(leak.change).toBeCloseTo(28, 0)
    expect(leak.residualSd).toBeGreaterThan(2)
    expect(leak.residualSd).toBeLessThan(4)
    expect(leak.lastMean - leak.firstMean).toBeGreaterThan(20)
  })

  it("lets a drift hidden in large noise pass, and not one that exceeds twice the noise", () => {
    // uniform ±50: σ ≈ 29, so 2σ ≈ 58 — a 20-unit drift is noise, a 150-unit one is not
    const small = trendOf(series(1_800, (t) => 500 + (20 * (t - 120)) / 1_680, 50), MEASURED, 8)
    expect(small.threshold).toBeGreaterThan(40)
    expect(small.verdict).toBe("flat")
    const large = trendOf(series(1_800, (t) => 500 + (150 * (t - 120)) / 1_680, 50), MEASURED, 8)
    expect(large.verdict).toBe("rising")
  })

  it("uses the floor when the series has no noise", () => {
    expect(trendOf(series(1_800, (t) => (5 * (t - 120)) / 1_680), MEASURED, 8)).toMatchObject({ verdict: "flat", threshold: 8 })
    expect(trendOf(series(1_800, (t) => (10 * (t - 120)) / 1_680), MEASURED, 8).verdict).toBe("rising")
  })

  it("calls a decline falling", () => {
    expect(trendOf(series(1_800, (t) => 1_000 - t / 10, 3), MEASURED, 10).verdict).toBe("falling")
  })

  it("sees a sawtooth (a collected heap) as flat, and the same sawtooth on a rising floor as rising", () => {
    const saw = (t: number) => 40 + ((t / 10) % 6) * 5
    expect(trendOf(series(1_800, saw), MEASURED, 8).verdict).toBe("flat")
    expect(trendOf(series(1_800, (t) => saw(t) + t / 30), MEASURED, 8).verdict).toBe("rising")
  })

  it("leaves the warm-up out: its ramp neither tilts the slope nor inflates the noise", () => {
    const rampThenFlat = series(1_800, (t) => (t < 120 ? 50 + t : 170))
    const measured = trendOf(rampThenFlat, MEASURED, 4)
    expect(measured).toMatchObject({ n: 169, from: 120, to: 1_800, change: 0, residualSd: 0, threshold: 4, verdict: "flat" })
    const all = trendOf(rampThenFlat, { from: 0, to: 1_800 }, 4)
    expect(all.n).toBe(181)
    expect(all.change).toBeGreaterThan(20)
    expect(all.residualSd).toBeGreaterThan(10)
  })

  it("skips null readings and does not judge fewer than MIN_POINTS", () => {
    const sparse = trendOf(
      series(1_800, () => 1).map((p, i) => (i % 40 === 0 ? p : { t: p.t, v: null })),
      MEASURED,
      1
    )
    expect(sparse.n).toBeLessThan(MIN_POINTS)
    expect(sparse.verdict).toBeNull()
  })

  it("gives first and last means over min(5 min, a third of the span)", () => {
    const step = trendOf(series(1_800, (t) => (t < 960 ? 10 : 20)), MEASURED, 100)
    expect(step.edgeSeconds).toBe(300)
    expect(step.firstMean).toBe(10)
    expect(step.lastMean).toBe(20)
    expect(trendOf(series(180, () => 1), { from: 36, to: 180 }, 1).edgeSeconds).toBeCloseTo((180 - 40) / 3, 6)
  })

  it("warms up for 2 minutes, or 20% of a shorter run", () => {
    expect(warmupSeconds(1_800)).toBe(120)
    expect(warmupSeconds(180)).toBe(36)
    expect(warmupSeconds(120)).toBe(24)
  })
})

describe("makeWindowBook", () => {
  const commit = (at: number, markers: ReadonlyArray<string>, changes = 3, lateMs = 0) => ({ at, lateMs, changes, markers })

  it("summarises a window once it has ended and all its markers were seen, then forgets it", () => {
    const book = makeWindowBook(1_000, 10_000)
    book.committed(commit(1_500, ["a", "b"], 30))
    book.committed(commit(9_000, ["c"], 10, 12))
    book.committed(commit(11_500, ["d"])) // window 1
    book.visible("a", 1_600) // 100 ms
    book.visible("b", 1_800) // 300 ms
    expect(book.harvest(20_000)).toEqual([]) // c still pending
    book.visible("c", 9_200) // 200 ms
    expect(book.harvest(10_999)).toEqual([]) // window 0 ends at 11,000
    const [w0, ...rest] = book.harvest(11_000)
    expect(rest).toEqual([])
    expect(w0).toMatchObject({ t: 0, seconds: 10, changes: 40, commits: 2, markers: 3, missing: 0, rate: 4, p50: 200, p99: 300, max: 300, lateP99Ms: 12 })
    expect(book.harvest(30_000)).toEqual([]) // window 1 still has d pending
    expect(book.pendingCount()).toBe(1)
    expect(book.pendingKeys(10)).toEqual(["d"])
  })

  it("counts what was never seen as missing when finished, and cuts the last window at the load's end", () => {
    const book = makeWindowBook(0, 10_000)
    book.committed(commit(2_000, ["a"]))
    book.committed(commit(12_000, ["b", "c"], 6))
    book.visible("a", 2_050)
    book.visible("b", 12_400)
    book.endLoad(15_000)
    expect(book.harvest(40_000).map((w) => w.t)).toEqual([0])
    const [w1] = book.finish()
    expect(w1).toMatchObject({ t: 10, seconds: 5, changes: 6, rate: 1, markers: 2, missing: 1, p50: 400 })
    expect(book.totals()).toEqual({ changes: 9, commits: 2, markers: 3, lastVisibleAt: 12_400 })
    expect(book.overall()).toMatchObject({ count: 2, p50: 50, p99: 400, max: 400 })
  })

  it("matches a sighting that came before its commit was recorded, and counts sightings nobody committed", () => {
    const book = makeWindowBook(0, 10_000)
    book.visible("early", 500)
    book.visible("stranger", 600)
    book.committed(commit(520, ["early"]))
    expect(book.pendingCount()).toBe(0)
    expect(book.strangers()).toBe(1)
    const [w] = book.finish()
    expect(w).toMatchObject({ markers: 1, missing: 0, p50: -20 })
  })

  it("keeps whole-run percentiles in a 1 ms histogram (the tail in its last bin, the max exact)", () => {
    const book = makeWindowBook(0, 10_000)
    for (let i = 0; i < 100; i++) {
      book.committed(commit(i * 10, [`m${i}`]))
      book.visible(`m${i}`, i * 10 + (i < 99 ? i + 1 : HISTOGRAM_MS + 5_000))
    }
    book.finish()
    expect(book.overall()).toMatchObject({ count: 100, p50: 50, p95: 95, p99: 99, max: HISTOGRAM_MS + 5_000 })
  })
})

describe("the entry and its reports", () => {
  const sample = (t: number, rssDev: number): SoakSample => ({
    t,
    changes: t * 1_000,
    rssMB: { tree: 900 + rssDev, dev: rssDev, kinesalite: 120, postgres: 600, other: 40 },
    pssMB: { tree: 500 + rssDev, dev: rssDev, kinesalite: 110, postgres: 200, other: 10 },
    slotLagBytes: 200_000,
    retainedWalBytes: 30_000_000,
    readerLagMs: 40,
    cpuCores: { tree: t === 0 ? null : 1.2, dev: t === 0 ? null : 0.6 },
    machineBusy: t === 0 ? null : 0.7,
    loadAverage: 1.5,
    benchRssMB: 150 + t, // the benchmark's own growth is reported, never judged into the verdict
    observerPollMsP99: 3
  })
  const run = (rssDev: (t: number) => number): SoakRun => {
    const ts = Array.from({ length: 181 }, (_, i) => i * 10)
    return {
      postgres: "17.5",
      shards: 4,
      stateFileSeconds: 5,
      snapshotSeconds: 12,
      changes: 1_800_000,
      commits: 818_182,
      markers: 1_309_091,
      transactions: 490_909,
      achievedRate: 1_000,
      latency: { count: 1_309_091, p50: 400, p95: 700, p99: 900, max: 2_000 },
      missing: 0,
      unseenPresent: 0,
      transactionsMissing: 0,
      strangers: 0,
      drainSeconds: 1.2,
      devStatus: null,
      devExit: { code: 130, signal: null, seconds: 2 },
      probe: { lines: 190, foreignLines: 0, inheritedBy: [] },
      observer: { polls: 72_000, pollMsP50: 2, pollMsP99: 5 },
      samples: {
        process: ts.map((t) => sample(t, rssDev(t))),
        heap: ts.map((t) => ({ t: t + 3, heapUsedMB: 60 + ((t / 10) % 5) * 4, heapTotalMB: 90, rssMB: 300, externalMB: 20, arrayBuffersMB: 5, liveAfterMajorGcMB: t % 60 === 0 ? 45 : null, majorGcs: 1, minorGcs: 40, gcMs: 30 })),
        windows: ts.slice(0, -1).map((t) => ({ t, seconds: 10, changes: 10_000, commits: 4_545, markers: 7_272, missing: 0, rate: 1_000, p50: 400, p99: 900, max: 1_200, lateP99Ms: 1 }))
      }
    }
  }
  const entry = (rssDev: (t: number) => number) =>
    makeEntry({
      name: "soak",
      command: "npm run bench -- --only soak",
      date: "2026-01-01T00:00:00.000Z",
      durationSeconds: 1_900,
      config: { rate: 1_000, seconds: 1_800, workers: 4, sampleSeconds: 10, warmupSeconds: 120, pollMs: 25, graceSeconds: 120, maxDrainSeconds: 600, seed: 1, dump: "shared/totesys.sql", rows: 1_800_000, reps: 1, warmupRows: 0, quick: false, shards: 4 },
      machine: { cpuModel: "x", cpus: 2, cpuMHz: 0, memoryGiB: 8, os: "Linux", node: "v24", postgres: "17.5", loadAverageAtStart: [1, 1, 1], packages: {}, git: null },
      run: run(rssDev)
    })

  it("is flat when nothing in the verdict grows (the benchmark's own RSS is reported, not judged)", () => {
    const e = entry(() => 300)
    expect(e.trends.find((t) => t.key === "bench.rss")?.verdict).toBe("rising")
    expect(e.summary.verdict).toEqual({ flat: true, notFlat: [], movedHarmlessly: [], unjudged: [] })
    expect(e.summary.lost).toBe(0)
    expect(consoleReport(e)).toContain("verdict: FLAT")
  })

  it("names the series that grew, in the report and the markdown section", () => {
    const e = entry((t) => 300 + t / 20) // dev RSS +3 MB/min: +84 MB over the measured span
    expect(e.summary.verdict.flat).toBe(false)
    expect(e.summary.verdict.notFlat).toEqual(["rss.tree rising", "pss.tree rising", "rss.dev rising"])
    const dev = e.trends.find((t) => t.key === "rss.dev")!
    expect(dev.slopePer10Min).toBeCloseTo(30, 6)
    expect(dev.bytesPerChange).toBe(50) // 3 MB a minute at 1,000 changes/s
    expect(e.trends.find((t) => t.key === "slot.lag")?.bytesPerChange).toBeNull()
    expect(consoleReport(e)).toContain("NOT FLAT (rising)")
    const md = markdownSection(e, undefined, undefined)
    expect(md).toContain("## Soak (`soak`)")
    expect(md).toContain("verdict: NOT FLAT — rss.tree rising, pss.tree rising, rss.dev rising")
    expect(markdownSection(undefined, undefined, undefined)).toContain("No full run recorded yet")
  })

  it("counts memory that falls, or a rate that rises, as harmless, and a rate that falls against the run", () => {
    const falling = entry((t) => 600 - t / 20)
    expect(falling.summary.verdict.flat).toBe(true)
    expect(falling.summary.verdict.movedHarmlessly).toEqual(["rss.tree falling", "pss.tree falling", "rss.dev falling"])
    expect(consoleReport(falling)).toContain("falling (not counted)")

    const slowing = run(() => 300)
    const windows = slowing.samples.windows.map((w) => ({ ...w, rate: 1_000 - w.t / 6 })) // 1,000 → 700 changes/s
    const all = trends({ ...slowing.samples, windows }, { rate: 1_000, warmupSeconds: 120, seconds: 1_800 })
    expect(verdictOf(all)).toMatchObject({ flat: false, notFlat: ["rate falling"] })
  })

  it("judges every series from its own timestamps", () => {
    const all = trends(run(() => 300).samples, { rate: 1_000, warmupSeconds: 120, seconds: 1_800 })
    const live = all.find((t) => t.key === "heap.live")!
    expect(live.n).toBe(28) // one mark-compact a minute, 123 … 1,743 s
    expect(live.verdict).toBe("flat")
    expect(verdictOf(all).flat).toBe(true)
  })
})

describe("HeapProbe.withoutProbe", () => {
  it("removes the probe's --import, in either spelling, and keeps every other option", () => {
    expect(withoutProbe("--import /work/main/test/bench/HeapProbe.ts")).toBe("")
    expect(withoutProbe("--max-old-space-size=4096 --import /a/b/HeapProbe.ts --enable-source-maps")).toBe("--max-old-space-size=4096 --enable-source-maps")
    expect(withoutProbe("--import=file:///a/HeapProbe.ts --import ./other.ts")).toBe("--import ./other.ts")
    expect(withoutProbe("--import ./NotTheHeapProbe.tsx")).toBe("--import ./NotTheHeapProbe.tsx")
  })
})
