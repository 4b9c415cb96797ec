/**
 * Poll mode's durable state (PollState in PollCursor.ts), one JSON object per reader name
 * in S3 — outside the source, which poll mode may only read:
 * `<prefix>poll/<name>.json` (e.g. `state/cdc-reader/poll/totes_cdc.json`).
 *
 * Invariants: what is read back is validated by the schema; a corrupt object stops the
 * reader naming the key to inspect, it is never treated as absent (that would re-emit
 * every row). The object is written only after the rows it covers are durable in Kinesis
 * (PollReader.ts), so a restart never skips a row that was not delivered.
 */
import { S3, type S3Error } from "@totes-cdc/platform"
import { Effect, Option, Schema } from "effect"
import { type ReaderStateLocation, ReaderStateError } from "../ReaderStateStore.ts"
import { type PollState, PollStateSchema } from "./PollCursor.ts"

/** The S3 key of the poll state of reader `name`. */
export const pollStateKey = (location: ReaderStateLocation, name: string): string => `${location.prefix}poll/${name}.json`

/** The saved state of reader `name`, if any. Fails with `ReaderStateError` (corrupt object) or `S3Error`. */
export const loadPollState = (location: ReaderStateLocation, name: string) =>
  Effect.gen(function* () {
    const s3 = yield* S3
    const key = pollStateKey(location, name)
    const body = yield* s3.getObject(location.bucket, key)
    if (Option.isNone(body)) return undefined
    return yield* Schema.decodeUnknownEffect(Schema.fromJsonString(PollStateSchema))(new TextDecoder().decode(body.value)).pipe(
      Effect.mapError(
        (error) =>
          new ReaderStateError({
            message: `s3://${location.bucket}/${key} is not a poll reader state (${error.message.split("\n")[0]}); inspect or delete it (deleting it re-reads every row)`,
            cause: error
          })
      )
    )
  }) satisfies Effect.Effect<PollState | undefined, ReaderStateError | S3Error, S3>

/** Stores `state` (replacing the previous one). Fails with `S3Error`. */
export const savePollState = (location: ReaderStateLocation, state: PollState): Effect.Effect<void, S3Error, S3> =>
  Effect.gen(function* () {
    const s3 = yield* S3
    yield* s3.putObject(location.bucket, pollStateKey(location, state.name), JSON.stringify(state), "application/json")
  })
