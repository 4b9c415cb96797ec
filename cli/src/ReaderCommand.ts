/**
 * `totes-cdc reader` (run the reader from environment settings) and
 * `totes-cdc reader slot status|drop`.
 */
import { readerSettings, dropSlotAndState, runReaderProgram, slotReport } from "@totes-cdc/cdc-reader"
import { Console, Effect } from "effect"
import { Command } from "effect/cli"
import { UsageError, describeConfigError } from "./Errors.ts"

const settings = Effect.mapError(readerSettings, (error) => new UsageError({ message: describeConfigError(error.message) }))

const ENVIRONMENT = [
  "SOURCE_URL (required), SOURCE_CA_FILE (PEM of the CA of the source's certificate: TLS verify-full),",
  "READER_SLOT (totes_cdc), READER_PUBLICATION (totes_cdc), READER_MODE (replication|poll),",
  "KINESIS_STREAM (totes-cdc-changes), INGESTION_BUCKET (totes-cdc-ingestion: reader state and dead letters),",
  "READER_STATE_PREFIX (state/cdc-reader/), READER_HEARTBEAT_MS (10000),",
  "poll mode: READER_POLL_INTERVAL_MS (1000), READER_POLL_OVERLAP_MS (5000), READER_POLL_PAGE_ROWS (5000); AWS_REGION (eu-west-2),",
  "KINESIS_ENDPOINT / S3_ENDPOINT (emulators), AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
].join(" ")

const status = Command.make("status", {}, () =>
  Effect.gen(function* () {
    const report = yield* slotReport(yield* settings)
    yield* Console.log(JSON.stringify(report, null, 2))
  })
).pipe(Command.withDescription("Show the replication slot (lag, retained WAL) and the reader's recorded snapshot"))

const drop = Command.make("drop", {}, () =>
  Effect.gen(function* () {
    const s = yield* settings
    const existed = yield* dropSlotAndState(s)
    yield* Console.log(
      `${existed ? `dropped replication slot ${s.slot}` : `no replication slot ${s.slot}`}; reader state forgotten: the next start takes a new snapshot`
    )
  })
).pipe(Command.withDescription("Drop the replication slot and forget its snapshot, so the next start re-snapshots"))

const slot = Command.make("slot").pipe(
  Command.withDescription("Inspect or drop the reader's replication slot"),
  Command.withSubcommands([status, drop])
)

export const readerCommand = Command.make("reader", {}, () =>
  Effect.gen(function* () {
    return yield* runReaderProgram(yield* settings)
  })
).pipe(
  Command.withDescription(`Run the CDC reader alone: preflight, snapshot, logical replication → Kinesis (READER_MODE=poll: polling by last_updated for read-only credentials; deletes are not seen). Environment: ${ENVIRONMENT}`),
  Command.withSubcommands([slot])
)
