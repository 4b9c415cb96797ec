/**
 * The S3 service's bucket calls, as the real SDK sends them (s3rver implements neither
 * notifications nor location constraints, so a local server records the requests): a
 * bucket outside us-east-1 is created with its region's LocationConstraint, one already
 * owned is not an error, and the processed bucket's notification names the queue, the
 * event and the manifests' prefix and suffix filter.
 */
import { describe, expect, it } from "@effect/vitest"
import { S3 } from "@totes-cdc/platform"
import { Effect } from "effect"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"

interface Recorded {
  readonly method: string
  readonly url: string
  readonly body: string
}

/** A server recording every request; answers BucketAlreadyOwnedByYou to a PUT of bucket `owned`, 200 otherwise. */
const recordingS3 = Effect.acquireRelease(
  Effect.promise(
    () =>
      new Promise<{ endpoint: string; requests: Array<Recorded>; close: () => Promise<void> }>((resolve) => {
        const requests: Array<Recorded> = []
        const server = createServer((request, response) => {
          let body = ""
          request.on("data", (chunk: Buffer) => (body += chunk.toString()))
          request.on("end", () => {
            requests.push({ method: request.method ?? "", url: (request.url ?? "").replace(/\/(\?|$)/, "$1"), body })
            if (request.method === "PUT" && request.url?.replace(/\/$/, "") === "/owned") {
              response.writeHead(409, { "content-type": "application/xml" })
              response.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>BucketAlreadyOwnedByYou</Code><Message>Your previous request to create the named bucket succeeded and you already own it.</Message></Error>`)
              return
            }
            response.writeHead(200)
            response.end()
          })
        })
        server.listen(0, "127.0.0.1", () =>
          resolve({
            endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
            requests,
            close: () => new Promise<void>((done) => server.close(() => done()))
          })
        )
      })
  ),
  (server) => Effect.promise(() => server.close())
)

describe("S3 bucket calls", () => {
  it.live("createBucket sends the region's location constraint and takes a bucket already owned; putBucketNotification names queue, event, prefix and suffix", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* recordingS3
        yield* Effect.gen(function* () {
          const s3 = yield* S3
          yield* s3.createBucket("ingestion", "eu-west-2")
          yield* s3.createBucket("owned", "eu-west-2")
          yield* s3.putBucketNotification("processed", { queueArn: "arn:aws:sqs:eu-west-2:000000000000:loader", events: ["s3:ObjectCreated:*"], prefix: "manifests/", suffix: ".json" })
        }).pipe(Effect.provide(S3.layer({ region: "eu-west-2", endpoint: server.endpoint, accessKeyId: "test", secretAccessKey: "test" })))
        const [ingestion, owned, notification] = server.requests
        expect([ingestion?.method, ingestion?.url]).toEqual(["PUT", "/ingestion"])
        expect(ingestion?.body).toContain("<LocationConstraint>eu-west-2</LocationConstraint>")
        expect(owned?.url).toBe("/owned")
        expect([notification?.method, notification?.url.replace(/=$/, "")]).toEqual(["PUT", "/processed?notification"])
        const xml = (notification?.body ?? "").replaceAll(/\s/g, "")
        expect(xml).toContain(
          "<QueueConfiguration><Queue>arn:aws:sqs:eu-west-2:000000000000:loader</Queue><Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>prefix</Name><Value>manifests/</Value></FilterRule><FilterRule><Name>suffix</Name><Value>.json</Value></FilterRule></S3Key></Filter></QueueConfiguration>"
        )
      })
    )
  )
})
