/**
 * The pipeline's components as the `totes-cdc` child processes a deployment runs, under a
 * supervisor that behaves as ECS does: a component that exits by itself is started again
 * after 1 s (and the exit is recorded: the report lists every one), unless the suite
 * holds it (while it kills it on purpose, or expects it to stop, as after a slot drop).
 *
 * Invariants:
 *  - At most one process per component; `kill` resolves once the process has exited.
 *  - Each component's output is kept (the last 200,000 characters) with an offset, so a
 *    fault can read what was printed after it (`outputSince`).
 *  - `close` kills every process and waits for it.
 */
import { CLI_BIN } from "@totes-cdc/local-stack/testing"
import { untilExit } from "@totes-cdc/local-stack"
import { type ChildProcess, spawn } from "node:child_process"
import { COMPONENTS, type Component } from "./ChaosPlan.ts"

const KEEP = 200_000

/** A component that exited without being told to. */
export interface UnexpectedExit {
  readonly component: Component
  readonly at: number
  readonly code: number | null
  readonly signal: string | null
  /** Its last lines of output before it exited. */
  readonly lastLines: string
}

interface Slot {
  child: ChildProcess | undefined
  held: boolean
  output: string
  /** Characters dropped from the front of `output`. */
  dropped: number
}

export interface Supervisor {
  readonly start: (name: Component) => void
  /** SIGKILL; resolves once exited. The component stays down until `start` (held). */
  readonly kill: (name: Component) => Promise<void>
  /** Holds the component: an exit is not followed by a restart until `start`. */
  readonly hold: (name: Component) => void
  readonly running: (name: Component) => boolean
  /** Resolves once the component's process has exited (at once if none runs). */
  readonly exited: (name: Component) => Promise<{ code: number | null; signal: string | null }>
  /** Position in the component's output, for `outputSince`. */
  readonly mark: (name: Component) => number
  readonly outputSince: (name: Component, mark: number) => string
  readonly tail: (name: Component, chars?: number) => string
  readonly unexpectedExits: Array<UnexpectedExit>
  readonly close: () => Promise<void>
}

export const startSupervisor = (env: NodeJS.ProcessEnv): Supervisor => {
  const slots = new Map<Component, Slot>(COMPONENTS.map((name) => [name, { child: undefined, held: false, output: "", dropped: 0 }]))
  const unexpectedExits: Array<UnexpectedExit> = []
  let closing = false
  const slot = (name: Component) => slots.get(name)!

  const start = (name: Component) => {
    const s = slot(name)
    s.held = false
    if (s.child !== undefined && s.child.exitCode === null && s.child.signalCode === null) return
    const child = spawn(process.execPath, [CLI_BIN, name], { env, stdio: ["ignore", "pipe", "pipe"] })
    s.child = child
    const keep = (chunk: Buffer) => {
      s.output += chunk.toString()
      if (s.output.length > KEEP) {
        const cut = s.output.length - KEEP
        s.output = s.output.slice(cut)
        s.dropped += cut
      }
    }
    child.stdout?.on("data", keep)
    child.stderr?.on("data", keep)
    child.once("exit", (code, signal) => {
      if (closing || s.held || s.child !== child) return
      unexpectedExits.push({ component: name, at: Date.now(), code, signal, lastLines: s.output.trimEnd().split("\n").slice(-3).join("\n") })
      setTimeout(() => {
        if (!closing && !s.held && s.child === child) start(name)
      }, 1_000)
    })
  }

  const exited = async (name: Component) => {
    const child = slot(name).child
    if (child === undefined) return { code: null, signal: null }
    await untilExit(child)
    return { code: child.exitCode, signal: child.signalCode }
  }

  return {
    start,
    kill: async (name) => {
      const s = slot(name)
      s.held = true
      s.child?.kill("SIGKILL")
      await exited(name)
    },
    hold: (name) => void (slot(name).held = true),
    running: (name) => {
      const child = slot(name).child
      return child !== undefined && child.exitCode === null && child.signalCode === null
    },
    exited,
    mark: (name) => slot(name).dropped + slot(name).output.length,
    outputSince: (name, mark) => {
      const s = slot(name)
      return s.output.slice(Math.max(0, mark - s.dropped))
    },
    tail: (name, chars = 4_000) => slot(name).output.slice(-chars),
    unexpectedExits,
    close: async () => {
      closing = true
      await Promise.all(
        [...slots.values()].map(async (s) => {
          s.child?.kill("SIGKILL")
          if (s.child !== undefined) await untilExit(s.child)
        })
      )
    }
  }
}
