/**
 * The dashboard's HTTP server (effect/http on Node's http): the page (page/index.html,
 * dashboard.js, dashboard.css), Chart.js from the project's own node_modules (no CDN:
 * works offline), the JSON the page polls, and the Prometheus text format.
 *
 *   GET /                         the page
 *   GET /api/health               HealthResponse (DashboardModel.ts): the sampler's latest; 503 before the first sample
 *   GET /api/business             BusinessResponse: the analysts' questions, asked now; 503 naming the error if the warehouse fails
 *   GET /metrics                  every metric of the process (core's catalogue, `totes_cdc_*`) with HELP and TYPE lines
 *
 * Invariants: read-only; binds to `host` (default 127.0.0.1, the dashboard has no
 * authentication); the server closes with the scope it was started in.
 */
import { NodeHttpServer } from "@effect/platform-node"
import type { PgPool } from "@totes-cdc/platform"
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServer, HttpServerResponse } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import { readFile } from "node:fs/promises"
import { createServer } from "node:http"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { businessAnswers } from "./Business.ts"
import type { HealthResponse } from "./DashboardModel.ts"

const PAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), "page")
/** Chart.js's UMD build, from the installed package (its `exports` map does not list dist files, so by path). */
const CHART_JS = join(dirname(createRequire(import.meta.url).resolve("chart.js")), "chart.umd.min.js")

/** The static files: path → (file, content type). */
const STATIC_FILES: ReadonlyArray<readonly [HttpRouter.PathInput, string, string]> = [
  ["/", join(PAGE_DIR, "index.html"), "text/html; charset=utf-8"],
  ["/dashboard.js", join(PAGE_DIR, "dashboard.js"), "text/javascript; charset=utf-8"],
  ["/dashboard.css", join(PAGE_DIR, "dashboard.css"), "text/css; charset=utf-8"],
  ["/vendor/chart.umd.min.js", CHART_JS, "text/javascript; charset=utf-8"]
]

export interface DashboardServerOptions {
  readonly latest: Effect.Effect<HealthResponse | undefined>
  readonly warehouse: PgPool
  readonly warehouseSchema: string
  readonly host?: string
  /** 0 = any free port. */
  readonly port: number
}

const unavailable = (message: string) => HttpServerResponse.text(`${message}\n`, { status: 503, contentType: "text/plain; charset=utf-8" })

/** Starts the server in the current scope; answers its URL (e.g. `http://127.0.0.1:8080/`). */
export const serveDashboard = (options: DashboardServerOptions) =>
  Effect.gen(function* () {
    const files = yield* Effect.forEach(STATIC_FILES, ([path, file, contentType]) =>
      Effect.promise(() => readFile(file, "utf8")).pipe(Effect.map((body) => HttpRouter.add("GET", path, HttpServerResponse.text(body, { contentType }))))
    )
    const api = Layer.mergeAll(
      HttpRouter.add(
        "GET",
        "/api/health",
        options.latest.pipe(Effect.flatMap((health) => (health === undefined ? Effect.succeed(unavailable("no sample yet; retry in a second")) : HttpServerResponse.json(health))))
      ),
      HttpRouter.add(
        "GET",
        "/api/business",
        businessAnswers(options.warehouse, options.warehouseSchema).pipe(
          Effect.flatMap((answers) => HttpServerResponse.json(answers)),
          Effect.catch((error) => Effect.succeed(unavailable(`the warehouse did not answer: ${error.message}`)))
        )
      ),
      HttpRouter.add(
        "GET",
        "/metrics",
        PrometheusMetrics.format().pipe(Effect.map((body) => HttpServerResponse.text(body, { contentType: "text/plain; version=0.0.4; charset=utf-8" })))
      )
    )
    const app = HttpRouter.serve(Layer.mergeAll(api, ...files), { disableLogger: true, disableListenLog: true }).pipe(
      Layer.provideMerge(NodeHttpServer.layer(createServer, { port: options.port, host: options.host ?? "127.0.0.1" }))
    )
    const context = yield* Layer.build(app)
    const server = yield* HttpServer.HttpServer.pipe(Effect.provide(context))
    return `${HttpServer.formatAddress(server.address)}/`
  })
