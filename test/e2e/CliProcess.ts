/**
 * `totes-cdc` as a user runs it, for the end-to-end tests: a child process of the CLI
 * (the project's Node), a temporary directory, and polling for a condition (never a
 * fixed sleep).
 */
import { readStateFile } from "@totes-cdc/cli"
import { CLI_BIN, TOTESYS_DUMP } from "@totes-cdc/local-stack/testing"
import { Effect, Option, Schedule } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"

export interface Run {
  readonly child: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  readonly exit: Promise<number | null>
}

/**
 * Starts `totes-cdc …args` (with environment `env`, default this process's); interrupted with
 * SIGINT (and awaited) when the scope closes.
 */
export const startCli = (args: ReadonlyArray<string>, env?: NodeJS.ProcessEnv) =>
  Effect.acquireRelease(
    Effect.sync((): Run => {
      const child = spawn(process.execPath, [CLI_BIN, ...args], { stdio: ["ignore", "pipe", "pipe"], ...(env === undefined ? {} : { env }) })
      let out = ""
      let err = ""
      child.stdout?.on("data", (chunk: Buffer) => (out += chunk.toString()))
      child.stderr?.on("data", (chunk: Buffer) => (err += chunk.toString()))
      const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
      return { child, stdout: () => out, stderr: () => err, exit }
    }),
    (run) =>
      Effect.promise(() => {
        if (run.child.exitCode === null) run.child.kill("SIGINT")
        return run.exit
      })
  )

/** Runs `totes-cdc …args` (with environment `env`, default this process's) to its end: exit code, stdout and stderr. */
export const runCli = (args: ReadonlyArray<string>, env?: NodeJS.ProcessEnv) =>
  Effect.promise(
    () =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [CLI_BIN, ...args], { stdio: ["ignore", "pipe", "pipe"], ...(env === undefined ? {} : { env }) })
        let stdout = ""
        let stderr = ""
        child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
        child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
        child.once("exit", (code) => resolve({ code, stdout, stderr }))
      })
  )

/**
 * Runs `totes-cdc …args` with environment `env` to its end, or stops it (SIGINT, awaited)
 * once `limit` has passed: its exit code (`"running"` when it had to be stopped), stdout
 * and stderr.
 */
export const runCliWithin = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv, limit: `${number} seconds`) =>
  Effect.scoped(
    Effect.gen(function* () {
      const run = yield* startCli(args, env)
      const code = yield* Effect.promise(() => run.exit).pipe(Effect.timeoutOption(limit))
      return { code: Option.getOrElse(code, () => "running" as const), stdout: run.stdout(), stderr: run.stderr() }
    })
  )

/** A temporary directory, removed with the scope. */
export const tempDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "totes-cdc-e2e-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

/** Polls `check` until it returns true (a condition, not a fixed wait), up to `limit`. */
export const eventually = <E, R>(check: Effect.Effect<boolean, E, R>, limit: `${number} seconds`) =>
  check.pipe(
    Effect.repeat({ until: (ok) => ok, schedule: Schedule.spaced("100 millis") }),
    Effect.timeout(limit)
  )

/**
 * `totes-cdc dev` on the real data set, simulator off, dashboard on any free port: started,
 * ready (its state file written), caught up (`verify --wait-for-lsn current` exits 0: the
 * whole snapshot is in the warehouse and matches the source) and quiet (`status --check`
 * exits 0: no alerts — which alone says nothing of a snapshot still being loaded). `check`
 * runs `status --check` again.
 */
export const startQuietDev = Effect.gen(function* () {
  const dir = yield* tempDir
  const stateFile = join(dir, "state.json")
  const run = yield* startCli(["dev", "--seed", TOTESYS_DUMP, "--state-file", stateFile, "--simulate", "0", "--dashboard-port", "0"])
  yield* eventually(Effect.sync(() => existsSync(stateFile) || run.child.exitCode !== null), "60 seconds")
  const state = yield* readStateFile(stateFile)
  const verified = yield* runCli(["verify", "--state-file", stateFile, "--wait-for-lsn", "current", "--timeout", "90"])
  if (verified.code !== 0) return yield* Effect.die(new Error(`verify exited ${verified.code}: ${verified.stdout}${verified.stderr}`))
  const check = runCli(["status", "--state-file", stateFile, "--check"])
  yield* eventually(check.pipe(Effect.map((result) => result.code === 0)), "90 seconds")
  return { dir, stateFile, run, state, check }
})
