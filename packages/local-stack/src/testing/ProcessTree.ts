/**
 * Processes a test started, as the operating system sees them (Linux /proc): the whole
 * tree below a pid, and which of them still run. For tests that must show "nothing left
 * running" after a program stops — including helpers that run in process groups of
 * their own, which a group signal does not reach.
 */
import { readdirSync, readFileSync } from "node:fs"
import { processState } from "../Processes.ts"

/** Every live process below `root` (children, their children, …), from each process's parent pid. */
export const descendants = (root: number): ReadonlyArray<number> => {
  const parentOf = new Map<number, number>()
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry)
    if (!Number.isInteger(pid)) continue
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
      parentOf.set(pid, Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]))
    } catch {
      // gone meanwhile
    }
  }
  const below = new Set([root])
  for (let grew = true; grew; ) {
    grew = false
    for (const [pid, parent] of parentOf) {
      if (below.has(parent) && !below.has(pid)) {
        below.add(pid)
        grew = true
      }
    }
  }
  below.delete(root)
  return [...below]
}

/** A process's command line, or "" once it is gone. */
export const commandLine = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ").trim()
  } catch {
    return ""
  }
}

/** Which of `pids` still run (zombies count as gone), with their command lines. */
export const stillRunning = (pids: Iterable<number>): ReadonlyArray<string> =>
  [...pids].filter((pid) => processState(pid) === "alive").map((pid) => `${pid} ${commandLine(pid)}`)
