/**
 * The local stack on containers (testcontainers), for machines with a container runtime:
 * a PostgreSQL container (totesys and the warehouse) and LocalStack (Kinesis and S3),
 * provided as the same `LocalStack` service the embedded stack provides, so a test written
 * against that service (freshDatabase, emptyTotesys, freshBucket, createKinesisStream, the
 * components' environment) runs unchanged on either.
 *
 * Invariants:
 *  - A scoped resource: both containers are stopped and removed when the scope closes; if
 *    this process dies first, testcontainers' reaper (Ryuk) removes them.
 *  - PostgreSQL runs with the embedded server's settings that matter to the pipeline
 *    (EmbeddedPostgres.ts): wal_level=logical, 20 replication slots and WAL senders, 200
 *    connections, UTF8 with the C locale, fsync off (throw-away data); superuser `postgres`.
 *  - The stack holds what `makeLocalStack` creates: databases totesys and warehouse, the
 *    change stream (2 shards unless told) and the ingestion and processed buckets.
 *  - Kinesis and S3 share LocalStack's one endpoint, `http://<host>:<port mapped to 4566>`;
 *    the platform's clients address S3 path-style for any endpoint (Aws.ts), which
 *    LocalStack needs on an IP or `localhost` host. Region eu-west-2 as locally: buckets
 *    carry its LocationConstraint (freshBucket), as LocalStack requires outside us-east-1.
 *  - LocalStack's artificial Kinesis latency (KINESIS_LATENCY: 500 ms on every call and
 *    stream creation by default) is off. Its Kinesis backend (kinesis-mock) starts at the
 *    first Kinesis request, installing itself from npm inside the container the first time,
 *    which can outlast the client's 30 s request timeout: the stack makes that first request
 *    itself (creating the change stream, idempotent) and retries it, so the stack is ready
 *    when the test gets it.
 *  - No local process and no local directory stand behind the stack: `postgres.pid` is NaN
 *    (signalProcess ignores it, process.kill throws on it) and `dataDir` names the two
 *    containers, whose data goes with them.
 */
import { LocalstackContainer } from "@testcontainers/localstack"
import { PostgreSqlContainer } from "@testcontainers/postgresql"
import { createKinesisStream, LOCAL_NAMES, LocalStack, type LocalStackEndpoints, type PostgresServer } from "@totes-cdc/local-stack"
import { freshBucket } from "@totes-cdc/local-stack/testing"
import { makePgPool } from "@totes-cdc/platform"
import { Effect, Layer, Schedule, Schema, type Scope } from "effect"
import { LOCALSTACK_IMAGE, POSTGRES_IMAGE } from "./ContainerImages.ts"

/** A container did not start (or its resources could not be created): which one, and why. */
export class ContainerStackError extends Schema.TaggedError<ContainerStackError>()("ContainerStackError", {
  container: Schema.Literals(["postgres", "localstack"]),
  message: Schema.String
}) {}

export interface ContainerStackOptions {
  /** Shards of the change stream (default 2). */
  readonly shards?: number
}

const USER = "postgres"
const PASSWORD = "totes-cdc-local"
/** LocalStack accepts any credentials (these name its default account, 000000000000); the SDK needs some to sign. */
const CREDENTIALS = { accessKeyId: "test", secretAccessKey: "test" } as const

const POSTGRES_SETTINGS: Readonly<Record<string, string>> = {
  wal_level: "logical",
  max_replication_slots: "20",
  max_wal_senders: "20",
  max_connections: "200",
  fsync: "off",
  full_page_writes: "off"
}

/** Retries of the first Kinesis request while LocalStack starts kinesis-mock: 20 tries 2 s apart (each may wait out the client's 30 s). */
const KINESIS_WARM_UP = Schedule.spaced("2 seconds")
const KINESIS_WARM_UP_TRIES = 20

/** Starts a container in the scope; stops (and removes) it when the scope closes. */
const startContainer = <C extends { stop: () => Promise<unknown> }>(container: ContainerStackError["container"], image: string, start: () => Promise<C>) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: start,
      catch: (cause) => new ContainerStackError({ container, message: `cannot start ${image}: ${cause instanceof Error ? cause.message : String(cause)}` })
    }),
    // A container that cannot be stopped is the reaper's to remove: the test's outcome stands.
    (started) => Effect.promise(() => started.stop().then(() => undefined, () => undefined))
  )

const startPostgres = startContainer("postgres", POSTGRES_IMAGE, () =>
  new PostgreSqlContainer(POSTGRES_IMAGE)
    .withUsername(USER)
    .withPassword(PASSWORD)
    .withDatabase("postgres")
    .withCommand(["postgres", ...Object.entries(POSTGRES_SETTINGS).flatMap(([name, value]) => ["-c", `${name}=${value}`])])
    .withEnvironment({ POSTGRES_INITDB_ARGS: "--encoding=UTF8 --locale=C" })
    // Docker's default /dev/shm (64 MiB) is short for parallel queries over the 50,000-row workload.
    .withSharedMemorySize(512 * 1024 * 1024)
    .start()
)

const startLocalStack = startContainer("localstack", LOCALSTACK_IMAGE, () =>
  new LocalstackContainer(LOCALSTACK_IMAGE)
    // Only Kinesis and S3, loaded at start rather than at their first request; no artificial Kinesis latency.
    .withEnvironment({ SERVICES: "kinesis,s3", EAGER_SERVICE_LOADING: "1", KINESIS_LATENCY: "0" })
    .start()
)

/** The stack's databases, as `makeLocalStack` creates them (the container's are new). */
const createDatabases = (server: PostgresServer) =>
  Effect.scoped(
    makePgPool(server.url("postgres"), { max: 1 }).pipe(
      Effect.flatMap((admin) => Effect.forEach([LOCAL_NAMES.sourceDatabase, LOCAL_NAMES.warehouseDatabase], (name) => admin.query(`CREATE DATABASE ${name}`)))
    )
  ).pipe(Effect.mapError((error) => new ContainerStackError({ container: "postgres", message: `cannot create the stack's databases: ${error.message}` })))

/** Starts both containers (at once) and creates the stack's resources; everything goes when the scope closes. */
export const makeContainerStack = (options: ContainerStackOptions = {}): Effect.Effect<LocalStackEndpoints, ContainerStackError, Scope.Scope> =>
  Effect.gen(function* () {
    const [pg, aws] = yield* Effect.all([startPostgres, startLocalStack], { concurrency: 2 })
    const host = pg.getHost()
    const port = pg.getPort()
    const postgres: PostgresServer = {
      host,
      port,
      user: USER,
      password: PASSWORD,
      pid: Number.NaN,
      url: (database) => `postgres://${USER}:${PASSWORD}@${host}:${port}/${database}`
    }
    const endpoint = aws.getConnectionUri()
    const endpoints: LocalStackEndpoints = {
      dataDir: `containers ${pg.getId().slice(0, 12)} (${POSTGRES_IMAGE}) and ${aws.getId().slice(0, 12)} (${LOCALSTACK_IMAGE})`,
      postgres,
      sourceUrl: postgres.url(LOCAL_NAMES.sourceDatabase),
      warehouseUrl: postgres.url(LOCAL_NAMES.warehouseDatabase),
      kinesis: { region: LOCAL_NAMES.region, endpoint, ...CREDENTIALS, streamName: LOCAL_NAMES.streamName, shards: options.shards ?? 2 },
      s3: {
        region: LOCAL_NAMES.region,
        endpoint,
        ...CREDENTIALS,
        buckets: { ingestion: LOCAL_NAMES.ingestionBucket, processed: LOCAL_NAMES.processedBucket }
      }
    }
    yield* createDatabases(postgres)
    yield* createKinesisStream(endpoints.kinesis, endpoints.kinesis.streamName, endpoints.kinesis.shards).pipe(
      Effect.retry({ schedule: KINESIS_WARM_UP, times: KINESIS_WARM_UP_TRIES }),
      Effect.mapError((error) => new ContainerStackError({ container: "localstack", message: `Kinesis did not come up: ${error.message}` }))
    )
    yield* Effect.forEach([endpoints.s3.buckets.ingestion, endpoints.s3.buckets.processed], freshBucket).pipe(Effect.provideService(LocalStack, endpoints))
    return endpoints
  })

/** The container stack as the `LocalStack` service. */
export const containerStackLayer = (options: ContainerStackOptions = {}): Layer.Layer<LocalStack, ContainerStackError> =>
  Layer.effect(LocalStack, makeContainerStack(options))
