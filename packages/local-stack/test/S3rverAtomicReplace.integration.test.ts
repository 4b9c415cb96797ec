/**
 * The local stack's s3rver replaces an object atomically, as S3 does: a GET that
 * overlaps a PUT of the same key answers the whole old object or the whole new one,
 * with that object's Content-Length and ETag — never an empty or partly written body,
 * nor one body with another's headers. The reader state, checkpoints, join state and
 * verify rewrite one key in place and rely on this.
 *
 * One fiber rewrites one key (through the pipeline's S3 adapter) with 1 MiB JSON bodies
 * of distinct content while another reads it in a loop; both loops are bounded by their
 * iteration counts. The reader speaks plain HTTP with `Connection: close`, so it sees
 * exactly what s3rver answers: no SDK retry hides a short body, and a body shorter than
 * its Content-Length shows at once as a closed socket rather than as a keep-alive stall.
 * A second test checks that the other object calls the store overrides answer as before.
 */
import { expect, layer } from "@effect/vitest"
import { CopyObjectCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsCommand, PutObjectCommand } from "@aws-sdk/client-s3"
import { makeS3Client, S3 } from "@totes-cdc/platform"
import { freshBucket } from "../src/testing/index.ts"
import { Effect } from "effect"
import { createHash } from "node:crypto"
import { request } from "node:http"
import { LocalStack } from "../src/LocalStack.ts"

const KEY = "state/reader/state.json"
const WRITES = 100
const READS = 100
const FILL_BYTES = 1024 * 1024

/** Body of version `n`: valid JSON, about 1 MiB, different for every `n`. */
const body = (n: number) => JSON.stringify({ version: n, fill: String.fromCharCode(97 + (n % 26)).repeat(FILL_BYTES) })

interface Answer {
  readonly status: number
  readonly contentLength: number
  readonly etag: string
  readonly bytes: Buffer
  /** Whether the whole message arrived (node's `IncomingMessage.complete`). */
  readonly complete: boolean
}

/** One unsigned GET of `url` on a connection of its own (s3rver serves anonymous requests). */
const get = (url: string) =>
  new Promise<Answer>((resolve, reject) => {
    const req = request(url, { agent: false, headers: { connection: "close" } }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (chunk: Buffer) => chunks.push(chunk))
      res.on("close", () =>
        resolve({
          status: res.statusCode ?? 0,
          contentLength: Number(res.headers["content-length"]),
          etag: res.headers.etag ?? "",
          bytes: Buffer.concat(chunks),
          complete: res.complete
        })
      )
    })
    req.on("error", reject)
    req.end()
  })

/** What one GET saw: "ok" (a whole written body with its own headers) or the fault. */
const classify = (answer: Answer): string => {
  if (answer.status !== 200) return `status ${answer.status}`
  if (!answer.complete) return `incomplete: ${answer.bytes.length} of ${answer.contentLength} bytes`
  if (answer.bytes.length !== answer.contentLength) return `Content-Length ${answer.contentLength} for ${answer.bytes.length} bytes`
  const text = answer.bytes.toString("utf8")
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return `not JSON (${answer.bytes.length} bytes)`
  }
  const version = (parsed as { version?: unknown }).version
  if (typeof version !== "number" || !Number.isInteger(version) || version < 0 || version > WRITES) return "JSON of no written version"
  if (text !== body(version)) return `version ${version} with a different body`
  const md5 = JSON.stringify(createHash("md5").update(answer.bytes).digest("hex"))
  return answer.etag === md5 ? "ok" : `ETag ${answer.etag} of another body than version ${version}`
}

/** Rewrites KEY WRITES times while reading it READS times; answers what the faulty GETs saw. */
const overlapPutsAndGets = (bucket: string, objectUrl: string) =>
  Effect.gen(function* () {
    const s3 = yield* S3
    yield* s3.putObject(bucket, KEY, body(0), "application/json")
    const writer = Effect.gen(function* () {
      for (let n = 1; n <= WRITES; n++) yield* s3.putObject(bucket, KEY, body(n), "application/json")
    })
    const reader = Effect.gen(function* () {
      const faults: Array<string> = []
      for (let i = 0; i < READS; i++) {
        const seen = yield* Effect.tryPromise(() => get(objectUrl)).pipe(
          Effect.map(classify),
          Effect.catch((error) => Effect.succeed(`GET failed: ${String(error.cause)}`))
        )
        if (seen !== "ok") faults.push(seen)
      }
      return faults
    })
    const [, faults] = yield* Effect.all([writer, reader], { concurrency: 2 })
    return faults
  })

layer(LocalStack.layer(), { excludeTestServices: true })("s3rver object replacement", (it) => {
  it.effect("a GET overlapping PUTs of the same key sees a whole written body with its own headers, every time", () =>
    Effect.gen(function* () {
      const stack = yield* LocalStack
      const bucket = yield* freshBucket("atomic-replace")
      const faults = yield* overlapPutsAndGets(bucket, `${stack.s3.endpoint}/${bucket}/${KEY}`).pipe(Effect.provide(S3.layer(stack.s3)))
      expect(faults, `${faults.length} of ${READS} GETs saw a partial or mismatched object`).toEqual([])
    })
  )

  it.effect("HEAD, ranged GET, copy, listing and delete answer as s3rver's own store did", () =>
    Effect.gen(function* () {
      const stack = yield* LocalStack
      const Bucket = yield* freshBucket("store-calls")
      const client = yield* Effect.acquireRelease(
        Effect.sync(() => makeS3Client(stack.s3)),
        (c) => Effect.sync(() => c.destroy())
      )
      const text = (key: string) =>
        Effect.promise(() => client.send(new GetObjectCommand({ Bucket, Key: key })).then((o) => o.Body?.transformToString() ?? ""))
      const keys = () =>
        Effect.promise(() => client.send(new ListObjectsCommand({ Bucket })).then((l) => (l.Contents ?? []).map((o) => o.Key).sort()))

      yield* Effect.promise(() => client.send(new PutObjectCommand({ Bucket, Key: "a.txt", Body: "hello world", ContentType: "text/plain", Metadata: { origin: "test" } })))
      const head = yield* Effect.promise(() => client.send(new HeadObjectCommand({ Bucket, Key: "a.txt" })))
      // md5("hello world"), as `printf 'hello world' | md5sum` prints it.
      expect([head.ContentLength, head.ETag, head.ContentType, head.Metadata]).toEqual([11, '"5eb63bbbe01eeed093cb22bb8f5acdc3"', "text/plain", { origin: "test" }])

      const part = yield* Effect.promise(() => client.send(new GetObjectCommand({ Bucket, Key: "a.txt", Range: "bytes=6-10" })))
      expect([yield* Effect.promise(() => part.Body?.transformToString() ?? Promise.resolve("")), part.ContentRange]).toEqual(["world", "bytes 6-10/11"])

      yield* Effect.promise(() => client.send(new CopyObjectCommand({ Bucket, Key: "dir/b.txt", CopySource: `${Bucket}/a.txt` })))
      const copied = yield* Effect.promise(() => client.send(new HeadObjectCommand({ Bucket, Key: "dir/b.txt" })))
      expect([yield* text("dir/b.txt"), copied.ContentType, copied.Metadata, copied.ETag]).toEqual(["hello world", "text/plain", { origin: "test" }, head.ETag])

      yield* Effect.promise(() => client.send(new CopyObjectCommand({ Bucket, Key: "a.txt", CopySource: `${Bucket}/a.txt`, MetadataDirective: "REPLACE", ContentType: "application/json" })))
      const replaced = yield* Effect.promise(() => client.send(new HeadObjectCommand({ Bucket, Key: "a.txt" })))
      expect([yield* text("a.txt"), replaced.ContentType, replaced.ETag]).toEqual(["hello world", "application/json", head.ETag])

      yield* Effect.promise(() => client.send(new PutObjectCommand({ Bucket, Key: "empty", Body: "", ContentLength: 0 })))
      expect([yield* text("empty"), yield* keys()]).toEqual(["", ["a.txt", "dir/b.txt", "empty"]])

      yield* Effect.promise(() => client.send(new DeleteObjectCommand({ Bucket, Key: "dir/b.txt" })))
      const gone = yield* Effect.promise(() => client.send(new GetObjectCommand({ Bucket, Key: "dir/b.txt" })).then(() => "found", (error: Error) => error.name))
      expect([gone, yield* keys()]).toEqual(["NoSuchKey", ["a.txt", "empty"]])
    })
  )
})
