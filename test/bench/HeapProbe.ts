/**
 * A preload for the soak benchmark (Soak.ts): V8 heap figures of the `totes-cdc dev`
 * process, which has no heap metric of its own (and gets none: this is the benchmark's
 * instrument, not product code). Soak.ts starts dev with
 *   NODE_OPTIONS="--import <absolute path of this file>"
 *   TOTES_CDC_HEAP_PROBE_FILE=<file>  [TOTES_CDC_HEAP_PROBE_MS=<interval, default 10000>]
 * and this module then appends one JSON line per interval to the file:
 *   {"pid":…,"at":<Date.now() ms>,"heapUsed":…,"heapTotal":…,"rss":…,"external":…,
 *    "arrayBuffers":…,"liveAfterMajorGc":<bytes|null>,"majorGcs":…,"minorGcs":…,"gcMs":…}
 * — bytes from `process.memoryUsage()`; `liveAfterMajorGc` is V8's used heap right after
 * the last mark-compact of the interval (the live set: no garbage awaiting collection;
 * null when none ran), and the interval's mark-compacts, young-generation collections and
 * time spent in GC of any kind (v8.GCProfiler; its cost is in µs).
 *
 * Invariants:
 *  - Without TOTES_CDC_HEAP_PROBE_FILE it does nothing at all.
 *  - Only the process that was started with it probes: on load it removes the variable
 *    and its own `--import` from process.env, so what dev spawns (kinesalite, the
 *    watchdog — Node processes inheriting process.env — and PostgreSQL, which ignores
 *    NODE_OPTIONS anyway) neither loads it nor writes to the file. Each line carries the
 *    pid, so a reader can tell anyway.
 *  - Its timer is unref'd: it never keeps the process alive; a failed write is dropped
 *    (the probe must never break the process it measures).
 *  - It does no work beyond reading counters and one small synchronous append per interval.
 */
import { appendFileSync } from "node:fs"
import { GCProfiler } from "node:v8"

/** The environment variable naming the output file (the probe is off without it). */
export const HEAP_PROBE_FILE_VARIABLE = "TOTES_CDC_HEAP_PROBE_FILE"
/** The environment variable giving the interval between lines, ms (default 10,000). */
export const HEAP_PROBE_MS_VARIABLE = "TOTES_CDC_HEAP_PROBE_MS"

/** One line of the probe's file (bytes, and `at` in Date.now() ms). */
export interface HeapProbeLine {
  readonly pid: number
  readonly at: number
  readonly heapUsed: number
  readonly heapTotal: number
  readonly rss: number
  readonly external: number
  readonly arrayBuffers: number
  readonly liveAfterMajorGc: number | null
  readonly majorGcs: number
  readonly minorGcs: number
  readonly gcMs: number
}

/** Pure: NODE_OPTIONS without the `--import` (either `--import X` or `--import=X`) of a specifier ending in `HeapProbe.ts`. */
export const withoutProbe = (nodeOptions: string): string =>
  nodeOptions
    .replace(/(^|\s)--import(=|\s+)\S*HeapProbe\.ts(?=\s|$)/g, "$1")
    .replace(/\s+/g, " ")
    .trim()

const file = process.env[HEAP_PROBE_FILE_VARIABLE]
if (file !== undefined && file !== "") {
  const everyMs = Math.max(100, Number(process.env[HEAP_PROBE_MS_VARIABLE] ?? 10_000) || 10_000)
  delete process.env[HEAP_PROBE_FILE_VARIABLE]
  delete process.env[HEAP_PROBE_MS_VARIABLE]
  const rest = withoutProbe(process.env.NODE_OPTIONS ?? "")
  if (rest === "") delete process.env.NODE_OPTIONS
  else process.env.NODE_OPTIONS = rest

  let profiler = new GCProfiler()
  profiler.start()
  const probe = () => {
    try {
      const gcs = profiler.stop()?.statistics ?? []
      profiler = new GCProfiler()
      profiler.start()
      let liveAfterMajorGc: number | null = null
      let majorGcs = 0
      let minorGcs = 0
      let gcMicros = 0
      for (const gc of gcs) {
        gcMicros += gc.cost // µs
        if (gc.gcType === "MarkSweepCompact") {
          majorGcs += 1
          liveAfterMajorGc = gc.afterGC.heapStatistics.usedHeapSize
        } else if (gc.gcType === "Scavenge" || gc.gcType === "MinorMarkSweep") minorGcs += 1
      }
      const memory = process.memoryUsage()
      const line: HeapProbeLine = {
        pid: process.pid,
        at: Date.now(),
        heapUsed: memory.heapUsed,
        heapTotal: memory.heapTotal,
        rss: memory.rss,
        external: memory.external,
        arrayBuffers: memory.arrayBuffers,
        liveAfterMajorGc,
        majorGcs,
        minorGcs,
        gcMs: Math.round(gcMicros / 100) / 10
      }
      appendFileSync(file, `${JSON.stringify(line)}\n`)
    } catch {
      // never break the measured process
    }
  }
  probe()
  setInterval(probe, everyMs).unref()
}
