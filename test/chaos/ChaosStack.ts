/**
 * The chaos suite's local stack: embedded PostgreSQL (source and warehouse databases),
 * kinesalite and s3rver — the pieces of `@totes-cdc/local-stack` started one by one so
 * each can be stopped and started again on its old endpoint with its data kept.
 *
 * Invariants:
 *  - Ports are chosen once, at start; a restarted server listens where it did, so the
 *    components' settings never change (as an RDS instance or an AWS endpoint keeps its
 *    name across a reboot).
 *  - Data lives under one directory (PostgreSQL's data directory, kinesalite's LevelDB,
 *    s3rver's objects) and survives every restart; `close` stops everything and removes it.
 *  - `restartPostgres` / `restartEmulators` return once the server accepts requests again.
 */
import { createKinesisStream, type PostgresServer, startKinesalite, startPostgres, startS3rver } from "@totes-cdc/local-stack"
import { Effect, Exit, Scope } from "effect"
import getPort from "get-port"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** Names the suite gives its resources on the stack. */
export const CHAOS_NAMES = {
  source: "chaos_source",
  warehouse: "chaos_warehouse",
  stream: "chaos-changes",
  ingestion: "chaos-ingestion",
  processed: "chaos-processed",
  slot: "chaos",
  shards: 2
} as const

// s3rver and kinesalite accept any credentials; the SDK needs some to sign.
const CREDENTIALS = { region: "eu-west-2", accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const

/** A scoped resource held open until `close`. */
interface Held<A> {
  readonly value: A
  readonly close: () => Promise<void>
}

const hold = async <A, E>(resource: Effect.Effect<A, E, Scope.Scope>): Promise<Held<A>> => {
  const scope = Scope.makeUnsafe()
  try {
    const value = await Effect.runPromise(Scope.provide(scope)(resource))
    return { value, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
  } catch (error) {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    throw error
  }
}

export interface ChaosStack {
  readonly dir: string
  readonly postgres: PostgresServer
  readonly kinesisEndpoint: string
  readonly s3Endpoint: string
  /** The AWS settings of the emulators (region, credentials). */
  readonly aws: typeof CREDENTIALS
  /** pid of the kinesalite process (changes at each restart). */
  readonly kinesalitePid: () => number
  /** Stops PostgreSQL (fast shutdown, or immediate: crash recovery at the next start) and starts it again. */
  readonly restartPostgres: (mode: "fast" | "immediate", downMs: number) => Promise<void>
  /** Kills kinesalite (SIGKILL) and stops s3rver, waits `downMs`, starts both again on their endpoints. */
  readonly restartEmulators: (downMs: number) => Promise<void>
  readonly close: () => Promise<void>
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Starts the stack in a new temporary directory, with the chaos stream (2 shards) and buckets. */
export const startChaosStack = async (): Promise<ChaosStack> => {
  const dir = await mkdtemp(join(tmpdir(), "totes-cdc-chaos-"))
  const [pgPort, kinesisPort, s3Port] = [await getPort({ host: "127.0.0.1" }), await getPort({ host: "127.0.0.1" }), await getPort({ host: "127.0.0.1" })]
  const startPg = () => hold(startPostgres({ dataDir: join(dir, "postgres"), port: pgPort, ephemeral: false }))
  const startKinesis = () => hold(startKinesalite({ dataDir: join(dir, "kinesis"), port: kinesisPort }))
  const startS3 = () => hold(startS3rver({ directory: join(dir, "s3"), buckets: [CHAOS_NAMES.ingestion, CHAOS_NAMES.processed], port: s3Port }))
  let pg = await startPg()
  let kinesis = await startKinesis()
  let s3 = await startS3()
  const kinesisEndpoint = kinesis.value.endpoint
  await Effect.runPromise(createKinesisStream({ ...CREDENTIALS, endpoint: kinesisEndpoint }, CHAOS_NAMES.stream, CHAOS_NAMES.shards))
  return {
    dir,
    postgres: pg.value,
    kinesisEndpoint,
    s3Endpoint: s3.value.endpoint,
    aws: CREDENTIALS,
    kinesalitePid: () => kinesis.value.pid,
    restartPostgres: async (mode, downMs) => {
      // SIGQUIT to the postmaster: immediate shutdown, no checkpoint (the next start recovers from WAL).
      if (mode === "immediate") process.kill(pg.value.pid, "SIGQUIT")
      await pg.close()
      await sleep(downMs)
      pg = await startPg()
    },
    restartEmulators: async (downMs) => {
      process.kill(kinesis.value.pid, "SIGKILL")
      await kinesis.close()
      await s3.close()
      await sleep(downMs)
      kinesis = await startKinesis()
      s3 = await startS3()
    },
    close: async () => {
      await Promise.allSettled([s3.close(), kinesis.close(), pg.close()])
      await rm(dir, { recursive: true, force: true })
    }
  }
}
