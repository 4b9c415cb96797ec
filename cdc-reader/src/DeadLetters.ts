/**
 * The dead-letter sink: where a change that cannot go on is parked, with enough to
 * inspect and replay it (DESIGN.md §4: `dlq/<stage>/YYYY/MM/DD/<uuid>.json`).
 *
 * Invariants:
 *  - A letter is one S3 object holding the ORIGINAL bytes (base64, so any bytes survive),
 *    the error and the position; it is never overwritten (a fresh UUID per letter).
 *  - The date in the key is the UTC date the letter was written (the Clock's, so tests
 *    can control it).
 *  - `put` succeeds only once the object is stored: a letter counts as durable then.
 */
import { S3, type S3Error } from "@totes-cdc/platform"
import { Context, DateTime, Effect, Layer } from "effect"
import { randomUUID } from "node:crypto"

/** A change that cannot go on. `position` locates it in the source (e.g. table, key, commit LSN and index). */
export interface DeadLetter {
  /** Pipeline stage that parked it, e.g. "reader". */
  readonly stage: string
  /** The original bytes (for the reader: the change record's JSON). */
  readonly bytes: Uint8Array
  /** Why it was parked, one line. */
  readonly error: string
  readonly position: string
}

/** The object written for a letter (its JSON body). */
export interface DeadLetterObject {
  readonly stage: string
  readonly error: string
  readonly position: string
  /** ISO-8601 UTC. */
  readonly parkedAt: string
  /** Length of the original bytes. */
  readonly size: number
  readonly encoding: "base64"
  /** The original bytes, base64. */
  readonly bytes: string
}

const pad = (n: number) => String(n).padStart(2, "0")

/** `dlq/<stage>/YYYY/MM/DD/<id>.json` for a letter parked at `at` (UTC date). */
export const deadLetterKey = (stage: string, at: DateTime.Utc, id: string): string => {
  const parts = DateTime.toPartsUtc(at)
  return `dlq/${stage}/${parts.year}/${pad(parts.month)}/${pad(parts.day)}/${id}.json`
}

/** The dead-letter sink. */
export class DeadLetters extends Context.Service<
  DeadLetters,
  {
    /** Stores `letter` as one new object; succeeds once it is stored. Fails with `S3Error`. */
    readonly put: (letter: DeadLetter) => Effect.Effect<void, S3Error>
  }
>()("@totes-cdc/cdc-reader/DeadLetters") {
  /** Letters as JSON objects under `dlq/` in `bucket`, through the S3 service. */
  static readonly layer = (bucket: string): Layer.Layer<DeadLetters, never, S3> =>
    Layer.effect(
      DeadLetters,
      Effect.gen(function* () {
        const s3 = yield* S3
        const put = Effect.fn("DeadLetters.put")(function* (letter: DeadLetter) {
          const now = yield* DateTime.now
          const id = yield* Effect.sync(() => randomUUID())
          const body: DeadLetterObject = {
            stage: letter.stage,
            error: letter.error,
            position: letter.position,
            parkedAt: DateTime.formatIso(now),
            size: letter.bytes.byteLength,
            encoding: "base64",
            bytes: Buffer.from(letter.bytes.buffer, letter.bytes.byteOffset, letter.bytes.byteLength).toString("base64")
          }
          yield* s3.putObject(bucket, deadLetterKey(letter.stage, now, id), JSON.stringify(body), "application/json")
        })
        return DeadLetters.of({ put })
      })
    )
}
