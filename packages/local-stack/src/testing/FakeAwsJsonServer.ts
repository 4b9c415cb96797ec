/**
 * An in-process HTTP server speaking the AWS JSON protocol (awsJson1_0 / awsJson1_1: a POST
 * whose `X-Amz-Target` header names `<Service>.<Operation>`, JSON in and out), for testing
 * the platform's adapters with the real AWS SDK where no emulator is available here (SQS,
 * Firehose). The service's behaviour is the handler's (FakeSqs.ts, FakeFirehose.ts).
 *
 * Invariants:
 *  - Listens on 127.0.0.1 on a port the OS picks; closed (open connections destroyed) when
 *    the scope closes.
 *  - A handler's `AwsJsonFault` is answered as AWS answers an error: its HTTP status,
 *    `{"__type": "<namespace>#<code>", "message": …}` and, when given, the query-protocol
 *    code in `x-amzn-query-error` (which the SDK reads for SQS); anything else it throws is
 *    a 500 InternalFailure. Requests are not authenticated (any signature is accepted).
 *  - `signal` aborts when the client goes away (a long poll answered to nobody is dropped).
 */
import { Effect, type Scope } from "effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo, Socket } from "node:net"

/** An error the fake answers as the service would (status 400 unless given). */
export class AwsJsonFault extends Error {
  readonly code: string
  readonly options: { readonly status?: number; readonly queryError?: string }
  constructor(code: string, message: string, options: { readonly status?: number; readonly queryError?: string } = {}) {
    super(message)
    this.code = code
    this.options = options
  }
}

/** One handled call: `target` = `<Service>.<Operation>` as sent, `body` the parsed JSON input. */
export interface AwsJsonCall {
  readonly target: string
  readonly body: Record<string, unknown>
}

/** The fake's handler: the JSON output of one call, or an `AwsJsonFault`. */
export type AwsJsonHandler = (call: AwsJsonCall, signal: AbortSignal) => Promise<unknown>

/** A running fake: its endpoint URL (`http://127.0.0.1:<port>`) and every call it received, in order. */
export interface AwsJsonServer {
  readonly endpoint: string
  readonly calls: ReadonlyArray<AwsJsonCall>
}

const readBody = (request: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    let text = ""
    request.setEncoding("utf8")
    request.on("data", (chunk: string) => (text += chunk))
    request.on("end", () => resolve(text))
    request.on("error", reject)
  })

const answer = (response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  if (response.destroyed) return
  response.writeHead(status, { "content-type": "application/x-amz-json-1.0", ...headers })
  response.end(JSON.stringify(body))
}

/**
 * Starts a fake AWS JSON-protocol service whose error types are namespaced `namespace`
 * (e.g. `com.amazonaws.sqs`), answering with `handle`; stopped when the scope closes.
 */
export const startAwsJsonServer = (namespace: string, handle: AwsJsonHandler): Effect.Effect<AwsJsonServer, never, Scope.Scope> =>
  Effect.gen(function* () {
    const calls: Array<AwsJsonCall> = []
    const sockets = new Set<Socket>()
    const server = createServer((request, response) => {
      const abort = new AbortController()
      response.on("close", () => abort.abort())
      void readBody(request)
        .then(async (text) => {
          const call: AwsJsonCall = { target: String(request.headers["x-amz-target"] ?? ""), body: text === "" ? {} : (JSON.parse(text) as Record<string, unknown>) }
          calls.push(call)
          answer(response, 200, await handle(call, abort.signal))
        })
        .catch((error: unknown) => {
          if (error instanceof AwsJsonFault) {
            answer(response, error.options.status ?? 400, { __type: `${namespace}#${error.code}`, message: error.message }, error.options.queryError === undefined ? {} : { "x-amzn-query-error": error.options.queryError })
          } else {
            answer(response, 500, { __type: `${namespace}#InternalFailure`, message: error instanceof Error ? error.message : String(error) })
          }
        })
    })
    server.on("connection", (socket) => {
      sockets.add(socket)
      socket.on("close", () => sockets.delete(socket))
    })
    const port = yield* Effect.acquireRelease(
      Effect.promise(() => new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)))),
      () =>
        Effect.promise(
          () =>
            new Promise<void>((resolve) => {
              for (const socket of sockets) socket.destroy()
              server.close(() => resolve())
            })
        )
    )
    return { endpoint: `http://127.0.0.1:${port}`, calls }
  })
