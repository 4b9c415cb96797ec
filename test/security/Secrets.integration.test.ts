/**
 * Secrets never appear in what `totes-cdc` prints (issue 16 item 4, "Security checks as
 * tests"). The real command line runs as child processes on the embedded local stack, with
 * one distinctive password in SOURCE_URL / WAREHOUSE_URL (raw, percent-encoded, as a
 * `?password=` parameter) or in PGPASSWORD, and every run's stdout and stderr must hold no
 * trace of it:
 *  - failures: a host that does not resolve, a wrong password, a port nobody listens on, a
 *    database that does not exist, a URL that does not parse, bad settings — for the reader,
 *    `reader slot status`, the loader, `status` (text and `--json`), `verify` (text and
 *    `--json`) and the dashboard; each ends non-zero with one line on stderr;
 *  - normal runs: the reader's snapshot and streaming, the loader, `status`, `status --json`,
 *    `verify --json`, `reader slot status`, `status --state-file` on a state file holding the
 *    URLs, and the dashboard's page data (/api/health, /api/business, /metrics);
 *  - the password only in a Secrets Manager secret (WAREHOUSE_PASSWORD_SECRET_ARN, a
 *    WAREHOUSE_URL without one): the loader, `status` and the dashboard log in with it. The
 *    secret is served by a stand-in for Secrets Manager's GetSecretValue (its JSON protocol,
 *    at AWS_ENDPOINT_URL_SECRETS_MANAGER, the SDK's own per-service endpoint variable): no
 *    Secrets Manager is reachable here.
 */
import { expect, layer } from "@effect/vitest"
import { quoteLiteral } from "@totes-cdc/core"
import { LocalStack } from "@totes-cdc/local-stack"
import { emptyTotesys, freshDatabase, stackEnvironment } from "@totes-cdc/local-stack/testing"
import { makePgPool } from "@totes-cdc/platform"
import getPort from "get-port"
import { Effect } from "effect"
import { writeFileSync } from "node:fs"
import { createServer } from "node:http"
import { join } from "node:path"
import { eventually, type Run, runCliWithin, startCli, tempDir } from "../e2e/CliProcess.ts"

const PASSWORD = "Pw-9f3kXq!s3cret"
/** Every spelling of the password that must not be printed: raw, percent-encoded (`!` too), and its distinctive middle. */
const SPELLINGS = [PASSWORD, encodeURIComponent(PASSWORD), PASSWORD.replace("!", "%21"), "9f3kXq"]
const ROLE = "secrets_user"
const SOURCE_DB = "secrets_source"
const WAREHOUSE_DB = "secrets_warehouse"

/** The spellings of the password `text` holds. */
const leaks = (text: string) => SPELLINGS.filter((spelling) => text.includes(spelling))

/** A TCP port nobody listens on now. */
const freePort = Effect.promise(() => getPort({ host: "127.0.0.1" }))

/** Runs `totes-cdc …args` with `env` to its end; one still running after 90 s is stopped and answers `code: "running"`. */
const runToEnd = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv) => runCliWithin(args, env, "90 seconds")

/** Waits until `run` printed `text` (or ended), then checks it did print it. */
const waitForOutput = (run: Run, text: string, limit: `${number} seconds`) =>
  Effect.gen(function* () {
    yield* eventually(Effect.sync(() => (run.stdout() + run.stderr()).includes(text) || run.child.exitCode !== null), limit)
    expect(run.stdout() + run.stderr(), `expected "${text}"`).toContain(text)
  })

/**
 * A stand-in for Secrets Manager's GetSecretValue on 127.0.0.1 (closed with the scope):
 * answers `secrets` (ARN → SecretString) as the service does (JSON 1.1), a
 * ResourceNotFoundException for any other ARN; records the ARNs asked for.
 */
const secretsManagerStandIn = (secrets: Readonly<Record<string, string>>) =>
  Effect.acquireRelease(
    Effect.promise(
      () =>
        new Promise<{ endpoint: string; asked: Array<string>; close: () => Promise<void> }>((resolve) => {
          const asked: Array<string> = []
          const server = createServer((request, response) => {
            let body = ""
            request.on("data", (chunk: Buffer) => (body += chunk.toString()))
            request.on("end", () => {
              const arn = String((JSON.parse(body || "{}") as { SecretId?: unknown }).SecretId)
              asked.push(arn)
              const secret = request.headers["x-amz-target"] === "secretsmanager.GetSecretValue" ? secrets[arn] : undefined
              response.writeHead(secret === undefined ? 400 : 200, { "content-type": "application/x-amz-json-1.1" })
              response.end(
                JSON.stringify(
                  secret === undefined
                    ? { __type: "ResourceNotFoundException", message: "Secrets Manager can't find the specified secret." }
                    : { ARN: arn, Name: "warehouse", SecretString: secret, VersionId: "v1", VersionStages: ["AWSCURRENT"], CreatedDate: 1.7e9 }
                )
              )
            })
          })
          server.listen(0, "127.0.0.1", () => {
            const address = server.address()
            const port = typeof address === "object" && address !== null ? address.port : 0
            resolve({ endpoint: `http://127.0.0.1:${port}`, asked, close: () => new Promise<void>((done) => server.close(() => done())) })
          })
        })
    ),
    (standIn) => Effect.promise(() => standIn.close())
  )

layer(LocalStack.layer(), { excludeTestServices: true })("no password in what totes-cdc prints", (it) => {
  /** The stack's databases, a role whose password is PASSWORD, and the components' environment. */
  const setUp = Effect.gen(function* () {
    const stack = yield* LocalStack
    const admin = yield* makePgPool(stack.postgres.url("postgres"), { max: 1 })
    const [exists] = yield* admin.query("SELECT count(*) AS n FROM pg_roles WHERE rolname = $1", [ROLE])
    if (exists?.n === "0") yield* admin.query(`CREATE ROLE ${ROLE} WITH LOGIN SUPERUSER PASSWORD ${quoteLiteral(PASSWORD)}`)
    const source = yield* emptyTotesys(SOURCE_DB)
    yield* freshDatabase(WAREHOUSE_DB)
    const { host, port } = stack.postgres
    const url = (database: string, userinfo = `${ROLE}:${PASSWORD}`, where = `${host}:${port}`) => `postgres://${userinfo}@${where}/${database}`
    const base: NodeJS.ProcessEnv = { ...stackEnvironment(stack), READER_HEARTBEAT_MS: "500", LOADER_POLL_INTERVAL_MS: "300" }
    return { stack, source, url, base }
  })

  it.effect(
    "failures name the problem in one line without the password: bad host, password, port, database, URL, settings",
    () =>
      Effect.gen(function* () {
        const { url, base } = yield* setUp
        const nobody = `127.0.0.1:${yield* freePort}`
        const encoded = `${ROLE}:${encodeURIComponent(PASSWORD).replace("!", "%21")}`
        /** Bad URLs, each used as SOURCE_URL and WAREHOUSE_URL at once, plus extra environment. */
        const settings: ReadonlyArray<{ readonly name: string; readonly url: (database: string) => string; readonly env?: NodeJS.ProcessEnv }> = [
          { name: "a host that does not resolve", url: (db) => url(db, undefined, "no-such-host.invalid:5432") },
          { name: "a wrong password", url: (db) => url(db, `postgres:${PASSWORD}`) },
          { name: "a wrong percent-encoded password", url: (db) => url(db, `postgres:${PASSWORD.replace("!", "%21")}`) },
          { name: "a port nobody listens on", url: (db) => url(db, undefined, nobody) },
          { name: "a database that does not exist", url: () => url("no_such_database", encoded) },
          { name: "a URL that does not parse (bad port)", url: (db) => url(db, undefined, "127.0.0.1:notaport") },
          { name: "a URL that does not parse (space in the password)", url: (db) => url(db, `${ROLE}:${PASSWORD} x`, "127.0.0.1:notaport") },
          { name: "a password as a query parameter", url: () => `${url("no_such_database", ROLE)}?password=${encodeURIComponent(PASSWORD)}` },
          { name: "a keyword/value conninfo", url: (db) => `host=127.0.0.1 dbname=${db} user=${ROLE} password=${PASSWORD}` },
          { name: "a wrong PGPASSWORD", url: (db) => url(db, "postgres"), env: { PGPASSWORD: PASSWORD } }
        ]
        // Every setting through the reader (the source's first connection) and the loader (the
        // warehouse's); the other commands, which print the same errors their own way, in turn.
        const others: ReadonlyArray<ReadonlyArray<string>> = [
          ["status"],
          ["status", "--json"],
          ["verify", "--wait-for-lsn", "none"],
          ["verify", "--wait-for-lsn", "none", "--json"],
          ["reader", "slot", "status"],
          ["dashboard", "--port", "0"]
        ]
        const runs = settings.flatMap((setting, i) =>
          [["reader"], ["loader"], others[i % others.length]!].map((args) => ({
            what: `totes-cdc ${args.join(" ")} with ${setting.name}`,
            args,
            env: { ...base, SOURCE_URL: setting.url(SOURCE_DB), WAREHOUSE_URL: setting.url(WAREHOUSE_DB), ...setting.env }
          }))
        )
        const good = { ...base, SOURCE_URL: url(SOURCE_DB), WAREHOUSE_URL: url(WAREHOUSE_DB) }
        const badSettings = [
          { what: "reader with READER_HEARTBEAT_MS=soon", args: ["reader"], env: { ...good, READER_HEARTBEAT_MS: "soon" } },
          { what: "reader with READER_MODE=sideways", args: ["reader"], env: { ...good, READER_MODE: "sideways" } },
          { what: "loader with TRUNCATE_MODE=maybe", args: ["loader"], env: { ...good, TRUNCATE_MODE: "maybe" } },
          { what: "loader with an unreadable WAREHOUSE_CA_FILE", args: ["loader"], env: { ...good, WAREHOUSE_CA_FILE: "/no/such/ca.pem" } },
          { what: "reader with an unreadable SOURCE_CA_FILE", args: ["reader"], env: { ...good, SOURCE_CA_FILE: "/no/such/ca.pem" } },
          { what: "loader without WAREHOUSE_URL", args: ["loader"], env: { ...good, WAREHOUSE_URL: undefined } },
          { what: "status with a state file that is not one", args: ["status", "--state-file", "/no/such/state.json"], env: good }
        ]
        const results = yield* Effect.forEach([...runs, ...badSettings], (run) => runToEnd(run.args, run.env).pipe(Effect.map((result) => ({ ...run, ...result }))), {
          concurrency: 2
        })
        // Every run's problems at once, so one failing run does not hide the others.
        const problems = results.flatMap((result) => {
          const output = `${result.stdout}${result.stderr}`
          return [
            ...leaks(output).map((spelling) => `${result.what} printed the password (${spelling}): ${output}`),
            ...(result.code === 0 || result.code === "running" ? [`${result.what} ${result.code === 0 ? "exited 0" : "still ran after 90 s"}: ${output}`] : []),
            ...(result.stderr.trim().split("\n").length === 1 ? [] : [`${result.what} printed more than one line on stderr: ${result.stderr}`])
          ]
        })
        expect(problems).toEqual([])
      }),
    600_000
  )

  it.effect(
    "normal runs print no password: reader, loader, status, verify, slot status, a state file, the dashboard",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const { stack, source, url, base } = yield* setUp
          const env = { ...base, SOURCE_URL: url(SOURCE_DB), WAREHOUSE_URL: url(WAREHOUSE_DB).replace(PASSWORD, PASSWORD.replace("!", "%21")) }
          const checked: Array<{ what: string; output: () => string }> = []

          // The reader snapshots the empty source and streams a change; the loader migrates the warehouse.
          const reader = yield* startCli(["reader"], env)
          checked.push({ what: "reader", output: () => reader.stdout() + reader.stderr() })
          yield* waitForOutput(reader, "snapshot complete", "90 seconds")
          yield* source.query(
            "INSERT INTO currency (currency_id, currency_code, created_at, last_updated) VALUES (1, 'GBP', now(), now())"
          )
          const loader = yield* startCli(["loader"], env)
          checked.push({ what: "loader", output: () => loader.stdout() + loader.stderr() })
          const warehouse = yield* makePgPool(stack.postgres.url(WAREHOUSE_DB), { max: 1 })
          yield* eventually(
            warehouse.query("SELECT to_regclass('totes_cdc.applied_objects') IS NOT NULL AS ready").pipe(
              Effect.map(([row]) => row?.ready === "t" || loader.child.exitCode !== null)
            ),
            "60 seconds"
          )
          expect(loader.child.exitCode, loader.stderr()).toBeNull()

          // One-shot commands against the running pipeline, from the environment and from a state file.
          const dir = yield* tempDir
          const stateFile = join(dir, "state.json")
          const aws = { region: stack.s3.region, accessKeyId: stack.s3.accessKeyId ?? "", secretAccessKey: stack.s3.secretAccessKey ?? "" }
          writeFileSync(
            stateFile,
            JSON.stringify({
              version: 1,
              pid: process.pid,
              startedAt: new Date().toISOString(),
              dataDir: dir,
              source: { url: env.SOURCE_URL },
              warehouse: { url: env.WAREHOUSE_URL, schema: "public" },
              kinesis: { endpoint: stack.kinesis.endpoint, ...aws, streamName: stack.kinesis.streamName, shards: stack.kinesis.shards },
              s3: { endpoint: stack.s3.endpoint, ...aws, buckets: stack.s3.buckets }
            })
          )
          for (const args of [
            ["status"],
            ["status", "--json"],
            ["status", "--state-file", stateFile],
            ["status", "--state-file", stateFile, "--json"],
            ["verify", "--wait-for-lsn", "none", "--json"],
            ["reader", "slot", "status"]
          ]) {
            const result = yield* runToEnd(args, env)
            const what = `totes-cdc ${args.join(" ")}`
            expect(result.code, `${what} did not end:\n${result.stderr}`).not.toBe("running")
            expect(result.stdout.length, `${what} printed nothing:\n${result.stderr}`).toBeGreaterThan(0)
            checked.push({ what, output: () => result.stdout + result.stderr })
          }

          // The dashboard's data, as its page fetches it.
          const dashboard = yield* startCli(["dashboard", "--port", "0"], env)
          yield* waitForOutput(dashboard, "totes-cdc dashboard: http", "60 seconds")
          const page = /totes-cdc dashboard: (http\S+)/.exec(dashboard.stdout())?.[1] ?? ""
          for (const path of ["api/health", "api/business", "metrics"]) {
            let body = ""
            // 503 until the dashboard's first sample: poll until it answers.
            yield* eventually(
              Effect.promise(() =>
                fetch(`${page}${path}`).then(async (response) => {
                  body = await response.text()
                  return response.status !== 503
                })
              ),
              "30 seconds"
            )
            checked.push({ what: `dashboard /${path}`, output: () => body })
          }
          checked.push({ what: "dashboard", output: () => dashboard.stdout() + dashboard.stderr() })

          expect(reader.child.exitCode, reader.stderr()).toBeNull()
          expect(checked.flatMap(({ what, output }) => leaks(output()).map((spelling) => `${what} printed the password (${spelling}): ${output()}`))).toEqual([])
        })
      ),
    300_000
  )
  it.effect(
    "a password only in WAREHOUSE_PASSWORD_SECRET_ARN: the loader, status and the dashboard log in with it and print none of it",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const { stack, url, base } = yield* setUp
          const arn = "arn:aws:secretsmanager:eu-west-2:123456789012:secret:totes-cdc/warehouse-AbCd12"
          const secrets = yield* secretsManagerStandIn({ [arn]: JSON.stringify({ username: ROLE, password: PASSWORD, engine: "postgres" }) })
          const env = {
            ...base,
            SOURCE_URL: url(SOURCE_DB),
            WAREHOUSE_URL: url(WAREHOUSE_DB, ROLE),
            WAREHOUSE_PASSWORD_SECRET_ARN: arn,
            AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint
          }
          const checked: Array<{ what: string; output: () => string }> = []

          // The loader migrates the warehouse: it logged in.
          const loader = yield* startCli(["loader"], env)
          checked.push({ what: "loader", output: () => loader.stdout() + loader.stderr() })
          const warehouse = yield* makePgPool(stack.postgres.url(WAREHOUSE_DB), { max: 1 })
          yield* eventually(
            warehouse.query("SELECT to_regclass('totes_cdc.freshness') IS NOT NULL AS ready").pipe(Effect.map(([row]) => row?.ready === "t" || loader.child.exitCode !== null)),
            "60 seconds"
          )
          expect(loader.child.exitCode, loader.stderr()).toBeNull()
          // A freshness row only the warehouse holds: status shows it only if it read the warehouse.
          yield* warehouse.query(
            `INSERT INTO totes_cdc.freshness (target_schema, warehouse_table, last_commit_lsn, last_commit_ts, last_loaded_at)
             VALUES ('public', 'dim_location', '0/5EC2E7', '2026-12-06 10:00:00+00', now())
             ON CONFLICT (target_schema, warehouse_table) DO UPDATE SET last_commit_ts = EXCLUDED.last_commit_ts`
          )

          for (const args of [["status"], ["status", "--json"]]) {
            const result = yield* runToEnd(args, env)
            const what = `totes-cdc ${args.join(" ")}`
            expect(result.code, `${what}:\n${result.stderr}`).toBe(0)
            expect(result.stdout, what).toMatch(/dim_location.*2026-12-06 10:00:00\+00/s)
            checked.push({ what, output: () => result.stdout + result.stderr })
          }

          const dashboard = yield* startCli(["dashboard", "--port", "0"], env)
          checked.push({ what: "dashboard", output: () => dashboard.stdout() + dashboard.stderr() })
          yield* waitForOutput(dashboard, "totes-cdc dashboard: http", "60 seconds")
          const page = /totes-cdc dashboard: (http\S+)/.exec(dashboard.stdout())?.[1] ?? ""
          // The analysts' questions are read from the warehouse on each request.
          const business = yield* Effect.promise(() => fetch(`${page}api/business`).then(async (response) => ({ status: response.status, body: await response.text() })))
          expect(business.status, business.body).toBe(200)
          checked.push({ what: "dashboard /api/business", output: () => business.body })

          expect(secrets.asked.length).toBeGreaterThanOrEqual(4)
          expect(new Set(secrets.asked)).toEqual(new Set([arn]))
          expect(checked.flatMap(({ what, output }) => leaks(output()).map((spelling) => `${what} printed the password (${spelling}): ${output()}`))).toEqual([])
        })
      ),
    300_000
  )
})
