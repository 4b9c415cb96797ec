/**
 * The reader on the local stack: real PostgreSQL logical replication, real kinesalite,
 * real s3rver. Each test has its own source database, slot, publication and stream.
 */
import { expect, layer } from "@effect/vitest"
import { type ChangeRecord, PRIMARY_KEY, TOTESYS_TABLES, type TotesysTable, compareLsn, quoteIdent } from "@totes-cdc/core"
import { LocalStack, type SimulatorStats, createKinesisStream, loadSeed, runSimulator } from "@totes-cdc/local-stack"
import { Kinesis, type PgPool, S3 } from "@totes-cdc/platform"
import { emptyTotesys, readAllChanges, TOTESYS_DUMP, CLI_BIN, quietly } from "@totes-cdc/local-stack/testing"
import { Effect, Fiber, Ref, Schedule } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { type ReaderSettings, runReaderProgram as runReaderLoud } from "../src/index.ts"
import { slotStatus } from "../src/Slot.ts"

const DUMP = TOTESYS_DUMP
const BIN = CLI_BIN

/** The reader, quietly (only errors logged). */
const runReaderProgram = (settings: ReaderSettings) => quietly(runReaderLoud(settings))

/** A source database, a stream and reader settings, all named `name`. */
const fixture = (name: string, options: { readonly seed?: boolean; readonly heartbeatMs?: number } = {}) =>
  Effect.gen(function* () {
    const stack = yield* LocalStack
    const pool = yield* emptyTotesys(name)
    if (options.seed === true) yield* loadSeed(pool, DUMP)
    yield* createKinesisStream(stack.kinesis, name, 2)
    const settings: ReaderSettings = {
      sourceUrl: stack.postgres.url(name),
      slot: name,
      publication: name,
      mode: "replication",
      streamName: name,
      stateBucket: stack.s3.buckets.ingestion,
      statePrefix: `state/${name}/`,
      heartbeatMs: options.heartbeatMs ?? 60_000,
      pollIntervalMs: 1_000,
      kinesis: stack.kinesis,
      s3: stack.s3
    }
    return { stack, pool, settings }
  })

/** Polls `check` until true, up to `seconds`. */
const eventually = <E, R>(check: Effect.Effect<boolean, E, R>, seconds = 60, every: `${number} millis` = "50 millis") =>
  check.pipe(
    Effect.repeat({ until: (ok) => ok, schedule: Schedule.spaced(every) }),
    Effect.timeout(`${seconds} seconds`)
  )

/**
 * Waits until the reader streams from its slot (its snapshot is done) and has confirmed
 * everything committed so far (a barrier message's commit); fails at once if `reader` stops.
 */
const caughtUp = (pool: PgPool, slot: string, reader?: Fiber.Fiber<unknown, unknown>) =>
  Effect.gen(function* () {
    // A barrier written before the slot exists would be behind its consistent point.
    yield* eventually(slotStatus(pool, slot).pipe(Effect.map((s) => s.active === true)))
    const [barrier] = yield* pool.query("SELECT pg_logical_emit_message(true, 'test-barrier', 'x')::text AS lsn")
    const lsn = barrier?.lsn ?? "0/0"
    const confirmed = eventually(
      slotStatus(pool, slot).pipe(
        Effect.map((s) => s.confirmedFlushLsn != null && compareLsn(s.confirmedFlushLsn, lsn) > 0)
      )
    )
    if (reader === undefined) return yield* confirmed
    const stopped = Fiber.join(reader).pipe(
      Effect.exit,
      Effect.flatMap((exit) => Effect.die(new Error(`the reader stopped before catching up: ${JSON.stringify(exit)}`)))
    )
    yield* Effect.raceFirst(confirmed, stopped)
  })

const readChanges = (settings: ReaderSettings) =>
  readAllChanges(settings.streamName).pipe(Effect.provide([Kinesis.layer(settings.kinesis), S3.layer(settings.s3)]))

const sourceRows = (pool: PgPool, table: TotesysTable) => pool.query(`SELECT * FROM public.${quoteIdent(table)}`)

const byPosition = (a: ChangeRecord, b: ChangeRecord) => compareLsn(a.commitLsn, b.commitLsn) || a.commitIdx - b.commitIdx

/** Every row's creation (snapshot read or insert) seen `min`..`max` times, and every row's final image equal to the source. */
const expectCaptured = (pool: PgPool, changes: ReadonlyArray<ChangeRecord>, times: { min: number; max: number }) =>
  Effect.gen(function* () {
    for (const table of TOTESYS_TABLES) {
      const pk = PRIMARY_KEY[table]
      const ofTable = changes.filter((c) => c.table === table).sort(byPosition)
      const births = new Map<string, number>()
      const images = new Map<string, Record<string, string | null>>()
      for (const c of ofTable) {
        const key = c.key[pk] ?? ""
        if (c.op === "read" || c.op === "insert") births.set(key, (births.get(key) ?? 0) + 1)
        if (c.after !== null) images.set(key, { ...images.get(key), ...c.after })
      }
      const rows = yield* sourceRows(pool, table)
      for (const row of rows) {
        const key = row[pk] ?? ""
        const seen = births.get(key) ?? 0
        expect(seen, `${table} ${key} created ${seen} times`).toBeGreaterThanOrEqual(times.min)
        expect(seen, `${table} ${key} created ${seen} times`).toBeLessThanOrEqual(times.max)
        expect(images.get(key), `${table} ${key} final image`).toEqual(row)
      }
      expect(births.size, `${table}: no rows that the source does not have`).toBe(rows.length)
    }
  })

layer(LocalStack.layer(), { excludeTestServices: true })("cdc-reader", (it) => {
  it.effect("captures every row exactly once across a snapshot and the writes made during it", () =>
    Effect.gen(function* () {
      const { pool, settings } = yield* fixture("reader_exactly_once", { seed: true })
      const stats = yield* Ref.make<SimulatorStats>({ transactions: 0, changes: 0 })
      const simulator = yield* Effect.forkChild(runSimulator(pool, { seed: 3, rate: 3_000 }, stats))
      const reader = yield* Effect.forkChild(runReaderProgram(settings))
      yield* eventually(Ref.get(stats).pipe(Effect.map((s) => s.changes >= 6_000)))
      yield* Fiber.interrupt(simulator)
      yield* caughtUp(pool, settings.slot)
      yield* Fiber.interrupt(reader)

      const changes = (yield* readChanges(settings)).map((c) => c.record)
      expect(changes.filter((c) => c.op === "read").length, "the snapshot holds at least the seeded rows").toBeGreaterThanOrEqual(30_106)
      expect(changes.some((c) => c.op === "insert"), "writes after the snapshot point stream as inserts").toBe(true)
      expect(changes.some((c) => c.op === "update"), "payment flips stream as updates").toBe(true)
      // Each table's snapshot starts with its resync marker, just before the table's rows; the snapshot's indexes count 0, 1, 2, … in commit order.
      const snapshot = changes.filter((c) => c.source === "snapshot").sort(byPosition)
      expect(snapshot.map((c) => c.commitIdx)).toEqual(snapshot.map((_, i) => i))
      expect(new Set(snapshot.map((c) => c.commitLsn)).size).toBe(1)
      const markers = snapshot.filter((c) => c.op === "truncate")
      expect(markers.map((m) => m.table).sort()).toEqual([...TOTESYS_TABLES].sort())
      for (const marker of markers) {
        const rows = snapshot.filter((c) => c.table === marker.table && c.op === "read")
        expect(rows.every((c) => c.commitIdx > marker.commitIdx), marker.table).toBe(true)
        expect(snapshot[marker.commitIdx + 1]?.table ?? marker.table, `${marker.table}: its rows follow its marker`).toBe(marker.table)
      }
      yield* expectCaptured(pool, changes, { min: 1, max: 1 })
    })
  )

  it.effect("loses nothing when the reader process is killed mid-transaction and restarted", () =>
    Effect.gen(function* () {
      const { pool, settings } = yield* fixture("reader_killed")
      yield* pool.query(
        `INSERT INTO currency (currency_code, last_updated) VALUES ('GBP', now()), ('USD', now());`
      )
      const env = {
        ...process.env,
        SOURCE_URL: settings.sourceUrl,
        READER_SLOT: settings.slot,
        READER_PUBLICATION: settings.publication,
        KINESIS_STREAM: settings.streamName,
        INGESTION_BUCKET: settings.stateBucket,
        READER_STATE_PREFIX: settings.statePrefix,
        KINESIS_ENDPOINT: settings.kinesis.endpoint ?? "",
        S3_ENDPOINT: settings.s3.endpoint ?? "",
        AWS_REGION: settings.kinesis.region,
        AWS_ACCESS_KEY_ID: settings.kinesis.accessKeyId ?? "",
        AWS_SECRET_ACCESS_KEY: settings.kinesis.secretAccessKey ?? ""
      }
      const child: ChildProcess = yield* Effect.acquireRelease(
        Effect.sync(() => spawn(process.execPath, [BIN, "reader"], { env, stdio: ["ignore", "ignore", "pipe"] })),
        (c) => Effect.sync(() => c.kill("SIGKILL"))
      )
      let childErr = ""
      child.stderr?.on("data", (chunk: Buffer) => (childErr += chunk.toString()))
      yield* caughtUp(pool, settings.slot).pipe(
        Effect.catch((error) => Effect.die(new Error(`reader process did not catch up (${String(error)}): ${childErr}`)))
      )
      // One big transaction: 40,000 designs; kill the reader once some of it is in Kinesis.
      yield* pool.query(
        `INSERT INTO design (design_name, file_location, file_name, last_updated)
         SELECT 'Bulk', '/bulk', 'bulk-' || g || '.json', now() FROM generate_series(1, 40000) g`
      )
      yield* eventually(
        readChanges(settings).pipe(Effect.map((cs) => cs.some((c) => c.record.table === "design"))),
        60,
        "300 millis"
      )
      child.kill("SIGKILL")
      yield* pool.query("UPDATE currency SET currency_code = 'EUR', last_updated = now() WHERE currency_code = 'USD'")

      const reader = yield* Effect.forkChild(runReaderProgram(settings))
      yield* caughtUp(pool, settings.slot, reader)
      yield* Fiber.interrupt(reader)
      const changes = (yield* readChanges(settings)).map((c) => c.record)
      yield* expectCaptured(pool, changes, { min: 1, max: 2 })
    })
  )

  it.effect("a second reader waits while the slot is held, and takes over when it is released", () =>
    Effect.gen(function* () {
      const { pool, settings } = yield* fixture("reader_takeover")
      const first = yield* Effect.forkChild(runReaderProgram(settings))
      yield* caughtUp(pool, settings.slot, first)
      const second = yield* Effect.forkChild(runReaderProgram(settings))
      yield* pool.query("INSERT INTO currency (currency_code, last_updated) VALUES ('GBP', now())")
      yield* Fiber.interrupt(first)
      yield* caughtUp(pool, settings.slot, second)
      yield* Fiber.interrupt(second)
      const changes = (yield* readChanges(settings)).map((c) => c.record)
      expect(changes.filter((c) => c.table === "currency" && c.op === "insert")).toHaveLength(1)
    })
  )

  it.effect("never drops a slot it has no state for (a new ingestion bucket); pointed back at its state, it resumes without a snapshot", () =>
    Effect.gen(function* () {
      const { pool, settings } = yield* fixture("reader_keep_slot", { seed: true })
      const first = yield* Effect.forkChild(runReaderProgram(settings))
      yield* caughtUp(pool, settings.slot, first)
      yield* Fiber.interrupt(first)
      const kept = yield* slotStatus(pool, settings.slot)
      // Written while no reader runs: must arrive once the slot is resumed.
      yield* pool.query("INSERT INTO currency (currency_code, last_updated) VALUES ('JPY', now())")

      const elsewhere = { ...settings, statePrefix: "state/another-deployment/" }
      const refused = yield* Effect.flip(runReaderProgram(elsewhere))
      expect(refused.message).toBe(
        `replication slot reader_keep_slot exists but the reader has no state for it at s3://${settings.stateBucket}/state/another-deployment/reader_keep_slot.json; ` +
          "to resume it, give the reader the ingestion bucket of the deployment that created it (INGESTION_BUCKET); " +
          'to start over, run "READER_SLOT=reader_keep_slot totes-cdc reader slot drop" to forget it, then start the reader again to take a new snapshot'
      )
      expect(yield* slotStatus(pool, settings.slot)).toMatchObject({ exists: true, confirmedFlushLsn: kept.confirmedFlushLsn })

      const snapshotRows = (yield* readChanges(settings)).filter((c) => c.record.source === "snapshot").length
      expect(snapshotRows).toBeGreaterThan(30_000)
      const resumed = yield* Effect.forkChild(runReaderProgram(settings))
      yield* caughtUp(pool, settings.slot, resumed)
      yield* Fiber.interrupt(resumed)
      const changes = (yield* readChanges(settings)).map((c) => c.record)
      expect(changes.filter((c) => c.source === "snapshot")).toHaveLength(snapshotRows)
      expect(changes.filter((c) => c.table === "currency" && c.op === "insert" && c.after?.currency_code === "JPY")).toHaveLength(1)
    })
  )

  it.effect("advances the slot on an idle source through heartbeats", () =>
    Effect.gen(function* () {
      const { pool, settings } = yield* fixture("reader_idle", { heartbeatMs: 200 })
      const reader = yield* Effect.forkChild(runReaderProgram(settings))
      yield* caughtUp(pool, settings.slot)
      const before = (yield* slotStatus(pool, settings.slot)).confirmedFlushLsn ?? "0/0"
      // WAL written elsewhere on the server (another database) while totesys stays idle.
      const other = yield* emptyTotesys("reader_idle_other")
      yield* other.query("CREATE TABLE filler AS SELECT g FROM generate_series(1, 20000) g")
      const [wal] = yield* other.query("SELECT pg_current_wal_lsn()::text AS lsn")
      yield* eventually(
        slotStatus(pool, settings.slot).pipe(
          Effect.map((s) => s.confirmedFlushLsn != null && compareLsn(s.confirmedFlushLsn, wal?.lsn ?? "0/0") > 0)
        ),
        30
      )
      const after = (yield* slotStatus(pool, settings.slot)).confirmedFlushLsn ?? "0/0"
      expect(compareLsn(after, before)).toBeGreaterThan(0)
      yield* Fiber.interrupt(reader)
    })
  )

  it.effect("keeps an unchanged TOASTed value out of the update, and emits deletes and truncates", () =>
    Effect.gen(function* () {
      const { pool, settings } = yield* fixture("reader_toast")
      const reader = yield* Effect.forkChild(runReaderProgram(settings))
      yield* caughtUp(pool, settings.slot)
      // 100 kB of random hex: too big to stay inline, incompressible, so PostgreSQL TOASTs it.
      yield* pool.query(
        `INSERT INTO design (design_name, file_location, file_name, last_updated)
         VALUES ('Steel', (SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 3200)), 'steel.json', now())`
      )
      yield* pool.query("UPDATE design SET design_name = 'Bronze', last_updated = now() WHERE design_name = 'Steel'")
      yield* pool.query("DELETE FROM design WHERE design_name = 'Bronze'")
      yield* pool.query("TRUNCATE payment")
      yield* caughtUp(pool, settings.slot)
      yield* Fiber.interrupt(reader)

      const changes = (yield* readChanges(settings)).map((c) => c.record).sort(byPosition)
      const update = changes.find((c) => c.op === "update" && c.table === "design")
      expect(update?.unchangedToast).toEqual(["file_location"])
      expect(update?.after).not.toHaveProperty("file_location")
      expect(update?.after?.design_name).toBe("Bronze")
      const insert = changes.find((c) => c.op === "insert" && c.table === "design")
      expect(insert?.after?.file_location).toHaveLength(3200 * 32)
      const deleted = changes.find((c) => c.op === "delete")
      expect(deleted).toMatchObject({ table: "design", key: { design_id: insert?.key.design_id }, after: null })
      expect(changes.filter((c) => c.op === "truncate" && c.source === "replication").map((c) => c.table)).toEqual(["payment"])
    })
  )

  it.effect("stops with one line naming the problem and the fix: wrong password, missing table", () =>
    Effect.gen(function* () {
      const { pool, settings } = yield* fixture("reader_errors")
      const wrongPassword = settings.sourceUrl.replace(":totes-cdc-local@", ":wrong@")
      const auth = yield* Effect.flip(runReaderProgram({ ...settings, sourceUrl: wrongPassword }))
      expect(auth.message).toMatch(/^authentication failed for postgres:\/\/postgres:\*\*\*@.* \(SOURCE_URL\): .*; fix the user name or password in SOURCE_URL$/)

      yield* pool.query("DROP TABLE staff CASCADE")
      const missing = yield* Effect.flip(runReaderProgram(settings))
      expect(missing.message.split("\n")).toHaveLength(1)
      expect(missing.message).toContain("table public.staff does not exist")
      expect(missing.message).toContain("fix:")
    })
  )
})

layer(LocalStack.layer({ postgresSettings: { wal_level: "replica" } }), { excludeTestServices: true })(
  "cdc-reader on a server without logical WAL",
  (it) => {
    it.effect("stops with one line telling to set wal_level = logical", () =>
      Effect.gen(function* () {
        const { settings } = yield* fixture("reader_replica_wal")
        const error = yield* Effect.flip(runReaderProgram(settings))
        expect(error.message.split("\n")).toHaveLength(1)
        expect(error.message).toContain("wal_level")
        expect(error.message).toContain("set wal_level = logical")
      })
    )
  }
)
