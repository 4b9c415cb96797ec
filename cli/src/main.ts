/**
 * The `totes-cdc` command line (effect/cli). Every command has `--help`.
 * Exit codes: 0 done, 1 failure at run time, 2 bad input, 130 interrupted (Ctrl-C; a
 * second Ctrl-C while stopping ends it at once, SecondSignal.ts).
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Cause, Effect } from "effect"
import { Command, Flag } from "effect/cli"
import { DEFAULT_SIMULATE_RATE, dev } from "./Dev.ts"
import { archiverCommand, processorCommand } from "./ConsumerCommands.ts"
import { loaderCommand, replayCommand } from "./LoaderCommands.ts"
import { reportFailure } from "./Errors.ts"
import { initLocalStackCommand } from "./InitLocalStackCommand.ts"
import { loggingLayer } from "./Logging.ts"
import { readerCommand } from "./ReaderCommand.ts"
import { recordCommand } from "./RecordCommand.ts"
import { paceFlags, replayRecordingCommand } from "./ReplayRecordingCommand.ts"
import { exitOnSecondSignal } from "./SecondSignal.ts"
import { statusCommand } from "./StatusCommand.ts"
import { DASHBOARD_PORT, dashboardCommand } from "./DashboardCommand.ts"
import { verifyCommand } from "./VerifyCommand.ts"

const VERSION = "0.1.0"

const devCommand = Command.make(
  "dev",
  {
    seed: Flag.String("seed").pipe(
      Flag.withMetavar("FILE"),
      Flag.withDescription("pg_dump of totesys whose data seeds the source (e.g. ../shared/totesys/totesys-2024-02-23.sql); without it, simulated history"),
      Flag.optional
    ),
    simulate: Flag.Finite("simulate").pipe(
      Flag.withMetavar("RATE"),
      Flag.withDescription(`simulated business activity in row changes per second; 0 = off (default ${DEFAULT_SIMULATE_RATE})`),
      Flag.optional
    ),
    stateFile: Flag.String("state-file").pipe(
      Flag.withMetavar("PATH"),
      Flag.withDescription("where to write the endpoints as JSON once ready, removed at stop (default .totes-cdc/dev-state.json)"),
      Flag.withDefault(".totes-cdc/dev-state.json")
    ),
    dataDir: Flag.String("data-dir").pipe(
      Flag.withMetavar("DIR"),
      Flag.withDescription("keep PostgreSQL, Kinesis and S3 data here across runs; default: a temporary directory removed at stop"),
      Flag.optional
    ),
    historyDays: Flag.Int("history-days").pipe(
      Flag.withDescription("days of simulated history for an empty totesys when --seed is not given (default 90)"),
      Flag.withDefault(90)
    ),
    simulatorSeed: Flag.Int("simulator-seed").pipe(
      Flag.withDescription("seed of the deterministic activity simulator (default 1)"),
      Flag.withDefault(1)
    ),
    shards: Flag.Int("shards").pipe(Flag.withDescription("shards of the local Kinesis stream (default 2)"), Flag.withDefault(2)),
    dashboardPort: Flag.Int("dashboard-port").pipe(
      Flag.withDescription(`port of the live dashboard (default ${DASHBOARD_PORT}; taken: any free port; 0 = any free port); its URL is printed and in the state file`),
      Flag.withDefault(DASHBOARD_PORT)
    ),
    replay: Flag.String("replay").pipe(
      Flag.withMetavar("FILE"),
      Flag.withDescription("replay a recording (totes-cdc record) into the stack instead of running a source: no seed, no simulator, no reader"),
      Flag.optional
    ),
    ...paceFlags
  },
  (options) => dev(options)
).pipe(
  Command.withDescription(
    "Run the whole pipeline on one machine: embedded PostgreSQL (totesys, and the warehouse on a server of its own), kinesalite, s3rver, and a simulator of totesys activity"
  ),
  Command.withExamples([
    { command: "totes-cdc dev --seed ../shared/totesys/totesys-2024-02-23.sql", description: "seed with the real data set" },
    { command: "totes-cdc dev --simulate 100 --state-file /tmp/s.json", description: "simulated history, 100 changes/s" },
    { command: "totes-cdc dev --replay last-night.ndjson.gz --speed 10", description: "replay a recording ten times faster than recorded" }
  ])
)

const root = Command.make("totes-cdc").pipe(
  Command.withDescription("Change-data-capture from totesys (PostgreSQL) into a star-schema warehouse"),
  Command.withSubcommands([devCommand, readerCommand, archiverCommand, processorCommand, loaderCommand, statusCommand, dashboardCommand, verifyCommand, replayCommand, recordCommand, replayRecordingCommand, initLocalStackCommand])
)

/** Runs the command line (signal handling: NodeRuntime's, plus a second Ctrl-C, SecondSignal.ts). */
export const main = (): void => {
  exitOnSecondSignal()
  root.pipe(
    Command.run({ version: VERSION }),
    Effect.catchCause((cause) => (Cause.hasInterruptsOnly(cause) ? Effect.failCause(cause) : reportFailure(Cause.squash(cause)))),
    Effect.provide(loggingLayer),
    Effect.provide(NodeServices.layer),
    NodeRuntime.runMain({ disableErrorReporting: true })
  )
}
