/**
 * The state file of `totes-cdc dev` (DESIGN.md §7): where every endpoint of the
 * running local stack is, as JSON, for other terminals, tools and tests.
 *
 * Invariants:
 *  - Written atomically (temporary file + rename), so a reader never sees half a file.
 *  - Removed when `dev` stops: a state file on disk describes a running stack.
 *  - Read back through `StateFileSchema`, so a stale or foreign file fails with one line.
 */
import { lastResort } from "@totes-cdc/local-stack"
import { Effect, Schema, type Scope } from "effect"
import { rmSync } from "node:fs"
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises"
import { dirname, join } from "node:path"
import { Flag } from "effect/cli"

const AwsTarget = Schema.Struct({
  endpoint: Schema.String,
  region: Schema.String,
  accessKeyId: Schema.String,
  secretAccessKey: Schema.String
})

/** Shape of the state file, version 1. URLs carry credentials: the file is local-only. */
export const StateFileSchema = Schema.Struct({
  version: Schema.Literal(1),
  pid: Schema.Number,
  startedAt: Schema.String,
  dataDir: Schema.String,
  source: Schema.Struct({ url: Schema.String }),
  warehouse: Schema.Struct({ url: Schema.String, schema: Schema.String }),
  kinesis: Schema.Struct({ ...AwsTarget.fields, streamName: Schema.String, shards: Schema.Number }),
  s3: Schema.Struct({
    ...AwsTarget.fields,
    buckets: Schema.Struct({ ingestion: Schema.String, processed: Schema.String })
  }),
  /** The live dashboard `dev` serves (absent in files of earlier versions). */
  dashboard: Schema.optional(Schema.Struct({ url: Schema.String })),
  /** Set when `dev --replay` feeds a recording instead of a source: no reader, no slot. */
  replay: Schema.optional(Schema.Struct({ recording: Schema.String }))
})
export type StateFile = typeof StateFileSchema.Type

/** The state file cannot be written or read; `message` names the path and the fix. */
export class StateFileError extends Schema.TaggedError<StateFileError>()("StateFileError", {
  message: Schema.String
}) {}

/** Writes `state` to `path` atomically and removes it when the scope closes. Fails with `StateFileError`. */
export const writeStateFile = (path: string, state: StateFile): Effect.Effect<void, StateFileError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        await mkdir(dirname(path), { recursive: true })
        const temporary = join(dirname(path), `.${process.pid}.state.tmp`)
        await writeFile(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 })
        await rename(temporary, path)
      },
      catch: (cause) =>
        new StateFileError({ message: `cannot write state file ${path}: ${String(cause)}; pass a writable --state-file` })
    }),
    () => Effect.promise(() => rm(path, { force: true }))
  ).pipe(Effect.andThen(lastResort(() => rmSync(path, { force: true }))))

/** Reads and validates a state file. Fails with `StateFileError` naming the path and the fix. */
export const readStateFile = (path: string): Effect.Effect<StateFile, StateFileError> =>
  Effect.tryPromise({
    try: () => readFile(path, "utf8"),
    catch: () =>
      new StateFileError({ message: `no state file at ${path}; start the stack with "npm start" or pass --state-file` })
  }).pipe(
    Effect.flatMap(Schema.decodeUnknownEffect(Schema.fromJsonString(StateFileSchema))),
    Effect.mapError((error) =>
      error._tag === "StateFileError"
        ? error
        : new StateFileError({ message: `${path} is not a totes-cdc state file: ${error.message.split("\n")[0]}` })
    )
  )

/** `--state-file PATH` (optional) of the commands that read a running `dev`'s endpoints instead of the environment. */
export const stateFileFlag = Flag.String("state-file").pipe(
  Flag.withMetavar("PATH"),
  Flag.withDescription("state file of a running `totes-cdc dev`; without it, the environment (SOURCE_URL, WAREHOUSE_URL, …)"),
  Flag.optional
)
