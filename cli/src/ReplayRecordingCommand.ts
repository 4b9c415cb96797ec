/**
 * `totes-cdc replay-recording FILE [--speed N | --max-speed]`: a recording
 * (`totes-cdc record`'s file) fed into a Kinesis stream through the reader's own producer,
 * paced by its commit times (ops' FeedRecording.ts) — in place of a reader, e.g. in the
 * docker stack's `replay` profile. `dev --replay` feeds through the same `replayInto`.
 *
 * Invariants:
 *  - The whole file is checked before the first record is sent (`checkRecording`): a
 *    damaged recording is refused (exit 2, one line naming the line) with nothing fed.
 *  - `--speed` and `--max-speed` exclude each other; the default is the recorded pace (1×).
 *  - The end line is printed only once every record is durable in the stream.
 * Settings: a `dev` state file, or the environment (KINESIS_STREAM, INGESTION_BUCKET for
 * the producer's dead letters, AWS_REGION, KINESIS_ENDPOINT / S3_ENDPOINT, AWS credentials).
 */
import { defaultProducerConfig } from "@totes-cdc/cdc-reader"
import { describePace, type FeedReport, feedRecording, type Pace } from "@totes-cdc/ops"
import { DeadLetters, Kinesis, S3 } from "@totes-cdc/platform"
import { checkRecording, consumerSettings, type ConsumerSettings, type RecordingSummary } from "@totes-cdc/stream-processors"
import { SingleBar } from "cli-progress"
import { Console, Effect, Layer, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { describeConfigError, UsageError } from "./Errors.ts"
import { consumerSettingsFromState } from "./LocalSettings.ts"
import { readStateFile, stateFileFlag } from "./StateFile.ts"

/** `--speed N` (optional) and `--max-speed`, shared with `dev --replay`. */
export const paceFlags = {
  speed: Flag.Finite("speed").pipe(
    Flag.withMetavar("N"),
    Flag.withDescription("replay N times faster than recorded (default 1: the recorded pace, from the records' commit times)"),
    Flag.optional
  ),
  maxSpeed: Flag.Boolean("max-speed").pipe(Flag.withDescription("replay as fast as the stream takes it"), Flag.withDefault(false))
}

/** The pace the flags ask for; fails with `UsageError` (both given, or a speed that is not > 0). */
export const paceOf = (speed: Option.Option<number>, maxSpeed: boolean): Effect.Effect<Pace, UsageError> => {
  if (maxSpeed && Option.isSome(speed)) return Effect.fail(new UsageError({ message: `--speed ${speed.value} and --max-speed: give one of them` }))
  if (maxSpeed) return Effect.succeed({ _tag: "MaxSpeed" })
  const factor = Option.getOrElse(speed, () => 1)
  return Number.isFinite(factor) && factor > 0
    ? Effect.succeed({ _tag: "Speed", factor })
    : Effect.fail(new UsageError({ message: `--speed ${factor}: give a factor > 0 (e.g. 10 for ten times faster), or --max-speed` }))
}

/** Checks the whole recording first (nothing fed from a damaged one). Fails with `UsageError` naming the line. */
export const checkedRecording = (path: string): Effect.Effect<RecordingSummary, UsageError> =>
  checkRecording(path).pipe(Effect.mapError((error) => new UsageError({ message: error.message })))

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

/** Pure: the recording's size and span, e.g. `30,468 records spanning 312.4 s`. */
export const describeRecording = (summary: RecordingSummary): string =>
  `${summary.records.toLocaleString("en-GB")} records spanning ${seconds((summary.lastCommitMs ?? 0) - (summary.firstCommitMs ?? 0))}`

/** Pure: the end line of a replay. */
export const describeFeed = (path: string, stream: string, report: FeedReport, pace: Pace): string =>
  `replayed ${report.records.toLocaleString("en-GB")} records of ${path} into stream ${stream} in ${seconds(report.elapsedMs)} (${describePace(pace)}; the recording spans ${seconds(
    (report.lastCommitMs ?? 0) - (report.firstCommitMs ?? 0)
  )}); every record is durable in the stream`

/** Kinesis and the producer's dead letters (in the ingestion bucket) for `settings`. */
const producerLayer = (settings: Pick<ConsumerSettings, "kinesis" | "s3" | "ingestionBucket">) =>
  Layer.mergeAll(Kinesis.layer(settings.kinesis), DeadLetters.layer(settings.ingestionBucket).pipe(Layer.provideMerge(S3.layer(settings.s3))))

/**
 * Feeds the checked recording at `path` into the stream of `settings` at `pace`, with a
 * progress bar on a terminal (stderr). Fails with the feed's errors (ops' `feedRecording`).
 */
export const replayInto = (
  path: string,
  summary: RecordingSummary,
  pace: Pace,
  settings: Pick<ConsumerSettings, "streamName" | "kinesis" | "s3" | "ingestionBucket">,
  options: { readonly progress: boolean }
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const bar =
        options.progress && process.stderr.isTTY
          ? new SingleBar({ format: "replay |{bar}| {value}/{total} records", stream: process.stderr, hideCursor: true, clearOnComplete: true })
          : undefined
      bar?.start(summary.records, 0)
      yield* Effect.addFinalizer(() => Effect.sync(() => bar?.stop()))
      return yield* feedRecording({ path, pace, producer: defaultProducerConfig(settings.streamName) }, (records) =>
        Effect.sync(() => {
          if (bar !== undefined && (records % 500 === 0 || records === summary.records)) bar.update(records)
        })
      )
    })
  ).pipe(Effect.provide(producerLayer(settings)))

export const replayRecordingCommand = Command.make(
  "replay-recording",
  {
    file: Argument.String("file").pipe(Argument.withDescription("a recording written by totes-cdc record (NDJSON, plain or .gz)")),
    ...paceFlags,
    stateFile: stateFileFlag
  },
  ({ file, speed, maxSpeed, stateFile }) =>
    Effect.gen(function* () {
      const pace = yield* paceOf(speed, maxSpeed)
      const summary = yield* checkedRecording(file)
      const settings = Option.isSome(stateFile)
        ? consumerSettingsFromState(yield* readStateFile(stateFile.value))
        : yield* Effect.mapError(consumerSettings, (error) => new UsageError({ message: describeConfigError(error.message) }))
      yield* Console.log(`replaying ${file}: ${describeRecording(summary)}, at ${describePace(pace)} into stream ${settings.streamName}`)
      const report = yield* replayInto(file, summary, pace, settings, { progress: true })
      yield* Console.log(describeFeed(file, settings.streamName, report, pace))
    })
).pipe(
  Command.withDescription(
    "Feed a recording (totes-cdc record) into the Kinesis stream through the reader's producer (same partition keys, KPL aggregation), paced by its commit times — in place of the reader. Environment: KINESIS_STREAM, INGESTION_BUCKET (dead letters), AWS_REGION, KINESIS_ENDPOINT / S3_ENDPOINT, AWS credentials"
  ),
  Command.withExamples([
    { command: "totes-cdc replay-recording last-night.ndjson.gz --speed 10", description: "ten times faster than recorded" },
    { command: "totes-cdc replay-recording week.ndjson.gz --max-speed --state-file /tmp/s.json", description: "as fast as possible into a running dev stack" }
  ])
)
