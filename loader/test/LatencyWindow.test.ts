import { describe, expect, it } from "@effect/vitest"
import { addLatencies, commitLagPercentiles, emptyLatencyWindow, latencyPercentile, latencyPercentiles } from "../src/LatencyWindow.ts"

describe("LatencyWindow", () => {
  it("gives nearest-rank percentiles of commit→load latencies within the last window", () => {
    // 100 rows committed 1..100 ms before they were loaded at t = 10,000.
    const window = addLatencies(emptyLatencyWindow(), 10_000, Array.from({ length: 100 }, (_, i) => 10_000 - (i + 1)))
    expect(latencyPercentile(window, 10_000, 50)).toBe(50)
    expect(latencyPercentile(window, 10_000, 99)).toBe(99)
    expect(latencyPercentile(window, 10_000, 100)).toBe(100)
    expect(latencyPercentiles(window, 10_000, [99, 50, 1])).toEqual([99, 50, 1])
  })

  it("forgets rows loaded more than a window ago, and has no percentile when empty", () => {
    let window = addLatencies(emptyLatencyWindow(60_000), 0, [-5_000])
    window = addLatencies(window, 30_000, [29_000])
    expect(latencyPercentile(window, 30_000, 100)).toBe(5_000)
    expect(latencyPercentile(window, 70_000, 100)).toBe(1_000)
    expect(latencyPercentile(window, 100_000, 50)).toBeNull()
    expect(latencyPercentile(emptyLatencyWindow(), 0, 50)).toBeNull()
  })

  it("keeps at most maxSamples, the newest", () => {
    const window = addLatencies(emptyLatencyWindow(60_000, 3), 100, [99, 98, 97, 96])
    expect(window.samples.flatMap((chunk) => [...chunk.latencies])).toEqual([2, 3, 4])
    // Across loads: the oldest load goes first, then part of the next.
    const later = addLatencies(addLatencies(emptyLatencyWindow(60_000, 3), 100, [99, 98]), 200, [199, 198])
    expect(later.samples.flatMap((chunk) => [...chunk.latencies])).toEqual([2, 1, 2])
    expect(later.size).toBe(3)
    expect(latencyPercentiles(later, 200, [0, 100])).toEqual([1, 2])
  })

  it("commitLagPercentiles: nearest-rank p50/p99 of one load's rows (a clock ahead of the load counts as 0)", () => {
    const commits = Array.from({ length: 100 }, (_, i) => 10_000 - (i + 1) * 10) // lags 10, 20, …, 1,000 ms
    expect(commitLagPercentiles(10_000, commits, [50, 99])).toEqual([500, 990])
    expect(commitLagPercentiles(10_000, [10_500], [50])).toEqual([0])
    expect(commitLagPercentiles(10_000, [], [50, 99])).toEqual([null, null])
  })
})
