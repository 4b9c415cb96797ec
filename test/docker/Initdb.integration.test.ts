/**
 * docker/initdb/, the compose PostgreSQL's first-start scripts, run as the postgres image's
 * entrypoint runs them (in name order: `.sql` through psql with ON_ERROR_STOP, `.sh`
 * executed) against a fresh embedded PostgreSQL, with the postgres service's environment
 * from docker/compose.yaml (docker-compose config) and ../shared/totesys as TOTESYS_DIR:
 *  - totesys holds exactly what the project's own seed loader makes of the 2024-02-23 dump
 *    (every table's rows, and every id sequence's next value);
 *  - `totes-cdc reader`, configured as the compose reader service (its role, no password in
 *    SOURCE_URL, PGPASSWORD) — the role exactly as the README's AWS section recommends
 *    (LOGIN REPLICATION, USAGE on public, SELECT on the 11 tables; the publication made by
 *    the tables' owner) — passes its preflight with the publication initdb made, snapshots
 *    all 30,106 rows into Kinesis, streams an insert, an update and a delete, then stops on
 *    SIGTERM with exit 130; without the publication it stops at once with one line naming
 *    the CREATE PUBLICATION to run (issue 16 item 4);
 *  - that role asks for nothing more: every statement it ran (pg_stat_statements) reads —
 *    SELECT, the snapshot's cursor, transaction control — never CREATE, ALTER, GRANT or a
 *    write to a table;
 *  - the loader's role migrates the warehouse database it owns, and may set
 *    session_replication_role (its per-statement foreign-key checks).
 * Needs psql (Debian's postgresql-client; .ci/run installs it) and bash.
 */
import { expect, layer } from "@effect/vitest"
import { createTotesysSchema, loadSeed, LocalStack, startPostgres, untilExit } from "@totes-cdc/local-stack"
import { CLI_BIN, emulatorEnvironment, quietly, readAllChanges, TOTESYS_DUMP } from "@totes-cdc/local-stack/testing"
import { migrateWarehouse } from "@totes-cdc/loader"
import { Kinesis, makePgPool, S3 } from "@totes-cdc/platform"
import getPort from "get-port"
import { Effect, Schedule } from "effect"
import { spawn, spawnSync } from "node:child_process"
import { accessSync, constants, mkdtempSync, readdirSync, rmSync } from "node:fs"
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
const freePort = Effect.promise(() => getPort({ host: "127.0.0.1" }))

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
    "loads totesys as the seed loader does; the reader's role, as the README recommends it, snapshots and streams through the publication asking for nothing more, and without the publication stops in one line naming it; the loader's role migrates its warehouse",
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
          // pg_stat_statements records what every role runs (utility statements too): what the reader asks for.
          const server = yield* startPostgres({
            dataDir: join(dir, "data"),
            port: yield* freePort,
            ephemeral: true,
            settings: { shared_preload_libraries: "pg_stat_statements", "pg_stat_statements.track": "all", "pg_stat_statements.track_utility": "on" }
          })
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
          yield* loaded.query("CREATE EXTENSION pg_stat_statements")
          yield* loaded.query("SELECT pg_stat_statements_reset()")
          const readerEnv = compose["reader"]?.environment ?? {}
          const source = new URL(readerEnv["SOURCE_URL"]!)
          source.host = `${server.host}:${server.port}`
          const startReader = Effect.acquireRelease(
            Effect.sync(() => {
              const child = spawn(process.execPath, [CLI_BIN, "reader"], {
                env: {
                  PATH: process.env["PATH"] ?? "",
                  SOURCE_URL: source.toString(),
                  PGPASSWORD: readerEnv["PGPASSWORD"] ?? "",
                  KINESIS_STREAM: stack.kinesis.streamName,
                  INGESTION_BUCKET: stack.s3.buckets.ingestion,
                  ...emulatorEnvironment(stack),
                  READER_METRICS_EMF: "false",
                  READER_HEARTBEAT_MS: "1000"
                },
                stdio: ["ignore", "pipe", "pipe"]
              })
              const run = { child, output: "", stderr: "", exit: untilExit(child).then(() => child.exitCode) }
              child.stdout.on("data", (chunk: Buffer) => (run.output += chunk.toString()))
              child.stderr.on("data", (chunk: Buffer) => {
                run.output += chunk.toString()
                run.stderr += chunk.toString()
              })
              return run
            }),
            ({ child }) => Effect.promise(() => (child.exitCode === null && child.signalCode === null ? (child.kill("SIGKILL"), untilExit(child)) : Promise.resolve()))
          )
          const poll = <E, R>(check: Effect.Effect<boolean, E, R>, limit: `${number} seconds`) =>
            check.pipe(Effect.repeat({ until: (done) => done, schedule: Schedule.spaced("100 millis") }), Effect.timeout(limit))
          const reader = yield* startReader
          yield* poll(Effect.sync(() => reader.output.includes("snapshot complete") || reader.child.exitCode !== null), "120 seconds")
          expect(reader.output).toContain("snapshot complete: 30,106 rows durable (in Kinesis and the archive's snapshot chunks)")
          expect(reader.output).not.toContain("created publication")

          // ... then streams: an insert, an update and a delete (as the tables' owner), each durable once the slot confirms past it.
          const [{ id } = { id: "" }] = yield* loaded.query(
            "INSERT INTO department (department_name, location, manager, created_at, last_updated) VALUES ('Security', 'Leeds', 'Ada', now(), now()) RETURNING department_id AS id"
          )
          yield* loaded.query("UPDATE department SET location = 'York', last_updated = now() WHERE department_id = $1", [id])
          yield* loaded.query("DELETE FROM department WHERE department_id = $1", [id])
          const [{ lsn } = { lsn: "" }] = yield* loaded.query("SELECT pg_current_wal_lsn()::text AS lsn")
          yield* poll(
            loaded
              .query("SELECT confirmed_flush_lsn >= $1::pg_lsn AS done FROM pg_replication_slots WHERE slot_name = 'totes_cdc'", [lsn])
              .pipe(Effect.map(([row]) => row?.done === "t" || reader.child.exitCode !== null)),
            "60 seconds"
          )
          expect(reader.child.exitCode, reader.output).toBeNull()
          reader.child.kill("SIGTERM")
          expect(yield* Effect.promise(() => reader.exit)).toBe(130)
          const changes = yield* readAllChanges(stack.kinesis.streamName).pipe(Effect.provide([Kinesis.layer(stack.kinesis), S3.layer(stack.s3)]))
          const streamed = changes.filter(({ record }) => record.table === "department" && record.source === "replication" && record.key["department_id"] === id)
          expect(streamed.map(({ record }) => [record.op, record.after?.["location"] ?? null])).toEqual([
            ["insert", "Leeds"],
            ["update", "York"],
            ["delete", null]
          ])

          // Without the publication the role may not create, the reader stops at once with one line naming the statement to run.
          yield* loaded.query("DROP PUBLICATION totes_cdc")
          const refused = yield* startReader
          const code = yield* Effect.promise(() => refused.exit).pipe(Effect.timeout("60 seconds"))
          expect(code, refused.output).toBe(1)
          const line = refused.stderr.trim().split("\n")
          expect(line, refused.output).toHaveLength(1)
          expect(line[0]).toMatch(/^totes-cdc: error publication-missing: publication totes_cdc does not exist in totesys and role totes_cdc_reader cannot create it .* — fix: as the tables' owner or a superuser run: CREATE PUBLICATION "totes_cdc" FOR TABLE "public"\."address", .* WITH \(publish = 'insert, update, delete, truncate'\)$/)

          // What the reader's role ran, all of it: reads, its snapshot's cursor, transaction control, heartbeats. Nothing more.
          // (A statement the role may not run would have failed the reader above; these are the ones that ran.)
          const statements = (yield* loaded.query(
            "SELECT s.query FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname = 'totes_cdc_reader'"
          )).map((row) => (row.query ?? "").trim().replace(/\s+/g, " "))
          expect(statements.length).toBeGreaterThan(5)
          const asked = statements.filter((statement) => !/^(SELECT|DECLARE \S+ NO SCROLL CURSOR FOR SELECT|FETCH|CLOSE|BEGIN|COMMIT|ROLLBACK|SET TRANSACTION (ISOLATION LEVEL REPEATABLE READ|READ ONLY|SNAPSHOT))\b/i.test(statement))
          expect(asked).toEqual([])
          expect(statements.filter((statement) => /^(CREATE|ALTER|DROP|GRANT|REVOKE|INSERT|UPDATE|DELETE|TRUNCATE|COPY|LOCK)\b|\b(CREATE|ALTER) PUBLICATION\b/i.test(statement))).toEqual([])
          expect(statements.some((statement) => statement.includes("pg_logical_emit_message"))).toBe(true)

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
