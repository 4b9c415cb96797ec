/**
 * Benchmark "soak": does anything grow when the pipeline runs a steady load for a long
 * time (issue 16: 1,000 changes/s for 30 minutes)? Memory, slot lag, freshness and CPU
 * are sampled every `sampleSeconds` (10 s) and judged flat or not by SoakReport.ts.
 *
 * The run (one, no repetitions):
 *  1. `totes-cdc dev --seed <the real dump> --simulate 0 --state-file <tmp>` as a child
 *     process (Freshness.ts `bootDev`), with the heap probe preloaded:
 *     NODE_OPTIONS="--import=file:///<abs path>/HeapProbe.ts", TOTES_CDC_HEAP_PROBE_FILE=<tmp>.
 *     The probe removes both from dev's environment as it loads, so dev's children do
 *     not inherit it; the run checks /proc/<pid>/environ of every child to record that.
 *     Then it waits for the snapshot load (`awaitSnapshot`).
 *  2. Observer and load generator: Freshness.ts's (`startObserver`, `generate`,
 *     `loadTraffic`), one steady phase of `rate` changes/s for `seconds` on
 *     `workersFor(rate)` connections — no separate warm-up phase: the first 2 minutes
 *     (or 20%) are excluded from the trends instead. Commits and sightings go to a
 *     window book (SoakReport.ts `makeWindowBook`), which keeps only what is in flight
 *     and the windows not yet summarised: nothing per change survives its sighting.
 *  3. Sampler, every `sampleSeconds` from the load's start (t = 0, 10, 20 … ≤ seconds,
 *     on the schedule, not after the previous tick): VmRSS per group and PSS of dev's
 *     process tree (ProcessCpu.ts `treeMemory`), CPU of the tree and dev since the
 *     previous tick, the machine's busy share, the slot's lag and retained WAL on the
 *     source, the reader's commit→Kinesis lag (its metrics report), this process's RSS,
 *     the observer's poll p99; it harvests the finished windows. A progress line a minute.
 *  4. Drain as the freshness benchmark does: until every marker was seen and every
 *     transaction of the run is a real dim_transaction row (counted over the run's id
 *     range), or nothing became visible for `graceSeconds` (at most `maxDrainSeconds`
 *     after the last commit). Markers never seen are looked up in the warehouse (present
 *     but unseen = a benchmark bug; absent = lost): either fails the run (run.ts: exit 1).
 *  5. The heap probe's lines are read (lines of another pid are counted, not used) and
 *     dev is stopped (SIGINT, awaited).
 *
 * Invariants:
 *  - One clock for latencies (`performance.now()` of this process, as in Freshness.ts);
 *    sample times are seconds after the load's start (the heap probe's wall-clock times
 *    are converted with the wall time taken at the same moment as the start).
 *  - Reading /proc never fails the run (null readings); a failed slot or reader read is a
 *    null reading; a dead dev, a stopped observer or a failed commit fails the run.
 *  - Memory held by this process grows with the run only by its samples (one per tick)
 *    and window summaries (one per window), and the unpaid-payment queue of the traffic.
 */
import { DEFAULTS } from "@totes-cdc/core"
import { makePgPool, S3 } from "@totes-cdc/platform"
import { TOTESYS_DUMP } from "@totes-cdc/local-stack/testing"
import { Effect, Layer } from "effect"
import { readFileSync } from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import os, { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { type Dev } from "./DevProcess.ts"
import { awaitSnapshot, bootDev, ensureRunning, generate, loadTraffic, readerSnapshot, startObserver, statusLine, stop, workersFor } from "./Freshness.ts"
import { MARKERS_PRESENT_SQL, percentile } from "./FreshnessTraffic.ts"
import { HEAP_PROBE_FILE_VARIABLE, HEAP_PROBE_MS_VARIABLE, type HeapProbeLine } from "./HeapProbe.ts"
import { cpuDelta, type CpuSnapshot, cpuSnapshot, groupOf, treeMemory } from "./ProcessCpu.ts"
import { busyFraction, machineCpuTicks } from "./Profiling.ts"
import { BenchError } from "./ReaderDrain.ts"
import { type HeapSample, makeWindowBook, type SoakRun, type SoakSample, type WindowStats } from "./SoakReport.ts"

export { BENCHMARK_NAME } from "./SoakReport.ts"

/** Seed of the generated values. */
export const SOAK_SEED = 1

/** The preload (HeapProbe.ts), as an absolute path for `--import`. */
export const HEAP_PROBE = fileURLToPath(new URL("./HeapProbe.ts", import.meta.url))

export interface SoakOptions {
  /** Changes per second offered, and seconds of load. */
  readonly rate: number
  readonly seconds: number
  /** Sampling interval (and heap probe interval), s. */
  readonly sampleSeconds: number
  /** Observer poll interval, ms. */
  readonly pollMs: number
  /** Markers not seen after none became visible for this long count as missing; at the latest this long after the last commit. */
  readonly graceSeconds: number
  readonly maxDrainSeconds: number
  readonly seed: number
  /** Progress lines (stderr). */
  readonly log: (line: string) => void
}

const fail = (message: string) => new BenchError({ message })
const round = (x: number, digits = 1) => Number(x.toFixed(digits))
const now = () => performance.now()
const MB = (kB: number) => (kB * 1024) / 1e6
const fmtS = (t: number) => `${Math.round(t)} s`

/** SQL: the reader slot's lag and retained WAL, bytes ($1 slot name). */
const SLOT_SQL = `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint::text AS lag,
       pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint::text AS retained
  FROM pg_replication_slots WHERE slot_name = $1`

/** SQL: real dim_transaction rows (not inferred members) with ids in [$1, $2]. */
const TRANSACTIONS_IN_RANGE_SQL =
  "SELECT count(*)::text AS n FROM public.dim_transaction WHERE transaction_id BETWEEN $1 AND $2 AND transaction_type <> 'Unknown'"

/** The processes under dev (not dev itself) whose environment still holds the probe's `--import`: `group pid`; unreadable ones (another user's) are skipped. */
const probeInheritors = (dev: Dev): ReadonlyArray<string> => {
  const out: Array<string> = []
  for (const pid of cpuSnapshot(dev.pid).keys()) {
    if (pid === dev.pid) continue
    try {
      const environ = readFileSync(`/proc/${pid}/environ`, "utf8")
      if (environ.includes("HeapProbe.ts") || environ.includes(HEAP_PROBE_FILE_VARIABLE)) out.push(`${groupOf(pid, dev.pid, readFileSync(`/proc/${pid}/cmdline`, "utf8"))} ${pid}`)
    } catch {
      // gone, or not ours to read
    }
  }
  return out
}

/** The probe file's lines (none when it does not exist). */
const readProbeLines = (file: string): ReadonlyArray<string> => {
  try {
    return readFileSync(file, "utf8").split("\n").filter((line) => line !== "")
  } catch {
    return []
  }
}

/** Runs the soak (module header). Answers what SoakReport.makeEntry needs; fails on a dead dev, a failed commit or poll. */
export const runSoak = (options: SoakOptions) =>
  Effect.gen(function* () {
    const { log } = options
    const sampleMs = options.sampleSeconds * 1000
    const probeDir = yield* Effect.acquireRelease(
      Effect.promise(() => mkdtemp(join(tmpdir(), "totes-cdc-soak-"))),
      (path) => Effect.promise(() => rm(path, { recursive: true, force: true }))
    )
    const probeFile = join(probeDir, "heap.ndjson")
    // As a file URL: no spaces to quote, whatever the checkout's path.
    const nodeOptions = [process.env.NODE_OPTIONS ?? "", `--import=${pathToFileURL(HEAP_PROBE).href}`].join(" ").trim()
    const { dev, state, stateFileSeconds } = yield* bootDev("soak", log, {
      env: { NODE_OPTIONS: nodeOptions, [HEAP_PROBE_FILE_VARIABLE]: probeFile, [HEAP_PROBE_MS_VARIABLE]: String(sampleMs) }
    })

    const measured = yield* Effect.scoped(
      Effect.gen(function* () {
        const workers = workersFor(options.rate)
        const source = yield* makePgPool(state.source.url, { max: workers + 2, applicationName: "totes-cdc-bench-load" })
        const warehouse = yield* makePgPool(state.warehouse.url, { max: 2, applicationName: "totes-cdc-bench-observer" })
        const postgres = (yield* source.query("SHOW server_version"))[0]?.server_version ?? "?"
        const snapshotSeconds = yield* awaitSnapshot(dev, source, warehouse)
        log(`soak: state file after ${stateFileSeconds} s, seeded data loaded in the warehouse after ${snapshotSeconds} s`)
        const inheritedBy = probeInheritors(dev)
        if (inheritedBy.length > 0) log(`soak: WARNING: the heap probe's NODE_OPTIONS reached ${inheritedBy.join(", ")}`)

        const traffic = yield* loadTraffic(source, options.seed)
        const start = now() + 20
        const startWall = Date.now() + 20
        const book = makeWindowBook(start, sampleMs)
        const observer = yield* startObserver(warehouse, book, options.pollMs)
        const s3 = Layer.succeedContext(yield* Layer.build(S3.layer(state.s3)))

        // --- the sampler (step 3)
        const samples: Array<SoakSample> = []
        const windows: Array<WindowStats> = []
        let committedChanges = 0
        let previous: { at: number; cpu: CpuSnapshot; ticks: ReturnType<typeof machineCpuTicks> } = { at: now(), cpu: cpuSnapshot(dev.pid), ticks: machineCpuTicks() }
        let pollsSeen = observer.polls().length
        const sample = (t: number) =>
          Effect.gen(function* () {
            yield* ensureRunning(dev)
            yield* observer.ensureRunning
            const at = now()
            const memory = treeMemory(dev.pid)
            const cpu = cpuSnapshot(dev.pid)
            const ticks = machineCpuTicks()
            const elapsed = (at - previous.at) / 1000
            const delta = cpuDelta(previous.cpu, cpu)
            const treeCpu = Object.values(delta).reduce((sum, s) => sum + s, 0)
            const first = samples.length === 0
            const busy = first ? null : busyFraction(previous.ticks, ticks)
            previous = { at, cpu, ticks }
            const [slot] = yield* source.query(SLOT_SQL, [DEFAULTS.slot]).pipe(Effect.orElseSucceed(() => []))
            const reader = yield* readerSnapshot(state, s3)
            const polls = observer.polls().slice(pollsSeen)
            pollsSeen += polls.length
            const bytes = (text: string | null | undefined) => (text === null || text === undefined ? null : Number(text))
            const rss = memory?.rssKB
            samples.push({
              t: round(t, 2),
              changes: committedChanges,
              rssMB: {
                tree: round(MB(memory?.totalRssKB ?? NaN)),
                dev: round(MB(rss?.dev ?? NaN)),
                kinesalite: round(MB(rss?.kinesalite ?? NaN)),
                postgres: round(MB(rss === undefined ? NaN : rss["source backends"] + rss.walsender + rss["warehouse backends"] + rss["postgres other"])),
                other: round(MB(rss?.other ?? NaN))
              },
              pssMB:
                memory === null || memory.pssKB === null || memory.totalPssKB === null
                  ? null
                  : {
                      tree: round(MB(memory.totalPssKB)),
                      dev: round(MB(memory.pssKB.dev)),
                      kinesalite: round(MB(memory.pssKB.kinesalite)),
                      postgres: round(MB(memory.pssKB["source backends"] + memory.pssKB.walsender + memory.pssKB["warehouse backends"] + memory.pssKB["postgres other"])),
                      other: round(MB(memory.pssKB.other))
                    },
              slotLagBytes: bytes(slot?.lag),
              retainedWalBytes: bytes(slot?.retained),
              readerLagMs: reader === undefined ? null : reader.commitToKinesisLagMs,
              cpuCores: { tree: first || elapsed <= 0 ? null : round(treeCpu / elapsed, 3), dev: first || elapsed <= 0 ? null : round(delta.dev / elapsed, 3) },
              machineBusy: busy === null ? null : round(busy, 3),
              loadAverage: round(os.loadavg()[0] ?? 0, 2),
              benchRssMB: round(process.memoryUsage().rss / 1e6),
              observerPollMsP99: polls.length === 0 ? null : round(percentile([...polls].sort((a, b) => a - b), 99))
            })
            windows.push(...book.harvest(now()))
          })
        const ticks = Math.floor(options.seconds / options.sampleSeconds)
        const sampler = Effect.gen(function* () {
          for (let k = 0; k <= ticks; k++) {
            const wait = start + k * sampleMs - now()
            if (wait > 0) yield* Effect.sleep(wait)
            yield* sample((now() - start) / 1000)
            if (k > 0 && (k * options.sampleSeconds) % 60 === 0) {
              const s = samples[samples.length - 1]!
              const minuteAgo = samples[Math.max(0, samples.length - 1 - 60 / options.sampleSeconds)]!
              const w = windows[windows.length - 1]
              log(
                `soak: ${fmtS(s.t)}: ${s.changes.toLocaleString("en-GB")} changes (${Math.round((s.changes - minuteAgo.changes) / Math.max(1, s.t - minuteAgo.t)).toLocaleString("en-GB")}/s in the last minute); last window p50 ${w?.p50 ?? "–"} ms p99 ${w?.p99 ?? "–"} ms; RSS tree ${s.rssMB.tree} MB (dev ${s.rssMB.dev}, postgres ${s.rssMB.postgres}), PSS ${s.pssMB?.tree ?? "–"} MB (postgres ${s.pssMB?.postgres ?? "–"}), kinesalite RSS ${s.rssMB.kinesalite} MB; slot lag ${s.slotLagBytes === null ? "–" : round(s.slotLagBytes / 1e6, 2)} MB, retained ${s.retainedWalBytes === null ? "–" : round(s.retainedWalBytes / 1e6)} MB; CPU tree ${s.cpuCores.tree ?? "–"} cores; bench RSS ${s.benchRssMB} MB`
              )
            }
          }
        })

        // --- the load (step 2)
        const target = Math.round(options.rate * options.seconds)
        let commits = 0
        let transactions = 0
        let minTransaction = Infinity
        let maxTransaction = -Infinity
        let lastCommit = -Infinity
        log(`soak: ${target.toLocaleString("en-GB")} changes at ${options.rate.toLocaleString("en-GB")}/s on ${workers} connections for ${options.seconds} s, sampled every ${options.sampleSeconds} s (load average ${round(os.loadavg()[0] ?? 0, 2)})`)
        const load = generate(
          source,
          traffic,
          (commit) => {
            book.committed({ at: commit.at, lateMs: commit.began - commit.due, changes: commit.changes, markers: commit.written.markers })
            committedChanges += commit.changes
            commits += 1
            if (commit.at > lastCommit) lastCommit = commit.at
            const id = commit.written.transactionId
            if (id !== null) {
              transactions += 1
              if (id < minTransaction) minTransaction = id
              if (id > maxTransaction) maxTransaction = id
            }
          },
          options.rate,
          target,
          workers,
          start
        )
        yield* Effect.all([load, sampler], { concurrency: 2, discard: true })
        book.endLoad(lastCommit)
        log(`soak: load done (${committedChanges.toLocaleString("en-GB")} changes, ${commits.toLocaleString("en-GB")} commits); draining`)

        // --- the drain (step 4)
        let lastProgress = now()
        let pendingBefore = book.pendingCount()
        let transactionsMissing = transactions
        let lastCheck = 0
        while (true) {
          yield* ensureRunning(dev)
          yield* observer.ensureRunning
          const pending = book.pendingCount()
          if (pending < pendingBefore) lastProgress = now()
          pendingBefore = pending
          windows.push(...book.harvest(now()))
          if (pending === 0 && now() - lastCheck >= 250) {
            lastCheck = now()
            const [row] = yield* warehouse
              .query(TRANSACTIONS_IN_RANGE_SQL, [transactions === 0 ? 0 : minTransaction, transactions === 0 ? -1 : maxTransaction])
              .pipe(Effect.mapError((error) => fail(`cannot read dim_transaction: ${error.message}`)))
            const missingNow = transactions - Number(row?.n ?? 0)
            if (missingNow < transactionsMissing) lastProgress = now()
            transactionsMissing = missingNow
            if (transactionsMissing <= 0) break
          }
          if (now() - lastProgress > options.graceSeconds * 1000 || now() - lastCommit > options.maxDrainSeconds * 1000) break
          yield* Effect.sleep(pending > 1_000 ? 250 : 20)
        }
        const drainEnd = now()
        const missingKeys = book.pendingKeys(100_000)
        const missingCount = book.pendingCount()
        const totals = book.totals()
        windows.push(...book.finish())
        let unseenPresent = 0
        for (let i = 0; i < missingKeys.length; i += 5_000) {
          const chunk = missingKeys.slice(i, i + 5_000)
          const present = yield* warehouse
            .query(MARKERS_PRESENT_SQL, [`{${chunk.map((m) => `"${m}"`).join(",")}}`])
            .pipe(Effect.mapError((error) => fail(`cannot look up missing markers: ${error.message}`)))
          unseenPresent += present.length
        }
        const polls = [...observer.polls()].sort((a, b) => a - b)
        return {
          postgres,
          snapshotSeconds,
          workers,
          inheritedBy,
          startWall,
          changes: totals.changes,
          commits: totals.commits,
          markers: totals.markers,
          transactions,
          achievedRate: Math.round(totals.changes / ((lastCommit - start) / 1000)),
          latency: book.overall(),
          missing: missingCount - unseenPresent,
          unseenPresent,
          transactionsMissing: Math.max(0, transactionsMissing),
          strangers: book.strangers(),
          drainSeconds: round(((missingCount === 0 ? totals.lastVisibleAt : drainEnd) - lastCommit) / 1000, 2),
          devStatus: statusLine(dev),
          observer: { polls: polls.length, pollMsP50: round(percentile(polls, 50)), pollMsP99: round(percentile(polls, 99)) },
          samples,
          windows
        }
      }).pipe(Effect.catchTag("PgError", (error) => Effect.fail(fail(`database: ${error.message}`))))
    )

    // --- the heap probe's lines, and dev stopped (step 5)
    const lines = readProbeLines(probeFile)
    const heap: Array<HeapSample> = []
    let foreignLines = 0
    for (const text of lines) {
      let line: HeapProbeLine
      try {
        line = JSON.parse(text) as HeapProbeLine
      } catch {
        continue
      }
      if (line.pid !== dev.pid) {
        foreignLines += 1
        continue
      }
      const t = (line.at - measured.startWall) / 1000
      if (t > options.seconds + options.sampleSeconds) continue
      heap.push({
        t: round(t, 2),
        heapUsedMB: round(line.heapUsed / 1e6),
        heapTotalMB: round(line.heapTotal / 1e6),
        rssMB: round(line.rss / 1e6),
        externalMB: round(line.external / 1e6),
        arrayBuffersMB: round(line.arrayBuffers / 1e6),
        liveAfterMajorGcMB: line.liveAfterMajorGc === null ? null : round(line.liveAfterMajorGc / 1e6),
        majorGcs: line.majorGcs,
        minorGcs: line.minorGcs,
        gcMs: line.gcMs
      })
    }
    const devExit = yield* stop(dev)
    log(`soak: dev stopped in ${devExit.seconds} s (exit code ${devExit.code ?? devExit.signal})`)
    const { startWall: _startWall, samples, windows, inheritedBy, workers, ...rest } = measured
    return {
      workers,
      run: {
        ...rest,
        shards: state.kinesis.shards,
        stateFileSeconds,
        devExit,
        probe: { lines: lines.length, foreignLines, inheritedBy },
        samples: { process: samples, heap, windows }
      } satisfies SoakRun
    }
  }).pipe(Effect.scoped)

/** The source of the seeded data, as recorded (relative to the shared folder). */
export const SOAK_DUMP = TOTESYS_DUMP.slice(TOTESYS_DUMP.indexOf("shared/"))
