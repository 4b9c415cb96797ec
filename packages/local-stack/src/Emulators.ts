/**
 * The two AWS emulators of the local stack, as scoped resources: kinesalite (Kinesis
 * Data Streams API) and s3rver (S3 API), each in a child Node process of its own.
 *
 * Invariants:
 *  - Both listen on 127.0.0.1 on a port the OS picks (no race for a free port) unless
 *    the caller fixes one (an emulator restarted on its old endpoint), and are closed
 *    when the scope closes.
 *  - kinesalite keeps its data in memory unless a directory is given (LevelDB);
 *    s3rver always writes objects under its directory.
 *  - Stream creation is immediate (`createStreamMs: 0`), as tests need.
 *  - s3rver replaces objects atomically, as S3 does (AtomicFilesystemStore.ts).
 *  - Each runs in a process group of its own (Processes.ts: a terminal's Ctrl-C does not
 *    reach it), so the emulator's request handling does not compete with the pipeline for
 *    one event loop and its CPU is measured apart; stopped (SIGTERM, awaited; SIGKILL after
 *    3 s) when the scope closes, killed at once by a second Ctrl-C, and it exits by itself
 *    if we die.
 */
import { Effect, type Scope } from "effect"
import type { ChildProcess } from "node:child_process"
import { fileURLToPath } from "node:url"
import { lastResort } from "./LastResort.ts"
import { LocalStackError } from "./LocalStackError.ts"
import { signalProcess, spawnDetached, stopChild } from "./Processes.ts"

const HOST = "127.0.0.1"
const KINESALITE_SERVER = fileURLToPath(new URL("./KinesaliteServer.ts", import.meta.url))
const S3RVER_SERVER = fileURLToPath(new URL("./S3rverServer.ts", import.meta.url))

const message = (cause: unknown) => (cause instanceof Error ? cause.message : String(cause))

/**
 * Starts `script` in a child Node process with `args`, waits for the port it prints on
 * stdout, and answers its endpoint URL (`http://127.0.0.1:<port>`) and pid (module header).
 */
const startChild = (
  component: "kinesis" | "s3",
  name: string,
  script: string,
  args: ReadonlyArray<string>
): Effect.Effect<{ readonly endpoint: string; readonly pid: number }, LocalStackError, Scope.Scope> =>
  Effect.gen(function* () {
    const { child, port } = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const child = await spawnDetached(process.execPath, [script, ...args], { stdio: ["ignore", "pipe", "pipe"] })
          return new Promise<{ child: ChildProcess; port: number }>((resolve, reject) => {
            let stderr = ""
            child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
            child.once("exit", (code) => reject(new Error(`${name} exited with code ${code}: ${stderr.trim().split("\n")[0] ?? ""}`)))
            child.stdout?.once("data", (chunk: Buffer) => {
              child.removeAllListeners("exit")
              resolve({ child, port: Number(chunk.toString().trim()) })
            })
          })
        },
        catch: (cause) => new LocalStackError({ component, message: `could not start ${name}: ${message(cause)}` })
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

/** Starts kinesalite (KinesaliteServer.ts) over `dataDir` (in memory without one) on `port` (default: one the OS picks). */
export const startKinesalite = (options: { readonly dataDir?: string; readonly port?: number }): Effect.Effect<{ readonly endpoint: string; readonly pid: number }, LocalStackError, Scope.Scope> =>
  startChild("kinesis", "kinesalite", KINESALITE_SERVER, [options.dataDir ?? "", String(options.port ?? 0)])

/** Starts s3rver (S3rverServer.ts) over `directory` with `buckets` created, on `port` (default: one the OS picks). */
export const startS3rver = (options: {
  readonly directory: string
  readonly buckets: ReadonlyArray<string>
  readonly port?: number
}): Effect.Effect<{ readonly endpoint: string; readonly pid: number }, LocalStackError, Scope.Scope> =>
  startChild("s3", "s3rver", S3RVER_SERVER, [options.directory, String(options.port ?? 0), options.buckets.join(",")])
