/**
 * What the adapters read of a failed call to decide whether it is worth retrying: Node's
 * socket error codes, and the fields of an AWS SDK v3 error. Pure; one copy for every
 * service (S3, Kinesis, Secrets Manager, replication).
 */

/** Node's error codes of a connection that could not be made or broke: retryable. */
export const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ECONNABORTED"
])

/** The fields of an AWS SDK v3 error (or a Node network error inside it) the adapters read. */
export interface AwsCause {
  readonly name?: unknown
  readonly code?: unknown
  readonly message?: unknown
  readonly $fault?: unknown
  readonly $metadata?: { readonly httpStatusCode?: unknown }
  readonly cause?: unknown
}

/** Longest service text kept in a message: Kinesis' validation errors can quote a whole request. */
const MAX_TEXT = 300

/**
 * Pure: what the adapters read of an SDK / socket error: its name (SDK error class, else its
 * code), its code (errno code of a nested network error, else the SDK's), its first message
 * line (at most `MAX_TEXT` characters), its HTTP status and whether AWS called it a server fault.
 */
export const inspectAwsError = (cause: unknown) => {
  const err: AwsCause = typeof cause === "object" && cause !== null ? cause : { message: String(cause) }
  const nested: AwsCause = typeof err.cause === "object" && err.cause !== null ? err.cause : {}
  const code = [err.code, nested.code, err.name].find((value): value is string => typeof value === "string") ?? "Error"
  const name = typeof err.name === "string" ? err.name : code
  const line = (typeof err.message === "string" && err.message !== "" ? err.message : String(cause)).split("\n")[0] ?? ""
  const text = line.length > MAX_TEXT ? `${line.slice(0, MAX_TEXT)}…` : line
  const status = typeof err.$metadata?.httpStatusCode === "number" ? err.$metadata.httpStatusCode : undefined
  return { name, code, text, status, serverFault: err.$fault === "server" }
}
