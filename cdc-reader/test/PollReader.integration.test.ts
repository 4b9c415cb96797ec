/**
 * Poll mode on the local stack: a role that may only SELECT (no replication privilege,
 * no publication, no slot) polls real PostgreSQL into real kinesalite, its cursor in
 * real s3rver. Each test has its own source database, role, stream and state prefix.
 */
import { expect, layer } from "@effect/vitest"
import { type ChangeRecord, PRIMARY_KEY, TOTESYS_TABLES, type TotesysTable, compareLsn, quoteIdent } from "@totes-cdc/core"
import { LocalStack, type SimulatorStats, createKinesisStream, loadSeed, runSimulator } from "@totes-cdc/local-stack"
import { Kinesis, type PgPool, S3 } from "@totes-cdc/platform"
import { emptyTotesys, readAllChanges, TOTESYS_DUMP, CLI_BIN, quietly } from "@totes-cdc/local-stack/testing"
import { Effect, Fiber, Ref, Schedule } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { type ReaderSettings, runReaderProgram as runReaderLoud } from "../src/index.ts"
import { type Cursor, compareCursor } from "../src/poll/PollCursor.ts"
import { loadPollState, pollStateKey } from "../src/poll/PollStateStore.ts"

const DUMP = TOTESYS_DUMP
const BIN = CLI_BIN

/** The reader, quietly (only errors logged). */
const runReaderProgram = (settings: ReaderSettings) => quietly(runReaderLoud(settings))

/**
 * A totesys database `name`, a role `<name>_r` that may only SELECT its tables, a stream
 * and poll-mode reader settings connecting as that role.
 */
const fixture = (name: string, options: { readonly seed?: boolean; readonly pageRows?: number } = {}) =>
  Effect.gen(function* () {
    const stack = yield* LocalStack
    const pool = yield* emptyTotesys(name)
    if (options.seed === true) yield* loadSeed(pool, DUMP)
    const role = `${name}_r`
    yield* pool.query(`DROP ROLE IF EXISTS ${role}`)
    yield* pool.query(`CREATE ROLE ${role} LOGIN PASSWORD 'r'`)
    yield* pool.query(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`)
    yield* createKinesisStream(stack.kinesis, name, 2)
    const url = new URL(stack.postgres.url(name))
    url.username = role
    url.password = "r"
    const settings: ReaderSettings = {
      sourceUrl: url.toString(),
      slot: name,
      publication: name,
      mode: "poll",
      streamName: name,
      stateBucket: stack.s3.buckets.ingestion,
      statePrefix: `state/${name}/`,
      heartbeatMs: 60_000,
      pollIntervalMs: 100,
      pollOverlapMs: 5_000,
      pollPageRows: options.pageRows ?? 5_000,
      kinesis: stack.kinesis,
      s3: stack.s3
    }
    return { pool, role, settings }
  })

/** Polls `check` until true, up to `seconds`. */
const eventually = <E, R>(check: Effect.Effect<boolean, E, R>, seconds = 60) =>
  check.pipe(
    Effect.repeat({ until: (ok) => ok, schedule: Schedule.spaced("100 millis") }),
    Effect.timeout(`${seconds} seconds`)
  )

const stateLocation = (settings: ReaderSettings) => ({ bucket: settings.stateBucket, prefix: settings.statePrefix })

/**
 * The poll state as saved in S3 (what is durable), if any. s3rver writes an object in
 * place, so a read racing the reader's write can see it torn: such a read is retried.
 */
const savedState = (settings: ReaderSettings) =>
  loadPollState(stateLocation(settings), settings.slot).pipe(
    Effect.retry({ while: (error) => error._tag === "ReaderStateError", schedule: Schedule.spaced("20 millis"), times: 10 }),
    Effect.provide(S3.layer(settings.s3))
  )

/** The greatest `(last_updated, pk)` of `table` in the source, if it has rows. */
const sourceMax = (pool: PgPool, table: TotesysTable) =>
  pool
    .query(
      `SELECT last_updated::text AS last_updated, ${PRIMARY_KEY[table]}::text AS pk FROM public.${quoteIdent(table)}
        ORDER BY last_updated DESC, ${PRIMARY_KEY[table]} DESC LIMIT 1`
    )
    .pipe(Effect.map(([row]): Cursor | undefined => (row ? { lastUpdated: row.last_updated ?? "", pk: row.pk ?? "" } : undefined)))

/** Waits until the saved cursor of each of `tables` has reached the source's greatest row. */
const durableUpToSource = (pool: PgPool, settings: ReaderSettings, tables: ReadonlyArray<TotesysTable> = TOTESYS_TABLES, seconds = 60) =>
  Effect.gen(function* () {
    const targets = yield* Effect.forEach(tables, (table) => sourceMax(pool, table).pipe(Effect.map((max) => [table, max] as const)))
    yield* eventually(
      savedState(settings).pipe(
        Effect.map((state) =>
          targets.every(([table, max]) => {
            const cursor = state?.tables[table]?.cursor
            return max === undefined || (cursor != null && compareCursor(cursor, max) >= 0)
          })
        )
      ),
      seconds
    )
  })

/**
 * A barrier: bumps `last_updated` of one row per table after every other write, then
 * waits until every table's saved cursor covers it — so a complete cycle that started
 * after all the writes is durable.
 */
const caughtUp = (pool: PgPool, settings: ReaderSettings) =>
  Effect.gen(function* () {
    for (const table of TOTESYS_TABLES) {
      const pk = PRIMARY_KEY[table]
      yield* pool.query(
        `UPDATE public.${quoteIdent(table)} SET last_updated = (now() AT TIME ZONE 'UTC')
          WHERE ${pk} = (SELECT max(${pk}) FROM public.${quoteIdent(table)})`
      )
    }
    yield* durableUpToSource(pool, settings)
  })

const readChanges = (settings: ReaderSettings) =>
  readAllChanges(settings.streamName).pipe(
    Effect.map((changes) => changes.map((c) => c.record)),
    Effect.provide([Kinesis.layer(settings.kinesis), S3.layer(settings.s3)])
  )

const byPosition = (a: ChangeRecord, b: ChangeRecord) => compareLsn(a.commitLsn, b.commitLsn) || a.commitIdx - b.commitIdx

/** Each row version (table, key, last_updated) → how many times it was emitted. */
const versionCounts = (changes: ReadonlyArray<ChangeRecord>) => {
  const counts = new Map<string, number>()
  for (const c of changes) {
    const version = `${c.table}:${Object.values(c.key).join(",")}@${c.after?.last_updated}`
    counts.set(version, (counts.get(version) ?? 0) + 1)
  }
  return counts
}

/** Every source row's latest polled image equals the row, no key the source lacks, no version twice. */
const expectMirrored = (pool: PgPool, changes: ReadonlyArray<ChangeRecord>) =>
  Effect.gen(function* () {
    for (const table of TOTESYS_TABLES) {
      const pk = PRIMARY_KEY[table]
      const latest = new Map<string, ChangeRecord>()
      for (const c of changes.filter((c) => c.table === table).sort(byPosition)) latest.set(c.key[pk] ?? "", c)
      const rows = yield* pool.query(`SELECT * FROM public.${quoteIdent(table)}`)
      for (const row of rows) expect(latest.get(row[pk] ?? "")?.after, `${table} ${row[pk]} final image`).toEqual(row)
      expect(latest.size, `${table}: no rows that the source does not have`).toBe(rows.length)
    }
    const twice = [...versionCounts(changes)].filter(([, n]) => n > 1)
    expect(twice, "row versions emitted more than once").toEqual([])
  })

layer(LocalStack.layer(), { excludeTestServices: true })("cdc-reader poll mode", (it) => {
  it.effect("loses nothing when 12,000 rows share one last_updated across 1,000-row pages", () =>
    Effect.gen(function* () {
      const { pool, settings } = yield* fixture("poll_equal_ts", { pageRows: 1_000 })
      yield* pool.query(
        `INSERT INTO design (design_name, file_location, file_name, created_at, last_updated)
         SELECT 'Bulk', '/bulk', 'bulk-' || g || '.json', '2024-02-23 10:11:12.345', '2024-02-23 10:11:12.345'
           FROM generate_series(1, 12000) g`
      )
      const reader = yield* Effect.forkChild(runReaderProgram(settings))
      yield* durableUpToSource(pool, settings, ["design"], 30)
      // A later cycle re-reads all 12,000 (they sit in its overlap window) and must emit none again.
      yield* pool.query(`INSERT INTO currency (currency_code, created_at, last_updated) VALUES ('GBP', now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')`)
      yield* durableUpToSource(pool, settings, ["currency"])
      yield* Fiber.interrupt(reader)

      const designs = (yield* readChanges(settings)).filter((c) => c.table === "design")
      expect(designs).toHaveLength(12_000)
      const ids = new Set(designs.map((c) => c.key.design_id))
      expect(ids.size).toBe(12_000)
      for (let id = 1; id <= 12_000; id++) expect(ids.has(String(id)), `design ${id}`).toBe(true)
      expect(new Set(designs.map((c) => `${c.source} ${c.op} ${c.commitTs}`))).toEqual(new Set(["poll insert 2024-02-23T10:11:12.345Z"]))
    })
  )

  it.effect("delivers every row inserted and updated while polling; the final image per key equals the source", () =>
    Effect.gen(function* () {
      const { pool, settings } = yield* fixture("poll_live", { seed: true })
      const reader = yield* Effect.forkChild(runReaderProgram(settings))
      const stats = yield* Ref.make<SimulatorStats>({ transactions: 0, changes: 0 })
      const simulator = yield* Effect.forkChild(runSimulator(pool, { seed: 5, rate: 300 }, stats))
      const payUnpaid = pool.query(
        `UPDATE payment SET paid = true, last_updated = (now() AT TIME ZONE 'UTC')
          WHERE payment_id IN (SELECT payment_id FROM payment WHERE NOT paid ORDER BY payment_id LIMIT 25)`
      )
      yield* eventually(Ref.get(stats).pipe(Effect.map((s) => s.changes >= 400)))
      yield* payUnpaid
      yield* eventually(Ref.get(stats).pipe(Effect.map((s) => s.changes >= 900)))
      yield* payUnpaid
      yield* Fiber.interrupt(simulator)
      yield* caughtUp(pool, settings)
      yield* Fiber.interrupt(reader)

      const changes = yield* readChanges(settings)
      expect(changes.length, "at least the seeded rows").toBeGreaterThanOrEqual(30_106)
      expect(changes.find((c) => c.table === "currency" && c.key.currency_id === "1")).toMatchObject({
        v: 1,
        source: "poll",
        op: "insert",
        before: null,
        unchangedToast: [],
        xid: null,
        commitTs: "2022-11-03T14:20:49.962Z",
        after: { currency_id: "1", currency_code: "GBP", created_at: "2022-11-03 14:20:49.962", last_updated: "2022-11-03 14:20:49.962" }
      })
      for (const c of changes) {
        expect(c.op === "insert", `${c.table} ${JSON.stringify(c.key)}: op from created_at vs last_updated`).toBe(c.after?.created_at === c.after?.last_updated)
      }
      const live = changes.filter((c) => (c.after?.created_at ?? "") >= "2024-03")
      expect(live.some((c) => c.op === "insert" && c.table === "sales_order"), "simulated sales arrive as inserts").toBe(true)
      expect(changes.filter((c) => c.op === "update" && c.table === "payment" && (c.after?.last_updated ?? "") >= "2024-03").length, "payments paid while polling").toBeGreaterThanOrEqual(50)
      yield* expectMirrored(pool, changes)
    })
  )

  it.effect("resumes from the cursor saved in S3 after a crash: nothing emitted twice, nothing missed", () =>
    Effect.gen(function* () {
      const { pool, settings } = yield* fixture("poll_restart")
      const insertDesigns = (count: number, at = "now() AT TIME ZONE 'UTC'") =>
        pool.query(
          `INSERT INTO design (design_name, file_location, file_name, created_at, last_updated)
           SELECT 'Design', '/designs', 'design-' || g || '.json', ${at}, ${at} FROM generate_series(1, ${count}) g`
        )
      yield* insertDesigns(30)

      // First run: the `totes-cdc reader` command with READER_MODE=poll, killed once its cursor is saved.
      const env = {
        ...process.env,
        READER_MODE: "poll",
        READER_POLL_INTERVAL_MS: "100",
        SOURCE_URL: settings.sourceUrl,
        READER_SLOT: settings.slot,
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
        Effect.sync(() => spawn(process.execPath, [BIN, "reader"], { env, stdio: "ignore" })),
        (c) => Effect.sync(() => c.kill("SIGKILL"))
      )
      yield* durableUpToSource(pool, settings, ["design"])
      child.kill("SIGKILL")
      const before = (yield* readChanges(settings)).length
      expect(before).toBe(30)

      // While it is down: new rows, updates, and a late commit older than the saved cursor (inside the overlap).
      const cursor = (yield* savedState(settings))?.tables.design?.cursor
      yield* insertDesigns(20)
      yield* pool.query("UPDATE design SET design_name = 'Renamed', last_updated = now() AT TIME ZONE 'UTC' WHERE design_id <= 5")
      yield* insertDesigns(1, `'${cursor?.lastUpdated}'::timestamp - interval '2 seconds'`)

      // Every write precedes the restart, so the cycle that reaches the source's newest row read them all.
      const reader = yield* Effect.forkChild(runReaderProgram(settings))
      yield* durableUpToSource(pool, settings)
      yield* Fiber.interrupt(reader)

      const changes = yield* readChanges(settings)
      const designs = changes.filter((c) => c.table === "design")
      expect(designs.filter((c) => c.op === "insert").map((c) => Number(c.key.design_id)).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 51 }, (_, i) => i + 1)
      )
      expect(designs.filter((c) => c.op === "update" && c.after?.design_name === "Renamed").map((c) => c.key.design_id).sort()).toEqual(["1", "2", "3", "4", "5"])
      const late = designs.find((c) => c.key.design_id === "51")
      expect(late?.op).toBe("insert")
      expect(compareCursor({ lastUpdated: late?.after?.last_updated ?? "", pk: "51" }, cursor ?? { lastUpdated: "", pk: "0" })).toBe(-1)
      yield* expectMirrored(pool, changes)
    })
  )

  it.effect("stops with one line naming a table the role cannot read, or a corrupt saved cursor", () =>
    Effect.gen(function* () {
      const { pool, role, settings } = yield* fixture("poll_denied")
      yield* pool.query(`REVOKE SELECT ON payment FROM ${role}`)
      const denied = yield* Effect.flip(runReaderProgram(settings))
      expect(denied.message.split("\n")).toHaveLength(1)
      expect(denied.message).toBe(
        `poll mode cannot read the source: role ${role} may not SELECT public.payment (fix: GRANT SELECT ON public."payment" TO "${role}")`
      )
      expect(yield* readChanges(settings)).toEqual([])

      yield* pool.query(`GRANT SELECT ON payment TO ${role}`)
      const key = pollStateKey(stateLocation(settings), settings.slot)
      yield* S3.use((s3) => s3.putObject(settings.stateBucket, key, "{ not json")).pipe(Effect.provide(S3.layer(settings.s3)))
      const corrupt = yield* Effect.flip(runReaderProgram(settings))
      expect(corrupt.message.split("\n")).toHaveLength(1)
      expect(corrupt.message).toContain(`s3://${settings.stateBucket}/${key} is not a poll reader state`)
    })
  )
})
