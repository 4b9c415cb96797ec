/**
 * How the `totes-cdc` command ends on an error: one line on stderr naming the problem
 * and the fix, and an exit code — 2 for bad input (flags, files, settings), 1 for
 * failures at run time (a database, an emulator), 130 after Ctrl-C. The line holds no
 * password (Redact.ts), whatever the error's text.
 */
import { describeConfigError as describeEnvironmentError, redactSecrets } from "@totes-cdc/platform"
import { Effect, Predicate, Runtime, Schema } from "effect"
import { CliError } from "effect/cli"

/** A flag or setting is wrong; `message` names it and the fix. Exit code 2. */
export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", {
  message: Schema.String
}) {}

/** Tags of errors that mean "the input is wrong" rather than "something failed". */
const INPUT_ERRORS: ReadonlySet<string> = new Set(["UsageError", "SeedError", "StateFileError", "LocalStackSetupError", "RecordingError", "RecordedSourceError"])

/** Carries the exit code to the runtime's teardown; already reported, so not logged again. */
class ExitCode extends Error {
  override readonly [Runtime.errorExitCode]: number
  override readonly [Runtime.errorReported] = true
  constructor(code: number) {
    super(`exit ${code}`)
    this[Runtime.errorExitCode] = code
  }
}

const tagOf = (error: unknown): string | undefined =>
  Predicate.hasProperty(error, "_tag") && Predicate.isString(error._tag) ? error._tag : undefined

/**
 * Pure: the exit code and the line to print for a failure of a command. The line never
 * holds a password, whatever error text it is made from (`redactSecrets`: the last net
 * under the messages' own redaction).
 */
export const describeFailure = (error: unknown): { readonly code: number; readonly line: string | undefined } => {
  if (CliError.isCliError(error)) return { code: 2, line: undefined } // effect/cli has printed it
  const tag = tagOf(error)
  const message = error instanceof Error ? error.message : String(error)
  return { code: tag !== undefined && INPUT_ERRORS.has(tag) ? 2 : 1, line: `totes-cdc: ${redactSecrets(message)}` }
}

/** Prints the failure's one line and fails with its exit code. */
export const reportFailure = (error: unknown): Effect.Effect<never, ExitCode> =>
  Effect.gen(function* () {
    const { code, line } = describeFailure(error)
    if (line !== undefined) yield* Effect.sync(() => process.stderr.write(`${line}\n`))
    return yield* Effect.fail(new ExitCode(code))
  })

/**
 * Pure: one line for an Effect ConfigError message such as
 * `SchemaError(Expected string\n  at ["SOURCE_URL"])`, naming the variable and the fix.
 */
export const describeConfigError = (message: string): string => describeEnvironmentError(message, "set it as the README's configuration table says")
