/**
 * Fuzzing the recording reader (replay/RecordingReader.ts, issue 16) with fast-check (random
 * seed; a failure prints its seed and shrunk counterexample): recordings written as
 * `totes-cdc record` writes them (NDJSON of change records in commit order), plain and gzip,
 * then damaged — cut at a random byte, bytes flipped, garbage inserted, bytes deleted,
 * lines swapped, dropped or repeated — and read from real files in a temporary directory.
 *
 * Properties:
 *  - round trip: a recording reads back as its records with their line numbers, and
 *    `checkRecording` counts them and spans their commit times;
 *  - a damaged plain file reads exactly as its "\n"-separated lines say (the model below):
 *    the records of a file whose every line is a change record (`decodeChangeBytes`, on the
 *    line's bytes) in commit order, else a `RecordingError` naming the file and the first
 *    line that is not — never a throw or a defect, within a time bound per run;
 *  - a damaged gzip file: a RecordingError naming the file and a line no later than the
 *    recording has, or the records of a recording; a gzip file cut short is always an error.
 */
import { type ChangeRecord, comparePosition, encodeChangeRecord } from "@totes-cdc/core"
import { Effect, Exit, Result, Stream } from "effect"
import fc from "fast-check"
import { byteMutations, linesOf, mutateBytes, utf8Bytes } from "@totes-cdc/core/testing"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import { afterAll, describe, expect, it } from "vitest"
import { decodeChangeBytes } from "../src/processor/DecodeChange.ts"
import { checkRecording, readRecording } from "../src/replay/RecordingReader.ts"

const dir = mkdtempSync(join(tmpdir(), "totes-cdc-recording-fuzz-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

let files = 0
/** Writes `bytes` to a new file in the test directory; answers its path. */
const file = (bytes: Uint8Array) => {
  const path = join(dir, `recording-${files++}.ndjson`)
  writeFileSync(path, bytes)
  return path
}

const valueArb = fc.oneof(fc.string({ maxLength: 8 }), fc.string({ unit: "binary", maxLength: 4 }), fc.constantFrom("\uFEFF", "\0", "\r", "\u2028", "é€"))
const imageArb = fc.dictionary(fc.string({ maxLength: 6 }), fc.option(valueArb, { nil: null }), { maxKeys: 3 })
const recordArb: fc.Arbitrary<ChangeRecord> = fc.record({
  v: fc.constant(1 as const),
  source: fc.constantFrom("replication" as const, "snapshot" as const, "poll" as const),
  op: fc.constantFrom("insert" as const, "update" as const, "delete" as const, "read" as const),
  table: fc.constantFrom("payment", "sales_order", "address"),
  key: imageArb,
  before: fc.option(imageArb, { nil: null }),
  after: fc.option(imageArb, { nil: null }),
  unchangedToast: fc.constant([]),
  commitLsn: fc.tuple(fc.nat({ max: 3 }), fc.nat({ max: 0xff })).map(([h, l]) => `${h.toString(16).toUpperCase()}/${l.toString(16).toUpperCase()}`),
  commitIdx: fc.nat({ max: 5 }),
  xid: fc.option(fc.nat({ max: 0xffff_ffff }), { nil: null }),
  commitTs: fc.date({ noInvalidDate: true, min: new Date("2020-01-01"), max: new Date("2030-01-01") }).map((d) => d.toISOString())
})

/** A recording as `totes-cdc record` writes it: records in commit order, one JSON line each. */
const recordingArb = fc.array(recordArb, { maxLength: 12 }).map((records) => [...records].sort(comparePosition))
const text = (records: ReadonlyArray<ChangeRecord>) => records.map((r) => `${encodeChangeRecord(r)}\n`).join("")

const mutationArb = byteMutations({
  pieces: [...["\n", "\r", "\r\n", " ", '"', "}", "\u2028"].map(utf8Bytes), Uint8Array.of(0xc3), Uint8Array.of(0xff), Uint8Array.of(0x1f, 0x8b)],
  lines: true
})

/** What the reader must make of a plain file's bytes: its records with their lines, or the first line that fails and why. */
type Verdict =
  | { readonly ok: true; readonly records: ReadonlyArray<{ readonly line: number; readonly json: string }> }
  | { readonly ok: false; readonly line: number; readonly message: RegExp }

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

const model = (path: string, bytes: Uint8Array): Verdict => {
  const records: Array<{ line: number; json: string }> = []
  let previous: ChangeRecord | undefined
  for (const [i, bytesOfLine] of linesOf(bytes).entries()) {
    const line = i + 1
    const decoded = decodeChangeBytes(bytesOfLine)
    if (Result.isFailure(decoded)) {
      return { ok: false, line, message: new RegExp(`^recording ${escape(path)} line ${line}: not a change record: .*; the recording is damaged: record it again$`) }
    }
    if (previous !== undefined && comparePosition(decoded.success, previous) < 0) {
      return { ok: false, line, message: new RegExp(`^recording ${escape(path)} line ${line} \\(.*\\) is older than line ${line - 1} \\(.*\\): not in commit order`) }
    }
    previous = decoded.success
    records.push({ line, json: encodeChangeRecord(decoded.success) })
  }
  return { ok: true, records }
}

/** Everything `readRecording` gives for `path`, as an Exit, checked to be a success or a RecordingError (never a defect). */
const read = async (path: string) => {
  const exit = await Effect.runPromiseExit(Stream.runCollect(readRecording(path)))
  if (Exit.isFailure(exit)) {
    expect(Exit.hasDies(exit)).toBe(false)
    const error = Exit.findErrorOption(exit)
    expect(error._tag === "Some" && error.value._tag).toBe("RecordingError")
    expect(error._tag === "Some" && error.value.message).not.toContain("\n")
  }
  return exit
}

const errorMessage = (exit: Exit.Exit<unknown, { readonly message: string }>) => {
  const error = Exit.findErrorOption(exit)
  return error._tag === "Some" ? error.value.message : ""
}

/** Per run: reading a recording of a few kB takes milliseconds; a run past this is a hang. */
const RUN_TIMEOUT_MS = 5_000

describe("recording reader fuzzing (readRecording, checkRecording)", () => {
  it("round trip: a recording, plain or gzip, reads back as its records with their lines; the summary counts and spans them", async () => {
    await fc.assert(
      fc.asyncProperty(recordingArb, fc.boolean(), async (records, gzip) => {
        const path = file(gzip ? gzipSync(text(records)) : Buffer.from(text(records)))
        const exit = await read(path)
        expect(Exit.isSuccess(exit) && exit.value.map(({ change, line }) => [line, encodeChangeRecord(change)])).toEqual(records.map((r, i) => [i + 1, encodeChangeRecord(r)]))
        const summary = await Effect.runPromise(checkRecording(path))
        expect(summary).toEqual({
          records: records.length,
          firstCommitMs: records[0] === undefined ? undefined : Date.parse(records[0].commitTs),
          lastCommitMs: records.at(-1) === undefined ? undefined : Date.parse(records.at(-1)!.commitTs)
        })
      }),
      { numRuns: 100, timeout: RUN_TIMEOUT_MS }
    )
  })

  it("a damaged plain recording reads exactly as its lines say: its records, or a RecordingError naming the first bad line", async () => {
    await fc.assert(
      fc.asyncProperty(recordingArb, fc.array(mutationArb, { minLength: 1, maxLength: 3 }), async (records, mutations) => {
        const bytes = mutations.reduce(mutateBytes, new Uint8Array(Buffer.from(text(records))))
        if (bytes[0] === 0x1f && bytes[1] === 0x8b) return // a gzip magic number: the next property's
        const path = file(bytes)
        const expected = model(path, bytes)
        const exit = await read(path)
        if (expected.ok) {
          expect(Exit.isSuccess(exit) ? exit.value.map(({ change, line }) => ({ line, json: encodeChangeRecord(change) })) : errorMessage(exit)).toEqual(expected.records)
        } else {
          expect(errorMessage(exit)).toMatch(expected.message)
          const check = await Effect.runPromiseExit(checkRecording(path))
          expect(errorMessage(check)).toMatch(expected.message)
        }
      }),
      { numRuns: 300, timeout: RUN_TIMEOUT_MS }
    )
  })

  it("a damaged gzip recording: its records, or a RecordingError naming the file and a line it has; cut short, always an error", async () => {
    await fc.assert(
      fc.asyncProperty(recordingArb, fc.array(mutationArb, { minLength: 1, maxLength: 2 }), fc.nat(), async (records, mutations, cut) => {
        const whole = new Uint8Array(gzipSync(text(records)))
        // damage the compressed bytes (not the gzip magic number: that is a plain file, the previous property)
        const damaged = Uint8Array.from([...whole.subarray(0, 2), ...mutations.reduce(mutateBytes, whole.subarray(2))])
        const truncated = whole.subarray(0, 2 + (cut % (whole.length - 2)))
        for (const [bytes, mustFail] of [
          [damaged, false],
          [truncated, true]
        ] as const) {
          const path = file(bytes)
          const exit = await read(path)
          if (Exit.isSuccess(exit)) {
            expect(mustFail, `${path}: a gzip file cut short read as ${exit.value.length} records`).toBe(false)
            continue
          }
          const message = errorMessage(exit)
          expect(message.startsWith(`recording ${path} `)).toBe(true)
          const line = /^recording \S+ (?:line (\d+)|is damaged after line (\d+))/.exec(message)
          expect(line, message).not.toBeNull()
          expect(Number(line?.[1] ?? line?.[2])).toBeLessThanOrEqual(records.length + 2 * mutations.length + 1)
        }
      }),
      { numRuns: 200, timeout: RUN_TIMEOUT_MS }
    )
  })

  it("random bytes as a recording (plain or behind a gzip magic number): the same", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), fc.boolean(), async (random, gzipMagic) => {
        const bytes = gzipMagic ? Uint8Array.from([0x1f, 0x8b, ...random]) : random
        const path = file(bytes)
        const exit = await read(path)
        if (!gzipMagic && !(bytes[0] === 0x1f && bytes[1] === 0x8b)) {
          const expected = model(path, bytes)
          if (expected.ok) expect(Exit.isSuccess(exit)).toBe(true)
          else expect(errorMessage(exit)).toMatch(expected.message)
        }
      }),
      { numRuns: 200, timeout: RUN_TIMEOUT_MS }
    )
  })
})
