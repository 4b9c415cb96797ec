/**
 * PostgreSQL adapter: a scoped connection pool over node-postgres (`pg`) with
 * transactions and `COPY … FROM STDIN`.
 *
 * Invariants:
 *  - Every value read comes back as PostgreSQL's own text form (`string`) or `null`:
 *    the pool owns its type parsers (identity for every OID), so nothing depends on
 *    node-postgres' process-global parser registry (DESIGN.md §8) and no timestamp or
 *    numeric is re-interpreted in JavaScript.
 *  - A pool is verified with a round trip when it is made; a wrong URL, password or
 *    database fails there with one line naming the problem and the fix.
 *  - `transaction` commits only if its body succeeds; failure or interruption rolls
 *    back, so callers never leave half-written state.
 *
 * Why `pg` and not `@effect/sql-pg`: the pipeline needs `COPY` (seed, loader) and
 * pg-logical-replication, which is built on `pg`; one driver serves both.
 */
import { Context, Effect, Exit, Layer, Schema, type Scope } from "effect"
import pg from "pg"
import { from as copyFromStdin } from "pg-copy-streams"
import type { Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import { type PgTls, pgSslOptions } from "./PostgresTls.ts"
import { redactSecrets, redactUrl } from "./Redact.ts"

/** A result row: column name → PostgreSQL text form, or null for SQL NULL. */
export type Row = Readonly<Record<string, string | null>>

/**
 * A failed database call. `message`: one line, problem and fix. `code`: the SQLSTATE or
 * errno code, when there is one. `retryable` is true for connection-level failures only.
 * `cause`: the driver / socket error (or schema error) it was made from, when there was one.
 */
export class PgError extends Schema.TaggedError<PgError>()("PgError", {
  message: Schema.String,
  code: Schema.optional(Schema.String),
  retryable: Schema.Boolean,
  cause: Schema.optional(Schema.Defect())
}) {}

/** What can run statements: a pool (each call on any connection) or a transaction. */
export interface PgSession {
  /** Runs one statement with `$1…$n` parameters; returns its rows (text values). Fails with `PgError`. */
  readonly query: (sql: string, params?: ReadonlyArray<unknown>) => Effect.Effect<ReadonlyArray<Row>, PgError>
  /**
   * Runs `COPY <table> (…) FROM STDIN` fed by `source` (text-format COPY lines).
   * Returns the number of rows copied. Fails with `PgError`.
   */
  readonly copyIn: (sql: string, source: Readable | AsyncIterable<string | Buffer>) => Effect.Effect<number, PgError>
  /**
   * Runs parameterless `statements` in order in ONE round trip (the simple query protocol)
   * and answers the rows of the last one (values as text), the others' discarded: outside a
   * transaction they run as one implicit transaction. Fails with the `PgError` of the first
   * statement that fails (the later ones do not run).
   */
  readonly script: (statements: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<Row>, PgError>
}

export interface PgPool extends PgSession {
  /** The URL with its password hidden, for messages. */
  readonly target: string
  /** One connection of the pool for the caller alone until the scope closes (cursors, session settings). */
  readonly reserve: Effect.Effect<PgSession, PgError, Scope.Scope>
  /** Runs `body` inside BEGIN … COMMIT on one connection; rolls back on failure or interruption. */
  readonly transaction: <A, E, R>(body: (tx: PgSession) => Effect.Effect<A, E, R>) => Effect.Effect<A, E | PgError, R>
}

export interface PgPoolOptions {
  /** Maximum connections (default 4). */
  readonly max?: number
  /** `application_name` shown in pg_stat_activity (default "totes-cdc"). */
  readonly applicationName?: string
  /** Environment variable or flag the URL came from, named in error messages. */
  readonly setting?: string
  /**
   * TLS with full verification (certificate chain to `ca` + host name), unless the URL sets
   * its own `sslmode` (PostgresTls.ts). `setting`: where the CA came from, named when the
   * server's certificate is not trusted.
   */
  readonly ssl?: PgTls
}

/** Type parsers for one pool: every OID is returned as its text form. */
const textTypes = { getTypeParser: () => (value: string) => value }


interface DriverError {
  readonly code?: unknown
  readonly message?: unknown
}

/** Node's TLS errors for a server certificate the given CAs do not verify (its chain). */
const TLS_TRUST_CODES: ReadonlySet<string> = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_SIGNATURE_FAILURE"
])

/** node-postgres's error when TLS is asked for and the server has it off. */
const NO_TLS_ON_SERVER = "The server does not support SSL connections"

/**
 * Pure: turns a node-postgres / socket error into a `PgError` of one line naming the
 * problem and the fix, with `cause` the error itself. SQLSTATE classes: 28 (auth), 3D
 * (no database), 08 (connection); errno ECONNREFUSED/ENOTFOUND/ETIMEDOUT for the network;
 * Node's TLS codes for a server certificate its CA list does not verify (naming
 * `caSetting`, default `<X>_CA_FILE` for a setting `<X>_URL`, else the URL's `sslrootcert=`)
 * or that names another host (naming the host in `setting`), and a server without TLS.
 * `target` (redacted URL) and `setting` (where the URL came from) are named in the message;
 * any password the driver's text holds is hidden (`redactSecrets`).
 */
export const describePgError = (cause: unknown, target: string, setting: string, caSetting?: string): PgError => {
  const err: DriverError = typeof cause === "object" && cause !== null ? cause : { message: String(cause) }
  const code = typeof err.code === "string" ? err.code : undefined
  const text = redactSecrets((typeof err.message === "string" ? err.message : String(cause)).split("\n")[0] ?? "")
  const where = `${target} (${setting})`
  const connection = (message: string) => new PgError({ message, ...(code ? { code } : {}), retryable: true, cause })
  const plain = (message: string, retryable = false) => new PgError({ message, ...(code ? { code } : {}), retryable, cause })
  const ca = caSetting ?? (setting.endsWith("_URL") ? setting.replace(/_URL$/, "_CA_FILE") : `sslrootcert= in ${setting}`)
  if (code !== undefined && TLS_TRUST_CODES.has(code)) {
    return plain(`the server certificate of ${where} is not trusted: ${text}; give the PEM file of the CA that signed it (${ca})`)
  }
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    return plain(`the server certificate of ${where} is for another host name: ${text}; connect by a host name the certificate holds (the host in ${setting})`)
  }
  if (text === NO_TLS_ON_SERVER) {
    return plain(`${where} does not accept TLS connections: turn ssl on in the server, or do not ask for TLS (${caSetting ?? `sslmode= in ${setting}`})`)
  }
  switch (code) {
    case "28P01":
    case "28000":
      return plain(`authentication failed for ${where}: ${text}; fix the user name or password in ${setting}`)
    case "3D000":
      return plain(`database does not exist at ${where}: ${text}; create it or fix the database name in ${setting}`)
    case "ECONNREFUSED":
      return connection(`nothing is listening at ${where}; start PostgreSQL or fix the host and port in ${setting}`)
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return connection(`host not found for ${where}; fix the host name in ${setting}`)
    case "ETIMEDOUT":
      return connection(`connection timed out to ${where}; check the network path or the host in ${setting}`)
    case "ECONNRESET":
    case "57P01":
    case "57P02":
    case "57P03":
      return connection(`connection to ${where} was lost: ${text}`)
    default:
      if (code?.startsWith("08")) return connection(`connection failure at ${where}: ${text}`)
      return plain(`${text}${code ? ` (SQLSTATE ${code})` : ""}`)
  }
}

const makeSession = (
  run: <A>(f: (client: pg.PoolClient | pg.Pool) => Promise<A>) => Effect.Effect<A, PgError>,
  acquireClient: <A>(f: (client: pg.PoolClient) => Promise<A>) => Effect.Effect<A, PgError>
): PgSession => ({
  query: (sql, params) =>
    run(async (client) => (await client.query({ text: sql, values: params ? [...params] : [] })).rows as Array<Row>).pipe(Effect.withSpan("Postgres.query")),
  script: (statements) =>
    statements.length === 0
      ? Effect.succeed([])
      : run(async (client) => {
          // One result per statement when there are several (pg's typings know only one).
          const results: pg.QueryResult | Array<pg.QueryResult> = await client.query(statements.join(";\n"))
          return ((Array.isArray(results) ? results.at(-1) : results)?.rows ?? []) as Array<Row>
        }).pipe(Effect.withSpan("Postgres.script", { attributes: { statements: statements.length } })),
  copyIn: (sql, source) =>
    acquireClient(async (client) => {
      const sink = client.query(copyFromStdin(sql))
      await pipeline(source, sink)
      return sink.rowCount
    }).pipe(Effect.withSpan("Postgres.copyIn"))
})

/**
 * Opens a pool to `url` and checks it with `SELECT 1`. Closed when the scope closes.
 * Fails with `PgError` (one line: problem + fix) when the URL is malformed or the
 * server, database or credentials are wrong.
 */
export const makePgPool = (url: string, options: PgPoolOptions = {}): Effect.Effect<PgPool, PgError, Scope.Scope> =>
  Effect.gen(function* () {
    const setting = options.setting ?? "the database URL"
    const target = redactUrl(url)
    if (!URL.canParse(url) || !/^postgres(ql)?:$/.test(new URL(url).protocol)) {
      return yield* new PgError({
        message: `${setting} is not a PostgreSQL URL: ${target}; use postgres://user:password@host:port/database`,
        retryable: false
      })
    }
    const pool = yield* Effect.acquireRelease(
      Effect.sync(
        () =>
          new pg.Pool({
            connectionString: url,
            max: options.max ?? 4,
            application_name: options.applicationName ?? "totes-cdc",
            types: textTypes,
            connectionTimeoutMillis: 10_000,
            ...pgSslOptions(options.ssl)
          })
      ),
      (pool) => Effect.promise(() => pool.end().catch(() => undefined))
    )
    // Idle clients can error when the server goes away; the next query reports it.
    pool.on("error", () => undefined)
    // So can checked-out ones: pg emits that on the client itself, which has no listener once
    // out of the pool, and an unheard 'error' event ends the process (a server stopping under
    // a transaction or a reserved session). The next query on the client reports it instead.
    const ignore = () => undefined
    const checkout = () =>
      pool.connect().then((client) => {
        client.on("error", ignore)
        return client
      })
    const checkin = (client: pg.PoolClient, error?: Error | boolean) => {
      client.off("error", ignore)
      client.release(error)
    }
    const fail = (cause: unknown) => describePgError(cause, target, setting, options.ssl?.setting)
    const run = <A>(f: (client: pg.PoolClient | pg.Pool) => Promise<A>) =>
      Effect.tryPromise({ try: () => f(pool), catch: fail })
    const withClient = <A>(f: (client: pg.PoolClient) => Promise<A>) =>
      Effect.acquireUseRelease(
        Effect.tryPromise({ try: checkout, catch: fail }),
        (client) => Effect.tryPromise({ try: () => f(client), catch: fail }),
        (client) => Effect.sync(() => checkin(client))
      )
    const transaction = <A, E, R>(body: (tx: PgSession) => Effect.Effect<A, E, R>) =>
      Effect.withSpan("Postgres.transaction")(Effect.acquireUseRelease(
        Effect.tryPromise({
          try: async () => {
            const client = await checkout()
            await client.query("BEGIN").catch((error: unknown) => {
              checkin(client)
              throw error
            })
            return client
          },
          catch: fail
        }),
        (client) => {
          const onClient = <B>(f: (c: pg.PoolClient) => Promise<B>) => Effect.tryPromise({ try: () => f(client), catch: fail })
          return body(makeSession(onClient, onClient)).pipe(
            Effect.tap(() => onClient((c) => c.query("COMMIT")))
          )
        },
        (client, exit) =>
          Exit.isSuccess(exit)
            ? Effect.sync(() => checkin(client))
            : Effect.promise(() =>
                client.query("ROLLBACK").then(
                  () => checkin(client),
                  (error: Error) => checkin(client, error)
                )
              )
      ))
    const reserve = Effect.acquireRelease(
      Effect.tryPromise({ try: checkout, catch: fail }),
      (client) => Effect.sync(() => checkin(client, true))
    ).pipe(
      Effect.map((client) => {
        const onClient = <B>(f: (c: pg.PoolClient) => Promise<B>) => Effect.tryPromise({ try: () => f(client), catch: fail })
        return makeSession(onClient, onClient)
      })
    )
    const session = makeSession(run, withClient)
    yield* session.query("SELECT 1")
    return { target, reserve, transaction, ...session } satisfies PgPool
  })

/**
 * The source database (totesys) as a service: a `PgPool` (text values; `query`, `reserve`,
 * `transaction`, `copyFrom`). `layer` opens it (`makePgPool`: fails with `PgError` naming
 * `options.setting` and the fix) and closes it with the layer.
 */
export class SourceDb extends Context.Service<SourceDb, PgPool>()("@totes-cdc/platform/SourceDb") {
  static readonly layer = (url: string, options: PgPoolOptions = {}): Layer.Layer<SourceDb, PgError> => Layer.effect(SourceDb, makePgPool(url, options))
}

/** The warehouse database as a service: a `PgPool`, opened and closed as `SourceDb`'s. */
export class WarehouseDb extends Context.Service<WarehouseDb, PgPool>()("@totes-cdc/platform/WarehouseDb") {
  static readonly layer = (url: string, options: PgPoolOptions = {}): Layer.Layer<WarehouseDb, PgError> => Layer.effect(WarehouseDb, makePgPool(url, options))
}
