/**
 * `totes-cdc dev` as a user runs it: a child process, its state file, Ctrl-C.
 */
import { describe, expect, it } from "@effect/vitest"
import { readStateFile } from "@totes-cdc/cli"
import { Kinesis, makePgPool } from "@totes-cdc/platform"
import { TOTESYS_DUMP, CLI_BIN } from "@totes-cdc/local-stack/testing"
import { Effect, Schedule } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import { createConnection } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

const BIN = CLI_BIN
const DUMP = TOTESYS_DUMP

interface Run {
  readonly child: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  readonly exit: Promise<number | null>
}

/** Starts `totes-cdc …args`; interrupted with SIGINT (and awaited) when the scope closes. */
const start = (args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.sync((): Run => {
      const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] })
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

const tempDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "dev-test-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

/** Polls `check` until it returns true (a condition, not a fixed wait), up to `limit`. */
const eventually = <E, R>(check: Effect.Effect<boolean, E, R>, limit: `${number} seconds`) =>
  check.pipe(
    Effect.repeat({ until: (ok) => ok, schedule: Schedule.spaced("100 millis") }),
    Effect.timeout(limit)
  )

/** `totes-cdc status --state-file PATH …flags`: exit code and stdout. */
const runStatus = (stateFile: string, ...flags: ReadonlyArray<string>) =>
  new Promise<{ code: number | null; stdout: string }>((resolve) => {
    const child = spawn(process.execPath, [BIN, "status", "--state-file", stateFile, ...flags], { stdio: ["ignore", "pipe", "inherit"] })
    let stdout = ""
    child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
    child.once("exit", (code) => resolve({ code, stdout }))
  })

const listening = (url: string) =>
  new Promise<boolean>((resolve) => {
    const { hostname, port } = new URL(url)
    const socket = createConnection({ host: hostname, port: Number(port) })
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

describe("totes-cdc dev", () => {
  it.live("rejects a missing --seed file with one line on stderr and exit code 2, starting nothing", () =>
    Effect.gen(function* () {
      const run = yield* start(["dev", "--seed", "/no/such/dump.sql"])
      const code = yield* Effect.promise(() => run.exit)
      expect(code).toBe(2)
      expect(run.stderr().trimEnd().split("\n")).toEqual([
        "totes-cdc: --seed: seed file /no/such/dump.sql does not exist or cannot be read; pass a pg_dump of totesys such as ../shared/totesys/totesys-2024-02-23.sql"
      ])
      expect(run.stdout()).toBe("")
    })
  )

  it.live("seeds the real data set, writes the state file, keeps simulating, and leaves nothing behind on Ctrl-C", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const stateFile = join(dir, "state.json")
      const run = yield* start(["dev", "--seed", DUMP, "--state-file", stateFile, "--simulate", "100"])
      yield* eventually(Effect.sync(() => existsSync(stateFile) || run.child.exitCode !== null), "60 seconds")
      expect(run.stderr()).toBe("")
      const state = yield* readStateFile(stateFile)

      const source = yield* makePgPool(state.source.url, { max: 1 })
      const salesOrders = source
        .query("SELECT count(*) AS n FROM sales_order")
        .pipe(Effect.map((rows) => Number(rows[0]?.n)))
      const first = yield* salesOrders
      expect(first).toBeGreaterThanOrEqual(6941)
      yield* eventually(salesOrders.pipe(Effect.map((n) => n > first)), "30 seconds")

      // The reader snapshots the seeded rows into Kinesis, then streams from its slot.
      yield* eventually(
        source
          .query("SELECT active FROM pg_replication_slots WHERE slot_name = 'totes_cdc'")
          .pipe(Effect.map((rows) => rows[0]?.active === "t")),
        "60 seconds"
      )
      const status = yield* Effect.promise(() => runStatus(stateFile))
      expect(status.code).toBe(0)
      expect(status.stdout).toMatch(/^slot totes_cdc: active, wal_status reserved/m)
      // Once the reader has reported, `status --check` finds nothing to act on.
      yield* eventually(Effect.promise(() => runStatus(stateFile)).pipe(Effect.map((s) => !s.stdout.includes("reader: no metrics report yet"))), "30 seconds")
      expect(yield* Effect.promise(() => runStatus(stateFile, "--check"))).toEqual({ code: 0, stdout: "OK: no alert\n" })

      // A poison record on the stream: the processor dead-letters it and `--check` says so, exit 1.
      const put = yield* Kinesis.use((k) => k.putRecords(state.kinesis.streamName, [{ partitionKey: "poison", data: new TextEncoder().encode("this is not json {") }])).pipe(
        Effect.provide(Kinesis.layer(state.kinesis))
      )
      expect(put[0]?._tag).toBe("Written")
      yield* eventually(Effect.promise(() => runStatus(stateFile, "--check")).pipe(Effect.map((s) => s.code === 1)), "30 seconds")
      const check = yield* Effect.promise(() => runStatus(stateFile, "--check"))
      expect(check.code).toBe(1)
      expect(check.stdout.trimEnd().split("\n")).toEqual([
        'ALERT dead-letters: dead letters waiting: processor 1 (under dlq/ of the ingestion bucket; README "Dead letters")'
      ])

      run.child.kill("SIGINT")
      expect(yield* Effect.promise(() => run.exit)).toBe(130)
      expect(existsSync(stateFile), "state file removed").toBe(false)
      expect(existsSync(state.dataDir), "temporary data removed").toBe(false)
      expect(yield* Effect.promise(() => listening(state.source.url)), "PostgreSQL stopped").toBe(false)
      expect(yield* Effect.promise(() => listening(state.kinesis.endpoint)), "kinesalite stopped").toBe(false)
      expect(yield* Effect.promise(() => listening(state.s3.endpoint)), "s3rver stopped").toBe(false)
    })
  )

  it.live("without --seed simulates history first, and stops cleanly on SIGTERM", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const stateFile = join(dir, "state.json")
      const run = yield* start(["dev", "--history-days", "10", "--simulate", "0", "--state-file", stateFile])
      yield* eventually(Effect.sync(() => existsSync(stateFile) || run.child.exitCode !== null), "60 seconds")
      const state = yield* readStateFile(stateFile)
      const source = yield* makePgPool(state.source.url, { max: 1 })
      const [counts] = yield* source.query(
        "SELECT (SELECT count(*) FROM currency) AS currencies, (SELECT count(*) FROM sales_order) AS sales"
      )
      expect(counts?.currencies).toBe("3")
      expect(Number(counts?.sales)).toBeGreaterThan(50)
      expect(run.stdout()).toContain("simulated 10 days of history")

      run.child.kill("SIGTERM")
      yield* Effect.promise(() => run.exit)
      expect(existsSync(stateFile)).toBe(false)
      expect(existsSync(state.dataDir)).toBe(false)
    })
  )
})
