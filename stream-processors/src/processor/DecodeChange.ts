/**
 * One user record's bytes → a change record (envelope v1, DESIGN.md §3), the way the
 * processor reads them: from the stream (Processor.ts, step 1) and from the raw archive
 * when it rebuilds a lost join state (JoinStateRebuild.ts) — one rule for both, so a
 * record the processor dead-lettered from the stream is exactly a line the rebuild skips.
 * `verify` reads the next unprocessed record of a shard with it too (ops' PipelineWait.ts).
 *
 * Invariants: the bytes must be UTF-8 (a fatal decoder: no replacement characters) and
 * their text must decode with `decodeChangeRecord`; anything else is a one-line reason
 * starting with `not a change record`. Hot path: JSON.parse and `looksLikeChangeRecord`
 * (a structural check that only accepts what the schema accepts) decide most records;
 * the schema decodes the rest, and gives the reason.
 */
import { type ChangeRecord, decodeChangeRecord, looksLikeChangeRecord } from "@totes-cdc/core"
import { Effect, Result } from "effect"

const utf8 = new TextDecoder("utf-8", { fatal: true })

const firstLine = (text: string) => (text.split("\n")[0] ?? "").trim()

/** Pure: `bytes` decoded as a change record, or why they are not one (one line). */
export const decodeChangeBytes = (bytes: Uint8Array): Result.Result<ChangeRecord, string> => {
  let text: string
  try {
    text = utf8.decode(bytes)
  } catch {
    return Result.fail(`not a change record: ${bytes.byteLength} bytes that are not UTF-8`)
  }
  try {
    const value: unknown = JSON.parse(text)
    if (looksLikeChangeRecord(value)) return Result.succeed(value)
  } catch {
    // not JSON: the schema's decode below says so
  }
  const decoded = Effect.runSync(Effect.result(decodeChangeRecord(text)))
  return Result.isFailure(decoded) ? Result.fail(`not a change record: ${firstLine(decoded.failure.message)}`) : Result.succeed(decoded.success)
}
