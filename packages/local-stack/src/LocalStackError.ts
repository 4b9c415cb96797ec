/**
 * The one error type of the local stack: which component failed and a one-line
 * message naming the problem and, where there is one, the fix.
 */
import { Schema } from "effect"

export class LocalStackError extends Schema.TaggedError<LocalStackError>()("LocalStackError", {
  component: Schema.Literals(["postgres", "kinesis", "s3", "stack"]),
  message: Schema.String
}) {}

/**
 * The local stack cannot start on this machine or with these flags, and the fix is the
 * user's (a directory user postgres cannot enter, a data directory in use by another
 * run): one line naming the problem and the fix. The command exits 2.
 */
export class LocalStackSetupError extends Schema.TaggedError<LocalStackSetupError>()("LocalStackSetupError", {
  message: Schema.String
}) {}
