/**
 * The platform's `Sqs` service with the real AWS SDK (and sqs-consumer) against FakeSqs, a
 * local server speaking the SQS JSON protocol (no SQS emulator runs here): `ensureQueue`
 * is idempotent and converges, a wrong queue URL is one line that says so, and `consume`
 * deletes exactly what its handler acknowledges, leaves the rest to come back (and, past
 * the redrive limit, on the dead-letter queue), stops at once when interrupted in a long
 * poll, and ends on a queue that does not exist.
 */
import { describe, expect, it } from "@effect/vitest"
import { type QueueMessage, Sqs, SqsError } from "@totes-cdc/platform"
import { Effect, Exit, Fiber, Logger, Schedule } from "effect"
import { type FakeSqs, quietly, startFakeSqs } from "../src/testing/index.ts"

const credentials = { region: "eu-west-2", accessKeyId: "test", secretAccessKey: "test" }

/** The real layer on `fake`'s endpoint. */
const sqsOn = (fake: FakeSqs) => Sqs.layer({ ...credentials, endpoint: fake.endpoint })

/** Polls `check` every 20 ms until it holds (a condition, not a fixed wait), at most 20 s. */
const until = (check: () => boolean) =>
  Effect.sync(check).pipe(Effect.repeat({ until: (ok) => ok, schedule: Schedule.spaced("20 millis") }), Effect.timeout("20 seconds"))

describe("Sqs on a fake SQS", () => {
  it.live("ensureQueue creates a queue with its attributes, and a second run keeps the URL and converges the attributes", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const fake = yield* startFakeSqs
        yield* Effect.gen(function* () {
        const sqs = yield* Sqs
        const dlq = yield* sqs.ensureQueue("loader-dead-letters", { visibilityTimeoutSeconds: 30, retentionSeconds: 1_209_600 })
        const settings = {
          visibilityTimeoutSeconds: 721,
          retentionSeconds: 1_209_600,
          deadLetter: { queueArn: dlq.arn, maxReceiveCount: 5 },
          s3NotificationsFrom: "processed"
        }
        const first = yield* sqs.ensureQueue("loader", settings)
        expect(first).toEqual({ url: fake.queueUrl("loader"), arn: "arn:aws:sqs:eu-west-2:000000000000:loader" })
        const attributes = fake.attributes("loader")!
        expect(attributes).toMatchObject({ VisibilityTimeout: "721", MessageRetentionPeriod: "1209600", SqsManagedSseEnabled: "true" })
        expect(JSON.parse(attributes["RedrivePolicy"]!)).toEqual({ deadLetterTargetArn: dlq.arn, maxReceiveCount: 5 })
        expect(JSON.parse(attributes["Policy"]!).Statement[0]).toMatchObject({
          Principal: { Service: "s3.amazonaws.com" },
          Action: "sqs:SendMessage",
          Resource: first.arn,
          Condition: { ArnEquals: { "aws:SourceArn": "arn:aws:s3:::processed" } }
        })
        // Changed by hand, then ensured again: same queue, wanted attributes back, no second CreateQueue.
        fake.attributes("loader")!["VisibilityTimeout"] = "5"
        const creates = () => fake.calls.filter((c) => c.target === "AmazonSQS.CreateQueue").length
        const createsBefore = creates()
        expect(yield* sqs.ensureQueue("loader", settings)).toEqual(first)
        expect(creates()).toBe(createsBefore)
        expect(fake.attributes("loader")!["VisibilityTimeout"]).toBe("721")
        }).pipe(Effect.provide(sqsOn(fake)))
      })
    )
  )

  it.live("describeQueue of a URL naming no queue fails with one line naming it and the fix, not retryable", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const fake = yield* startFakeSqs
        const url = fake.queueUrl("nope")
        const error = yield* Effect.provide(Sqs.use((sqs) => sqs.describeQueue(url)), sqsOn(fake)).pipe(Effect.flip)
        expect(error).toBeInstanceOf(SqsError)
        expect(error.retryable).toBe(false)
        expect(error.message).toBe(
          `SQS queue ${url} does not exist at ${fake.endpoint} (The specified queue does not exist.); create it (totes-cdc init-localstack on an emulator) or fix LOADER_QUEUE_URL / AWS_REGION`
        )
        expect(error.message).not.toContain("\n")
      })
    )
  )

  it.live("consume deletes the acknowledged messages only; the others come back with their receive count, and past the redrive limit land on the dead-letter queue", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const fake = yield* startFakeSqs
        const dlqUrl = fake.createQueue("q-dlq")
        const dlqArn = "arn:aws:sqs:eu-west-2:000000000000:q-dlq"
        fake.createQueue("q", { VisibilityTimeout: "1", RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 2 }) })
        const keep = fake.send("q", "keep")
        fake.send("q", "a")
        fake.send("q", "b")
        const seen: Array<QueueMessage> = []
        const handled = (messages: ReadonlyArray<QueueMessage>) =>
          Effect.sync(() => {
            seen.push(...messages)
            return messages.filter((m) => m.body !== "keep").map((m) => m.messageId)
          })
        const fiber = yield* Effect.forkChild(quietly(Effect.provide(Sqs.use((sqs) => sqs.consume(fake.queueUrl("q"), { batchSize: 10, waitTimeSeconds: 1 }, handled)), sqsOn(fake))))
        // a and b are deleted at once; "keep" is received again after its visibility timeout (1 s), then moved to the dead-letter queue.
        yield* until(() => fake.pending("q-dlq").length === 1)
        expect(fake.pending("q")).toEqual([])
        expect(fake.pending("q-dlq")).toEqual([{ id: keep, body: "keep", receiveCount: 2 }])
        expect(seen.filter((m) => m.body === "keep").map((m) => m.receiveCount)).toEqual([1, 2])
        expect(seen.filter((m) => m.body !== "keep").map((m) => [m.body, m.receiveCount])).toEqual([
          ["a", 1],
          ["b", 1]
        ])
        expect(dlqUrl).toBe(fake.queueUrl("q-dlq"))
        yield* Fiber.interrupt(fiber)
      })
    )
  )

  it.live("a handler that fails deletes nothing: the whole batch is received again", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const fake = yield* startFakeSqs
        fake.createQueue("q", { VisibilityTimeout: "1" })
        fake.send("q", "x")
        fake.send("q", "y")
        let calls = 0
        const failing = (messages: ReadonlyArray<QueueMessage>) =>
          Effect.suspend(() => {
            calls += 1
            return calls === 1 ? Effect.fail(new Error("warehouse down")) : Effect.succeed(messages.map((m) => m.messageId))
          })
        const errors: Array<string> = []
        const capture = Logger.make(({ logLevel, message }) => {
          if (logLevel === "Error") errors.push(String(Array.isArray(message) ? message.join(" ") : message))
        })
        const consuming = Sqs.use((sqs) => sqs.consume(fake.queueUrl("q"), { batchSize: 10, waitTimeSeconds: 1 }, failing))
        const fiber = yield* Effect.forkChild(consuming.pipe(Effect.provide(sqsOn(fake)), Effect.provide(Logger.layer([capture]))))
        yield* until(() => fake.pending("q").length === 0)
        expect(calls).toBe(2)
        expect(errors).toEqual([`a batch of 2 messages from ${fake.queueUrl("q")} failed; they stay on the queue: Error: warehouse down`])
        yield* Fiber.interrupt(fiber)
      })
    )
  )

  it.live("interrupting consume during a 20 s long poll returns at once, and nothing is received after", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const fake = yield* startFakeSqs
        fake.createQueue("q")
        const receives = () => fake.calls.filter((c) => c.target === "AmazonSQS.ReceiveMessage").length
        const fiber = yield* Effect.forkChild(Effect.provide(Sqs.use((sqs) => sqs.consume(fake.queueUrl("q"), { batchSize: 10, waitTimeSeconds: 20 }, () => Effect.succeed([]))), sqsOn(fake)))
        yield* until(() => receives() === 1)
        const started = Date.now()
        yield* Fiber.interrupt(fiber)
        expect(Date.now() - started).toBeLessThan(2_000)
        // The fake hears of the aborted long poll when its connection closes (in this process, a few turns later):
        // once it has, a message sent must stay on the queue.
        yield* until(() => fake.receiving() === 0)
        fake.send("q", "late")
        yield* Effect.sleep("300 millis")
        expect(receives()).toBe(1)
        expect(fake.pending("q")).toEqual([expect.objectContaining({ body: "late", receiveCount: 0 })])
      })
    )
  )

  it.live("consume of a queue that does not exist fails with the SQS error, not retrying", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const fake = yield* startFakeSqs
        const exit = yield* Effect.provide(Sqs.use((sqs) => sqs.consume(fake.queueUrl("gone"), { batchSize: 10, waitTimeSeconds: 1 }, () => Effect.succeed([]))), sqsOn(fake)).pipe(
          Effect.timeout("20 seconds"),
          Effect.exit
        )
        expect(Exit.isFailure(exit)).toBe(true)
        const error = Exit.isFailure(exit) ? exit.cause : undefined
        expect(String(error)).toContain("does not exist")
        expect(fake.calls.filter((c) => c.target === "AmazonSQS.ReceiveMessage")).toHaveLength(1)
      })
    )
  )
})
