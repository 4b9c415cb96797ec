/**
 * Where a benchmark's time goes: CPU seconds of this process, of other processes and
 * process trees, the machine's busy fraction (Linux /proc), and V8 CPU profiles of one
 * measured phase.
 *
 * Invariants: measuring never fails a benchmark — a process that cannot be read (no
 * /proc, gone) gives `null`; a profile is written only when a directory is given.
 */
import { Effect } from "effect"
import { readdirSync, readFileSync } from "node:fs"
import { mkdir, writeFile } from "node:fs/promises"
import { Session } from "node:inspector/promises"
import { join } from "node:path"

/** Linux clock ticks per second (`getconf CLK_TCK`), the unit of /proc/<pid>/stat times. */
export const CLK_TCK = 100

/** Pure: utime + stime (clock ticks) and the parent pid from the text of /proc/<pid>/stat. */
export const parseStat = (stat: string): { readonly ppid: number; readonly ticks: number } => {
  // The command name (field 2) is parenthesised and may contain spaces: fields after the last ')'.
  // fields[0] is field 3 (state), fields[1] the ppid; utime is field 14, stime field 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) }
}

/** CPU seconds (user + system) this process used since `start` (`process.cpuUsage()`). */
export const cpuSecondsSince = (start: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(start)
  return (used.user + used.system) / 1e6
}

/** utime + stime of process `pid` in seconds, or null (no /proc, process gone). */
export const procCpuSeconds = (pid: number | null): number | null => {
  if (pid === null || !Number.isFinite(pid)) return null
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, "utf8")).ticks / CLK_TCK
  } catch {
    return null
  }
}

/** The pid of a direct child of `parent` whose command line contains `needle`, or null (none, or /proc unreadable). */
export const childOf = (parent: number, needle: string): number | null => {
  try {
    for (const task of readdirSync(`/proc/${parent}/task`)) {
      for (const pid of readFileSync(`/proc/${parent}/task/${task}/children`, "utf8").trim().split(/\s+/)) {
        if (pid !== "" && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(needle)) return Number(pid)
      }
    }
    return null
  } catch {
    return null
  }
}

/** The pid of a direct child of this process whose command line contains `needle` (e.g. the local stack's `KinesaliteServer.ts`), or null. */
export const childPid = (needle: string): number | null => childOf(process.pid, needle)

/**
 * utime + stime in seconds of process `pid` and every live descendant (children found
 * through /proc/<pid>/task/<tid>/children), or null when `pid` cannot be read. Processes
 * that already exited are not counted.
 */
export const treeCpuSeconds = (pid: number | null): number | null => {
  const own = procCpuSeconds(pid)
  if (own === null || pid === null) return null
  let total = own
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      for (const child of readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim().split(/\s+/)) {
        if (child !== "") total += treeCpuSeconds(Number(child)) ?? 0
      }
    }
  } catch {
    // the process or one of its tasks is gone: count what was read
  }
  return total
}

/** The machine's CPU time (Linux /proc/stat, all CPUs, clock ticks): busy (all but idle and iowait) and total; null without /proc. */
export const machineCpuTicks = (): { readonly busy: number; readonly total: number } | null => {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? ""
    const ticks = line.trim().split(/\s+/).slice(1).map(Number)
    const total = ticks.reduce((a, b) => a + b, 0)
    const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0)
    return { busy: total - idle, total }
  } catch {
    return null
  }
}

/** Fraction (0–1) of the machine's CPU time that was busy between two `machineCpuTicks` readings; null when either is missing. */
export const busyFraction = (
  from: { readonly busy: number; readonly total: number } | null,
  to: { readonly busy: number; readonly total: number } | null
): number | null => (from === null || to === null || to.total <= from.total ? null : (to.busy - from.busy) / (to.total - from.total))

/** A V8 CPU profile of `effect` (sampled every 0.5 ms), written to `dir/name.cpuprofile`; no profile when `dir` is undefined. */
export const profiled = <A, E, R>(dir: string | undefined, name: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  dir === undefined
    ? effect
    : Effect.acquireUseRelease(
        Effect.promise(async () => {
          const session = new Session()
          session.connect()
          await session.post("Profiler.enable")
          await session.post("Profiler.setSamplingInterval", { interval: 500 })
          await session.post("Profiler.start")
          return session
        }),
        () => effect,
        (session) =>
          Effect.promise(async () => {
            const { profile } = await session.post("Profiler.stop")
            session.disconnect()
            await mkdir(dir, { recursive: true })
            await writeFile(join(dir, `${name}.cpuprofile`), JSON.stringify(profile))
          })
      )
