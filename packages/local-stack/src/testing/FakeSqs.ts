/**
 * A fake Amazon SQS for tests (no SQS emulator runs here): the SQS JSON protocol, as
 * @aws-sdk/client-sqs 3 speaks it, over FakeAwsJsonServer.ts, holding standard queues in
 * memory — enough of SQS for the platform's `Sqs` service and sqs-consumer: GetQueueUrl,
 * CreateQueue, Get/SetQueueAttributes, SendMessage, ReceiveMessage (long polls, visibility
 * timeouts, ApproximateReceiveCount, redrive), DeleteMessage(Batch),
 * ChangeMessageVisibility(Batch).
 *
 * Invariants (SQS's, for what the tests rely on):
 *  - A received message is invisible for the call's VisibilityTimeout, else the queue's
 *    (default 30 s), then visible again with its receive count kept; deleting it with its
 *    latest receipt handle removes it for good.
 *  - With a RedrivePolicy, a message received `maxReceiveCount` times is moved to the
 *    dead-letter queue (by ARN) instead of being handed out again.
 *  - A long poll answers as soon as a message is visible, or after WaitTimeSeconds with
 *    none; an aborted one is dropped. Message bodies carry their MD5, which the SDK checks.
 *  - An unknown queue is QueueDoesNotExist with the query code
 *    AWS.SimpleQueueService.NonExistentQueue, as SQS answers.
 *  - Queue URLs are `<endpoint>/000000000000/<name>`, ARNs `arn:aws:sqs:eu-west-2:000000000000:<name>`.
 */
import { Effect, type Scope } from "effect"
import { createHash, randomUUID } from "node:crypto"
import { AwsJsonFault, type AwsJsonServer, startAwsJsonServer } from "./FakeAwsJsonServer.ts"

/** The account the fake files every queue under. */
export const FAKE_SQS_ACCOUNT = "000000000000"

interface HeldMessage {
  readonly id: string
  readonly body: string
  receiveCount: number
  /** Epoch ms from which it can be received. */
  visibleAt: number
  receipt: string | undefined
}

interface HeldQueue {
  readonly name: string
  readonly url: string
  readonly arn: string
  readonly attributes: Record<string, string>
  messages: Array<HeldMessage>
}

/** A message still on a queue, as a test sees it. */
export interface PendingMessage {
  readonly id: string
  readonly body: string
  readonly receiveCount: number
}

/** A running fake SQS: the server, and direct access to its queues for the test's own setup and checks. */
export interface FakeSqs extends AwsJsonServer {
  /** The URL of queue `name` (whether or not it exists). */
  readonly queueUrl: (name: string) => string
  /** Creates queue `name` (unless it exists) with `attributes`; answers its URL. */
  readonly createQueue: (name: string, attributes?: Readonly<Record<string, string>>) => string
  /** Puts a message on queue `name`; answers its id. Throws for an unknown queue. */
  readonly send: (name: string, body: string) => string
  /** Messages still on queue `name` (visible or not), in send order; [] for an unknown queue. */
  readonly pending: (name: string) => ReadonlyArray<PendingMessage>
  /** Queue `name`'s attributes (the live record: a test may change them), or undefined when it does not exist. */
  readonly attributes: (name: string) => Record<string, string> | undefined
  /** ReceiveMessage calls being answered now (a long poll counts until it answers or its client goes away). */
  readonly receiving: () => number
}

const md5 = (text: string) => createHash("md5").update(text, "utf8").digest("hex")

const missing = () =>
  new AwsJsonFault("QueueDoesNotExist", "The specified queue does not exist.", { queryError: "AWS.SimpleQueueService.NonExistentQueue;Sender" })

/** Starts a fake SQS (module invariants); stopped when the scope closes. */
export const startFakeSqs: Effect.Effect<FakeSqs, never, Scope.Scope> = Effect.gen(function* () {
  const queues = new Map<string, HeldQueue>()
  let endpoint = ""
  const urlOf = (name: string) => `${endpoint}/${FAKE_SQS_ACCOUNT}/${name}`
  const create = (name: string, attributes: Readonly<Record<string, string>> = {}) => {
    const existing = queues.get(name)
    if (existing !== undefined) return existing.url
    const queue: HeldQueue = { name, url: urlOf(name), arn: `arn:aws:sqs:eu-west-2:${FAKE_SQS_ACCOUNT}:${name}`, attributes: { ...attributes }, messages: [] }
    queues.set(name, queue)
    return queue.url
  }
  /** The queue a QueueUrl names: by its last path segment, whatever its host (as SQS resolves it). */
  const byUrl = (url: unknown) => {
    const name = typeof url === "string" ? url.split("/").at(-1) : undefined
    const queue = name === undefined ? undefined : queues.get(name)
    if (queue === undefined || !String(url).includes(`/${FAKE_SQS_ACCOUNT}/`)) throw missing()
    return queue
  }
  const byArn = (arn: string) => [...queues.values()].find((queue) => queue.arn === arn)

  /** Visible messages of `queue` now, after moving those past their redrive limit to the dead-letter queue. */
  const visible = (queue: HeldQueue, now: number) => {
    const policy = queue.attributes["RedrivePolicy"]
    if (policy !== undefined) {
      const { deadLetterTargetArn, maxReceiveCount } = JSON.parse(policy) as { deadLetterTargetArn: string; maxReceiveCount: number | string }
      const target = byArn(deadLetterTargetArn)
      const limit = Number(maxReceiveCount)
      const expired = queue.messages.filter((m) => m.visibleAt <= now && m.receiveCount >= limit)
      if (target !== undefined && expired.length > 0) {
        queue.messages = queue.messages.filter((m) => !expired.includes(m))
        for (const m of expired) target.messages.push({ ...m, receipt: undefined, visibleAt: now })
      }
    }
    return queue.messages.filter((m) => m.visibleAt <= now)
  }

  let receiving = 0
  const receive = async (body: Record<string, unknown>, signal: AbortSignal) => {
    receiving += 1
    try {
      return await receiveNow(body, signal)
    } finally {
      receiving -= 1
    }
  }

  const receiveNow = async (body: Record<string, unknown>, signal: AbortSignal) => {
    const queue = byUrl(body["QueueUrl"])
    const max = Number(body["MaxNumberOfMessages"] ?? 1)
    const waitMs = Number(body["WaitTimeSeconds"] ?? 0) * 1000
    const visibilityMs = Number(body["VisibilityTimeout"] ?? queue.attributes["VisibilityTimeout"] ?? 30) * 1000
    const deadline = Date.now() + waitMs
    for (;;) {
      if (signal.aborted) return { Messages: [] }
      const now = Date.now()
      const ready = visible(queue, now).slice(0, max)
      if (ready.length > 0 || now >= deadline) {
        return {
          Messages: ready.map((message) => {
            message.receiveCount += 1
            message.visibleAt = now + visibilityMs
            message.receipt = randomUUID()
            return {
              MessageId: message.id,
              ReceiptHandle: message.receipt,
              Body: message.body,
              MD5OfBody: md5(message.body),
              Attributes: { ApproximateReceiveCount: String(message.receiveCount) }
            }
          })
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }

  const remove = (queue: HeldQueue, receipt: unknown) => {
    const before = queue.messages.length
    queue.messages = queue.messages.filter((m) => m.receipt === undefined || m.receipt !== receipt)
    return queue.messages.length < before
  }

  const changeVisibility = (queue: HeldQueue, receipt: unknown, seconds: unknown) => {
    const message = queue.messages.find((m) => m.receipt !== undefined && m.receipt === receipt)
    if (message !== undefined) message.visibleAt = Date.now() + Number(seconds) * 1000
  }

  const server = yield* startAwsJsonServer("com.amazonaws.sqs", async ({ target, body }, signal) => {
    switch (target) {
      case "AmazonSQS.GetQueueUrl": {
        const queue = queues.get(String(body["QueueName"]))
        if (queue === undefined) throw missing()
        return { QueueUrl: queue.url }
      }
      case "AmazonSQS.CreateQueue":
        return { QueueUrl: create(String(body["QueueName"]), (body["Attributes"] ?? {}) as Record<string, string>) }
      case "AmazonSQS.GetQueueAttributes": {
        const queue = byUrl(body["QueueUrl"])
        return { Attributes: { ...queue.attributes, QueueArn: queue.arn, ApproximateNumberOfMessages: String(queue.messages.length) } }
      }
      case "AmazonSQS.SetQueueAttributes": {
        const queue = byUrl(body["QueueUrl"])
        Object.assign(queue.attributes, body["Attributes"] ?? {})
        return {}
      }
      case "AmazonSQS.SendMessage": {
        const queue = byUrl(body["QueueUrl"])
        const text = String(body["MessageBody"])
        const id = randomUUID()
        queue.messages.push({ id, body: text, receiveCount: 0, visibleAt: 0, receipt: undefined })
        return { MessageId: id, MD5OfMessageBody: md5(text) }
      }
      case "AmazonSQS.ReceiveMessage":
        return receive(body, signal)
      case "AmazonSQS.DeleteMessage":
        remove(byUrl(body["QueueUrl"]), body["ReceiptHandle"])
        return {}
      case "AmazonSQS.DeleteMessageBatch": {
        const queue = byUrl(body["QueueUrl"])
        const entries = (body["Entries"] ?? []) as Array<{ Id: string; ReceiptHandle: string }>
        for (const entry of entries) remove(queue, entry.ReceiptHandle)
        return { Successful: entries.map((entry) => ({ Id: entry.Id })), Failed: [] }
      }
      case "AmazonSQS.ChangeMessageVisibility":
        changeVisibility(byUrl(body["QueueUrl"]), body["ReceiptHandle"], body["VisibilityTimeout"])
        return {}
      case "AmazonSQS.ChangeMessageVisibilityBatch": {
        const queue = byUrl(body["QueueUrl"])
        const entries = (body["Entries"] ?? []) as Array<{ Id: string; ReceiptHandle: string; VisibilityTimeout: number }>
        for (const entry of entries) changeVisibility(queue, entry.ReceiptHandle, entry.VisibilityTimeout)
        return { Successful: entries.map((entry) => ({ Id: entry.Id })), Failed: [] }
      }
      default:
        throw new AwsJsonFault("InvalidAction", `The action ${target} is not valid for this endpoint.`)
    }
  })
  endpoint = server.endpoint
  return {
    ...server,
    queueUrl: urlOf,
    createQueue: create,
    send: (name, body) => {
      const queue = queues.get(name)
      if (queue === undefined) throw new Error(`fake SQS: no queue ${name}`)
      const id = randomUUID()
      queue.messages.push({ id, body, receiveCount: 0, visibleAt: 0, receipt: undefined })
      return id
    },
    pending: (name) => (queues.get(name)?.messages ?? []).map(({ id, body, receiveCount }) => ({ id, body, receiveCount })),
    attributes: (name) => queues.get(name)?.attributes,
    receiving: () => receiving
  }
})
