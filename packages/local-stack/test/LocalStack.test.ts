import { ListStreamsCommand } from "@aws-sdk/client-kinesis"
import { ListBucketsCommand } from "@aws-sdk/client-s3"
import { describe, expect, it } from "@effect/vitest"
import { makeKinesisClient, makePgPool, makeS3Client } from "@totes-cdc/platform"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"
import { chmod, mkdtemp, rm } from "node:fs/promises"
import { createConnection } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type LocalStackEndpoints, makeLocalStack } from "../src/LocalStack.ts"

/** Whether something accepts TCP connections on host:port right now. */
const listening = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = createConnection({ host, port })
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

const portOf = (endpoint: string) => Number(new URL(endpoint).port)

/** Names of the processes that are children of this test process. */
const children = () =>
  execFileSync("ps", ["-o", "comm=", "--ppid", String(process.pid)], { encoding: "utf8" })
    .split("\n")
    .map((name) => name.trim())
    .filter((name) => name !== "" && name !== "ps")

/** PostgreSQL server processes that are children of this test process. */
const childPostgres = () => children().filter((name) => name === "postgres").length

/** Uses every service of a running stack once; returns what it saw. */
const useStack = (stack: LocalStackEndpoints) =>
  Effect.gen(function* () {
    const source = yield* makePgPool(stack.sourceUrl)
    const warehouse = yield* makePgPool(stack.warehouseUrl)
    const [settings] = yield* source.query(
      "SELECT current_setting('wal_level') AS wal_level, current_setting('max_replication_slots') AS slots, current_setting('max_wal_senders') AS senders, current_database() AS db"
    )
    const [wh] = yield* warehouse.query("SELECT current_database() AS db")
    const streams = yield* Effect.promise(() => makeKinesisClient(stack.kinesis).send(new ListStreamsCommand({})))
    const buckets = yield* Effect.promise(() => makeS3Client(stack.s3).send(new ListBucketsCommand({})))
    return {
      settings,
      warehouseDb: wh?.db,
      streams: streams.StreamNames ?? [],
      buckets: (buckets.Buckets ?? []).map((b) => b.Name).sort()
    }
  })

describe("LocalStack", () => {
  it.live("starts and stops twice in one run, leaving no process, port or directory behind", () =>
    Effect.gen(function* () {
      for (const round of [1, 2]) {
        const { stack, seen } = yield* Effect.scoped(
          Effect.gen(function* () {
            const stack = yield* makeLocalStack()
            expect(childPostgres(), `round ${round}: postgres runs while the stack is up`).toBe(1)
            return { stack, seen: yield* useStack(stack) }
          })
        )
        expect(seen.settings).toEqual({ wal_level: "logical", slots: "20", senders: "20", db: "totesys" })
        expect(seen.warehouseDb).toBe("warehouse")
        expect(seen.streams).toEqual(["totes-cdc-changes"])
        expect(seen.buckets).toEqual(["totes-cdc-ingestion", "totes-cdc-processed"])

        expect(existsSync(stack.dataDir), `round ${round}: temporary directory removed`).toBe(false)
        expect(children(), `round ${round}: no process left (postgres, kinesalite, watchdog)`).toEqual([])
        expect(yield* Effect.promise(() => listening(stack.postgres.host, stack.postgres.port))).toBe(false)
        expect(yield* Effect.promise(() => listening("127.0.0.1", portOf(stack.kinesis.endpoint)))).toBe(false)
        expect(yield* Effect.promise(() => listening("127.0.0.1", portOf(stack.s3.endpoint)))).toBe(false)
      }
    })
  )

  it.live("keeps a given data directory, and its data, across restarts", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.acquireRelease(
        Effect.promise(async () => {
          const dir = await mkdtemp(join(tmpdir(), "totes-cdc-kept-"))
          await chmod(dir, 0o755) // as root, PostgreSQL runs as user postgres and must enter it
          return dir
        }),
        (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
      )
      const dataDir = join(dir, "data")
      yield* Effect.scoped(
        Effect.gen(function* () {
          const stack = yield* makeLocalStack({ dataDir })
          const source = yield* makePgPool(stack.sourceUrl)
          yield* source.query("CREATE TABLE kept (note text)")
          yield* source.query("INSERT INTO kept VALUES ('survives a restart')")
        })
      )
      expect(existsSync(join(dataDir, "postgres", "PG_VERSION"))).toBe(true)
      const notes = yield* Effect.scoped(
        Effect.gen(function* () {
          const stack = yield* makeLocalStack({ dataDir })
          const source = yield* makePgPool(stack.sourceUrl)
          const streams = yield* Effect.promise(() => makeKinesisClient(stack.kinesis).send(new ListStreamsCommand({})))
          expect(streams.StreamNames).toEqual(["totes-cdc-changes"])
          return yield* source.query("SELECT note FROM kept")
        })
      )
      expect(notes).toEqual([{ note: "survives a restart" }])
    })
  )
})
