/**
 * `totes-cdc` as a user runs it, for the end-to-end tests: a child process of the CLI
 * (the project's Node), a temporary directory, and polling for a condition (never a
 * fixed sleep).
 */
import { CLI_BIN } from "@totes-cdc/local-stack/testing"
import { Effect, Schedule } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"

export interface Run {
  readonly child: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  readonly exit: Promise<number | null>
}

/** Starts `totes-cdc …args`; interrupted with SIGINT (and awaited) when the scope closes. */
export const startCli = (args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.sync((): Run => {
      const child = spawn(process.execPath, [CLI_BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] })
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

/** Runs `totes-cdc …args` to its end: exit code, stdout and stderr. */
export const runCli = (args: ReadonlyArray<string>) =>
  Effect.promise(
    () =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [CLI_BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] })
        let stdout = ""
        let stderr = ""
        child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
        child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
        child.once("exit", (code) => resolve({ code, stdout, stderr }))
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
