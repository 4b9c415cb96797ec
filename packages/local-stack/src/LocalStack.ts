/**
 * The local stack: embedded PostgreSQL holding the `totesys` and `warehouse` databases (on
 * one server, or the warehouse on a server of its own: `separateWarehouse`), kinesalite with
 * the change stream, s3rver with the ingestion and processed buckets — the laptop stand-ins
 * for RDS, Kinesis and S3 (DESIGN.md §1).
 * Details: packages/local-stack/SPEC.md §1.
 *
 * Invariants:
 *  - A scoped resource: what it started stops when the scope closes, in reverse order; with
 *    no `dataDir` the temporary directory is removed too (a watchdog does it on kill -9).
 *  - PostgreSQL, kinesalite and the watchdog run in process groups of their own.
 *  - A kept `dataDir` is used by one run at a time (DataDirLock.ts).
 *  - kinesalite's records are on disk (LevelDB under the working directory), so its memory
 *    does not grow with the stream's 24-hour retention.
 *  - Ports are chosen at start (free ports), never fixed.
 *  - Creating the databases, stream and buckets is idempotent.
 */
import { DEFAULTS, quoteIdent } from "@totes-cdc/core"
import { CreateStreamCommand, DescribeStreamSummaryCommand } from "@aws-sdk/client-kinesis"
import { type AwsEndpoint, makeKinesisClient, makePgPool } from "@totes-cdc/platform"
import { Context, Effect, Layer, Schedule, type Scope } from "effect"
import getPort from "get-port"
import { existsSync } from "node:fs"
import { mkdir, mkdtemp } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { type DataDirLock, lockDataDir } from "./DataDirLock.ts"
import { startKinesalite, startS3rver } from "./Emulators.ts"
import { type PostgresServer, startPostgres } from "./EmbeddedPostgres.ts"
import { lastResort } from "./LastResort.ts"
import { LocalStackError, type LocalStackSetupError } from "./LocalStackError.ts"
import { signalProcess, spawnDetached, stopChild } from "./Processes.ts"
import { removeTree, removeTreeSync } from "./RemoveTree.ts"

export interface LocalStackOptions {
  /** Keep all data here across runs. Absent: a temporary directory, removed at stop. */
  readonly dataDir?: string
  /** Shards of the change stream (default 2). */
  readonly shards?: number
  /**
   * PostgreSQL settings overriding or adding to the server's defaults
   * (`PostgresServerOptions.settings`), e.g. `{ wal_level: "replica" }` to test a
   * source that cannot replicate.
   */
  readonly postgresSettings?: Readonly<Record<string, string>>
  /** The PostgreSQL binaries' directory instead of the npm package's (`PostgresServerOptions.binaries`). */
  readonly postgresBinaries?: string
  /**
   * The warehouse database on a PostgreSQL server of its own (`<dataDir>/postgres-warehouse`,
   * `wal_level=replica`), as in production, where the warehouse is not the source's server
   * (`dev`). On one server, logical decoding reads the WAL of every database: the reader's
   * walsender decoded the warehouse's writes too — 25.8 CPU-µs per change in a drain against
   * 9.8 apart, and up to three quarters of a core while a snapshot is loaded. Default false:
   * one server holds both (`postgres`; the tests). A kept `dataDir` of a one-server run (its
   * server's directory, none for the warehouse) keeps its warehouse there. `postgres` is the
   * source's server either way.
   */
  readonly separateWarehouse?: boolean
}

/** Names of the local stack's resources: the defaults of the pipeline's settings. */
export const LOCAL_NAMES = {
  sourceDatabase: "totesys",
  warehouseDatabase: "warehouse",
  streamName: DEFAULTS.streamName,
  ingestionBucket: DEFAULTS.ingestionBucket,
  processedBucket: DEFAULTS.processedBucket,
  region: DEFAULTS.region
} as const

/** Where everything is. URLs carry the local superuser's credentials. */
export interface LocalStackEndpoints {
  readonly dataDir: string
  /** The source's server (and the warehouse's, unless `separateWarehouse`). */
  readonly postgres: PostgresServer
  readonly sourceUrl: string
  readonly warehouseUrl: string
  readonly kinesis: AwsEndpoint & { readonly endpoint: string; readonly streamName: string; readonly shards: number }
  readonly s3: AwsEndpoint & {
    readonly endpoint: string
    readonly buckets: { readonly ingestion: string; readonly processed: string }
  }
}

// s3rver and kinesalite accept any credentials; the SDK needs some to sign.
const LOCAL_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const

const stackError = (component: LocalStackError["component"], action: string) => (cause: unknown) =>
  new LocalStackError({ component, message: `${action}: ${cause instanceof Error ? cause.message : String(cause)}` })

const WATCHDOG = fileURLToPath(new URL("./Watchdog.ts", import.meta.url))

/**
 * A child process (its own process group) that stops the PostgreSQL servers `postgresPids`
 * and removes the temporary directory if this process dies without closing the scope
 * (kill -9); itself stopped when the scope closes.
 */
const startWatchdog = (postgresPids: ReadonlyArray<number>, removeDir: string) =>
  Effect.acquireRelease(
    Effect.promise(() => spawnDetached(process.execPath, [WATCHDOG, String(process.pid), removeDir, ...postgresPids.map(String)], { stdio: "ignore" })),
    (child) =>
      Effect.promise(() =>
        stopChild(child, [
          ["SIGTERM", 2_000],
          ["SIGKILL", 1_000]
        ])
      )
  ).pipe(Effect.tap((child) => lastResort(() => signalProcess(child.pid!, "SIGKILL"))))

/**
 * A working directory: the given one (kept, locked for this run), or a fresh temporary
 * one removed at scope close — or by a second Ctrl-C.
 */
const workDir = (
  dataDir: string | undefined
): Effect.Effect<{ dir: string; ephemeral: boolean; lock: DataDirLock | undefined }, LocalStackError | LocalStackSetupError, Scope.Scope> =>
  dataDir !== undefined
    ? Effect.tryPromise({
        try: async () => {
          const dir = resolve(dataDir)
          await mkdir(dir, { recursive: true })
          return dir
        },
        catch: stackError("stack", `cannot create data directory ${dataDir}; pass a writable --data-dir`)
      }).pipe(Effect.flatMap((dir) => lockDataDir(dir).pipe(Effect.map((lock) => ({ dir, ephemeral: false, lock })))))
    : Effect.acquireRelease(
        Effect.tryPromise({
          try: () => mkdtemp(join(tmpdir(), "totes-cdc-")),
          catch: stackError("stack", `cannot create a temporary directory in ${tmpdir()}; set TMPDIR to a writable directory`)
        }),
        (dir) => Effect.promise(() => removeTree(dir))
      ).pipe(
        Effect.tap((dir) => lastResort(() => removeTreeSync(dir))),
        Effect.map((dir) => ({ dir, ephemeral: true, lock: undefined }))
      )

/** Creates the databases `names` on `server` unless they exist. */
const createDatabases = (server: PostgresServer, names: ReadonlyArray<string>) =>
  Effect.scoped(
    Effect.gen(function* () {
      const admin = yield* makePgPool(server.url("postgres"), { max: 1, setting: "the local stack" })
      const existing = new Set((yield* admin.query("SELECT datname FROM pg_database")).map((row) => row.datname!))
      for (const name of names) if (!existing.has(name)) yield* admin.query(`CREATE DATABASE ${quoteIdent(name)}`)
    })
  ).pipe(Effect.mapError((error) => new LocalStackError({ component: "postgres", message: error.message })))

/**
 * Creates Kinesis stream `streamName` with `shards` shards unless it exists, and waits
 * (polling every 50 ms, up to 30 s) until it is ACTIVE. The SDK's waiter sleeps at least
 * 10 s between checks, which kinesalite never needs. Fails with `LocalStackError`.
 */
export const createKinesisStream = (target: AwsEndpoint, streamName: string, shards: number): Effect.Effect<void, LocalStackError> =>
  Effect.acquireUseRelease(
    Effect.sync(() => makeKinesisClient(target)),
    (client) => {
      const status = Effect.tryPromise({
        try: () =>
          client.send(new DescribeStreamSummaryCommand({ StreamName: streamName })).then(
            (summary) => summary.StreamDescriptionSummary?.StreamStatus ?? "UNKNOWN",
            (error: Error) => (error.name === "ResourceNotFoundException" ? "ABSENT" : Promise.reject(error))
          ),
        catch: stackError("kinesis", `cannot describe Kinesis stream ${streamName}`)
      })
      return Effect.gen(function* () {
        if ((yield* status) === "ABSENT") {
          yield* Effect.tryPromise({
            try: () => client.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: shards })),
            catch: stackError("kinesis", `cannot create Kinesis stream ${streamName}`)
          })
        }
        yield* status.pipe(
          Effect.repeat({ until: (s) => s === "ACTIVE", schedule: Schedule.spaced("50 millis") }),
          Effect.timeout("30 seconds"),
          Effect.mapError(stackError("kinesis", `Kinesis stream ${streamName} did not become ACTIVE`))
        )
      })
    },
    (client) => Effect.sync(() => client.destroy())
  )

/**
 * Starts the whole local stack; everything stops when the scope closes.
 * Fails with `LocalStackError` naming the component and the cause.
 */
export const makeLocalStack = (options: LocalStackOptions = {}): Effect.Effect<LocalStackEndpoints, LocalStackError | LocalStackSetupError, Scope.Scope> =>
  Effect.gen(function* () {
    const { dir, ephemeral, lock } = yield* workDir(options.dataDir)
    const freePort = (exclude: ReadonlyArray<number> = []) =>
      Effect.tryPromise({
        try: () => getPort({ host: "127.0.0.1", exclude }),
        catch: stackError("postgres", "cannot find a free port")
      })
    const binaries = options.postgresBinaries !== undefined ? { binaries: options.postgresBinaries } : {}
    const sourceDir = join(dir, "postgres")
    const warehouseDir = join(dir, "postgres-warehouse")
    const startSource = (port: number) =>
      startPostgres({ dataDir: sourceDir, port, ephemeral, ...(options.postgresSettings !== undefined ? { settings: options.postgresSettings } : {}), ...binaries })
    const startWarehouse = (port: number) => startPostgres({ dataDir: warehouseDir, port, ephemeral, settings: { wal_level: "replica" }, ...binaries })
    // A kept data directory of a run with one server (its server, none for the warehouse) keeps its warehouse there.
    const separate = options.separateWarehouse === true && !(existsSync(join(sourceDir, "PG_VERSION")) && !existsSync(warehouseDir))
    const sourcePort = yield* freePort()
    // Both servers at once: initdb and start-up take ~2 s each.
    const [postgres, warehouseServer] = separate
      ? yield* Effect.all([startSource(sourcePort), startWarehouse(yield* freePort([sourcePort]))], { concurrency: 2 })
      : yield* startSource(sourcePort).pipe(Effect.map((server) => [server, server] as const))
    yield* createDatabases(postgres, [LOCAL_NAMES.sourceDatabase])
    yield* startWatchdog(separate ? [postgres.pid, warehouseServer.pid] : [postgres.pid], ephemeral ? dir : "")
    yield* createDatabases(warehouseServer, [LOCAL_NAMES.warehouseDatabase])

    // On disk even in a temporary directory: in memory, kinesalite keeps every record for the stream's
    // 24-hour retention (~1.6 KB per change), so a day of `npm start` would hold gigabytes of RAM.
    const kinesalite = yield* startKinesalite({ dataDir: join(dir, "kinesis") })
    if (lock !== undefined) yield* lock.addHelper(kinesalite.pid)
    const kinesisEndpoint = kinesalite.endpoint
    const kinesis = {
      region: LOCAL_NAMES.region,
      endpoint: kinesisEndpoint,
      ...LOCAL_CREDENTIALS,
      streamName: LOCAL_NAMES.streamName,
      shards: options.shards ?? 2
    }
    yield* createKinesisStream(kinesis, kinesis.streamName, kinesis.shards)

    const s3rver = yield* startS3rver({
      directory: join(dir, "s3"),
      buckets: [LOCAL_NAMES.ingestionBucket, LOCAL_NAMES.processedBucket]
    })
    if (lock !== undefined) yield* lock.addHelper(s3rver.pid)
    const s3Endpoint = s3rver.endpoint
    return {
      dataDir: dir,
      postgres,
      sourceUrl: postgres.url(LOCAL_NAMES.sourceDatabase),
      warehouseUrl: warehouseServer.url(LOCAL_NAMES.warehouseDatabase),
      kinesis,
      s3: {
        region: LOCAL_NAMES.region,
        endpoint: s3Endpoint,
        ...LOCAL_CREDENTIALS,
        buckets: { ingestion: LOCAL_NAMES.ingestionBucket, processed: LOCAL_NAMES.processedBucket }
      }
    }
  })

/** The running local stack as a service, for programs and tests that need it. */
export class LocalStack extends Context.Service<LocalStack, LocalStackEndpoints>()("@totes-cdc/local-stack/LocalStack") {
  static readonly layer = (options: LocalStackOptions = {}): Layer.Layer<LocalStack, LocalStackError | LocalStackSetupError> =>
    Layer.effect(LocalStack, makeLocalStack(options))
}
