/**
 * The two AWS emulators of the local stack, as scoped resources: kinesalite (Kinesis
 * Data Streams API) in a child process, s3rver (S3 API) in this process.
 *
 * Invariants:
 *  - Both listen on 127.0.0.1 on a port the OS picks (no race for a free port) unless
 *    the caller fixes one (an emulator restarted on its old endpoint), and are closed
 *    when the scope closes.
 *  - kinesalite keeps its data in memory unless a directory is given (LevelDB);
 *    s3rver always writes objects under its directory.
 *  - Stream creation is immediate (`createStreamMs: 0`), as tests need.
 *  - s3rver replaces objects atomically, as S3 does (AtomicFilesystemStore.ts).
 */
import { Effect, type Scope } from "effect"
import type { ChildProcess } from "node:child_process"
import { fileURLToPath } from "node:url"
import S3rver from "s3rver"
import { AtomicFilesystemStore } from "./AtomicFilesystemStore.ts"
import { lastResort } from "./LastResort.ts"
import { LocalStackError } from "./LocalStackError.ts"
import { signalProcess, spawnDetached, stopChild } from "./Processes.ts"

const HOST = "127.0.0.1"
const SERVER = fileURLToPath(new URL("./KinesaliteServer.ts", import.meta.url))

const message = (cause: unknown) => (cause instanceof Error ? cause.message : String(cause))

/**
 * Starts kinesalite in a child Node process (KinesaliteServer.ts) in a process group of
 * its own (Processes.ts: a terminal's Ctrl-C does not reach it) and returns its endpoint
 * URL (`http://127.0.0.1:<port>`) and pid. A process of its own, so the emulator's request
 * handling does not compete with the pipeline for one event loop; stopped (SIGTERM,
 * awaited; SIGKILL after 3 s) when the scope closes, killed at once by a second Ctrl-C,
 * and it exits by itself if we die.
 */
export const startKinesalite = (options: { readonly dataDir?: string; readonly port?: number }): Effect.Effect<{ readonly endpoint: string; readonly pid: number }, LocalStackError, Scope.Scope> =>
  Effect.gen(function* () {
    const { child, port } = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const child = await spawnDetached(process.execPath, [SERVER, options.dataDir ?? "", String(options.port ?? 0)], { stdio: ["ignore", "pipe", "pipe"] })
          return new Promise<{ child: ChildProcess; port: number }>((resolve, reject) => {
            let stderr = ""
            child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
            child.once("exit", (code) => reject(new Error(`kinesalite exited with code ${code}: ${stderr.trim().split("\n")[0] ?? ""}`)))
            child.stdout?.once("data", (chunk: Buffer) => {
              child.removeAllListeners("exit")
              resolve({ child, port: Number(chunk.toString().trim()) })
            })
          })
        },
        catch: (cause) => new LocalStackError({ component: "kinesis", message: `could not start kinesalite: ${message(cause)}` })
      }),
      ({ child }) =>
        Effect.promise(() =>
          stopChild(child, [
            ["SIGTERM", 3_000],
            ["SIGKILL", 1_000]
          ])
        )
    )
    yield* lastResort(() => signalProcess(child.pid!, "SIGKILL"))
    return { endpoint: `http://${HOST}:${port}`, pid: child.pid! }
  })

/**
 * Starts s3rver over `directory` with `buckets` created; returns its endpoint URL.
 * Objects are stored by AtomicFilesystemStore, so a GET overlapping a PUT of the same
 * key answers the whole old or the whole new object, never a partial one.
 */
export const startS3rver = (options: {
  readonly directory: string
  readonly buckets: ReadonlyArray<string>
  /** Default: a port the OS picks. */
  readonly port?: number
}): Effect.Effect<string, LocalStackError, Scope.Scope> =>
  Effect.gen(function* () {
    const server = new S3rver({
      address: HOST,
      port: options.port ?? 0,
      silent: true,
      directory: options.directory,
      vhostBuckets: false,
      configureBuckets: options.buckets.map((name) => ({ name }))
    })
    // s3rver has no option for its store: its constructor sets both references to a
    // FilesystemStore, which writes objects in place; replace them before it serves.
    server.store = server.context.store = new AtomicFilesystemStore(options.directory)
    // s3rver closes its (silent) logger when its server closes; a request still finishing
    // then — one the client gave up on at shutdown — makes winston print "Attempt to write
    // logs with no transports" on stderr. The logger holds nothing to release: keep it open.
    server.logger.close = () => server.logger
    const address = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => server.run(),
        catch: (cause) => new LocalStackError({ component: "s3", message: `could not start s3rver: ${message(cause)}` })
      }),
      () => Effect.promise(() => server.close().catch(() => undefined))
    )
    return `http://${HOST}:${address.port}`
  })
