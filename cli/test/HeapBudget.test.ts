import { describe, expect, it } from "@effect/vitest"
import { CLI_BIN } from "@totes-cdc/local-stack/testing"
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { DEFAULT_MAX_HEAP_MB, heapBudget, MAX_HEAP_VARIABLE } from "../src/HeapBudget.ts"

const NODE = "/opt/node/bin/node"
const SCRIPT = "/app/cli/bin/totes-cdc.js"
const launcher = (env: Record<string, string | undefined>, execArgv: ReadonlyArray<string> = []) =>
  heapBudget({ execPath: NODE, execArgv, argv: [NODE, SCRIPT, "dev", "--simulate", "0"], env })

describe("the heap budget (pure)", () => {
  it("re-executes node with the default cap, keeping node's arguments and the command's, in order", () => {
    expect(launcher({}, ["--cpu-prof"])).toEqual({
      _tag: "Exec",
      argv: [NODE, `--max-old-space-size=${DEFAULT_MAX_HEAP_MB}`, "--cpu-prof", SCRIPT, "dev", "--simulate", "0"]
    })
    expect(launcher({ [MAX_HEAP_VARIABLE]: " 512 " })).toEqual({ _tag: "Exec", argv: [NODE, "--max-old-space-size=512", SCRIPT, "dev", "--simulate", "0"] })
  })

  it("leaves the process as it is when the cap is off or the user gave node a cap of their own", () => {
    expect(launcher({ [MAX_HEAP_VARIABLE]: "0" })).toEqual({ _tag: "AsIs" })
    expect(launcher({ NODE_OPTIONS: "--enable-source-maps --max-old-space-size=700" })).toEqual({ _tag: "AsIs" })
    expect(launcher({}, ["--max_old_space_size=700"])).toEqual({ _tag: "AsIs" })
    // the re-executed process carries the cap: it goes on as is
    expect(launcher({}, ["--max-old-space-size=1024"])).toEqual({ _tag: "AsIs" })
  })

  it("refuses a cap that is not a whole number of MB ≥ 256, naming the variable", () => {
    for (const bad of ["lots", "1.5", "-1", "100", "255", "1e3"]) {
      const budget = launcher({ [MAX_HEAP_VARIABLE]: bad })
      expect(budget._tag).toBe("Invalid")
      if (budget._tag === "Invalid") expect(budget.message).toContain(`${MAX_HEAP_VARIABLE}=${bad} `)
    }
  })
})

/** What the process that ran `totes-cdc` reported at its exit (a preload writes it), and how it ended. */
const runLauncher = (env: Record<string, string>) => {
  const dir = mkdtempSync(join(tmpdir(), "totes-cdc-heap-"))
  const probe = join(dir, "probe.mjs")
  writeFileSync(
    probe,
    `import v8 from "node:v8"
process.once("exit", () => process.stderr.write("probe " + JSON.stringify({ pid: process.pid, execArgv: process.execArgv, limit: v8.getHeapStatistics().heap_size_limit }) + "\\n"))
`
  )
  return new Promise<{ code: number | null; pid: number | undefined; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [CLI_BIN, "--help"], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, [MAX_HEAP_VARIABLE]: "", NODE_OPTIONS: `--import=${pathToFileURL(probe).href}`, ...env }
    })
    let stderr = ""
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    child.once("exit", (code) => {
      rmSync(dir, { recursive: true, force: true })
      resolve({ code, pid: child.pid, stderr })
    })
  })
}

const probed = (stderr: string) => {
  const lines = stderr.split("\n").filter((line) => line.startsWith("probe "))
  expect(lines).toHaveLength(1) // the process before the re-execution never exits: one report
  return JSON.parse(lines[0]!.slice("probe ".length)) as { pid: number; execArgv: Array<string>; limit: number }
}

describe("the launcher (cli/bin/totes-cdc.js, run as a user runs it)", () => {
  it("runs the command in the same process with V8's heap capped at TOTES_CDC_MAX_HEAP_MB", async () => {
    const run = await runLauncher({ [MAX_HEAP_VARIABLE]: "600" })
    expect(run.code).toBe(0)
    const report = probed(run.stderr)
    expect(report.pid).toBe(run.pid)
    expect(report.execArgv).toContain("--max-old-space-size=600")
    // V8's own limit: the old generation's cap plus the young generation's few tens of MB
    expect(report.limit).toBeGreaterThanOrEqual(600 * 1024 * 1024)
    expect(report.limit).toBeLessThan(1000 * 1024 * 1024)
  })

  it("caps at the default without the variable, and not at all with 0", async () => {
    const capped = probed((await runLauncher({})).stderr)
    expect(capped.execArgv).toContain(`--max-old-space-size=${DEFAULT_MAX_HEAP_MB}`)
    const own = probed((await runLauncher({ [MAX_HEAP_VARIABLE]: "0" })).stderr)
    expect(own.execArgv.some((arg) => arg.startsWith("--max-old-space-size"))).toBe(false)
  })

  it("stops with exit 2 and one line naming the variable when the cap is not a number", async () => {
    const run = await runLauncher({ [MAX_HEAP_VARIABLE]: "lots" })
    expect(run.code).toBe(2)
    expect(run.stderr.split("\n").filter((line) => line.startsWith("totes-cdc:"))).toEqual([
      `totes-cdc: ${MAX_HEAP_VARIABLE}=lots is not a heap cap: give a whole number of MB ≥ 256 (default ${DEFAULT_MAX_HEAP_MB}), or 0 for V8's own sizing`
    ])
  })
})
