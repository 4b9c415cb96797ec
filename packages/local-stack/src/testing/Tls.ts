/**
 * TLS certificates for tests, made at test time with the `openssl` command line: a CA, a
 * server certificate it signs for one host name, and a second CA that signed nothing (the
 * wrong CA), plus the server settings that turn TLS on in an embedded PostgreSQL
 * (`startPostgres` / `LocalStack.layer` settings).
 *
 * Invariants:
 *  - Everything lives in the directory given (the caller's to remove); nothing is fetched.
 *  - The server's key is readable by the user the server runs as, and by no one else
 *    (PostgreSQL refuses a key others may read): as root, it belongs to user `postgres`.
 *  - Without `openssl` on the PATH, fails with one line saying how to install it.
 */
import { Effect } from "effect"
import { spawnSync } from "node:child_process"
import { chmodSync, chownSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { LocalStackError, type LocalStackSetupError } from "../LocalStackError.ts"
import { postgresBinaries } from "../PostgresBinaries.ts"

export interface TestCertificates {
  /** PEM of the CA that signed the server's certificate. */
  readonly caFile: string
  /** PEM of another CA, which signed nothing here. */
  readonly otherCaFile: string
  /** The host name the server's certificate holds (its only subject alternative name). */
  readonly hostName: string
  /** PostgreSQL settings turning TLS on with the server's certificate and key. */
  readonly serverSettings: Readonly<Record<string, string>>
}

const openssl = (args: ReadonlyArray<string>) => {
  const run = spawnSync("openssl", args, { encoding: "utf8" })
  if (run.error !== undefined || run.status !== 0) {
    throw new Error(`openssl ${args[0]} failed: ${(run.error?.message ?? run.stderr).trim().split("\n")[0]}`)
  }
}

/** A self-signed CA named `name`: key and certificate in `dir`. */
const makeCa = (dir: string, name: string) => {
  const key = join(dir, `${name}.key`)
  const certificate = join(dir, `${name}.pem`)
  openssl([
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", certificate,
    "-days", "2", "-subj", `/CN=totes-cdc test ${name}`,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"
  ])
  return { key, certificate }
}

/**
 * Makes, in `dir` (which PostgreSQL's user must be able to enter), a CA, a server
 * certificate it signs for `hostName` (default `localhost`), and a second, unrelated CA.
 * Fails with `LocalStackError` when openssl is missing or fails, `LocalStackSetupError` when,
 * as root, the user `postgres` cannot be made.
 */
export const makeTestCertificates = (dir: string, hostName = "localhost"): Effect.Effect<TestCertificates, LocalStackError | LocalStackSetupError> =>
  Effect.gen(function* () {
    if (spawnSync("sh", ["-c", "command -v openssl"]).status !== 0) {
      return yield* new LocalStackError({ component: "postgres", message: "openssl is not on the PATH: install it (apt-get install -y openssl) to make test certificates" })
    }
    const { runAs } = yield* postgresBinaries()
    return yield* Effect.try({
      try: (): TestCertificates => {
        chmodSync(dir, 0o755)
        const ca = makeCa(dir, "ca")
        const other = makeCa(dir, "other-ca")
        const key = join(dir, "server.key")
        const request = join(dir, "server.csr")
        const certificate = join(dir, "server.pem")
        const extensions = join(dir, "server.ext")
        writeFileSync(extensions, `subjectAltName=DNS:${hostName}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n`)
        openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", request, "-subj", `/CN=${hostName}`])
        openssl(["x509", "-req", "-in", request, "-CA", ca.certificate, "-CAkey", ca.key, "-CAcreateserial", "-out", certificate, "-days", "2", "-extfile", extensions])
        chmodSync(key, 0o600)
        if (runAs !== undefined) chownSync(key, runAs.uid, runAs.gid)
        for (const file of [ca.certificate, other.certificate, certificate]) chmodSync(file, 0o644)
        return {
          caFile: ca.certificate,
          otherCaFile: other.certificate,
          hostName,
          serverSettings: { ssl: "on", ssl_cert_file: certificate, ssl_key_file: key }
        }
      },
      catch: (cause) => new LocalStackError({ component: "postgres", message: `cannot make test certificates in ${dir}: ${cause instanceof Error ? cause.message : String(cause)}` })
    })
  })
