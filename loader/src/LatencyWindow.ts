/**
 * Commit→warehouse latency over a sliding window, pure: each loaded row's latency is
 * the time it became visible (its transaction's commit in the warehouse) minus its
 * source commit time (`_commit_ts`), in ms. `dev`'s status line shows p50/p99 over the
 * last minute.
 *
 * Invariants:
 *  - Samples older than `windowMs` before the newest `now` are dropped; memory is
 *    bounded by the rows loaded within one window (at most `maxSamples`, oldest dropped).
 *  - Adding a load costs O(its rows + the loads in the window), never O(samples held).
 *  - Percentiles are nearest-rank over the samples in the window; none → null.
 */
/** The latencies (ms) of the rows of one load, loaded at `at` (ms since the epoch). */
export interface LatencyChunk {
  readonly at: number
  readonly latencies: Float64Array
}

export interface LatencyWindow {
  readonly windowMs: number
  readonly maxSamples: number
  /** One chunk per load, oldest first: adding a load costs its own rows, not the window's. */
  readonly samples: ReadonlyArray<LatencyChunk>
  /** Latencies held, over all chunks. */
  readonly size: number
}

export const emptyLatencyWindow = (windowMs = 60_000, maxSamples = 200_000): LatencyWindow => ({ windowMs, maxSamples, samples: [], size: 0 })

/** The window with rows committed at `commitTimes` (ms since the epoch) loaded at `now`. */
export const addLatencies = (window: LatencyWindow, now: number, commitTimes: ReadonlyArray<number>): LatencyWindow => {
  const chunks = window.samples.filter((chunk) => chunk.at > now - window.windowMs)
  if (commitTimes.length > 0) chunks.push({ at: now, latencies: Float64Array.from(commitTimes, (ts) => Math.max(0, now - ts)) })
  let size = chunks.reduce((sum, chunk) => sum + chunk.latencies.length, 0)
  // Over the cap: the oldest latencies go (a chunk in part when it straddles the cut).
  while (size > window.maxSamples) {
    const oldest = chunks[0]!
    const drop = size - window.maxSamples
    if (oldest.latencies.length <= drop) {
      chunks.shift()
      size -= oldest.latencies.length
    } else {
      chunks[0] = { at: oldest.at, latencies: oldest.latencies.subarray(drop) }
      size -= drop
    }
  }
  return { ...window, samples: chunks, size }
}

/** Nearest-rank percentiles `ps` (each 0–100) of `sorted` (ascending), in the order of `ps`; null when empty. */
const nearestRank = (sorted: Float64Array, ps: ReadonlyArray<number>): ReadonlyArray<number | null> => {
  const n = sorted.length
  return ps.map((p) => (n === 0 ? null : sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]!))
}

/** Nearest-rank percentiles `ps` (each 0–100) of the latencies loaded within the window before `now`, ms, in the order of `ps`; null when none. One sort for all. */
export const latencyPercentiles = (window: LatencyWindow, now: number, ps: ReadonlyArray<number>): ReadonlyArray<number | null> => {
  const from = now - window.windowMs
  const values = new Float64Array(window.size)
  let n = 0
  for (const chunk of window.samples) {
    if (chunk.at <= from) continue
    values.set(chunk.latencies, n)
    n += chunk.latencies.length
  }
  return nearestRank(values.subarray(0, n).sort(), ps)
}

/** Nearest-rank percentiles `ps` of the latencies (ms, ≥ 0) of rows committed at `commitTimes` and loaded at `now`; null when none. */
export const commitLagPercentiles = (now: number, commitTimes: ReadonlyArray<number>, ps: ReadonlyArray<number>): ReadonlyArray<number | null> =>
  nearestRank(Float64Array.from(commitTimes, (ts) => Math.max(0, now - ts)).sort(), ps)

/** Nearest-rank percentile `p` (0–100) of the latencies loaded within the window before `now`, ms; null when none. */
export const latencyPercentile = (window: LatencyWindow, now: number, p: number): number | null => latencyPercentiles(window, now, [p])[0]!
