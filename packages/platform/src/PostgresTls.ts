/**
 * TLS to PostgreSQL with full verification (libpq's `sslmode=verify-full`): the server's
 * certificate must chain to the CA given and name the host connected to. One reading of a
 * CA setting (`SOURCE_CA_FILE`, `WAREHOUSE_CA_FILE`) for every connection that takes one —
 * the pools (`makePgPool`'s `ssl`) and the replication connections (`Replication.layer`).
 *
 * Invariants:
 *  - A CA file is read once, when the connection is configured; one that cannot be read or
 *    holds no PEM certificate fails then, before any connection, with one line naming the
 *    setting, the file and the fix (`PgTlsError`).
 *  - `PgTls` carries the setting it came from, so a certificate the CA does not verify is
 *    reported naming that setting (`describePgError`).
 *  - Options only ever tighten: `pgSslOptions` always verifies the chain and the host name
 *    (`rejectUnauthorized`, Node's default host check); a URL's own `sslmode` / `sslrootcert`
 *    still win over it (node-postgres reads them last), as the README documents.
 */
import { Effect, Schema } from "effect"
import { readFile } from "node:fs/promises"

/** TLS with full verification: the CA's PEM text, and the setting that named its file (for messages). */
export interface PgTls {
  readonly ca: string
  /** e.g. `SOURCE_CA_FILE`; absent: messages name the URL's `sslrootcert=` instead. */
  readonly setting?: string
}

/** A CA file cannot be used: one line naming the setting, the file and the fix. `cause`: the file-system error, if any. */
export class PgTlsError extends Schema.TaggedError<PgTlsError>()("PgTlsError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

const PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----"

/**
 * Reads `file`, named by setting `setting` (e.g. `SOURCE_CA_FILE`), the PEM of the CA that
 * signed the certificate of `server` (e.g. "the source's"). Answers the `PgTls` to connect
 * with. Fails with `PgTlsError` when the file cannot be read or holds no PEM certificate.
 */
export const readCaFile = (file: string, setting: string, server: string): Effect.Effect<PgTls, PgTlsError> =>
  Effect.tryPromise({
    try: () => readFile(file, "utf8"),
    catch: (cause) =>
      new PgTlsError({
        message: `${setting} ${file}: cannot be read (${cause instanceof Error ? cause.message : String(cause)}); give the PEM file of the CA that signed ${server} certificate`,
        cause
      })
  }).pipe(
    Effect.filterOrFail(
      (ca) => ca.includes(PEM_CERTIFICATE),
      () =>
        new PgTlsError({
          message: `${setting} ${file}: holds no PEM certificate ("${PEM_CERTIFICATE}"); give the PEM file of the CA that signed ${server} certificate`
        })
    ),
    Effect.map((ca): PgTls => ({ ca, setting }))
  )

/**
 * `readCaFile` when `file` is set, else no TLS options (the URL's own `sslmode`, if any,
 * decides). Fails with `PgTlsError` as `readCaFile`.
 */
export const loadPgTls = (file: string | undefined, setting: string, server: string): Effect.Effect<PgTls | undefined, PgTlsError> =>
  file === undefined || file === "" ? Effect.succeed(undefined) : readCaFile(file, setting, server)

/** Pure: node-postgres's `ssl` option for `tls` (chain to `tls.ca`, host name checked), or nothing. */
export const pgSslOptions = (tls: PgTls | undefined): { readonly ssl?: { readonly ca: string; readonly rejectUnauthorized: true } } =>
  tls === undefined ? {} : { ssl: { ca: tls.ca, rejectUnauthorized: true } }
