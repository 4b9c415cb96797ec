/**
 * The one error type of the local stack: which component failed and a one-line
 * message naming the problem and, where there is one, the fix.
 */
import { Schema } from "effect"

export class LocalStackError extends Schema.TaggedError<LocalStackError>()("LocalStackError", {
  component: Schema.Literals(["postgres", "kinesis", "s3", "stack"]),
  message: Schema.String
}) {}
