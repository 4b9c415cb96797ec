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
