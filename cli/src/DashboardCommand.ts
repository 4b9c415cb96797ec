/**
 * `totes-cdc dashboard`: the live dashboard (ops' Dashboard.ts) for a running `dev`
 * (`--state-file`) or a deployment (the components' environment: SOURCE_URL,
 * KINESIS_STREAM, INGESTION_BUCKET, WAREHOUSE_URL, optional SOURCE_CA_FILE,
 * WAREHOUSE_CA_FILE, WAREHOUSE_SCHEMA, WAREHOUSE_PASSWORD_SECRET_ARN and
 * FIREHOSE_DELIVERY_STREAM). Prints its URL and
 * serves until Ctrl-C.
 */
import { readerSettings } from "@totes-cdc/cdc-reader"
import { warehouseSettingsConfig } from "@totes-cdc/loader"
import { deliveryStreamOption, startDashboard } from "@totes-cdc/ops"
import { Console, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { describeConfigError, UsageError } from "./Errors.ts"
import { readerSettingsFromState, statusOptionsFromState, warehouseSettingsFromState } from "./LocalSettings.ts"
import { readStateFile, stateFileFlag } from "./StateFile.ts"

/** `--port`: the dashboard's port (`dev` uses the same default). */
export const DASHBOARD_PORT = 8080

export const dashboardCommand = Command.make(
  "dashboard",
  {
    stateFile: stateFileFlag,
    port: Flag.Int("port").pipe(Flag.withDescription(`port to serve on (default ${DASHBOARD_PORT}; 0 = any free port)`), Flag.withDefault(DASHBOARD_PORT)),
    host: Flag.String("host").pipe(Flag.withDescription("address to bind (default 127.0.0.1: this machine only; the page has no login)"), Flag.withDefault("127.0.0.1"))
  },
  ({ stateFile, port, host }) =>
    Effect.scoped(
      Effect.gen(function* () {
        if (!Number.isInteger(port) || port < 0 || port > 65_535) return yield* new UsageError({ message: `--port ${port}: give a port from 0 to 65535` })
        const target = Option.isSome(stateFile)
          ? yield* readStateFile(stateFile.value).pipe(
              Effect.map((state) => ({ settings: readerSettingsFromState(state), warehouse: warehouseSettingsFromState(state), status: statusOptionsFromState(state) }))
            )
          : yield* Effect.gen(function* () {
              const usage = (error: { readonly message: string }) => new UsageError({ message: describeConfigError(error.message) })
              const settings = yield* Effect.mapError(readerSettings, usage)
              if (process.env.WAREHOUSE_URL === undefined || process.env.WAREHOUSE_URL === "") {
                return yield* new UsageError({ message: "WAREHOUSE_URL is not set: the dashboard reads freshness and the analysts' questions from the warehouse; set it, or pass --state-file" })
              }
              return { settings, warehouse: yield* Effect.mapError(warehouseSettingsConfig, usage), status: deliveryStreamOption(process.env.FIREHOSE_DELIVERY_STREAM) }
            })
        const url = yield* startDashboard({ ...target, port, host })
        yield* Console.log(`totes-cdc dashboard: ${url}  (Prometheus: ${url}metrics) — Ctrl-C stops it`)
        return yield* Effect.never
      })
    )
).pipe(
  Command.withDescription(
    "Serve the live dashboard: slot lag and retained WAL, throughput, commit→warehouse latency, freshness, dead letters, snapshot progress, alerts, the analysts' questions; and /metrics for Prometheus"
  )
)
