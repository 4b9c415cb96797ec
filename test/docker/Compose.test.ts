/**
 * docker/compose.yaml, validated offline by Debian's docker-compose 1.29 (`config`: the
 * compose-spec schema, interpolation, profiles, depends_on conditions; ComposeConfig.ts) and
 * checked for what matters:
 *  - the validator is live: a file with an unknown key or an unknown start condition is refused;
 *  - each component is its own service from the one image, running one `totes-cdc`
 *    subcommand that exists;
 *  - every variable a service sets is one its command reads, and its settings resolve from
 *    the service's environment alone — the names come from the commands' own `Config`s
 *    (read through a provider that records every name asked), not from a copy;
 *  - the services agree with each other and with initdb/ (stream, buckets, queue, endpoints,
 *    roles and passwords);
 *  - profiles: `up` runs no reader, `--profile live` adds it, `--profile replay` adds the
 *    replay and still no reader;
 *  - health checks and start order; the recording and the replay speed come from RECORDING
 *    and REPLAY_SPEED.
 */
import { readerSettings } from "@totes-cdc/cdc-reader"
import { CLI_BIN } from "@totes-cdc/local-stack/testing"
import { emulatorSettingsConfig } from "@totes-cdc/local-stack"
import { loaderSettingsConfig } from "@totes-cdc/loader"
import { consumerSettings } from "@totes-cdc/stream-processors"
import { type Config, ConfigProvider, Effect, Exit } from "effect"
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { COMPOSE_FILE, composeConfigRaw, composeModel, enabledServices, REPOSITORY_ROOT } from "./ComposeConfig.ts"

const model = composeModel()
const services = model.services
const env = (name: string): Readonly<Record<string, string>> => services[name]?.environment ?? {}

/** The image's services and the `totes-cdc` subcommand each runs. */
const COMMANDS = {
  init: "init-localstack",
  reader: "reader",
  archiver: "archiver",
  processor: "processor",
  loader: "loader",
  replay: "replay-recording",
  dev: "dev"
} as const

/** The settings each command reads from its environment (the CLI's own: loader also reads the consumers', for replay's bucket). */
const SETTINGS: Readonly<Record<Exclude<keyof typeof COMMANDS, "dev">, ReadonlyArray<Config.Config<unknown>>>> = {
  init: [emulatorSettingsConfig],
  reader: [readerSettings],
  archiver: [consumerSettings],
  processor: [consumerSettings],
  loader: [loaderSettingsConfig, consumerSettings],
  replay: [consumerSettings]
}

/** Variables read by the libraries under the commands, not by their settings: node-postgres' password. */
const READ_BY_LIBRARIES = new Set(["PGPASSWORD"])

/** Reads `config` from exactly `environment`, recording every variable name it asks for. */
const readSettings = (config: Config.Config<unknown>, environment: Readonly<Record<string, string>>) => {
  const asked = new Set<string>()
  const inner = ConfigProvider.fromEnv({ env: { ...environment } })
  const recording = ConfigProvider.make((path) => {
    asked.add(path.join("_"))
    return inner.load(path)
  })
  return { exit: Effect.runSyncExit(config.parse(recording)), asked }
}

describe("docker/compose.yaml, as docker-compose 1.29 reads it", () => {
  it("is valid, and the validator refuses an unknown key and an unknown start condition", () => {
    expect(Object.keys(services).sort()).toEqual(["archiver", "dev", "init", "loader", "localstack", "postgres", "processor", "reader", "replay"])
    const dir = mkdtempSync(join(tmpdir(), "compose-"))
    try {
      const text = readFileSync(COMPOSE_FILE, "utf8")
      const planted = (name: string, body: string) => {
        const file = join(dir, name)
        writeFileSync(file, body)
        return composeConfigRaw(file)
      }
      const unknownKey = planted("unknown-key.yaml", text.replace("  archiver:\n", "  archiver:\n    restarts: always\n"))
      expect(unknownKey.code).not.toBe(0)
      expect(unknownKey.stderr).toContain("restarts")
      const condition = planted("condition.yaml", text.replaceAll("service_completed_successfully", "service_finished"))
      expect(condition.code).not.toBe(0)
      expect(condition.stderr).toContain("service_finished")
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("runs each component as its own service of the one image, one totes-cdc subcommand each, every one a command of the binary", () => {
    const help = spawnSync(process.execPath, [CLI_BIN, "--help"], { encoding: "utf8" })
    const listed = new Set(help.stdout.slice(help.stdout.indexOf("SUBCOMMANDS")).split("\n").slice(1).map((line) => line.trim().split(/\s+/)[0]))
    expect(listed.has("reader")).toBe(true)
    for (const [name, subcommand] of Object.entries(COMMANDS)) {
      const service = services[name]!
      expect({ name, image: service.image, build: service.build, init: service.init, subcommand: service.command?.[0] }).toEqual({
        name,
        image: "totes-cdc:local",
        build: { context: REPOSITORY_ROOT, dockerfile: "docker/Dockerfile" },
        init: true,
        subcommand
      })
      expect({ subcommand, listed: listed.has(subcommand) }).toEqual({ subcommand, listed: true })
    }
  })

  it("sets only variables each command reads, and each command's settings resolve from its service's environment alone", () => {
    for (const [name, configs] of Object.entries(SETTINGS)) {
      const environment = env(name)
      const read = new Set<string>(READ_BY_LIBRARIES)
      for (const config of configs) {
        const { exit, asked } = readSettings(config, environment)
        expect({ name, settings: Exit.isSuccess(exit) ? "resolved" : String(exit.cause) }).toEqual({ name, settings: "resolved" })
        for (const variable of asked) read.add(variable)
      }
      expect({ name, unread: Object.keys(environment).filter((variable) => !read.has(variable)) }).toEqual({ name, unread: [] })
    }
    // The recording provider sees what the commands ask: the reader asks for its source, the loader for its queue.
    expect(readSettings(readerSettings, env("reader")).asked).toContain("SOURCE_URL")
    expect(readSettings(loaderSettingsConfig, env("loader")).asked).toContain("LOADER_QUEUE_URL")
  })

  it("configures one stream, one pair of buckets and one queue everywhere, every endpoint at LocalStack, and the roles and passwords initdb/ creates", () => {
    const same = (variable: string, names: ReadonlyArray<string>) => {
      const values = new Set(names.map((name) => env(name)[variable]))
      expect({ variable, values: [...values] }).toEqual({ variable, values: [env(names[0]!)[variable]] })
      expect(env(names[0]!)[variable]).toBeDefined()
    }
    same("KINESIS_STREAM", ["init", "reader", "archiver", "processor", "replay"])
    same("INGESTION_BUCKET", ["init", "reader", "archiver", "processor", "replay"])
    same("PROCESSED_BUCKET", ["init", "processor", "loader"])
    same("LOADER_QUEUE_URL", ["init", "loader"])
    same("AWS_REGION", ["init", "reader", "archiver", "processor", "loader", "replay"])
    for (const [name, service] of Object.entries(services)) {
      for (const [variable, value] of Object.entries(service.environment ?? {})) {
        if (variable.endsWith("_ENDPOINT")) expect({ name, variable, value }).toEqual({ name, variable, value: "http://localstack:4566" })
      }
    }
    expect(env("loader")["LOADER_QUEUE_URL"]).toMatch(/^http:\/\/localstack:4566\/000000000000\/[\w-]+$/)

    const postgres = env("postgres")
    const source = new URL(env("reader")["SOURCE_URL"]!)
    expect({ host: source.host, user: source.username, password: source.password, database: source.pathname }).toEqual({
      host: "postgres:5432",
      user: "totes_cdc_reader",
      password: "",
      database: `/${postgres["POSTGRES_DB"]}`
    })
    expect(env("reader")["PGPASSWORD"]).toBe(postgres["READER_PASSWORD"])
    const warehouse = new URL(env("loader")["WAREHOUSE_URL"]!)
    expect({ host: warehouse.host, user: warehouse.username, password: warehouse.password, database: warehouse.pathname }).toEqual({
      host: "postgres:5432",
      user: "totes_cdc_loader",
      password: "",
      database: "/warehouse"
    })
    expect(env("loader")["PGPASSWORD"]).toBe(postgres["LOADER_PASSWORD"])
    const initdb = (file: string) => readFileSync(join(REPOSITORY_ROOT, "docker", "initdb", file), "utf8")
    expect(initdb("30-reader.sql")).toContain("\\getenv reader_password READER_PASSWORD\nCREATE ROLE totes_cdc_reader WITH LOGIN REPLICATION PASSWORD :'reader_password';")
    expect(initdb("10-warehouse.sql")).toContain("CREATE DATABASE warehouse OWNER totes_cdc_loader;")
  })

  it("runs no reader without a profile, adds it with `live`, and runs the replay instead of it with `replay`", () => {
    const pipeline = ["archiver", "init", "loader", "localstack", "postgres", "processor"]
    expect(enabledServices(model, [])).toEqual(pipeline)
    expect(enabledServices(model, ["live"])).toEqual([...pipeline, "reader"].sort())
    expect(enabledServices(model, ["replay"])).toEqual([...pipeline, "replay"].sort())
    expect(enabledServices(model, ["replay"])).not.toContain("reader")
    expect(enabledServices(model, ["dev"])).toEqual([...pipeline, "dev"].sort())
    // Nothing a profile-less service needs is in a profile (compose would refuse the model).
    for (const name of pipeline) {
      for (const dependency of Object.keys(services[name]?.depends_on ?? {})) expect({ name, dependency, enabled: pipeline.includes(dependency) }).toEqual({ name, dependency, enabled: true })
    }
  })

  it("checks PostgreSQL's and LocalStack's health, and starts init after LocalStack, every component after init, the database ones after PostgreSQL", () => {
    expect(services["postgres"]?.healthcheck?.test).toEqual(["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "postgres", "-d", "totesys"])
    expect(services["localstack"]?.healthcheck?.test).toEqual(["CMD", "curl", "-fsS", "http://127.0.0.1:4566/_localstack/health"])
    expect(services["localstack"]?.environment?.["SERVICES"]?.split(",").sort()).toEqual(["firehose", "kinesis", "s3", "sqs"])
    expect(services["init"]?.depends_on).toEqual({ localstack: { condition: "service_healthy" } })
    expect(services["init"]?.restart).toBe("no")
    const afterInit = { init: { condition: "service_completed_successfully" } }
    const afterInitAndPostgres = { ...afterInit, postgres: { condition: "service_healthy" } }
    for (const name of ["archiver", "processor", "replay"]) expect({ name, depends_on: services[name]?.depends_on }).toEqual({ name, depends_on: afterInit })
    for (const name of ["reader", "loader"]) expect({ name, depends_on: services[name]?.depends_on }).toEqual({ name, depends_on: afterInitAndPostgres })
  })

  it("loads totesys and makes the warehouse at PostgreSQL's first start, from ../shared/totesys mounted read-only, with logical WAL", () => {
    const postgres = services["postgres"]!
    expect(postgres.volumes).toEqual([`${join(REPOSITORY_ROOT, "docker", "initdb")}:/docker-entrypoint-initdb.d:ro`, `${join(REPOSITORY_ROOT, "..", "shared", "totesys")}:/totesys:ro`])
    expect(existsSync(join(REPOSITORY_ROOT, "..", "shared", "totesys", "oltp_schema.sql"))).toBe(true)
    expect(postgres.command?.join(" ")).toContain("wal_level=logical")
    expect(postgres.tmpfs).toEqual(["/var/lib/postgresql/data"])
  })

  it("replays the recording RECORDING names (default ./recordings/recording.ndjson.gz), read-only, at REPLAY_SPEED; FIREHOSE_DELIVERY_STREAM= makes no delivery stream", () => {
    expect(services["replay"]?.volumes).toEqual([`${join(REPOSITORY_ROOT, "docker", "recordings", "recording.ndjson.gz")}:/recording:ro`])
    expect(services["replay"]?.command).toEqual(["replay-recording", "/recording", "--speed", "1"])
    const chosen = composeModel(COMPOSE_FILE, { RECORDING: "/data/night.ndjson.gz", REPLAY_SPEED: "10", FIREHOSE_DELIVERY_STREAM: "" }).services
    expect(chosen["replay"]?.volumes).toEqual(["/data/night.ndjson.gz:/recording:ro"])
    expect(chosen["replay"]?.command).toEqual(["replay-recording", "/recording", "--speed", "10"])
    const { exit } = readSettings(emulatorSettingsConfig, chosen["init"]?.environment ?? {})
    expect(Exit.isSuccess(exit) ? (exit.value as { deliveryStream: unknown }).deliveryStream : exit).toBeUndefined()
    expect(env("init")["FIREHOSE_DELIVERY_STREAM"]).toBe("totes-cdc-changes")
  })
})
