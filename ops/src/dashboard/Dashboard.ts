/**
 * The dashboard as one piece (`totes-cdc dashboard`, and `totes-cdc dev` at the URL it
 * prints): pools to the source and the warehouse, the sampler (Sampler.ts) and the HTTP
 * server (Server.ts), all closed with the caller's scope.
 *
 * Invariants: the preferred port is tried first; when it is taken and `fallbackToAnyPort`
 * is set (dev), any free port is used and the URL says which. The pools are opened as the
 * components open theirs (TLS of SOURCE_CA_FILE, WAREHOUSE_CA_FILE; the password of
 * WAREHOUSE_PASSWORD_SECRET_ARN). Fails with `PgError` (a database that cannot be
 * reached), `PgTlsError` (a CA file), `WarehouseConnectionError` (the password secret) or
 * the server's `ServeError` (port taken, no fallback).
 */
import { connectSource, type ReaderSettings } from "@totes-cdc/cdc-reader"
import { openWarehouse, type WarehouseSettings } from "@totes-cdc/loader"
import type { PgPool } from "@totes-cdc/platform"
import { Effect } from "effect"
import type { StatusOptions } from "../status/PipelineStatus.ts"
import { startSampler } from "./Sampler.ts"
import { serveDashboard } from "./Server.ts"

export interface DashboardOptions {
  readonly settings: ReaderSettings
  /** The warehouse (WAREHOUSE_URL, WAREHOUSE_SCHEMA, WAREHOUSE_CA_FILE, WAREHOUSE_PASSWORD_SECRET_ARN): its schema is read, and a pool opened to it unless `pools` is given. */
  readonly warehouse: WarehouseSettings
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
        source: yield* connectSource(options.settings, { max: 2 }),
        warehouse: yield* openWarehouse(options.warehouse, { max: 3 })
      }
    const sampler = yield* startSampler({
      settings: options.settings,
      source,
      warehouse,
      warehouseSchema: options.warehouse.schema,
      ...(options.status === undefined ? {} : { status: options.status })
    })
    const serve = (port: number) =>
      serveDashboard({ latest: sampler.latest, warehouse, warehouseSchema: options.warehouse.schema, port, ...(options.host === undefined ? {} : { host: options.host }) })
    return yield* options.fallbackToAnyPort === true && options.port !== 0 ? serve(options.port).pipe(Effect.catch(() => serve(0))) : serve(options.port)
  })
