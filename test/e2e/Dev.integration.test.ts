/**
 * `totes-cdc dev` as a user runs it: a child process, its state file, Ctrl-C.
 */
import { describe, expect, it } from "@effect/vitest"
import { readStateFile } from "@totes-cdc/cli"
import { Kinesis, makePgPool } from "@totes-cdc/platform"
import { TOTESYS_DUMP } from "@totes-cdc/local-stack/testing"
import { Effect, Schedule } from "effect"
import { existsSync } from "node:fs"
import { createConnection } from "node:net"
import { join } from "node:path"
import { eventually, runCli, startCli as start, tempDir } from "./CliProcess.ts"

const DUMP = TOTESYS_DUMP

/** `totes-cdc status --state-file PATH …flags`: exit code and stdout. */
const runStatus = (stateFile: string, ...flags: ReadonlyArray<string>) => runCli(["status", "--state-file", stateFile, ...flags])

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

      // The reader snapshots the seeded rows into Kinesis, then streams from its slot. The slot is
      // active during the snapshot too (the connection that created it), then inactive for a moment
      // while the reader opens its streaming connection: `status` is asked until it shows it active.
      const status = yield* runStatus(stateFile).pipe(
        Effect.repeat({ until: (s) => s.code !== 0 || /^slot totes_cdc: active/m.test(s.stdout), schedule: Schedule.spaced("200 millis") }),
        Effect.timeout("60 seconds")
      )
      expect(status.code).toBe(0)
      expect(status.stdout).toMatch(/^slot totes_cdc: active, wal_status reserved/m)
      // Once the reader has reported, `status --check` finds nothing to act on.
      yield* eventually(runStatus(stateFile).pipe(Effect.map((s) => !s.stdout.includes("reader: no metrics report yet"))), "30 seconds")
      expect(yield* runStatus(stateFile, "--check")).toEqual({ code: 0, stdout: "OK: no alert\n", stderr: "" })

      // A poison record on the stream: the processor dead-letters it and `--check` says so, exit 1.
      const put = yield* Kinesis.use((k) => k.putRecords(state.kinesis.streamName, [{ partitionKey: "poison", data: new TextEncoder().encode("this is not json {") }])).pipe(
        Effect.provide(Kinesis.layer(state.kinesis))
      )
      expect(put[0]?._tag).toBe("Written")
      yield* eventually(runStatus(stateFile, "--check").pipe(Effect.map((s) => s.code === 1)), "30 seconds")
      const check = yield* runStatus(stateFile, "--check")
      expect(check.code).toBe(1)
      expect(check.stderr).toBe("totes-cdc: status --check: 1 alert\n")
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
      // The endpoints it prints hide the password the state file holds (issue 16 item 4).
      const password = new URL(state.source.url).password
      expect(run.stdout()).toContain(`source (totesys)  postgres://postgres:***@127.0.0.1:`)
      expect(run.stdout() + run.stderr()).not.toContain(password)

      run.child.kill("SIGTERM")
      yield* Effect.promise(() => run.exit)
      expect(existsSync(stateFile)).toBe(false)
      expect(existsSync(state.dataDir)).toBe(false)
    })
  )
})
