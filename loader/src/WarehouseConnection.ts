/**
 * The warehouse connection, configured (issue 5 "Warehouse connection"): a PostgreSQL
 * URL, the target schema, TLS with full verification against a CA file, and the password
 * from an AWS Secrets Manager secret when an ARN is given.
 *
 * Invariants:
 *  - TLS: `WAREHOUSE_CA_FILE` (PEM) turns on `sslmode=verify-full` semantics (chain to
 *    that CA and host name checked); a URL that carries its own `sslmode=…&sslrootcert=…`
 *    is used as it is (node-postgres reads those parameters). The CA file is read by
 *    platform's PostgresTls.ts, as the source's `SOURCE_CA_FILE` is.
 *  - Secret: `SecretString` is either the password itself or JSON with a `password`
 *    field (the RDS-managed secret format). A password in the URL wins over the secret.
 *  - Every failure is one line naming the setting and the fix (`WarehouseConnectionError`,
 *    the CA file's `PgTlsError` or the pool's `PgError`).
 */
import { DEFAULTS } from "@totes-cdc/core"
import { loadPgTls, makePgPool, type PgError, type PgPool, type PgTlsError, SecretsManager, type SecretsManagerError, WarehouseDb } from "@totes-cdc/platform"
import { Config, Effect, Layer, Option, Schema, type Scope } from "effect"

/**
 * The warehouse connection cannot be configured (its password secret): one line naming
 * the setting and the fix. `cause`: the Secrets Manager error it was made from, when there
 * was one.
 */
export class WarehouseConnectionError extends Schema.TaggedError<WarehouseConnectionError>()("WarehouseConnectionError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

export interface WarehouseSettings {
  /** `postgres://user[:password]@host:port/database[?sslmode=…]`. */
  readonly url: string
  /** Schema holding the star schema (default `public`). */
  readonly schema: string
  /** PEM file of the CA that signed the warehouse's certificate: TLS, verify-full. */
  readonly caFile: string | undefined
  /** ARN of a Secrets Manager secret holding the password. */
  readonly passwordSecretArn: string | undefined
  /** Region of the secret (AWS_REGION). */
  readonly region: string
}

const optional = (name: string) => Config.option(Config.String(name)).pipe(Config.map(Option.getOrUndefined))

/** WAREHOUSE_URL (required), WAREHOUSE_SCHEMA, WAREHOUSE_CA_FILE, WAREHOUSE_PASSWORD_SECRET_ARN, AWS_REGION. */
export const warehouseSettingsConfig: Config.Config<WarehouseSettings> = Config.all({
  url: Config.String("WAREHOUSE_URL"),
  schema: Config.String("WAREHOUSE_SCHEMA").pipe(Config.withDefault(DEFAULTS.warehouseSchema)),
  caFile: optional("WAREHOUSE_CA_FILE"),
  passwordSecretArn: optional("WAREHOUSE_PASSWORD_SECRET_ARN"),
  region: Config.String("AWS_REGION").pipe(Config.withDefault(DEFAULTS.region))
})

/** Pure: the password in a secret's `SecretString` (plain, or JSON `{"password": …}`), or undefined. */
export const passwordOfSecret = (secret: string): string | undefined => {
  const text = secret.trim()
  if (!text.startsWith("{")) return text === "" ? undefined : secret
  try {
    const parsed: unknown = JSON.parse(text)
    const password = typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>)["password"] : undefined
    return typeof password === "string" ? password : undefined
  } catch {
    return undefined
  }
}

/** Why a secret could not be read: the Secrets Manager error's own text (the SDK's message), else the service's line. */
const unreadable = (error: SecretsManagerError): string =>
  error.cause instanceof Error ? error.cause.message : error.cause !== undefined ? String(error.cause) : error.message

/**
 * The warehouse password in secret `arn` (`passwordOfSecret`), read through `SecretsManager`.
 * Fails with `WarehouseConnectionError`: the secret cannot be read (its `cause` the
 * `SecretsManagerError`), or holds no password.
 */
const fetchSecretPassword = (arn: string) =>
  SecretsManager.use((secrets) => secrets.getSecretString(arn)).pipe(
    Effect.mapError(
      (error) =>
        new WarehouseConnectionError({
          message: `WAREHOUSE_PASSWORD_SECRET_ARN ${arn}: cannot read the secret (${unreadable(error)}); check the ARN, the region (AWS_REGION) and secretsmanager:GetSecretValue permission`,
          cause: error
        })
    ),
    Effect.flatMap((secret) => {
      const password = passwordOfSecret(secret)
      return password === undefined
        ? Effect.fail(
            new WarehouseConnectionError({
              message: `WAREHOUSE_PASSWORD_SECRET_ARN ${arn}: the secret holds no password; store the password itself or JSON with a "password" field`
            })
          )
        : Effect.succeed(password)
    })
  )

/**
 * Pure: `url` with `password` as its password (percent-encoded), unless the URL carries
 * one already (it wins) or is not a URL (the pool then says so). In the URL, not the pool's
 * `password` option: node-postgres lets the URL's empty password override that option.
 */
export const urlWithPassword = (url: string, password: string): string => {
  if (!URL.canParse(url)) return url
  const parsed = new URL(url)
  if (parsed.password !== "") return url
  parsed.password = encodeURIComponent(password)
  return parsed.toString()
}

/**
 * A pool to the warehouse of `settings` (closed with the scope), TLS with full verification
 * against the CA in `settings.caFile` (WAREHOUSE_CA_FILE) when given, the password read from
 * `settings.passwordSecretArn` through `SecretsManager` when set (provide
 * `SecretsManager.layer(settings.region)`, or use `openWarehouse`). Fails with
 * WarehouseConnectionError (secret), PgTlsError (CA file) or PgError (URL, server,
 * credentials, certificate), one line naming the setting to fix.
 */
export const connectWarehouse = (
  settings: WarehouseSettings,
  options: { readonly max?: number; readonly applicationName?: string } = {}
): Effect.Effect<PgPool, WarehouseConnectionError | PgTlsError | PgError, Scope.Scope | SecretsManager> =>
  Effect.gen(function* () {
    const password = settings.passwordSecretArn === undefined ? undefined : yield* fetchSecretPassword(settings.passwordSecretArn)
    const url = password === undefined ? settings.url : urlWithPassword(settings.url, password)
    const ssl = yield* loadPgTls(settings.caFile, "WAREHOUSE_CA_FILE", "the warehouse's")
    return yield* makePgPool(url, { setting: "WAREHOUSE_URL", ...options, ...(ssl === undefined ? {} : { ssl }) })
  })

/**
 * `connectWarehouse` with Secrets Manager in `settings.region` (the SDK's credential chain;
 * called only when `passwordSecretArn` is set): for the commands that open the warehouse
 * themselves (`status`, the dashboard). Same errors as `connectWarehouse`.
 */
export const openWarehouse = (
  settings: WarehouseSettings,
  options: { readonly max?: number; readonly applicationName?: string } = {}
): Effect.Effect<PgPool, WarehouseConnectionError | PgTlsError | PgError, Scope.Scope> =>
  connectWarehouse(settings, options).pipe(Effect.provide(SecretsManager.layer(settings.region)))

/**
 * The warehouse of `settings` as the `WarehouseDb` service: `connectWarehouse` as a layer
 * (the pool closes with it). Fails with `WarehouseConnectionError`, `PgTlsError` or
 * `PgError`; needs `SecretsManager` when the password is in a secret.
 */
export const warehouseLayer = (
  settings: WarehouseSettings,
  options: { readonly max?: number; readonly applicationName?: string } = {}
): Layer.Layer<WarehouseDb, WarehouseConnectionError | PgTlsError | PgError, SecretsManager> => Layer.effect(WarehouseDb, connectWarehouse(settings, options))
