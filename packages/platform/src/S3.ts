/**
 * S3 adapter: the only place the pipeline calls the S3 API (AWS, or s3rver locally).
 * Four calls on objects: put an object, get one (absent = None), delete one, list a prefix
 * (every page); two on buckets, for `totes-cdc init-localstack` on an emulator: create a
 * bucket (idempotent), and set its event notifications to a queue.
 *
 * Invariants:
 *  - Every failure is an `S3Error` with one line naming the problem and the fix, the SDK /
 *    socket error it came from as its `cause`, and `retryable` true exactly for
 *    throttling, 5xx and network errors.
 *  - Retry policy: ONE, here. Every call (each page of a listing on its own) is retried on
 *    `s3RetrySchedule` (Retry.ts's `retryableBackoff`: 100 ms doubling, capped at 2 s,
 *    jittered, at most 10 retries, only while the `S3Error` is retryable) — every call is
 *    idempotent (whole-object put, get, delete, list page). An `S3Error` out of this
 *    service has had those retries: callers must NOT wrap S3 calls in a retry of their
 *    own (one operation would become dozens of calls). A caller that must keep going
 *    longer retries its whole operation, not the S3 call.
 *  - A missing object is not an error: `getObject` answers `Option.none()`.
 *  - `listObjects` follows every page to the end; keys come back in S3's order (UTF-8
 *    binary order of the key). It pages with ListObjects (v1) and `Marker` = the last key
 *    of the previous page, not ListObjectsV2: s3rver 3.7 makes V2 continuation tokens
 *    with the DES cipher, which OpenSSL 3 (Node ≥ 17) no longer has, so any V2 listing
 *    of more than 1,000 keys fails there with InternalError. v1 paging works on both.
 *  - The client is made once per layer and destroyed when the layer's scope closes.
 *  - `S3.layerTest` is an in-memory S3 for tests, held to the same contract as this layer
 *    on s3rver (packages/local-stack/test/FakesContract.integration.test.ts): same shapes,
 *    same key order, and failures made by `describeS3Error`, so their messages read the same.
 */
import {
  type BucketLocationConstraint,
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsCommand,
  PutBucketNotificationConfigurationCommand,
  PutObjectCommand,
  type S3Client
} from "@aws-sdk/client-s3"
import { Context, Effect, Layer, Option, Schema } from "effect"
import { Buffer } from "node:buffer"
import { type AwsEndpoint, makeS3Client } from "./Aws.ts"
import { retryableBackoff } from "./Retry.ts"
import { type AwsCause, NETWORK_ERROR_CODES } from "./SdkErrors.ts"

/**
 * A failed S3 call (after the service's own retries, `s3RetrySchedule`). `message`: one
 * line, problem and fix. `retryable`: throttling, 5xx or network — safe to retry
 * unchanged. `cause`: the SDK / socket error it was made from, when there was one.
 */
export class S3Error extends Schema.TaggedError<S3Error>()("S3Error", {
  message: Schema.String,
  retryable: Schema.Boolean,
  cause: Schema.optional(Schema.Defect())
}) {}

/**
 * A bucket's event notifications to one SQS queue: `events` (e.g. `s3:ObjectCreated:*`) of
 * objects whose key starts with `prefix` and ends with `suffix` go to the queue `queueArn`.
 */
export interface QueueNotification {
  readonly queueArn: string
  readonly events: ReadonlyArray<string>
  readonly prefix: string
  readonly suffix: string
}

/** One listed object: its key and size in bytes. */
export interface S3ObjectSummary {
  readonly key: string
  readonly size: number
}

const THROTTLING = new Set(["SlowDown", "ThrottlingException", "RequestTimeout", "InternalError", "ServiceUnavailable", "TimeoutError"])

/** Whether `cause` is S3's "no such key" (404 on GetObject). */
const isMissingKey = (cause: unknown): boolean => {
  const err: AwsCause = typeof cause === "object" && cause !== null ? cause : {}
  return err.name === "NoSuchKey" || (err.name === "NotFound" && err.$metadata?.httpStatusCode === 404)
}

/**
 * Pure: turns an SDK / socket error of an S3 call into a one-line `S3Error` naming
 * the problem and the fix, with `cause` the error itself. `call` is the API call
 * (`PutObject`, …), `where` is `bucket` or `bucket/key`, `endpoint` the URL (or "S3 in
 * <region>") named in the message.
 */
export const describeS3Error = (cause: unknown, call: string, bucket: string, where: string, endpoint: string): S3Error => {
  const err: AwsCause = typeof cause === "object" && cause !== null ? cause : { message: String(cause) }
  const name = typeof err.name === "string" ? err.name : "Error"
  const code = typeof err.code === "string" ? err.code : name
  const text = (typeof err.message === "string" && err.message !== "" ? err.message : String(cause)).split("\n")[0] ?? ""
  const status = typeof err.$metadata?.httpStatusCode === "number" ? err.$metadata.httpStatusCode : undefined
  const fail = (message: string, retryable: boolean) => new S3Error({ message, retryable, cause })
  if (name === "NoSuchBucket") return fail(`S3 bucket ${bucket} does not exist at ${endpoint}; create it or fix the bucket name setting`, false)
  if (["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "AllAccessDisabled"].includes(name)) {
    return fail(`S3 ${call} on ${where} at ${endpoint} was refused (${name}: ${text}); fix the AWS credentials or the bucket policy`, false)
  }
  if (NETWORK_ERROR_CODES.has(code)) {
    return fail(`S3 ${call} on ${where}: cannot reach ${endpoint} (${code}: ${text}); start S3 or fix the endpoint (S3_ENDPOINT) and the network`, true)
  }
  if (THROTTLING.has(name) || err.$fault === "server" || (status !== undefined && status >= 500)) {
    return fail(`S3 ${call} on ${where} at ${endpoint} failed temporarily (${name}: ${text}); retry later`, true)
  }
  return fail(`S3 ${call} on ${where} at ${endpoint} failed (${name}: ${text})`, false)
}

/**
 * THE retry policy of S3 calls, applied by this service to every call (module invariants;
 * each call is idempotent: whole-object put, get, delete, one list page): a retryable
 * failure (network, throttling, 5xx — e.g. a reused keep-alive socket the server had
 * closed) is tried again after 100 ms, 200 ms, 400 ms, … doubling, each delay capped at
 * 2 s and jittered ×0.8–1.2; at most 10 retries (11 attempts, about 13 s of waiting in
 * all). A non-retryable failure is not retried. Callers must not retry S3 calls again.
 */
export const s3RetrySchedule = retryableBackoff("2 seconds", 10)

const make = (client: S3Client, endpoint: string): S3["Service"] => {
  /** One S3 API call, failures described (`describeS3Error`), retried on `s3RetrySchedule`. */
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

  const createBucket = Effect.fn("S3.createBucket")(function* (bucket: string, region: string) {
    yield* Effect.tryPromise({
      try: (abortSignal) =>
        client
          .send(
            new CreateBucketCommand({
              Bucket: bucket,
              // us-east-1 takes no location constraint; every other region needs its own.
              ...(region === "us-east-1" ? {} : { CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } })
            }),
            { abortSignal }
          )
          .then(
            () => undefined,
            async (error: unknown) => {
              const name = typeof error === "object" && error !== null && "name" in error ? error.name : undefined
              if (name === "BucketAlreadyOwnedByYou") return undefined
              // Some emulators (s3rver) say BucketAlreadyExists of their one account's buckets: ours if we may read it.
              if (name === "BucketAlreadyExists" && (await client.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal }).then(() => true, () => false))) return undefined
              throw error
            }
          ),
      catch: (cause) => describeS3Error(cause, "CreateBucket", bucket, bucket, endpoint)
    }).pipe(Effect.retry(s3RetrySchedule))
  })

  const putBucketNotification = Effect.fn("S3.putBucketNotification")(function* (bucket: string, notification: QueueNotification) {
    yield* call("PutBucketNotificationConfiguration", bucket, bucket, (abortSignal) =>
      client.send(
        new PutBucketNotificationConfigurationCommand({
          Bucket: bucket,
          NotificationConfiguration: {
            QueueConfigurations: [
              {
                QueueArn: notification.queueArn,
                Events: [...notification.events] as Array<"s3:ObjectCreated:*">,
                Filter: {
                  Key: {
                    FilterRules: [
                      { Name: "prefix", Value: notification.prefix },
                      { Name: "suffix", Value: notification.suffix }
                    ]
                  }
                }
              }
            ]
          }
        }),
        { abortSignal }
      )
    )
  })

  return { putObject, getObject, deleteObject, listObjects, createBucket, putBucketNotification }
}

// ---------------------------------------------------------------------------------------
// In memory: `S3.layerTest`.

/** What the in-memory S3 names as its endpoint in error messages. */
const IN_MEMORY_S3 = "in-memory S3"

/**
 * Pure: S3's order of keys — their UTF-8 bytes compared as unsigned bytes (which is not
 * JavaScript's string order for characters outside the Basic Multilingual Plane).
 * Negative when `a` sorts first, 0 when equal, positive when `b` sorts first.
 */
export const compareS3Keys = (a: string, b: string): number => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"))

/** A fresh in-memory S3 holding the (empty) buckets `buckets`: bucket → key → bytes. */
const makeInMemory = (buckets: ReadonlyArray<string>): S3["Service"] => {
  const held = new Map<string, Map<string, Uint8Array>>(buckets.map((bucket) => [bucket, new Map()]))

  /** The objects of `bucket`, or the `S3Error` S3 answers for a missing bucket (NoSuchBucket), as `describeS3Error` words it. */
  const bucketOf = (call: string, bucket: string, where: string) => {
    const objects = held.get(bucket)
    if (objects !== undefined) return Effect.succeed(objects)
    const cause = Object.assign(new Error("The specified bucket does not exist"), { name: "NoSuchBucket", $fault: "client", $metadata: { httpStatusCode: 404 } })
    return Effect.fail(describeS3Error(cause, call, bucket, where, IN_MEMORY_S3))
  }

  const putObject = Effect.fn("S3.putObject")(function* (bucket: string, key: string, body: Uint8Array | string, _contentType?: string) {
    const objects = yield* bucketOf("PutObject", bucket, `${bucket}/${key}`)
    objects.set(key, typeof body === "string" ? new Uint8Array(Buffer.from(body, "utf8")) : new Uint8Array(body))
  })

  const getObject = Effect.fn("S3.getObject")(function* (bucket: string, key: string) {
    const objects = yield* bucketOf("GetObject", bucket, `${bucket}/${key}`)
    const body = objects.get(key)
    return body === undefined ? Option.none<Uint8Array>() : Option.some(new Uint8Array(body))
  })

  const deleteObject = Effect.fn("S3.deleteObject")(function* (bucket: string, key: string) {
    const objects = yield* bucketOf("DeleteObject", bucket, `${bucket}/${key}`)
    objects.delete(key)
  })

  const listObjects = Effect.fn("S3.listObjects")(function* (bucket: string, prefix: string) {
    const objects = yield* bucketOf("ListObjects", bucket, `${bucket}/${prefix}`)
    return [...objects]
      .filter(([key]) => key.startsWith(prefix))
      .sort(([a], [b]) => compareS3Keys(a, b))
      .map(([key, body]): S3ObjectSummary => ({ key, size: body.byteLength }))
  })

  const createBucket = (bucket: string, _region: string) =>
    Effect.sync(() => {
      if (!held.has(bucket)) held.set(bucket, new Map())
    }).pipe(Effect.withSpan("S3.createBucket"))

  const putBucketNotification = Effect.fn("S3.putBucketNotification")(function* (bucket: string, _notification: QueueNotification) {
    yield* bucketOf("PutBucketNotificationConfiguration", bucket, bucket)
  })

  return { putObject, getObject, deleteObject, listObjects, createBucket, putBucketNotification }
}

/**
 * The S3 API, as the pipeline uses it. Every operation is retried here on `s3RetrySchedule`
 * and fails with `S3Error` only once that gave up (or at once, when not retryable);
 * callers must not retry it again.
 */
export class S3 extends Context.Service<
  S3,
  {
    /** PutObject: writes `body` (bytes, or text as UTF-8) at `bucket/key`, replacing any object there. Fails with `S3Error`. */
    readonly putObject: (bucket: string, key: string, body: Uint8Array | string, contentType?: string) => Effect.Effect<void, S3Error>
    /** GetObject: the object's bytes, or `None` when no object has that key. Fails with `S3Error`. */
    readonly getObject: (bucket: string, key: string) => Effect.Effect<Option.Option<Uint8Array>, S3Error>
    /** DeleteObject: removes `bucket/key`; succeeds also when there was no such object. Fails with `S3Error`. */
    readonly deleteObject: (bucket: string, key: string) => Effect.Effect<void, S3Error>
    /**
     * Every page of a listing: the key and size (bytes) of each object under `prefix`, in
     * key order. Each page is one call (retried on its own). Fails with `S3Error`.
     */
    readonly listObjects: (bucket: string, prefix: string) => Effect.Effect<ReadonlyArray<S3ObjectSummary>, S3Error>
    /**
     * CreateBucket of `bucket` in `region` (its location constraint, none in us-east-1);
     * succeeds also when this account already owns it (BucketAlreadyOwnedByYou, or
     * BucketAlreadyExists of a bucket HeadBucket may read, as s3rver answers). Fails with
     * `S3Error` (a name taken by another account: BucketAlreadyExists, not retryable).
     */
    readonly createBucket: (bucket: string, region: string) => Effect.Effect<void, S3Error>
    /**
     * PutBucketNotificationConfiguration: `bucket`'s event notifications become exactly
     * `notification` (one queue configuration; any other notification of the bucket is
     * replaced). Idempotent. Fails with `S3Error`.
     */
    readonly putBucketNotification: (bucket: string, notification: QueueNotification) => Effect.Effect<void, S3Error>
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

  /**
   * An in-memory S3 for tests: bucket → key → bytes, fresh at each build of the layer, with
   * the (empty) buckets `options.buckets`. Answers as the real layer does on s3rver (checked
   * by packages/local-stack/test/FakesContract.integration.test.ts): `putObject` stores a
   * copy of the bytes (text as UTF-8), replacing any object at the key (the content type is
   * accepted and not kept: nothing reads it back); `getObject` answers a copy, or `None` for
   * a missing key; `deleteObject` succeeds also for a missing key; `listObjects` answers
   * every object whose key starts with `prefix`, in S3's key order (`compareS3Keys`), with
   * its size in bytes; `createBucket` adds an empty bucket unless it exists;
   * `putBucketNotification` only checks that the bucket exists (nothing is notified).
   * Nothing is retryable and nothing is retried. Fails with the
   * non-retryable `S3Error` the real layer gives for a missing bucket (`describeS3Error`:
   * "S3 bucket <name> does not exist at in-memory S3; …") on any call to a bucket not in
   * `options.buckets`.
   */
  static readonly layerTest = (options: { readonly buckets: ReadonlyArray<string> }): Layer.Layer<S3> =>
    Layer.effect(S3, Effect.sync(() => S3.of(makeInMemory(options.buckets))))
}
