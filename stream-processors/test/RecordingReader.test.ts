/**
 * Reading recordings (RecordingReader.ts) from real files: plain and gzip (by magic bytes),
 * and every way a recording can be damaged — a malformed line, a line cut short, a gzip file
 * cut short, lines out of commit order, no file — each one error naming the file and line.
 */
import { describe, expect, it } from "@effect/vitest"
import { type ChangeRecord, encodeChangeRecord } from "@totes-cdc/core"
import { Effect, Stream } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import { afterAll } from "vitest"
import { checkRecording, readRecording } from "../src/replay/RecordingReader.ts"

const dir = mkdtempSync(join(tmpdir(), "totes-cdc-recording-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const change = (commitLsn: string, commitIdx: number, commitTs: string): ChangeRecord => ({
  v: 1,
  source: "replication",
  op: "update",
  table: "payment",
  key: { payment_id: "2" },
  before: null,
  after: { payment_id: "2", paid: "true" },
  unchangedToast: [],
  commitLsn,
  commitIdx,
  xid: 9,
  commitTs
})
const RECORDS = [change("0/100", 0, "2024-02-23T10:00:00.000Z"), change("0/100", 1, "2024-02-23T10:00:00.000Z"), change("0/2A0", 0, "2024-02-23T10:00:30.500Z")]
const TEXT = RECORDS.map((r) => `${encodeChangeRecord(r)}\n`).join("")

/** Writes `body` to a file named `name` in the test directory; answers its path. */
const file = (name: string, body: string | Uint8Array) => {
  const path = join(dir, name)
  writeFileSync(path, body)
  return path
}

const messageOf = (path: string) => Effect.flip(checkRecording(path)).pipe(Effect.map((error) => error.message))

describe("readRecording / checkRecording", () => {
  it.effect("reads a plain and a gzip recording alike (gzip known by its bytes, whatever the name); the summary spans the commit times", () =>
    Effect.gen(function* () {
      const plain = file("plain.ndjson", TEXT)
      const gzipped = file("gzipped.ndjson", gzipSync(TEXT))
      for (const path of [plain, gzipped]) {
        const read = yield* Stream.runCollect(readRecording(path))
        expect(read.map(({ change, line }) => [line, change])).toEqual(RECORDS.map((r, i) => [i + 1, r]))
        expect(yield* checkRecording(path)).toEqual({ records: 3, firstCommitMs: Date.parse("2024-02-23T10:00:00.000Z"), lastCommitMs: Date.parse("2024-02-23T10:00:30.500Z") })
      }
      expect(yield* checkRecording(file("empty.ndjson", ""))).toEqual({ records: 0, firstCommitMs: undefined, lastCommitMs: undefined })
    })
  )

  it.effect("a malformed line, or a last line cut short, is an error naming its line", () =>
    Effect.gen(function* () {
      const lines = TEXT.split("\n")
      const malformed = file("malformed.ndjson", [lines[0], "this is not json {", lines[2], ""].join("\n"))
      expect(yield* messageOf(malformed)).toMatch(new RegExp(`^recording ${malformed} line 2: not a change record: .*; the recording is damaged: record it again$`))
      const cut = file("cut.ndjson", TEXT.slice(0, TEXT.length - 20))
      expect(yield* messageOf(cut)).toMatch(new RegExp(`^recording ${cut} line 3: not a change record: `))
    })
  )

  it.effect("a gzip recording cut short is an error after its last good line", () =>
    Effect.gen(function* () {
      const whole = gzipSync(TEXT)
      // Its last 12 bytes gone: the end of the compressed data and the CRC-32/size trailer.
      const truncated = file("truncated.ndjson.gz", whole.subarray(0, whole.byteLength - 12))
      expect(yield* messageOf(truncated)).toMatch(new RegExp(`^recording ${truncated} is damaged after line \\d+ \\(.*: a truncated or corrupt gzip file\\); record it again$`))
    })
  )

  it.effect("lines out of commit order, and a missing file, are errors that say what is wrong", () =>
    Effect.gen(function* () {
      const lines = TEXT.split("\n")
      const shuffled = file("shuffled.ndjson", [lines[2], lines[0], ""].join("\n"))
      expect(yield* messageOf(shuffled)).toBe(`recording ${shuffled} line 2 (0/100/0) is older than line 1 (0/2A0/0): not in commit order — not a file of totes-cdc record`)
      const missing = join(dir, "missing.ndjson")
      expect(yield* messageOf(missing)).toBe(`recording ${missing} cannot be read (ENOENT); give a file written by totes-cdc record`)
    })
  )
})

/**
 * Defects RecordingReaderFuzz.test.ts found; each test failed before its fix (the reader
 * split lines with node:readline, which decodes text and breaks lines at more than "\n").
 */
describe("readRecording, found by fuzzing", () => {
  const lines = TEXT.split("\n")
  const bytes = (...parts: ReadonlyArray<string | Uint8Array>) => Buffer.concat(parts.map((part) => (typeof part === "string" ? Buffer.from(part, "utf8") : part)))

  it.effect("reads a record whose value holds U+2028 or U+2029 (JSON.stringify leaves them unescaped; it was 'line 1: not a change record')", () =>
    Effect.gen(function* () {
      // counterexample: key {"": "\u2028"}
      const records = [{ ...RECORDS[0]!, key: { "": "\u2028" } }, { ...RECORDS[1]!, after: { note: "a\u2029b" } }]
      const path = file("separators.ndjson", records.map((r) => `${encodeChangeRecord(r)}\n`).join(""))
      const read = yield* Stream.runCollect(readRecording(path))
      expect(read.map(({ change, line }) => [line, change])).toEqual(records.map((r, i) => [i + 1, r]))
    })
  )

  it.effect("names the line of the file when a line holds a stray \\r (it split the line there and counted one line too many)", () =>
    Effect.gen(function* () {
      const path = file("carriage-return.ndjson", `${lines[0]}\r${lines[1]}\n${lines[2]}\nnot json\n`)
      expect(yield* messageOf(path)).toMatch(new RegExp(`^recording ${path} line 1: not a change record: `))
    })
  )

  it.effect("refuses a line that is not UTF-8 (it read the bytes as U+FFFD, or dropped a last line of them)", () =>
    Effect.gen(function* () {
      // a byte 0xFF inside a value: the record was read with U+FFFD in its place
      const inside = file("not-utf8.ndjson", bytes(lines[0]!, "\n", lines[1]!.replace('"true"', '"tr'), Uint8Array.of(0xff), 'e"', "\n"))
      expect(yield* messageOf(inside)).toMatch(new RegExp(`^recording ${inside} line 2: not a change record: \\d+ bytes that are not UTF-8; `))
      // counterexample: a file of the one byte 0xC0 read as an empty recording
      const alone = file("c0.ndjson", Uint8Array.of(0xc0))
      expect(yield* messageOf(alone)).toBe(`recording ${alone} line 1: not a change record: 1 bytes that are not UTF-8; the recording is damaged: record it again`)
    })
  )

  it.effect("leaves no gzip stream behind to fail unheard when it stops at a bad line (it was an unhandled 'error' event: Z_BUF_ERROR)", () =>
    Effect.gen(function* () {
      const unheard: Array<unknown> = []
      const listener = (error: unknown) => void unheard.push(error)
      process.on("uncaughtException", listener)
      yield* Effect.addFinalizer(() => Effect.sync(() => process.off("uncaughtException", listener)))
      // a bad first line, in a gzip file cut short: the reading stops before gunzip meets the cut
      const whole = gzipSync(`not json\n${TEXT}`)
      const path = file("bad-and-cut.ndjson.gz", whole.subarray(0, whole.byteLength - 12))
      expect(yield* messageOf(path)).toMatch(new RegExp(`^recording ${path} line 1: not a change record: `))
      // let the file's end and gunzip's flush happen
      for (let i = 0; i < 20; i++) yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
      expect(unheard).toEqual([])
    }).pipe(Effect.scoped)
  )
})
