/**
 * A recording as a user makes one: `totes-cdc record` on a running `dev` (the real data
 * set, then inserts, updates, a delete), read back and folded (ops' RecordedSource.ts): the
 * tables it implies are the source's tables, row for row, in their text form.
 */
import { describe, expect, it } from "@effect/vitest"
import { TOTESYS_TABLES } from "@totes-cdc/core"
import { readSourceSnapshot, RecordedSource, type SourceRows } from "@totes-cdc/ops"
import { makePgPool } from "@totes-cdc/platform"
import { readRecording } from "@totes-cdc/stream-processors"
import { Effect, Stream } from "effect"
import { join } from "node:path"
import { eventually, runCli, startQuietDev } from "./CliProcess.ts"

/** The tables a recording file implies. */
const foldFile = (path: string) =>
  Effect.gen(function* () {
    const source = new RecordedSource()
    yield* Stream.runForEach(readRecording(path), ({ change }) => {
      const error = source.apply(change)
      return error === undefined ? Effect.void : Effect.fail(error)
    })
    return source.rows()
  })

const sameTables = (a: SourceRows, b: SourceRows) => TOTESYS_TABLES.every((table) => JSON.stringify(a[table]) === JSON.stringify(b[table]))

describe("a recording of a live run", () => {
  it.live("implies the source's tables row for row (snapshot, inserts, updates, a delete), written gzip-compressed in commit order", () =>
    Effect.gen(function* () {
      // The snapshot taken and loaded first, so what follows are replication changes the recording must fold.
      const { dir, stateFile, state } = yield* startQuietDev
      const source = yield* makePgPool(state.source.url, { max: 1 })
      yield* source.query("INSERT INTO currency (currency_code, last_updated) VALUES ('JPY', now())")
      yield* source.query("UPDATE payment SET paid = NOT paid, last_updated = now() WHERE payment_id IN (2, 3, 5)")
      yield* source.query("UPDATE address SET city = 'Leeds', last_updated = now() WHERE address_id = 1")
      yield* source.query("UPDATE currency SET last_updated = now() WHERE currency_code = 'JPY'")
      yield* source.query("DELETE FROM payment WHERE payment_id = 8")
      yield* source.query("INSERT INTO design (design_name, file_location, file_name, last_updated) VALUES ('Harbour', '/usr/designs', 'harbour-20241105.json', now())")
      const expected = (yield* readSourceSnapshot(source, 10_000)).rows
      // The seed's payment 8 is gone from the source (the delete is not vacuous).
      expect(expected.payment.length).toBe(9_899 - 1)

      // The archiver flushes every 2 s: record until the recording holds every change.
      const recording = join(dir, "changes.ndjson.gz")
      let lastRun = { code: 0 as number | null, stdout: "", stderr: "" }
      yield* eventually(
        runCli(["record", "--state-file", stateFile, "--out", recording]).pipe(
          Effect.tap((result) => Effect.sync(() => (lastRun = result))),
          Effect.flatMap((result) => (result.code === 0 ? foldFile(recording).pipe(Effect.map((rows) => sameTables(rows, expected))) : Effect.succeed(false)))
        ),
        "60 seconds"
      )
      expect(lastRun.stderr).toBe("")
      expect(lastRun.stdout).toMatch(/^recorded [\d,]+ change records in commit order from \d+ archive objects to .*changes\.ndjson\.gz \([\d,]+ bytes\); 0 archived twice and written once, 0 outside the filters, 0 lines that are no change record skipped\n$/)
      const folded = yield* foldFile(recording)
      for (const table of TOTESYS_TABLES) expect(folded[table], table).toEqual(expected[table])
      expect(folded.currency.map((row) => row.currency_code)).toContain("JPY")
      expect(folded.payment.map((row) => row.payment_id)).not.toContain("8")
    }),
    180_000
  )
})
