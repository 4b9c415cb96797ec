import { ListStreamsCommand } from "@aws-sdk/client-kinesis"
import { ListBucketsCommand } from "@aws-sdk/client-s3"
import { describe, expect, it } from "@effect/vitest"
import { makeKinesisClient, makePgPool, makeS3Client } from "@totes-cdc/platform"
import { Effect } from "effect"
import { execFileSync, spawn } from "node:child_process"
import getPort from "get-port"
import { existsSync } from "node:fs"
import { chmod, cp, mkdtemp, rm, writeFile } from "node:fs/promises"
import { createConnection } from "node:net"
import { tmpdir, userInfo } from "node:os"
import { join } from "node:path"
import { startPostgres } from "../src/EmbeddedPostgres.ts"
import { type LocalStackEndpoints, makeLocalStack } from "../src/LocalStack.ts"
import { postgresBinaries } from "../src/PostgresBinaries.ts"

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

/** A temporary directory with `mode`, removed with the scope. */
const tempDir = (prefix: string, mode: number) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const dir = await mkdtemp(join(tmpdir(), prefix))
      await chmod(dir, mode)
      return dir
    }),
    (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
  )

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

  it.live("separateWarehouse: the warehouse on a PostgreSQL server of its own, stopped with the stack; a kept directory whose one server holds the warehouse keeps it there", () =>
    Effect.gen(function* () {
      const { stack, seen, apart } = yield* Effect.scoped(
        Effect.gen(function* () {
          const stack = yield* makeLocalStack({ separateWarehouse: true })
          expect(childPostgres(), "two servers run while the stack is up").toBe(2)
          const admin = yield* makePgPool(stack.postgres.url("postgres"))
          const warehouse = yield* makePgPool(stack.warehouseUrl)
          const apart = {
            warehouseOnSource: (yield* admin.query("SELECT count(*) AS n FROM pg_database WHERE datname = 'warehouse'"))[0]?.n,
            warehouseWal: (yield* warehouse.query("SELECT current_setting('wal_level') AS wal_level"))[0]?.wal_level
          }
          return { stack, seen: yield* useStack(stack), apart }
        })
      )
      expect(portOf(stack.warehouseUrl)).not.toBe(stack.postgres.port)
      expect(apart).toEqual({ warehouseOnSource: "0", warehouseWal: "replica" })
      expect(seen.settings).toEqual({ wal_level: "logical", slots: "20", senders: "20", db: "totesys" })
      expect(seen.warehouseDb).toBe("warehouse")
      expect(existsSync(stack.dataDir), "temporary directory removed").toBe(false)
      expect(children(), "no process left (both servers, kinesalite, watchdog)").toEqual([])
      expect(yield* Effect.promise(() => listening("127.0.0.1", portOf(stack.warehouseUrl)))).toBe(false)

      // A kept directory of a one-server run: its warehouse stays where it is.
      const dir = yield* tempDir("totes-cdc-one-server-", 0o755)
      const dataDir = join(dir, "data")
      yield* Effect.scoped(
        Effect.gen(function* () {
          const warehouse = yield* makePgPool((yield* makeLocalStack({ dataDir })).warehouseUrl)
          yield* warehouse.query("CREATE TABLE kept AS SELECT 'loaded before' AS note")
        })
      )
      const again = yield* Effect.scoped(
        Effect.gen(function* () {
          const stack = yield* makeLocalStack({ dataDir, separateWarehouse: true })
          expect(childPostgres()).toBe(1)
          expect(portOf(stack.warehouseUrl)).toBe(stack.postgres.port)
          return yield* (yield* makePgPool(stack.warehouseUrl)).query("SELECT note FROM kept")
        })
      )
      expect(again).toEqual([{ note: "loaded before" }])
      expect(existsSync(join(dataDir, "postgres-warehouse"))).toBe(false)
    })
  )

  it.live("starts PostgreSQL from binaries below a directory user postgres cannot enter (a checkout under /root)", () =>
    Effect.gen(function* () {
      const closed = yield* tempDir("closed-checkout-", 0o700) // as /root, or a directory made by mktemp -d
      const packaged = (yield* postgresBinaries()).home
      const home = join(closed, "node_modules", "native")
      yield* Effect.promise(() => cp(packaged, home, { recursive: true, verbatimSymlinks: true }))
      const binaries = yield* postgresBinaries({ home })
      if (userInfo().uid === 0) {
        // PostgreSQL runs as user postgres, who cannot reach `home`: it runs a copy it can reach.
        expect(binaries.home).not.toBe(home)
        expect(binaries.runAs).toBeDefined()
      } else {
        expect(binaries.home).toBe(home)
      }
      const dataDir = join(yield* tempDir("pg-data-", 0o755), "postgres")
      const server = yield* startPostgres({ dataDir, port: yield* Effect.promise(() => getPort({ host: "127.0.0.1" })), ephemeral: true, binaries: home })
      const pool = yield* makePgPool(server.url("postgres"), { max: 1 })
      expect(yield* pool.query("SELECT current_setting('wal_level') AS wal_level")).toEqual([{ wal_level: "logical" }])
    })
  )

  it.live("as root, stops at once with one line naming the closed directory when no copy of the binaries can be made either", () =>
    Effect.gen(function* () {
      const closed = yield* tempDir("closed-checkout-", 0o700)
      const home = join(closed, "native")
      const packaged = (yield* postgresBinaries()).home
      yield* Effect.promise(() => cp(packaged, home, { recursive: true, verbatimSymlinks: true }))
      const started = Date.now()
      const outcome = yield* postgresBinaries({ home, cacheRoots: [join(closed, "cache")] }).pipe(Effect.flip, Effect.option)
      if (userInfo().uid !== 0) {
        expect(outcome._tag, "not root: the binaries run as this user, from where they are").toBe("None")
        return
      }
      expect({ quickly: Date.now() - started < 5_000, error: outcome._tag === "Some" ? outcome.value : undefined }).toMatchObject({
        quickly: true,
        error: {
          _tag: "LocalStackSetupError",
          message: `running as root, PostgreSQL runs as user postgres, which cannot enter ${closed} to run the binaries in ${home}, and no copy could be made in ${join(closed, "cache")}; run "chmod o+x ${closed}" (and any closed directory above), or run as a user other than root`
        }
      })
    })
  )

  it.live("lets one run at a time use a kept data directory: a second one stops at once with one line", () =>
    Effect.gen(function* () {
      const dataDir = join(yield* tempDir("totes-cdc-kept-", 0o755), "data")
      yield* makeLocalStack({ dataDir })
      const second = yield* makeLocalStack({ dataDir }).pipe(Effect.scoped, Effect.flip)
      expect(second).toMatchObject({
        _tag: "LocalStackSetupError",
        message: `data directory ${dataDir} is in use by another totes-cdc run (pid ${process.pid}); stop it first, or pass another --data-dir`
      })
    })
  )

  it.live("starts over a lock file that names a process which is not a PostgreSQL of that directory (a reused pid)", () =>
    Effect.gen(function* () {
      const dataDir = join(yield* tempDir("totes-cdc-kept-", 0o755), "data")
      yield* Effect.scoped(makeLocalStack({ dataDir }))
      // As after a crash: postmaster.pid left behind, its pid now another live program's, of the
      // server's own user. (Not this process: PostgreSQL itself ignores a lock naming its parent,
      // or a process it may not signal.)
      const { runAs } = yield* postgresBinaries()
      const other = yield* Effect.acquireRelease(
        Effect.sync(() => spawn("sleep", ["600"], { stdio: "ignore", ...runAs })),
        (child) => Effect.sync(() => child.kill("SIGKILL"))
      )
      yield* Effect.promise(() => writeFile(join(dataDir, "postgres", "postmaster.pid"), `${other.pid}\n${join(dataDir, "postgres")}\n`))
      const stack = yield* makeLocalStack({ dataDir })
      const source = yield* makePgPool(stack.sourceUrl, { max: 1 })
      expect(yield* source.query("SELECT 1 AS one")).toEqual([{ one: "1" }])
    })
  )
})
