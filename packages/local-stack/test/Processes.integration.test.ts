import { describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { processIdentity, processState, startTimeOfStat, stateOfStat, stopChild } from "../src/Processes.ts"

// /proc/<pid>/stat lines as Linux writes them; the command may hold spaces and parentheses.
const SLEEPING = "8688 (node (worker) 1) S 8645 8645 1126 0 -1 4194304 124 0 0 0 0 0 0 0 20 0 1 0 152721 3133440 390 18446744073709551615"
const ZOMBIE = "8701 (postgres) Z 1 8645 1126 0 -1 4194304 124 0 0 0 0 0 0 0 20 0 1 0 152800 0 0 18446744073709551615"

describe("Processes", () => {
  it("reads the state and the start time (22nd field) of a /proc stat line, whatever the command name holds", () => {
    expect(stateOfStat(SLEEPING)).toBe("alive")
    expect(stateOfStat(ZOMBIE)).toBe("zombie")
    expect(startTimeOfStat(SLEEPING)).toBe("152721")
    expect(startTimeOfStat(ZOMBIE)).toBe("152800")
  })

  it("tells this process alive, with its identity, and a pid nobody has as gone", () => {
    expect(processState(process.pid)).toBe("alive")
    expect(processIdentity(process.pid)).toMatch(/^\d+$/)
    expect(processState(2 ** 22 + 1)).toBe("gone")
  })

  it("stopChild escalates to the next signal when a child ignores one, and returns once it has exited", async () => {
    const child = spawn("sh", ["-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"], { stdio: ["ignore", "pipe", "ignore"] })
    await new Promise((resolve) => child.stdout?.once("data", resolve)) // its trap is set
    await stopChild(child, [
      ["SIGTERM", 300],
      ["SIGKILL", 5_000]
    ])
    expect(child.signalCode).toBe("SIGKILL")
  })
})
