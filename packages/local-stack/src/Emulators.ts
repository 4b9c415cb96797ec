/**
 * The two AWS emulators of the local stack, started in-process as scoped resources:
 * kinesalite (Kinesis Data Streams API) and s3rver (S3 API).
 *
 * Invariants:
 *  - Both listen on 127.0.0.1 on a port the OS picks (no race for a free port) and
 *    are closed when the scope closes.
 *  - kinesalite keeps its data in memory unless a directory is given (LevelDB);
 *    s3rver always writes objects under its directory.
 *  - Stream creation is immediate (`createStreamMs: 0`), as tests need.
 */
import { Effect, type Scope } from "effect"
import kinesalite from "kinesalite"
import type { AddressInfo } from "node:net"
import S3rver from "s3rver"
import { LocalStackError } from "./LocalStackError.ts"

const HOST = "127.0.0.1"

const message = (cause: unknown) => (cause instanceof Error ? cause.message : String(cause))

/** Starts kinesalite; returns its endpoint URL (`http://127.0.0.1:<port>`). */
export const startKinesalite = (options: { readonly dataDir?: string }): Effect.Effect<string, LocalStackError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () =>
        new Promise<ReturnType<typeof kinesalite>>((resolve, reject) => {
          const server = kinesalite({
            ...(options.dataDir === undefined ? {} : { path: options.dataDir }),
            createStreamMs: 0,
            deleteStreamMs: 0,
            updateStreamMs: 0,
            shardLimit: 100
          })
          server.once("error", reject)
          server.listen(0, HOST, () => resolve(server))
        }),
      catch: (cause) => new LocalStackError({ component: "kinesis", message: `could not start kinesalite: ${message(cause)}` })
    }),
    (server) =>
      Effect.promise(
        () =>
          new Promise<void>((resolve) => {
            server.closeAllConnections()
            server.close(() => resolve())
          })
      )
  ).pipe(Effect.map((server) => `http://${HOST}:${(server.address() as AddressInfo).port}`))

/** Starts s3rver over `directory` with `buckets` created; returns its endpoint URL. */
export const startS3rver = (options: {
  readonly directory: string
  readonly buckets: ReadonlyArray<string>
}): Effect.Effect<string, LocalStackError, Scope.Scope> =>
  Effect.gen(function* () {
    const server = new S3rver({
      address: HOST,
      port: 0,
      silent: true,
      directory: options.directory,
      vhostBuckets: false,
      configureBuckets: options.buckets.map((name) => ({ name }))
    })
    const address = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => server.run(),
        catch: (cause) => new LocalStackError({ component: "s3", message: `could not start s3rver: ${message(cause)}` })
      }),
      () => Effect.promise(() => server.close().catch(() => undefined))
    )
    return `http://${HOST}:${address.port}`
  })
