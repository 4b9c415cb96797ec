/**
 * The reader's durable state (ReaderState in SlotPlan.ts), one JSON object per slot
 * in S3 — outside the source, as DESIGN.md §6 asks: `<prefix><slot>.json`.
 *
 * Invariants: what is read back is validated by a schema; a corrupt object stops the
 * reader with the key to inspect, it is never treated as absent.
 */
import { S3, type S3Error } from "@totes-cdc/platform"
import { Effect, Option, Schema } from "effect"
import type { ReaderState } from "./SlotPlan.ts"

const ReaderStateSchema = Schema.Struct({
  version: Schema.Literal(1),
  slot: Schema.String,
  snapshot: Schema.Union([
    Schema.Struct({ status: Schema.Literal("in-progress"), startedAt: Schema.String }),
    Schema.Struct({
      status: Schema.Literal("complete"),
      startedAt: Schema.String,
      completedAt: Schema.String,
      consistentPoint: Schema.String,
      rows: Schema.Number
    })
  ])
})

/**
 * The reader state object (or poll state object) is not a reader state: `message` names
 * the key and the fix; `cause` is the schema error that rejected it.
 */
export class ReaderStateError extends Schema.TaggedError<ReaderStateError>()("ReaderStateError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

export interface ReaderStateLocation {
  readonly bucket: string
  /** Key prefix, e.g. "state/cdc-reader/". */
  readonly prefix: string
}

const keyOf = (location: ReaderStateLocation, slot: string) => `${location.prefix}${slot}.json`

/** Pure: where `slot`'s state is kept, as an `s3://bucket/key` URI (for messages). */
export const readerStateUri = (location: ReaderStateLocation, slot: string): string => `s3://${location.bucket}/${keyOf(location, slot)}`

/** The stored state of `slot`, if any. Fails with `ReaderStateError` or `S3Error`. */
export const loadReaderState = (location: ReaderStateLocation, slot: string) =>
  Effect.gen(function* () {
    const s3 = yield* S3
    const body = yield* s3.getObject(location.bucket, keyOf(location, slot))
    if (Option.isNone(body)) return undefined
    return yield* Schema.decodeUnknownEffect(Schema.fromJsonString(ReaderStateSchema))(
      new TextDecoder().decode(body.value)
    ).pipe(
      Effect.mapError(
        (error) =>
          new ReaderStateError({
            message: `${readerStateUri(location, slot)} is not a reader state (${error.message.split("\n")[0]}); inspect or delete it`,
            cause: error
          })
      )
    )
  }) satisfies Effect.Effect<ReaderState | undefined, ReaderStateError | S3Error, S3>

/** Stores `state` (replacing the previous one). Fails with `S3Error`. */
export const saveReaderState = (location: ReaderStateLocation, state: ReaderState): Effect.Effect<void, S3Error, S3> =>
  Effect.gen(function* () {
    const s3 = yield* S3
    yield* s3.putObject(location.bucket, keyOf(location, state.slot), JSON.stringify(state, null, 2), "application/json")
  })

/** Forgets the state of `slot` (the next start takes a new snapshot). Fails with `S3Error`. */
export const deleteReaderState = (location: ReaderStateLocation, slot: string): Effect.Effect<void, S3Error, S3> =>
  Effect.gen(function* () {
    const s3 = yield* S3
    yield* s3.deleteObject(location.bucket, keyOf(location, slot))
  })
