/**
 * The reader's settings from the environment (`totes-cdc reader`), with the defaults
 * the local stack uses. The README's configuration table lists the same names.
 *
 * Invariants: every setting has one name here; a missing or malformed one fails with
 * a ConfigError naming the variable.
 */
import { DEFAULTS, INGESTION_LAYOUT, TOTESYS_TABLES } from "@totes-cdc/core"
import { type AwsEndpoint, awsEndpointsConfig } from "@totes-cdc/platform"
import { Config, Option, Schema } from "effect"

/** Settings as read; `undefined` endpoint = real AWS. */
export interface ReaderSettings {
  readonly sourceUrl: string
  /** PEM file of the CA of the source's certificate: TLS with full verification (SOURCE_CA_FILE). Absent: the URL decides. */
  readonly sourceCaFile?: string | undefined
  readonly slot: string
  readonly publication: string
  readonly mode: "replication" | "poll"
  readonly streamName: string
  readonly stateBucket: string
  readonly statePrefix: string
  readonly heartbeatMs: number
  /** Poll mode: pause between cycles, ms (READER_POLL_INTERVAL_MS, default 1,000). */
  readonly pollIntervalMs: number
  /**
   * Poll mode: how far before each table's cursor a cycle re-reads, ms, to catch
   * transactions that commit late (READER_POLL_OVERLAP_MS, default 5,000). Absent = default.
   */
  readonly pollOverlapMs?: number
  /** Poll mode: rows per SELECT (READER_POLL_PAGE_ROWS, default 5,000). Absent = default. */
  readonly pollPageRows?: number
  /** Emit CloudWatch EMF metric lines on stdout (default: when stdout is not a terminal). */
  readonly metricsEmf?: boolean
  /** How often the metrics report (S3, EMF) is written, ms (READER_METRICS_INTERVAL_MS, default 10,000; `dev` 1,000 for its dashboard). */
  readonly metricsIntervalMs?: number
  readonly kinesis: AwsEndpoint
  readonly s3: AwsEndpoint
}

const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/** Reads the reader's environment. Fails with ConfigError naming the variable. */
export const readerSettings: Config.Config<ReaderSettings> = Config.all({
  sourceUrl: Config.String("SOURCE_URL"),
  sourceCaFile: Config.option(Config.String("SOURCE_CA_FILE")).pipe(Config.map(Option.getOrUndefined)),
  slot: Config.String("READER_SLOT").pipe(Config.withDefault(DEFAULTS.slot)),
  publication: Config.String("READER_PUBLICATION").pipe(Config.withDefault(DEFAULTS.publication)),
  mode: Config.Literals(["replication", "poll"], "READER_MODE").pipe(Config.withDefault("replication" as const)),
  streamName: Config.String("KINESIS_STREAM").pipe(Config.withDefault(DEFAULTS.streamName)),
  stateBucket: Config.String("INGESTION_BUCKET").pipe(Config.withDefault(DEFAULTS.ingestionBucket)),
  statePrefix: Config.String("READER_STATE_PREFIX").pipe(Config.withDefault(INGESTION_LAYOUT.readerStatePrefix)),
  heartbeatMs: Config.Int("READER_HEARTBEAT_MS").pipe(Config.withDefault(10_000)),
  pollIntervalMs: Config.schema(NonNegativeInt, "READER_POLL_INTERVAL_MS").pipe(Config.withDefault(1_000)),
  pollOverlapMs: Config.schema(NonNegativeInt, "READER_POLL_OVERLAP_MS").pipe(Config.withDefault(5_000)),
  metricsEmf: Config.Boolean("READER_METRICS_EMF").pipe(Config.withDefault(!process.stdout.isTTY)),
  metricsIntervalMs: Config.schema(Schema.Int.check(Schema.isGreaterThanOrEqualTo(100)), "READER_METRICS_INTERVAL_MS").pipe(Config.withDefault(10_000)),
  pollPageRows: Config.schema(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)), "READER_POLL_PAGE_ROWS").pipe(Config.withDefault(5_000)),
  aws: awsEndpointsConfig
}).pipe(Config.map(({ aws, ...rest }) => ({ ...rest, ...aws })))

/** The tables the reader captures: the 11 totesys tables (never `_prisma_migrations`). */
export const CAPTURED_TABLES = TOTESYS_TABLES
