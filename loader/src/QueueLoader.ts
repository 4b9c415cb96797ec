/**
 * The standalone loader fed by SQS, as on AWS: `totes-cdc loader` with LOADER_QUEUE_URL
 * consumes the queue of the processed bucket's `s3:ObjectCreated:*` notifications (made by
 * `totes-cdc init-localstack`, or infra's LoaderQueue.ts) instead of polling the bucket's
 * listing. Each batch goes through `loadSqsEvent`, the Lambda handler's own code.
 *
 * Invariants:
 *  - The queue is checked before the warehouse is touched: a URL naming no queue (or one
 *    the credentials may not read) ends the program at once with the SQS error's one line.
 *  - A batch's messages are deleted except those `loadSqsEvent` lists in
 *    `batchItemFailures` (their micro-batch failed and was rolled back); a batch that fails
 *    as a whole (a message that is no S3 notification, another bucket) deletes nothing.
 *    What is not deleted is received again after the queue's visibility timeout, and after
 *    its `maxReceiveCount` receives SQS moves it to the dead-letter queue — Lambda's
 *    semantics for an SQS event source with partial batch responses.
 *  - Re-delivered objects are no-ops (the loader records every applied object), so a crash
 *    between loading and deleting loads nothing twice.
 *  - Interrupted (SIGINT, SIGTERM): receiving stops at once and a micro-batch being applied
 *    is rolled back; its messages stay on the queue.
 */
import { S3, SecretsManager, Sqs, WarehouseDb } from "@totes-cdc/platform"
import { Effect, Layer } from "effect"
import { type LoaderQueueSettings, type LoaderSettings, loadSqsEvent, startLoader } from "./LoaderProgram.ts"
import { warehouseLayer } from "./WarehouseConnection.ts"

/** How the queue is received: SQS's largest batch (10 messages) and longest poll (20 s). */
export const QUEUE_RECEIVE = { batchSize: 10, waitTimeSeconds: 20 } as const

/**
 * `totes-cdc loader` in queue mode: checks the queue, migrates the warehouse, then loads
 * what the queue announces until interrupted (module invariants). Fails with the queue's
 * `SqsError` (wrong URL, refused, or the queue unreachable for about 4 minutes) or the
 * warehouse's errors at start.
 */
export const runQueueLoaderProgram = (settings: LoaderSettings, queue: LoaderQueueSettings) =>
  Effect.gen(function* () {
    const sqs = yield* Sqs
    // Before the warehouse layer is built (it connects): a wrong URL is the one thing said.
    yield* sqs.describeQueue(queue.url)
    return yield* Effect.scoped(
      Effect.gen(function* () {
        const loader = yield* startLoader(yield* WarehouseDb, settings, settings.warehouse.schema)
        yield* Effect.logInfo(`loading the objects announced on ${queue.url}`)
        return yield* sqs.consume(queue.url, QUEUE_RECEIVE, (messages) =>
          loadSqsEvent(loader, settings.processedBucket, { Records: messages.map(({ messageId, body }) => ({ messageId, body })) }).pipe(
            Effect.flatMap(({ response, reports }) => {
              const failed = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier))
              const applied = reports.reduce((sum, { report }) => sum + report.applied, 0)
              const rows = reports.reduce((sum, { report }) => sum + report.rows, 0)
              const line =
                applied === 0 && failed.size === 0
                  ? Effect.void
                  : Effect.logInfo(
                      `loaded ${applied} objects (${rows.toLocaleString("en-GB")} rows) from ${messages.length} messages${failed.size === 0 ? "" : `; ${failed.size} messages stay on the queue to be retried`}`
                    )
              return line.pipe(Effect.as(messages.filter((message) => !failed.has(message.messageId)).map((message) => message.messageId)))
            })
          )
        )
      })
    ).pipe(
      Effect.provide(
        Layer.mergeAll(
          S3.layer(settings.s3),
          warehouseLayer(settings.warehouse, { applicationName: "totes-cdc-loader" }).pipe(Layer.provide(SecretsManager.layer(settings.warehouse.region)))
        )
      )
    )
  }).pipe(Effect.provide(Sqs.layer(queue.sqs)), Effect.annotateLogs({ component: "loader" }))
