/**
 * `totes-cdc status`: how far behind the pipeline is (ops' PipelineStatus.ts), from a
 * `dev` state file or the environment (the reader's, with SOURCE_CA_FILE, plus the
 * loader's warehouse settings: WAREHOUSE_URL — unset, no warehouse part —, WAREHOUSE_SCHEMA,
 * WAREHOUSE_CA_FILE, WAREHOUSE_PASSWORD_SECRET_ARN). On AWS, FIREHOSE_DELIVERY_STREAM (optional) names
 * the archive's delivery stream, whose status is reported too; a state file has none (the
 * archiver stands in for Firehose locally). `--check` prints the alerts instead (ops'
 * Alerts.ts), one line each, for cron and scripts: exit 0 when there is none, 1 when there
 * are (2 on bad input, as every command).
 */
import { readerSettings } from "@totes-cdc/cdc-reader"
import { type WarehouseSettings, warehouseSettingsConfig } from "@totes-cdc/loader"
import { deliveryStreamOption, formatStatus, gatherStatus, statusAlerts } from "@totes-cdc/ops"
import { Clock, Console, Effect, Option, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import { describeConfigError, UsageError } from "./Errors.ts"
import { readerSettingsFromState, statusOptionsFromState, warehouseSettingsFromState } from "./LocalSettings.ts"
import { readStateFile, stateFileFlag } from "./StateFile.ts"

/** `status --check` found alerts (already printed); exit code 1. */
export class StatusAlerts extends Schema.TaggedError<StatusAlerts>()("StatusAlerts", { message: Schema.String }) {}

export const statusCommand = Command.make(
  "status",
  {
    stateFile: stateFileFlag,
    json: Flag.Boolean("json").pipe(Flag.withDescription("print the report (with --check: the alerts) as JSON"), Flag.withDefault(false)),
    check: Flag.Boolean("check").pipe(
      Flag.withDescription("print only the alerts, one line each (none: \"OK: no alert\"); exit 1 when there is any, for cron and scripts"),
      Flag.withDefault(false)
    )
  },
  ({ stateFile, json, check }) =>
    Effect.gen(function* () {
      const usage = (error: { readonly message: string }) => new UsageError({ message: describeConfigError(error.message) })
      const { settings, warehouse, options } = Option.isSome(stateFile)
        ? yield* readStateFile(stateFile.value).pipe(
            Effect.map((state) => ({
              settings: readerSettingsFromState(state),
              warehouse: warehouseSettingsFromState(state) as WarehouseSettings | undefined,
              options: statusOptionsFromState(state)
            }))
          )
        : {
            settings: yield* Effect.mapError(readerSettings, usage),
            warehouse: process.env.WAREHOUSE_URL === undefined || process.env.WAREHOUSE_URL === "" ? undefined : yield* Effect.mapError(warehouseSettingsConfig, usage),
            options: deliveryStreamOption(process.env.FIREHOSE_DELIVERY_STREAM)
          }
      const report = yield* gatherStatus(settings, warehouse, options)
      if (!check) return yield* Console.log(json ? JSON.stringify(report, null, 2) : formatStatus(report).join("\n"))
      const alerts = statusAlerts(report, yield* Clock.currentTimeMillis)
      yield* Console.log(json ? JSON.stringify(alerts, null, 2) : alerts.length === 0 ? "OK: no alert" : alerts.map((alert) => `ALERT ${alert.id}: ${alert.message}`).join("\n"))
      if (alerts.length > 0) return yield* new StatusAlerts({ message: `status --check: ${alerts.length} alert${alerts.length === 1 ? "" : "s"}` })
    })
).pipe(Command.withDescription("Show replication slot lag, the reader's throughput and lag, the Kinesis stream and Firehose delivery stream, dead letters and warehouse freshness"))
