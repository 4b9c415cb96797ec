/**
 * S3 adapter: the only place the pipeline calls the S3 API (AWS, or s3rver locally).
 * Four calls: put an object, get one (absent = None), delete one, list a prefix (every page).
 *
 * Invariants:
 *  - Every failure is an `S3Error` with one line naming the problem and the fix;
 *    `retryable` true exactly for throttling, 5xx and network errors. Nothing here
 *    retries on its own.
 *  - A missing object is not an error: `getObject` answers `Option.none()`.
 *  - `listObjects` follows every page to the end; keys come back in S3's order (UTF-8
 *    binary order of the key). It pages with ListObjects (v1) and `Marker` = the last key
 *    of the previous page, not ListObjectsV2: s3rver 3.7 makes V2 continuation tokens
 *    with the DES cipher, which OpenSSL 3 (Node ≥ 17) no longer has, so any V2 listing
 *    of more than 1,000 keys fails there with InternalError. v1 paging works on both.
 *  - The client is made once per layer and destroyed when the layer's scope closes.
 */
import { DeleteObjectCommand, GetObjectCommand, ListObjectsCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3"
import { Context, Effect, Layer, Option, Schedule, Schema } from "effect"
import { type AwsEndpoint, makeS3Client } from "./Aws.ts"

/** A failed S3 call. `retryable`: throttling, 5xx or network — safe to retry unchanged. */
export class S3Error extends Schema.TaggedError<S3Error>()("S3Error", {
  message: Schema.String,
  retryable: Schema.Boolean
}) {}

/** One listed object: its key and size in bytes. */
export interface S3ObjectSummary {
  readonly key: string
  readonly size: number
}

interface AwsCause {
  readonly name?: unknown
  readonly code?: unknown
  readonly message?: unknown
  readonly $fault?: unknown
  readonly $metadata?: { readonly httpStatusCode?: unknown }
}

const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ECONNABORTED"])
const THROTTLING = new Set(["SlowDown", "ThrottlingException", "RequestTimeout", "InternalError", "ServiceUnavailable", "TimeoutError"])

/** Whether `cause` is S3's "no such key" (404 on GetObject). */
const isMissingKey = (cause: unknown): boolean => {
  const err: AwsCause = typeof cause === "object" && cause !== null ? cause : {}
  return err.name === "NoSuchKey" || (err.name === "NotFound" && err.$metadata?.httpStatusCode === 404)
}

/**
 * Pure: turns an SDK / socket error of an S3 call into a one-line `S3Error` naming
 * the problem and the fix. `where` is `bucket` or `bucket/key`.
 */
export const describeS3Error = (cause: unknown, call: string, bucket: string, where: string, endpoint: string): S3Error => {
  const err: AwsCause = typeof cause === "object" && cause !== null ? cause : { message: String(cause) }
  const name = typeof err.name === "string" ? err.name : "Error"
  const code = typeof err.code === "string" ? err.code : name
  const text = (typeof err.message === "string" && err.message !== "" ? err.message : String(cause)).split("\n")[0] ?? ""
  const status = typeof err.$metadata?.httpStatusCode === "number" ? err.$metadata.httpStatusCode : undefined
  const fail = (message: string, retryable: boolean) => new S3Error({ message, retryable })
  if (name === "NoSuchBucket") return fail(`S3 bucket ${bucket} does not exist at ${endpoint}; create it or fix the bucket name setting`, false)
  if (["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "AllAccessDisabled"].includes(name)) {
    return fail(`S3 ${call} on ${where} at ${endpoint} was refused (${name}: ${text}); fix the AWS credentials or the bucket policy`, false)
  }
  if (NETWORK_CODES.has(code)) {
    return fail(`S3 ${call} on ${where}: cannot reach ${endpoint} (${code}: ${text}); start S3 or fix the endpoint (S3_ENDPOINT) and the network`, true)
  }
  if (THROTTLING.has(name) || err.$fault === "server" || (status !== undefined && status >= 500)) {
    return fail(`S3 ${call} on ${where} at ${endpoint} failed temporarily (${name}: ${text}); retry later`, true)
  }
  return fail(`S3 ${call} on ${where} at ${endpoint} failed (${name}: ${text})`, false)
}

/**
 * Retry policy of every S3 call (each is idempotent: whole-object put, get, delete,
 * list): a retryable failure (network, throttling, 5xx — e.g. a reused keep-alive
 * socket the server had closed) is tried again after 50 ms, doubling, jittered, at most
 * 5 times.
 */
export const s3RetrySchedule = Schedule.exponential("50 millis", 2).pipe(
  Schedule.jittered,
  Schedule.upTo({ times: 5 }),
  Schedule.setInputType<S3Error>(),
  Schedule.while(({ input }) => input.retryable)
)

const make = (client: S3Client, endpoint: string): S3["Service"] => {
  const call = <A>(name: string, bucket: string, where: string, send: (signal: AbortSignal) => Promise<A>) =>
    Effect.tryPromise({ try: send, catch: (cause) => describeS3Error(cause, name, bucket, where, endpoint) }).pipe(
      Effect.retry(s3RetrySchedule)
    )

  const putObject = Effect.fn("S3.putObject")(function* (bucket: string, key: string, body: Uint8Array | string, contentType?: string) {
    yield* call("PutObject", bucket, `${bucket}/${key}`, (abortSignal) =>
      client.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ...(contentType === undefined ? {} : { ContentType: contentType }) }),
        { abortSignal }
      )
    )
  })

  const getObject = Effect.fn("S3.getObject")(function* (bucket: string, key: string) {
    const where = `${bucket}/${key}`
    return yield* Effect.tryPromise({
      try: async (abortSignal) => {
        const output = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal })
        return Option.some(output.Body === undefined ? new Uint8Array() : await output.Body.transformToByteArray())
      },
      catch: (cause) => cause
    }).pipe(
      Effect.catch((cause) =>
        isMissingKey(cause) ? Effect.succeed(Option.none<Uint8Array>()) : Effect.fail(describeS3Error(cause, "GetObject", bucket, where, endpoint))
      ),
      Effect.retry(s3RetrySchedule)
    )
  })

  const deleteObject = Effect.fn("S3.deleteObject")(function* (bucket: string, key: string) {
    yield* call("DeleteObject", bucket, `${bucket}/${key}`, (abortSignal) =>
      client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), { abortSignal })
    )
  })

  const listObjects = Effect.fn("S3.listObjects")(function* (bucket: string, prefix: string) {
    const objects: Array<S3ObjectSummary> = []
    let marker: string | undefined
    do {
      const after = marker
      const page = yield* call("ListObjects", bucket, `${bucket}/${prefix}`, (abortSignal) =>
        client.send(new ListObjectsCommand({ Bucket: bucket, Prefix: prefix, ...(after === undefined ? {} : { Marker: after }) }), { abortSignal })
      )
      for (const object of page.Contents ?? []) {
        if (object.Key !== undefined) objects.push({ key: object.Key, size: object.Size ?? 0 })
      }
      // Without a delimiter S3 sends no NextMarker: the next page starts after the last key.
      marker = page.IsTruncated === true ? (page.NextMarker ?? objects.at(-1)?.key) : undefined
    } while (marker !== undefined)
    return objects
  })

  return { putObject, getObject, deleteObject, listObjects }
}

/** The S3 API, as the pipeline uses it. */
export class S3 extends Context.Service<
  S3,
  {
    /** PutObject: writes `body` (bytes, or text as UTF-8) at `bucket/key`, replacing any object there. */
    readonly putObject: (bucket: string, key: string, body: Uint8Array | string, contentType?: string) => Effect.Effect<void, S3Error>
    /** GetObject: the object's bytes, or `None` when no object has that key. */
    readonly getObject: (bucket: string, key: string) => Effect.Effect<Option.Option<Uint8Array>, S3Error>
    /** DeleteObject: removes `bucket/key`; succeeds also when there was no such object. */
    readonly deleteObject: (bucket: string, key: string) => Effect.Effect<void, S3Error>
    /** Every page of a listing: the key and size (bytes) of each object under `prefix`, in key order. */
    readonly listObjects: (bucket: string, prefix: string) => Effect.Effect<ReadonlyArray<S3ObjectSummary>, S3Error>
  }
>()("@totes-cdc/platform/S3") {
  /** S3 at `target` (s3rver, path-style, when `target.endpoint` is set). The client is destroyed with the layer. */
  static readonly layer = (target: AwsEndpoint): Layer.Layer<S3> =>
    Layer.effect(
      S3,
      Effect.acquireRelease(
        Effect.sync(() => makeS3Client(target)),
        (client) => Effect.sync(() => client.destroy())
      ).pipe(Effect.map((client) => S3.of(make(client, target.endpoint ?? `S3 in ${target.region}`))))
    )
}
