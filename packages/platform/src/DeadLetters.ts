/**
 * The dead-letter sink of every stage: letters (core's contracts/DeadLetter.ts) as JSON
 * objects in the ingestion bucket, through the S3 service.
 *
 * Invariants:
 *  - `put` succeeds only once the object is stored: a letter counts as durable then.
 *  - The key is the contract's (`deadLetterKey`): the same record parked again for the
 *    same reason overwrites its letter.
 *  - One retry policy: the S3 service's (`s3RetrySchedule`), on the one put. Nothing here
 *    retries on top, and callers must not either.
 */
import { type DeadLetter, deadLetterKey, deadLetterObject } from "@totes-cdc/core"
import { Clock, Context, Effect, Layer } from "effect"
import { S3, type S3Error } from "./S3.ts"

export class DeadLetters extends Context.Service<
  DeadLetters,
  {
    /** Stores `letter`; answers its key once it is stored. Fails with `S3Error` (after the S3 service's retries). */
    readonly put: (letter: DeadLetter) => Effect.Effect<string, S3Error>
  }
>()("@totes-cdc/platform/DeadLetters") {
  /** Letters in `bucket` (the ingestion bucket). */
  static readonly layer = (bucket: string): Layer.Layer<DeadLetters, never, S3> =>
    Layer.effect(
      DeadLetters,
      Effect.gen(function* () {
        const s3 = yield* S3
        const put = Effect.fn("DeadLetters.put")(function* (letter: DeadLetter) {
          const key = deadLetterKey(letter)
          const parkedAt = new Date(yield* Clock.currentTimeMillis)
          yield* s3.putObject(bucket, key, JSON.stringify(deadLetterObject(letter, parkedAt)), "application/json")
          return key
        })
        return DeadLetters.of({ put })
      })
    )
}
