/**
 * Child processes of the local stack that the program, not the terminal, stops: PostgreSQL,
 * kinesalite and the watchdog start in process groups of their own (`detached`), so a
 * terminal's Ctrl-C reaches only this process. Details: packages/local-stack/SPEC.md §4.
 *
 * Invariants:
 *  - `spawnDetached` answers once the process has started (or fails with its spawn error);
 *    `untilExit` resolves once it has exited, also when that was before the call.
 *  - `processState` tells a live process from a zombie and from a gone one.
 *  - `processIdentity` tells a process from a later one reusing its pid (Linux).
 *  - Sending a signal to a process that is gone is not an error (ESRCH is ignored).
 *  - `stopChild` escalates through its steps and returns once the child has exited, or
 *    after its last step's wait.
 */
import { type ChildProcess, spawn, type SpawnOptions } from "node:child_process"
import { readFileSync } from "node:fs"

export type ProcessState = "alive" | "zombie" | "gone"

/** Pure: the state letter of a `/proc/<pid>/stat` line (after the parenthesised command). */
export const stateOfStat = (stat: string): ProcessState => (stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z" ? "zombie" : "alive")

/** Whether `pid` is a live process, a zombie, or gone. */
export const processState = (pid: number): ProcessState => {
  if (!Number.isInteger(pid) || pid <= 0) return "gone"
  try {
    return stateOfStat(readFileSync(`/proc/${pid}/stat`, "utf8"))
  } catch {
    try {
      process.kill(pid, 0)
      return "alive"
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === "EPERM" ? "alive" : "gone"
    }
  }
}

/** Pure: the start time (clock ticks since boot) of a `/proc/<pid>/stat` line: its 22nd field. */
export const startTimeOfStat = (stat: string): string | undefined => stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]

/** The start time of live process `pid` (see the header), or undefined. */
export const processIdentity = (pid: number): string | undefined => {
  try {
    return startTimeOfStat(readFileSync(`/proc/${pid}/stat`, "utf8"))
  } catch {
    return undefined
  }
}

/** Whether the process that had `identity` (`processIdentity`; undefined = unknown) still runs as `pid`. */
export const stillRuns = (pid: number, identity: string | undefined): boolean =>
  processState(pid) === "alive" && (identity === undefined || processIdentity(pid) === identity)

/** Sends `signal` to `pid` (or to its process group when `group`); a process already gone is no error. */
export const signalProcess = (pid: number, signal: NodeJS.Signals, group = false): void => {
  if (!Number.isInteger(pid) || pid <= 0) return
  try {
    process.kill(group ? -pid : pid, signal)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error
  }
}

/** Resolves when `child` has exited (at once if it already has). */
export const untilExit = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once("exit", () => resolve()))

/**
 * Starts `command` in a process group of its own (see the header). Resolves with the
 * child once it runs; rejects with the spawn error (ENOENT, EACCES).
 */
export const spawnDetached = (command: string, args: ReadonlyArray<string>, options: SpawnOptions = {}): Promise<ChildProcess> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, detached: true })
    child.once("error", reject)
    child.once("spawn", () => {
      child.removeListener("error", reject)
      // Later errors are failed signals to a process that has just exited: `untilExit` tells the rest.
      child.on("error", () => undefined)
      resolve(child)
    })
  })

/**
 * Stops `child`: sends each step's signal (to its process group when `group`) and waits
 * up to the step's milliseconds for it to exit, then goes on to the next step. Resolves
 * once it has exited, or after the last step.
 */
export const stopChild = async (child: ChildProcess, steps: ReadonlyArray<readonly [NodeJS.Signals, number]>, group = false): Promise<void> => {
  const exited = untilExit(child).then(() => true)
  for (const [signal, waitMs] of steps) {
    signalProcess(child.pid!, signal, group)
    const late = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), waitMs).unref())
    if (await Promise.race([exited, late])) return
  }
}
