/**
 * `totes-cdc dev` as a child process for the end-to-end benchmarks: spawn (optionally
 * with V8's `--cpu-prof`), the tail of its output, the moments chosen log lines first
 * appeared, its memory (and its kinesalite child's), and SIGINT at scope close.
 *
 * Invariants:
 *  - The child is always stopped when the scope closes (SIGINT, SIGKILL after 60 s) and
 *    awaited: nothing is left running.
 *  - Memory readings never fail: a process that cannot be read gives null.
 *  - Times are `performance.now()` ms of this process (one clock for every measure).
 */
import { CLI_BIN } from "@totes-cdc/local-stack/testing"
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { BenchError } from "./ReaderDrain.ts"

export interface Dev {
  readonly child: ChildProcess
  readonly pid: number
  readonly spawnedAt: number
  readonly exit: Promise<{ readonly code: number | null; readonly signal: string | null }>
  /** The last lines of its stdout and stderr, for failure messages. */
  readonly tail: () => string
  /** When a line containing `needle` (one of `watch`) first appeared, ms; undefined before. */
  readonly seen: (needle: string) => number | undefined
}

const TAIL_LINES = 30
const now = () => performance.now()
const fail = (message: string) => new BenchError({ message })

/**
 * Spawns `node [--cpu-prof --cpu-prof-dir DIR] totes-cdc dev …args`, noting when lines
 * containing each of `watch` first appear; SIGINT and awaited when the scope closes.
 * `env`: variables set on top of this process's environment (e.g. a NODE_OPTIONS preload).
 */
export const spawnDev = (
  args: ReadonlyArray<string>,
  options: { readonly watch?: ReadonlyArray<string>; readonly cpuProfileDir?: string; readonly env?: Readonly<Record<string, string>> } = {}
) =>
  Effect.acquireRelease(
    Effect.sync((): Dev => {
      const spawnedAt = now()
      const profile = options.cpuProfileDir === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", options.cpuProfileDir]
      const child = spawn(process.execPath, [...profile, CLI_BIN, "dev", ...args], {
        stdio: ["ignore", "pipe", "pipe"],
        ...(options.env === undefined ? {} : { env: { ...process.env, ...options.env } })
      })
      const lines: Array<string> = []
      const seen = new Map<string, number>()
      const keep = (prefix: string) => {
        let partial = ""
        return (chunk: Buffer) => {
          const parts = (partial + chunk.toString()).split("\n")
          partial = parts.pop() ?? ""
          for (const line of parts) {
            if (line.startsWith('{"_aws":')) continue
            for (const needle of options.watch ?? []) if (!seen.has(needle) && line.includes(needle)) seen.set(needle, now())
            lines.push(`${prefix}${line}`)
            if (lines.length > TAIL_LINES) lines.shift()
          }
        }
      }
      child.stdout?.on("data", keep(""))
      child.stderr?.on("data", keep("stderr: "))
      const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })))
      return { child, pid: child.pid ?? -1, spawnedAt, exit, tail: () => lines.join("\n"), seen: (needle) => seen.get(needle) }
    }),
    (dev) => Effect.promise(() => stopDev(dev))
  )

/** SIGINT, then waits for the exit (SIGKILL after 60 s). Answers the exit code/signal. */
export const stopDev = async (dev: Dev) => {
  if (dev.child.exitCode === null && dev.child.signalCode === null) {
    dev.child.kill("SIGINT")
    const timer = setTimeout(() => dev.child.kill("SIGKILL"), 60_000)
    const exit = await dev.exit
    clearTimeout(timer)
    return exit
  }
  return dev.exit
}

/** Polls `check` every `everyMs` until it answers true; fails naming `what` after `limitMs` or when dev exits. */
export const waitUntil = <E>(dev: Dev, what: string, check: Effect.Effect<boolean, E>, everyMs: number, limitMs: number) =>
  Effect.gen(function* () {
    const started = now()
    while (true) {
      if (dev.child.exitCode !== null || dev.child.signalCode !== null) {
        return yield* fail(`totes-cdc dev exited (code ${dev.child.exitCode}, signal ${dev.child.signalCode}) while waiting for ${what}; its last output:\n${dev.tail()}`)
      }
      if (yield* check) return
      if (now() - started > limitMs) return yield* fail(`${what} did not happen within ${limitMs / 1000} s; dev's last output:\n${dev.tail()}`)
      yield* Effect.sleep(everyMs)
    }
  })

/** A field of /proc/<pid>/status in kB (`VmRSS`, `VmHWM`), as MB (10^6 bytes); null when unreadable. */
export const procMemoryMB = (pid: number | null, field: "VmRSS" | "VmHWM"): number | null => {
  if (pid === null) return null
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"))
    return match === null ? null : (Number(match[1]) * 1024) / 1e6
  } catch {
    return null
  }
}
