/**
 * TLS with full verification (verify-full) for the source, as for the warehouse (issue 16
 * item 4). The embedded PostgreSQL runs with TLS on, its certificate made at test time by
 * openssl for `localhost` and signed by a test CA (local-stack's testing/Tls.ts); the real
 * `totes-cdc` runs as child processes:
 *  - `totes-cdc reader` with SOURCE_CA_FILE, and another with `?sslmode=verify-full&
 *    sslrootcert=…` in SOURCE_URL, connect by the certificate's host name, snapshot, and
 *    stream a change — every one of their connections to the source, the replication
 *    connection included, over TLS (pg_stat_ssl). The first streams a publication whose
 *    name needs quotes ("Totes CDC"), which the replication command must send as it is.
 *  - `status` reads the source over the same TLS;
 *  - a CA that did not sign the certificate, a host name it does not hold (127.0.0.1), a CA
 *    file that is missing or holds no certificate are refused before anything runs: exit
 *    1, one line on stderr naming the setting to fix (SOURCE_CA_FILE, SOURCE_URL — and
 *    WAREHOUSE_CA_FILE for the loader).
 */
import { expect, layer } from "@effect/vitest"
import { LocalStack } from "@totes-cdc/local-stack"
import { emptyTotesys, makeTestCertificates, stackEnvironment, type TestCertificates } from "@totes-cdc/local-stack/testing"
import { makePgPool, type Row } from "@totes-cdc/platform"
import { Context, Effect, Layer } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { eventually, type Run, runCliWithin, startCli } from "../e2e/CliProcess.ts"

/** The certificates the stack's PostgreSQL serves (its CA, another CA, the host name). */
class Certificates extends Context.Service<Certificates, TestCertificates>()("test/security/Certificates") {}

/** Certificates made in a temporary directory, and a local stack whose PostgreSQL serves them. */
const tlsStack = Layer.unwrap(
  Effect.gen(function* () {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "totes-cdc-tls-"))),
      (path) => Effect.sync(() => rmSync(path, { recursive: true, force: true }))
    )
    const certificates = yield* makeTestCertificates(dir, "localhost")
    return Layer.merge(LocalStack.layer({ postgresSettings: certificates.serverSettings }), Layer.succeed(Certificates, certificates))
  })
)

/** Runs `totes-cdc …args` with `env` to its end; one still running after 90 s is stopped and answers `code: "running"`. */
const runToEnd = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv) => runCliWithin(args, env, "90 seconds")

const output = (run: Run) => run.stdout() + run.stderr()

layer(tlsStack, { excludeTestServices: true })("TLS verify-full to the source", (it) => {
  /** The components' environment on this stack, the source at `host` (TLS settings added by each case). */
  const environment = Effect.gen(function* () {
    const stack = yield* LocalStack
    const certificates = yield* Certificates
    const url = (database: string, host: string) => `postgres://${stack.postgres.user}:${stack.postgres.password}@${host}:${stack.postgres.port}/${database}`
    const base: NodeJS.ProcessEnv = { ...stackEnvironment(stack), READER_HEARTBEAT_MS: "500" }
    return { stack, certificates, url, base }
  })

  it.effect(
    "readers connect over verified TLS by the certificate's host name (SOURCE_CA_FILE, or sslmode=verify-full in SOURCE_URL), replication included, and stream",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const { stack, certificates, url, base } = yield* environment
          const admin = yield* makePgPool(stack.postgres.url("postgres"), { max: 1 })
          const readers = [
            {
              database: "tls_ca_file",
              env: { SOURCE_URL: url("tls_ca_file", certificates.hostName), SOURCE_CA_FILE: certificates.caFile, READER_SLOT: "tls_ca_file", READER_PUBLICATION: "Totes CDC" }
            },
            {
              database: "tls_url",
              env: {
                SOURCE_URL: `${url("tls_url", certificates.hostName)}?sslmode=verify-full&sslrootcert=${encodeURIComponent(certificates.caFile)}`,
                READER_SLOT: "tls_url"
              }
            }
          ]
          for (const { database, env } of readers) {
            const source = yield* emptyTotesys(database)
            const reader = yield* startCli(["reader"], { ...base, ...env })
            yield* eventually(Effect.sync(() => output(reader).includes("snapshot complete") || reader.child.exitCode !== null), "90 seconds")
            expect(output(reader), database).toContain("snapshot complete")

            // A change streams through the slot: it is confirmed once durable in Kinesis.
            yield* source.query("INSERT INTO currency (currency_code, created_at, last_updated) VALUES ('EUR', now(), now())")
            const [{ lsn } = { lsn: "" }] = yield* source.query("SELECT pg_current_wal_lsn()::text AS lsn")
            yield* eventually(
              admin
                .query("SELECT confirmed_flush_lsn >= $1::pg_lsn AS done FROM pg_replication_slots WHERE slot_name = $2", [lsn, env.READER_SLOT])
                .pipe(Effect.map(([row]) => row?.done === "t" || reader.child.exitCode !== null)),
              "60 seconds"
            )
            expect(reader.child.exitCode, output(reader)).toBeNull()

            // Every connection of the reader to its database, the walsender too, is TLS (the
            // test's own pools, application "totes-cdc", connect to 127.0.0.1 without it).
            // The pool's connections come and go (heartbeats every 500 ms, idle ones closed after
            // 10 s): every one seen until both kinds were, each over TLS.
            const seen: Array<Row> = []
            const readerConnections = admin.query(
              `SELECT a.backend_type, a.application_name, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s ON s.pid = a.pid
                WHERE a.datname = $1 AND a.usename = $2 AND a.application_name <> 'totes-cdc'`,
              [database, stack.postgres.user]
            )
            yield* eventually(
              readerConnections.pipe(
                Effect.tap((rows) => Effect.sync(() => seen.push(...rows))),
                Effect.map(() => seen.some((c) => c.backend_type === "walsender") && seen.some((c) => c.application_name === "totes-cdc-reader"))
              ),
              "30 seconds"
            )
            expect(seen.filter((c) => c.ssl !== "t"), database).toEqual([])
          }

          const status = yield* runToEnd(["status", "--json"], { ...base, ...readers[0]!.env })
          expect(status.code, status.stderr).toBe(0)
          expect(JSON.parse(status.stdout)).toMatchObject({ slot: { name: "tls_ca_file", exists: true } })
        })
      ),
    300_000
  )

  it.effect(
    "a CA that did not sign the certificate, a host name it does not hold, a CA file that cannot be used: refused in one line naming the setting",
    () =>
      Effect.gen(function* () {
        const { certificates, url, base } = yield* environment
        yield* emptyTotesys("tls_refused").pipe(Effect.scoped)
        const notPem = join(tmpdir(), `totes-cdc-not-a-ca-${process.pid}.txt`)
        writeFileSync(notPem, "not a certificate\n")
        const byName = url("tls_refused", certificates.hostName)
        const byAddress = url("tls_refused", "127.0.0.1")
        const cases = [
          { what: "another CA in SOURCE_CA_FILE", args: ["reader"], env: { SOURCE_URL: byName, SOURCE_CA_FILE: certificates.otherCaFile }, says: ["is not trusted", "(SOURCE_CA_FILE)"] },
          { what: "a host name the certificate does not hold", args: ["reader"], env: { SOURCE_URL: byAddress, SOURCE_CA_FILE: certificates.caFile }, says: ["is for another host name", "the host in SOURCE_URL"] },
          {
            what: "a host name the certificate does not hold, sslmode=verify-full in the URL",
            args: ["reader", "slot", "status"],
            env: { SOURCE_URL: `${byAddress}?sslmode=verify-full&sslrootcert=${encodeURIComponent(certificates.caFile)}` },
            says: ["is for another host name", "the host in SOURCE_URL"]
          },
          { what: "a missing SOURCE_CA_FILE", args: ["status"], env: { SOURCE_URL: byName, SOURCE_CA_FILE: "/no/such/ca.pem" }, says: ["SOURCE_CA_FILE /no/such/ca.pem: cannot be read"] },
          { what: "a SOURCE_CA_FILE with no certificate", args: ["reader"], env: { SOURCE_URL: byName, SOURCE_CA_FILE: notPem }, says: [`SOURCE_CA_FILE ${notPem}: holds no PEM certificate`] },
          {
            what: "another CA in WAREHOUSE_CA_FILE",
            args: ["loader"],
            env: { WAREHOUSE_URL: url("postgres", certificates.hostName), WAREHOUSE_CA_FILE: certificates.otherCaFile },
            says: ["is not trusted", "(WAREHOUSE_CA_FILE)"]
          }
        ]
        const results = yield* Effect.forEach(cases, (c) => runToEnd(c.args, { ...base, ...c.env }).pipe(Effect.map((result) => ({ ...c, ...result }))), { concurrency: 2 })
        rmSync(notPem, { force: true })
        for (const result of results) {
          const lines = result.stderr.trim().split("\n")
          expect({ what: result.what, code: result.code, lines: lines.length }, result.stdout + result.stderr).toEqual({ what: result.what, code: 1, lines: 1 })
          for (const text of result.says) expect(lines[0], result.what).toContain(text)
        }
      }),
    300_000
  )
})
