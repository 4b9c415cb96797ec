/**
 * `totes-cdc status`: how far behind the pipeline is (ops' PipelineStatus.ts), from a
 * `dev` state file or the environment. On AWS, FIREHOSE_DELIVERY_STREAM (optional) names
 * the archive's delivery stream, whose status is reported too; a state file has none (the
 * archiver stands in for Firehose locally).
 */
import { readerSettings } from "@totes-cdc/cdc-reader"
import { formatStatus, gatherStatus } from "@totes-cdc/ops"
import { Console, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { describeConfigError, UsageError } from "./Errors.ts"
import { readerSettingsFromState } from "./LocalSettings.ts"
import { readStateFile, stateFileFlag } from "./StateFile.ts"

export const statusCommand = Command.make(
  "status",
  {
    stateFile: stateFileFlag,
    json: Flag.Boolean("json").pipe(Flag.withDescription("print the report as JSON"), Flag.withDefault(false))
  },
  ({ stateFile, json }) =>
    Effect.gen(function* () {
      const { settings, warehouseUrl, deliveryStream } = Option.isSome(stateFile)
        ? yield* readStateFile(stateFile.value).pipe(
            Effect.map((state) => ({ settings: readerSettingsFromState(state), warehouseUrl: state.warehouse.url as string | undefined, deliveryStream: undefined }))
          )
        : {
            settings: yield* Effect.mapError(readerSettings, (error) => new UsageError({ message: describeConfigError(error.message) })),
            warehouseUrl: process.env.WAREHOUSE_URL,
            deliveryStream: process.env.FIREHOSE_DELIVERY_STREAM === "" ? undefined : process.env.FIREHOSE_DELIVERY_STREAM
          }
      const report = yield* gatherStatus(settings, warehouseUrl, deliveryStream === undefined ? {} : { deliveryStream })
      yield* Console.log(json ? JSON.stringify(report, null, 2) : formatStatus(report).join("\n"))
    })
).pipe(Command.withDescription("Show replication slot lag, the reader's throughput and lag, the Kinesis stream and Firehose delivery stream, dead letters and warehouse freshness"))
