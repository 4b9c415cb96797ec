/** Deterministic pseudo-random numbers for tests. */

/** Numbers in [0, 1) from `seed` (mulberry32): a failing run can be repeated with the seed it printed. */
export const seededRandom = (seed: number): (() => number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
