/**
 * kinesalite in a child Node process (benchmark diagnostics only): the local stack runs
 * kinesalite inside the benchmark's own process, so its request handling competes with
 * the reader for one event loop. `npm run bench -- --kinesalite-process` points the
 * reader at this one instead, to measure how much of the reader's time is the emulator's.
 *
 * Same settings as the local stack's (packages/local-stack/src/Emulators.ts): in memory,
 * immediate stream creation, 100 shards at most. The child is killed (by its pid) when
 * the scope closes.
 */
import { Effect, type Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { BenchError } from "./ReaderDrain.ts"
import { ROOT } from "./Report.ts"

const SCRIPT = `
const server = require("kinesalite")({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 100 })
server.listen(0, "127.0.0.1", () => process.stdout.write(server.address().port + "\\n"))
`

/** Starts kinesalite in a child process; returns its endpoint URL. */
export const startKinesaliteProcess: Effect.Effect<string, BenchError, Scope.Scope> = Effect.acquireRelease(
  Effect.tryPromise({
    try: () =>
      new Promise<{ child: ChildProcess; port: number }>((resolve, reject) => {
        const child = spawn(process.execPath, ["-e", SCRIPT], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] })
        child.once("error", reject)
        child.once("exit", (code) => reject(new Error(`kinesalite child exited with ${code}`)))
        child.stdout?.once("data", (chunk: Buffer) => resolve({ child, port: Number(chunk.toString().trim()) }))
      }),
    catch: (cause) => new BenchError({ message: `cannot start kinesalite in a child process: ${String(cause)}` })
  }),
  ({ child }) =>
    Effect.sync(() => {
      child.removeAllListeners("exit")
      child.kill("SIGTERM")
    })
).pipe(Effect.map(({ port }) => `http://127.0.0.1:${port}`))
