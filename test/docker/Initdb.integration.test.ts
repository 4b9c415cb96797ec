/**
 * docker/initdb/, the compose PostgreSQL's first-start scripts, run as the postgres image's
 * entrypoint runs them (in name order: `.sql` through psql with ON_ERROR_STOP, `.sh`
 * executed) against a fresh embedded PostgreSQL, with the postgres service's environment
 * from docker/compose.yaml (docker-compose config) and ../shared/totesys as TOTESYS_DIR:
 *  - totesys holds exactly what the project's own seed loader makes of the 2024-02-23 dump
 *    (every table's rows, and every id sequence's next value);
 *  - `totes-cdc reader`, configured as the compose reader service (its role, no password in
 *    SOURCE_URL, PGPASSWORD), passes its preflight with the publication initdb made and
 *    snapshots all 30,106 rows into Kinesis, then stops on SIGTERM with exit 130;
 *  - the loader's role migrates the warehouse database it owns, and may set
 *    session_replication_role (its per-statement foreign-key checks).
 * Needs psql (Debian's postgresql-client; .ci/run installs it) and bash.
 */
import { expect, layer } from "@effect/vitest"
import { createTotesysSchema, loadSeed, LocalStack, startPostgres, untilExit } from "@totes-cdc/local-stack"
import { CLI_BIN, emulatorEnvironment, quietly, TOTESYS_DUMP } from "@totes-cdc/local-stack/testing"
import { migrateWarehouse } from "@totes-cdc/loader"
import { makePgPool } from "@totes-cdc/platform"
import { Effect, Schedule } from "effect"
import { spawn, spawnSync } from "node:child_process"
import { accessSync, constants, mkdtempSync, readdirSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { composeModel, REPOSITORY_ROOT } from "./ComposeConfig.ts"

const INITDB = join(REPOSITORY_ROOT, "docker", "initdb")
const TABLES = {
  address: "address_id", counterparty: "counterparty_id", currency: "currency_id", department: "department_id", design: "design_id",
  staff: "staff_id", payment_type: "payment_type_id", sales_order: "sales_order_id", purchase_order: "purchase_order_id",
  transaction: "transaction_id", payment: "payment_id"
} as const

/** A TCP port nobody listens on now. */
const freePort = Effect.promise(
  () =>
    new Promise<number>((resolve) => {
      const server = createServer()
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
      })
    })
)

/** Runs every file of docker/initdb as the postgres image's entrypoint does; answers each file's exit code and output. */
const runInitdb = (env: Readonly<Record<string, string>>) =>
  readdirSync(INITDB)
    .sort()
    .map((file) => {
      const path = join(INITDB, file)
      const run = file.endsWith(".sql")
        ? spawnSync("psql", ["-v", "ON_ERROR_STOP=1", "--username", env["POSTGRES_USER"]!, "--no-password", "--no-psqlrc", "--dbname", env["POSTGRES_DB"]!, "-f", path], { env, encoding: "utf8" })
        : spawnSync(path, [], { env, encoding: "utf8" })
      return { file, code: run.status, output: `${run.stdout}${run.stderr}`.trim() }
    })

const psqlAvailable = () => {
  if (spawnSync("sh", ["-c", "command -v psql"]).status !== 0) {
    throw new Error("psql is not on the PATH: install Debian's postgresql-client (apt-get install -y postgresql-client; .ci/run does)")
  }
}

layer(LocalStack.layer(), { excludeTestServices: true })("docker/initdb on a fresh PostgreSQL", (it) => {
  it.effect(
    "loads totesys as the seed loader does, lets the reader's role snapshot it through the publication, and the loader's role migrate its warehouse",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          psqlAvailable()
          accessSync(join(INITDB, "20-totesys.sh"), constants.X_OK)
          const compose = composeModel().services
          const postgresEnv = compose["postgres"]?.environment ?? {}
          const dir = yield* Effect.acquireRelease(
            Effect.sync(() => mkdtempSync(join(tmpdir(), "initdb-"))),
            (path) => Effect.sync(() => rmSync(path, { recursive: true, force: true }))
          )
          const server = yield* startPostgres({ dataDir: join(dir, "data"), port: yield* freePort, ephemeral: true })
          const admin = yield* makePgPool(server.url("postgres"))
          yield* admin.query(`CREATE DATABASE ${postgresEnv["POSTGRES_DB"]}`)

          // 1. The scripts, with the service's environment, as the entrypoint runs them.
          const results = runInitdb({
            PATH: process.env["PATH"] ?? "",
            ...postgresEnv,
            POSTGRES_USER: server.user,
            PGHOST: server.host,
            PGPORT: String(server.port),
            PGPASSWORD: server.password,
            TOTESYS_DIR: dirname(TOTESYS_DUMP)
          })
          expect(results.map(({ file, code }) => ({ file, code }))).toEqual([
            { file: "10-warehouse.sql", code: 0 },
            { file: "20-totesys.sh", code: 0 },
            { file: "21-totesys-data.sql", code: 0 },
            { file: "30-reader.sql", code: 0 }
          ])

          // 2. totesys as the seed loader makes it: every row, every sequence.
          const loaded = yield* makePgPool(server.url("totesys"))
          yield* admin.query("CREATE DATABASE seeded")
          const seeded = yield* makePgPool(server.url("seeded"))
          yield* createTotesysSchema(seeded)
          yield* quietly(loadSeed(seeded, TOTESYS_DUMP))
          for (const [table, key] of Object.entries(TABLES)) {
            const fingerprint = `SELECT count(*) AS rows, md5(string_agg(t::text, '|' ORDER BY ${key})) AS hash, nextval(pg_get_serial_sequence('public.${table}', '${key}')) AS next FROM public.${table} t`
            const [mine, theirs] = [yield* loaded.query(fingerprint), yield* seeded.query(fingerprint)]
            expect({ table, ...mine[0] }).toEqual({ table, ...theirs[0] })
          }
          expect(yield* loaded.query("SELECT count(*) AS n FROM information_schema.schemata WHERE schema_name = 'totesys_dump'")).toEqual([{ n: "0" }])

          // 3. The reader as the compose service runs it: its role, PGPASSWORD, the publication initdb made.
          const stack = yield* LocalStack
          const readerEnv = compose["reader"]?.environment ?? {}
          const source = new URL(readerEnv["SOURCE_URL"]!)
          source.host = `${server.host}:${server.port}`
          const reader = yield* Effect.acquireRelease(
            Effect.sync(() => {
              const child = spawn(process.execPath, [CLI_BIN, "reader"], {
                env: {
                  PATH: process.env["PATH"] ?? "",
                  SOURCE_URL: source.toString(),
                  PGPASSWORD: readerEnv["PGPASSWORD"] ?? "",
                  KINESIS_STREAM: stack.kinesis.streamName,
                  INGESTION_BUCKET: stack.s3.buckets.ingestion,
                  ...emulatorEnvironment(stack),
                  READER_METRICS_EMF: "false"
                },
                stdio: ["ignore", "pipe", "pipe"]
              })
              const run = { child, output: "", exit: untilExit(child).then(() => child.exitCode) }
              child.stdout.on("data", (chunk: Buffer) => (run.output += chunk.toString()))
              child.stderr.on("data", (chunk: Buffer) => (run.output += chunk.toString()))
              return run
            }),
            ({ child }) => Effect.promise(() => (child.exitCode === null && child.signalCode === null ? (child.kill("SIGKILL"), untilExit(child)) : Promise.resolve()))
          )
          yield* Effect.sync(() => reader.output.includes("snapshot complete") || reader.child.exitCode !== null).pipe(
            Effect.repeat({ until: (done) => done, schedule: Schedule.spaced("100 millis") }),
            Effect.timeout("120 seconds")
          )
          expect(reader.output).toContain("snapshot complete: 30,106 rows durable in Kinesis")
          expect(reader.output).not.toContain("created publication")
          reader.child.kill("SIGTERM")
          expect(yield* Effect.promise(() => reader.exit)).toBe(130)

          // 4. The loader's role: migrates the warehouse it owns, and may skip per-row FK triggers per statement.
          const loaderEnv = compose["loader"]?.environment ?? {}
          const warehouseUrl = new URL(loaderEnv["WAREHOUSE_URL"]!)
          warehouseUrl.host = `${server.host}:${server.port}`
          warehouseUrl.password = loaderEnv["PGPASSWORD"] ?? ""
          const warehouse = yield* makePgPool(warehouseUrl.toString())
          yield* migrateWarehouse(warehouse)
          expect(yield* warehouse.query("SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")).toEqual([{ n: "11" }])
          yield* warehouse.query("SET session_replication_role = replica")
        })
      ),
    240_000
  )
})
