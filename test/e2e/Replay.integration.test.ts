/**
 * Replaying recordings (issue 15) as a user does: `totes-cdc record` on a live `dev`, then
 * `totes-cdc dev --replay FILE` on a fresh stack, `totes-cdc verify --against-recording`,
 * and `totes-cdc replay-recording` — each a child process of the CLI.
 *
 *  - A recording of a live run (the real data set, then inserts, updates that cascade, an
 *    update that leaves `last_updated` as it was, a delete) replayed into a fresh stack gives
 *    the live warehouse row for row — every dimension row and every fact version, all
 *    columns but the facts' surrogate keys (numbered by the warehouse's sequences in load
 *    order, which micro-batching changes) — and the same per-row commit positions; replayed
 *    again into the same stack (`replay-recording`), it changes nothing; `status --check`
 *    raises no alert for the slot no reader made.
 *  - Pacing: a recording of known commit times reaches the stream (Kinesis' own arrival
 *    times) over its recorded span ÷ speed, within ±10 %, at 1× and 10×.
 *  - A damaged recording (a malformed line, a gzip file cut short) is refused with one line
 *    naming the line, exit 2, and nothing fed: `dev --replay` starts nothing, and
 *    `replay-recording` into a running stack adds no record to its stream.
 */
import { describe, expect, it } from "@effect/vitest"
import { type ChangeRecord, encodeChangeRecord, formatLsn, WAREHOUSE_TABLES } from "@totes-cdc/core"
import { readStateFile, type StateFile } from "@totes-cdc/cli"
import { Kinesis, makePgPool, type PgPool } from "@totes-cdc/platform"
import { deaggregate } from "@totes-cdc/stream-processors"
import { Effect, Result } from "effect"
import { existsSync } from "node:fs"
import { readFile, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { gunzipSync, gzipSync } from "node:zlib"
import { eventually, runCli, startCli, startQuietDev, tempDir } from "./CliProcess.ts"

/**
 * Every row of every warehouse table as text, all columns but those filled by a sequence
 * (the facts' surrogate keys), sorted; and the bookkeeping's per-row commit positions.
 */
const warehouseRows = (pool: PgPool) =>
  Effect.gen(function* () {
    const tables: Record<string, ReadonlyArray<string>> = {}
    for (const table of WAREHOUSE_TABLES) {
      const columns = (yield* pool.query(
        `SELECT column_name FROM information_schema.columns
          WHERE table_schema = 'public' AND table_name = $1 AND coalesce(column_default, '') NOT LIKE 'nextval(%'
          ORDER BY ordinal_position`,
        [table]
      )).map((row) => String(row.column_name))
      const list = columns.map((column) => `"${column}"::text`).join(", ")
      const rows = yield* pool.query(`SELECT ${list} FROM public.${table}`)
      tables[table] = rows.map((row) => JSON.stringify(columns.map((column) => row[column] ?? null))).sort()
    }
    const versions = yield* pool.query(
      `SELECT warehouse_table, natural_id, commit_lsn::text AS lsn, commit_idx, deleted, inferred FROM totes_cdc.row_versions WHERE target_schema = 'public'`
    )
    tables["totes_cdc.row_versions"] = versions.map((row) => JSON.stringify(row)).sort()
    return tables
  })

/** `dev --replay FILE …flags` started; resolves once its state file is written. */
const startReplayDev = (dir: string, file: string, flags: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const stateFile = join(dir, `replay-${flags.join("")}.json`)
    const run = yield* startCli(["dev", "--replay", file, ...flags, "--state-file", stateFile, "--dashboard-port", "0"])
    yield* eventually(Effect.sync(() => existsSync(stateFile) || run.child.exitCode !== null), "60 seconds")
    expect(run.child.exitCode, run.stderr()).toBeNull()
    return { run, stateFile, state: yield* readStateFile(stateFile) }
  })

/** Polls `dev --replay`'s output for its "replay done" line. */
const replayDone = (run: { readonly stdout: () => string; readonly stderr: () => string; readonly child: { readonly exitCode: number | null } }) =>
  eventually(
    Effect.sync(() => run.stdout().includes("replay done: the warehouse has caught up") || run.child.exitCode !== null),
    "120 seconds"
  )

/** Every user record in the stream of `state`, with Kinesis' arrival time (ms) of its aggregate. */
const streamRecords = (state: StateFile) =>
  Effect.gen(function* () {
    const kinesis = yield* Kinesis
    const out: Array<{ readonly commitLsn: string; readonly arrivedMs: number }> = []
    for (const { shardId } of yield* kinesis.listShards(state.kinesis.streamName)) {
      let iterator = yield* kinesis.getShardIterator(state.kinesis.streamName, shardId, {})
      for (;;) {
        const page = yield* kinesis.getRecords(iterator, 1_000)
        for (const record of page.records) {
          const users = deaggregate({ shardId, ...record })
          if (Result.isFailure(users)) throw new Error(`undecodable record in ${shardId}`)
          for (const user of users.success) {
            const change = JSON.parse(Buffer.from(user.data).toString("utf8")) as ChangeRecord
            out.push({ commitLsn: change.commitLsn, arrivedMs: record.approximateArrivalTimestamp?.getTime() ?? Number.NaN })
          }
        }
        if (page.records.length === 0 || page.nextIterator === undefined) break
        iterator = page.nextIterator
      }
    }
    return out
  }).pipe(Effect.provide(Kinesis.layer(state.kinesis)))

/** A recording of `count` currency inserts, one every `stepMs` of commit time, in commit order. */
const syntheticRecording = (count: number, stepMs: number): string => {
  const start = Date.parse("2024-02-23T09:00:00.000Z")
  const lines: Array<string> = []
  for (let i = 0; i < count; i++) {
    const id = String(100 + i)
    const at = new Date(start + i * stepMs).toISOString()
    const row = { currency_id: id, currency_code: `X${String(i).padStart(2, "0")}`, created_at: at.replace("T", " ").replace("Z", ""), last_updated: at.replace("T", " ").replace("Z", "") }
    const record: ChangeRecord = {
      v: 1,
      source: "replication",
      op: "insert",
      table: "currency",
      key: { currency_id: id },
      before: null,
      after: row,
      unchangedToast: [],
      commitLsn: formatLsn(0x1000000n + BigInt(i) * 0x100n),
      commitIdx: 0,
      xid: 1_000 + i,
      commitTs: at
    }
    lines.push(encodeChangeRecord(record))
  }
  return `${lines.join("\n")}\n`
}

describe("replaying a recording", () => {
  it.live(
    "a recording of a live run, replayed into a fresh stack at maximum speed, gives the live warehouse row for row",
    () =>
      Effect.gen(function* () {
        // Outlives the live stack (its own directory goes with it).
        const kept = yield* tempDir
        const recording = yield* Effect.scoped(
          Effect.gen(function* () {
            const { stateFile, state } = yield* startQuietDev
            const source = yield* makePgPool(state.source.url, { max: 1 })
            yield* source.query("INSERT INTO currency (currency_code, last_updated) VALUES ('JPY', now())")
            yield* source.query("UPDATE payment SET paid = NOT paid, last_updated = now() WHERE payment_id IN (2, 3, 5)")
            // An address change cascades to dim_location and the counterparties it is the legal address of.
            yield* source.query("UPDATE address SET city = 'Leeds', last_updated = now() WHERE address_id = 1")
            yield* source.query("UPDATE department SET location = 'Hull', last_updated = now() WHERE department_id = 2")
            // An update that leaves last_updated as it was replaces its version row in place.
            yield* source.query("UPDATE sales_order SET units_sold = units_sold + 1 WHERE sales_order_id = 4")
            yield* source.query("DELETE FROM payment WHERE payment_id = 8")
            // The live warehouse caught up with every change (verify waits for the pipeline, then compares).
            const verified = yield* runCli(["verify", "--state-file", stateFile, "--wait-for-lsn", "current", "--timeout", "90"])
            expect(verified.code, verified.stdout + verified.stderr).toBe(0)
            const warehouse = yield* makePgPool(state.warehouse.url, { max: 1 })
            const live = yield* warehouseRows(warehouse)
            // The archiver flushes every 2 s: record until the recording ends with the last change made, the delete.
            const file = join(kept, "live.ndjson.gz")
            yield* eventually(
              runCli(["record", "--state-file", stateFile, "--out", file]).pipe(
                Effect.flatMap((result) => (result.code === 0 ? lastRecord(file) : Effect.succeed(undefined))),
                Effect.map((last) => last?.op === "delete" && last.table === "payment" && last.key.payment_id === "8")
              ),
              "60 seconds"
            )
            return { file, live }
          })
        )
        yield* Effect.scoped(
          Effect.gen(function* () {
            const { run, stateFile, state } = yield* startReplayDev(kept, recording.file, ["--max-speed"])
            yield* replayDone(run)
            expect(run.stdout()).toMatch(/replayed [\d,]+ records of .*live\.ndjson\.gz into stream totes-cdc-changes in [\d.]+ s \(maximum speed; the recording spans [\d.]+ s\); every record is durable in the stream/)
            expect(run.stdout()).toContain("replay done: the warehouse has caught up")
            const warehouse = yield* makePgPool(state.warehouse.url, { max: 1 })
            const replayed = yield* warehouseRows(warehouse)
            for (const table of Object.keys(recording.live)) {
              expect(replayed[table]!.length, table).toBe(recording.live[table]!.length)
              expect(replayed[table], table).toEqual(recording.live[table])
            }
            // The delete was replayed too (the comparison above is not of two warehouses without one).
            const payment8 = replayed["totes_cdc.row_versions"]!.map((row) => JSON.parse(row) as Record<string, string>).find((row) => row.warehouse_table === "fact_payment" && row.natural_id === "8")
            expect(payment8?.deleted).toBe("t")
            const verified = yield* runCli(["verify", "--against-recording", recording.file, "--state-file", stateFile])
            expect(verified.code, verified.stdout + verified.stderr).toBe(0)
            expect(verified.stdout).toMatch(/verify: the warehouse against recording .* \([\d,]+ records, up to [0-9A-F]+\/[0-9A-F]+\); nothing counts as in flight/)
            expect(verified.stdout).toMatch(/verify: OK \(11 tables, \d+ rows compared\)/)

            // No reader runs, and status knows it: no slot alert.
            const checked = yield* runCli(["status", "--state-file", stateFile, "--check"])
            expect({ code: checked.code, stdout: checked.stdout }).toEqual({ code: 0, stdout: "OK: no alert\n" })

            // The same recording again, into the same stack (replay-recording): nothing changes.
            const again = yield* runCli(["replay-recording", recording.file, "--max-speed", "--state-file", stateFile])
            expect(again.code, again.stderr).toBe(0)
            const reverified = yield* runCli(["verify", "--against-recording", recording.file, "--state-file", stateFile])
            expect(reverified.code, reverified.stdout + reverified.stderr).toBe(0)
            expect(yield* warehouseRows(warehouse)).toEqual(recording.live)
          })
        )
      }),
    300_000
  )

  it.live(
    "is paced by the records' commit times: the stream receives them over the recorded span ÷ speed (±10 %) at 1× and 10×",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        for (const { speed, count, stepMs } of [
          { speed: 1, count: 21, stepMs: 400 }, // 8 s recorded → 8 s
          { speed: 10, count: 41, stepMs: 2_000 } // 80 s recorded → 8 s
        ]) {
          yield* Effect.scoped(
            Effect.gen(function* () {
              const file = join(dir, `paced-${speed}.ndjson`)
              yield* Effect.promise(() => writeFile(file, syntheticRecording(count, stepMs)))
              const { run, state } = yield* startReplayDev(dir, file, ["--speed", String(speed)])
              yield* replayDone(run)
              expect(run.stdout(), run.stderr()).toContain("replay done: the warehouse has caught up")
              const records = yield* streamRecords(state)
              expect(records.length).toBe(count)
              const arrivals = records.map((r) => r.arrivedMs)
              const took = Math.max(...arrivals) - Math.min(...arrivals)
              const expected = ((count - 1) * stepMs) / speed
              expect(took, `speed ${speed}: ${took} ms for ${expected} ms`).toBeGreaterThanOrEqual(expected * 0.9)
              expect(took, `speed ${speed}: ${took} ms for ${expected} ms`).toBeLessThanOrEqual(expected * 1.1)
            })
          )
        }
      }),
    180_000
  )

  it.live(
    "refuses a damaged recording with one line naming the line, exit 2, and feeds nothing",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const good = syntheticRecording(5, 10)
        const malformed = join(dir, "malformed.ndjson")
        const lines = good.split("\n")
        lines[2] = lines[2]!.slice(0, 40)
        yield* Effect.promise(() => writeFile(malformed, lines.join("\n")))
        const cut = join(dir, "cut.ndjson.gz")
        const gz = gzipSync(Buffer.from(syntheticRecording(2_000, 10)))
        yield* Effect.promise(() => writeFile(cut, gz.subarray(0, Math.floor(gz.length / 2))))

        // dev --replay starts nothing: no state file, exit 2, one line.
        const stateFile = join(dir, "never.json")
        const refused = yield* runCli(["dev", "--replay", malformed, "--state-file", stateFile])
        expect(refused.code).toBe(2)
        expect(refused.stderr).toMatch(/^totes-cdc: recording .*malformed\.ndjson line 3: .*record it again\n$/)
        expect(refused.stdout).toBe("")
        expect(existsSync(stateFile)).toBe(false)

        // replay-recording into a running stack (replaying an empty recording) adds nothing to its stream.
        const empty = join(dir, "empty.ndjson")
        yield* Effect.promise(() => writeFile(empty, ""))
        const { stateFile: running, state } = yield* startReplayDev(dir, empty, ["--max-speed"])
        for (const [file, pattern] of [
          [malformed, /^totes-cdc: recording .*malformed\.ndjson line 3: /],
          [cut, /^totes-cdc: recording .*cut\.ndjson\.gz is damaged after line \d+ \(.*a truncated or corrupt gzip file\); record it again\n$/]
        ] as const) {
          const result = yield* runCli(["replay-recording", file, "--max-speed", "--state-file", running])
          expect(result.code, result.stderr).toBe(2)
          expect(result.stderr).toMatch(pattern)
          expect(result.stdout).toBe("")
        }
        expect(yield* streamRecords(state)).toEqual([])
      }),
    120_000
  )
})

/** The last change record of the gzip recording at `file` (undefined when empty). */
const lastRecord = (file: string) =>
  Effect.promise(async () => {
    const text = gunzipSync(await readFile(file)).toString("utf8").trimEnd()
    return text === "" ? undefined : (JSON.parse(text.slice(text.lastIndexOf("\n") + 1)) as ChangeRecord)
  })
