/**
 * The dashboard as one piece (`totes-cdc dashboard`, and `totes-cdc dev` at the URL it
 * prints): pools to the source and the warehouse, the sampler (Sampler.ts) and the HTTP
 * server (Server.ts), all closed with the caller's scope.
 *
 * Invariants: the preferred port is tried first; when it is taken and `fallbackToAnyPort`
 * is set (dev), any free port is used and the URL says which. Fails with `PgError` (a
 * database that cannot be reached) or the server's `ServeError` (port taken, no fallback).
 */
import type { ReaderSettings } from "@totes-cdc/cdc-reader"
import { makePgPool, type PgPool } from "@totes-cdc/platform"
import { Effect } from "effect"
import type { StatusOptions } from "../status/PipelineStatus.ts"
import { startSampler } from "./Sampler.ts"
import { serveDashboard } from "./Server.ts"

export interface DashboardOptions {
  readonly settings: ReaderSettings
  readonly warehouseUrl: string
  readonly warehouseSchema: string
  readonly status?: StatusOptions
  readonly host?: string
  readonly port: number
  readonly fallbackToAnyPort?: boolean
  /** Pools to reuse (dev has them); opened here otherwise. */
  readonly pools?: { readonly source: PgPool; readonly warehouse: PgPool }
}

/** Starts the dashboard in the current scope; answers its URL. */
export const startDashboard = (options: DashboardOptions) =>
  Effect.gen(function* () {
    const { source, warehouse } =
      options.pools ??
      {
        source: yield* makePgPool(options.settings.sourceUrl, { setting: "SOURCE_URL", max: 2 }),
        warehouse: yield* makePgPool(options.warehouseUrl, { setting: "WAREHOUSE_URL", max: 3 })
      }
    const sampler = yield* startSampler({
      settings: options.settings,
      source,
      warehouse,
      warehouseSchema: options.warehouseSchema,
      ...(options.status === undefined ? {} : { status: options.status })
    })
    const serve = (port: number) =>
      serveDashboard({ latest: sampler.latest, warehouse, warehouseSchema: options.warehouseSchema, port, ...(options.host === undefined ? {} : { host: options.host }) })
    return yield* options.fallbackToAnyPort === true && options.port !== 0 ? serve(options.port).pipe(Effect.catch(() => serve(0))) : serve(options.port)
  })
