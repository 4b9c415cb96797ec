/**
 * The source connection, configured: `SOURCE_URL` and TLS with full verification against
 * the CA in `SOURCE_CA_FILE` (as the warehouse's `WAREHOUSE_CA_FILE`: platform's
 * PostgresTls.ts reads both), for every connection to the source — the reader's pool and
 * replication connections, and `status`, `verify`, the dashboard and `reader slot …`.
 *
 * Invariants:
 *  - One configuration for all of them: a CA given is used by the pools and by the
 *    replication connections alike; none connects without it.
 *  - `SOURCE_CA_FILE` turns on verify-full (the chain to that CA and the host name); a URL
 *    with its own `sslmode=…&sslrootcert=…` is used as it is (node-postgres reads those).
 *  - A CA file that cannot be used fails before any connection, with one line naming
 *    `SOURCE_CA_FILE` (`PgTlsError`); a server whose certificate it does not verify fails
 *    with one line naming `SOURCE_CA_FILE`, one for another host name naming `SOURCE_URL`.
 */
import { loadPgTls, makePgPool, type PgError, type PgPool, type PgTlsError, Replication, SourceDb } from "@totes-cdc/platform"
import { Effect, Layer, type Scope } from "effect"

/** Where the source is: its URL and, for TLS, its CA's PEM file. */
export interface SourceConnectionSettings {
  /** `postgres://user[:password]@host:port/database[?sslmode=…]` (SOURCE_URL). */
  readonly sourceUrl: string
  /** PEM file of the CA that signed the source's certificate: TLS, verify-full (SOURCE_CA_FILE). */
  readonly sourceCaFile?: string | undefined
}

/** The names of the settings, as messages give them. */
export const SOURCE_URL_SETTING = "SOURCE_URL"
export const SOURCE_CA_SETTING = "SOURCE_CA_FILE"

/** The source's TLS (`SOURCE_CA_FILE` read), or none. Fails with `PgTlsError` naming the setting and the fix. */
export const sourceTls = (settings: SourceConnectionSettings) => loadPgTls(settings.sourceCaFile, SOURCE_CA_SETTING, "the source's")

/**
 * A pool to the source of `settings` (`makePgPool`: checked with a round trip, closed with
 * the scope), TLS as `SOURCE_CA_FILE` says. `options.setting` names where the URL came from
 * when it is not `SOURCE_URL` (a state file). Fails with `PgTlsError` (the CA file) or
 * `PgError` (URL, server, credentials, certificate), one line naming the setting to fix.
 */
export const connectSource = (
  settings: SourceConnectionSettings,
  options: { readonly max?: number; readonly applicationName?: string; readonly setting?: string } = {}
): Effect.Effect<PgPool, PgTlsError | PgError, Scope.Scope> =>
  sourceTls(settings).pipe(
    Effect.flatMap((ssl) => makePgPool(settings.sourceUrl, { setting: SOURCE_URL_SETTING, ...options, ...(ssl === undefined ? {} : { ssl }) }))
  )

/**
 * The source as services: its pool (`SourceDb`) and its replication connections
 * (`Replication`), both with the TLS of `SOURCE_CA_FILE`. Fails as `connectSource`.
 */
export const sourceLayer = (
  settings: SourceConnectionSettings,
  options: { readonly max?: number; readonly applicationName?: string } = {}
): Layer.Layer<SourceDb | Replication, PgTlsError | PgError> =>
  Layer.unwrap(
    sourceTls(settings).pipe(
      Effect.map((ssl) => {
        const tls = ssl === undefined ? {} : { ssl }
        return Layer.mergeAll(
          SourceDb.layer(settings.sourceUrl, { setting: SOURCE_URL_SETTING, ...options, ...tls }),
          Replication.layer(settings.sourceUrl, { setting: SOURCE_URL_SETTING, ...tls })
        )
      })
    )
  )
