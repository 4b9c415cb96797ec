/**
 * CPU time by process group on Linux (/proc), for the end-to-end benchmark's "physical
 * limits": how many CPU-µs each part of the local stack spends per change, and the rate
 * the machine's cores could sustain at that cost.
 *
 * Groups (a process tree rooted at dev's pid, classified by command line):
 *  - dev: the `totes-cdc dev` Node process (reader, archiver, processor, loader);
 *  - kinesalite, s3rver: the emulators' child processes;
 *  - source backends / walsender / warehouse backends / postgres other: PostgreSQL's
 *    processes by their title (`postgres: <user> <database> …`, `walsender …`);
 *    the benchmark's own workload connection is a source backend (the source executing
 *    the changes), its other connections are in the groups of their databases;
 *  - other: anything else under dev.
 *
 * Memory (`treeMemory`, for the soak): VmRSS per group and the tree's Pss, same tree.
 *
 * Invariants: reading never throws (a process that vanished between listing and reading
 * is skipped); `cpuDelta` counts a process that started after the first snapshot from
 * zero, and each process at its newest reading among the later snapshots — a process
 * that exits (an idle pooled connection closed by its pool) keeps the CPU it had when
 * last seen, so take a snapshot at every milestone.
 */
import { readdirSync, readFileSync } from "node:fs"
import { CLK_TCK, parseStat } from "./Profiling.ts"

export const CPU_GROUPS = ["dev", "kinesalite", "s3rver", "source backends", "walsender", "warehouse backends", "postgres other", "other"] as const
export type CpuGroup = (typeof CPU_GROUPS)[number]

/** Pure: the group of a process under dev, from its command line (NUL-separated as in /proc). */
export const groupOf = (pid: number, devPid: number, cmdline: string): CpuGroup => {
  if (pid === devPid) return "dev"
  const text = cmdline.replaceAll("\0", " ")
  if (text.includes("KinesaliteServer")) return "kinesalite"
  if (text.includes("S3rverServer")) return "s3rver"
  if (text.startsWith("postgres: walsender")) return "walsender"
  if (/^postgres: \S+ totesys /.test(text)) return "source backends"
  if (/^postgres: \S+ warehouse /.test(text)) return "warehouse backends"
  if (text.startsWith("postgres: ") || text.includes("/bin/postgres")) return "postgres other"
  return "other"
}

/** Every process of dev's tree (dev included, at most 32 generations down) with its group and CPU ticks, by pid. */
const treeOf = (devPid: number): Map<number, { readonly group: CpuGroup; readonly ticks: number }> => {
  const stats = new Map<number, { ppid: number; ticks: number }>()
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      stats.set(Number(entry), parseStat(readFileSync(`/proc/${entry}/stat`, "utf8")))
    } catch {
      // exited meanwhile
    }
  }
  const inTree = (pid: number): boolean => {
    for (let at: number | undefined = pid, hops = 0; at !== undefined && at > 1 && hops < 32; at = stats.get(at)?.ppid, hops++) if (at === devPid) return true
    return false
  }
  const tree = new Map<number, { group: CpuGroup; ticks: number }>()
  for (const [pid, { ticks }] of stats) {
    if (!inTree(pid)) continue
    try {
      tree.set(pid, { group: groupOf(pid, devPid, readFileSync(`/proc/${pid}/cmdline`, "utf8")), ticks })
    } catch {
      // exited meanwhile
    }
  }
  return tree
}

/** CPU ticks of every process in dev's tree, by pid, with its group. */
export type CpuSnapshot = ReadonlyMap<number, { readonly group: CpuGroup; readonly ticks: number }>

export const cpuSnapshot = (devPid: number): CpuSnapshot => treeOf(devPid)

/** Resident memory of dev's tree at one moment, kB per group and in all: VmRSS, and Pss (null when some process's smaps_rollup could not be read). */
export interface TreeMemory {
  readonly rssKB: Readonly<Record<CpuGroup, number>>
  readonly totalRssKB: number
  /** Proportional set size: a page shared by n processes counts 1/n in each (PostgreSQL's shared buffers once in all, where VmRSS counts them in every backend that touched them). */
  readonly pssKB: Readonly<Record<CpuGroup, number>> | null
  readonly totalPssKB: number | null
  /** Processes read. */
  readonly processes: number
}

/** Pure: a `/proc/<pid>/status` or `smaps_rollup` field (`VmRSS:  1234 kB`) in kB, or null when absent (kernel threads have no VmRSS). */
export const kBField = (text: string, field: string): number | null => {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)
  return match === null ? null : Number(match[1])
}

const byGroup = () => Object.fromEntries(CPU_GROUPS.map((g) => [g, 0])) as Record<CpuGroup, number>
const sum = (kB: Readonly<Record<CpuGroup, number>>) => CPU_GROUPS.reduce((total, g) => total + kB[g], 0)

/** VmRSS and Pss per group of dev's tree (`treeOf`); never throws (a process gone meanwhile counts 0); null when dev itself is gone. */
export const treeMemory = (devPid: number): TreeMemory | null => {
  const tree = treeOf(devPid)
  if (!tree.has(devPid)) return null
  const rssKB = byGroup()
  let pssKB: Record<CpuGroup, number> | null = byGroup()
  for (const [pid, { group }] of tree) {
    try {
      rssKB[group] += kBField(readFileSync(`/proc/${pid}/status`, "utf8"), "VmRSS") ?? 0
    } catch {
      // exited meanwhile
    }
    try {
      const pss = kBField(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"), "Pss")
      if (pssKB !== null && pss !== null) pssKB[group] += pss
    } catch (error) {
      // gone meanwhile counts 0; unreadable (another user's process, an old kernel): no Pss
      const code = (error as NodeJS.ErrnoException).code
      if (code !== "ENOENT" && code !== "ESRCH") pssKB = null
    }
  }
  return { rssKB, totalRssKB: sum(rssKB), pssKB, totalPssKB: pssKB === null ? null : sum(pssKB), processes: tree.size }
}

/** Pure: CPU seconds per group from `before` to the newest reading of each process in `later` (in time order; a pid not in `before` counts from zero). */
export const cpuDelta = (before: CpuSnapshot, ...later: ReadonlyArray<CpuSnapshot>): Readonly<Record<CpuGroup, number>> => {
  const newest = new Map<number, { readonly group: CpuGroup; readonly ticks: number }>()
  for (const snapshot of later) for (const [pid, reading] of snapshot) newest.set(pid, reading)
  const out = Object.fromEntries(CPU_GROUPS.map((g) => [g, 0])) as Record<CpuGroup, number>
  for (const [pid, { group, ticks }] of newest) out[group] += Math.max(0, ticks - (before.get(pid)?.ticks ?? 0)) / CLK_TCK
  return out
}
