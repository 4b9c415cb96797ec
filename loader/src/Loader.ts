/**
 * The loader: processed Parquet objects (DESIGN.md §4) → the star-schema warehouse
 * (DESIGN.md §5), exactly once in effect. `applyObjects` applies a micro-batch's objects,
 * `applyManifest` the micro-batch a manifest lists; its steps and the truncate modes
 * (README "Truncates"): loader/SPEC.md §1.
 *
 * Invariants:
 *  - ONE warehouse transaction per call, under a per-target advisory lock; a failure
 *    anywhere rolls the whole call back: no half-loaded micro-batch.
 *  - A micro-batch found in the bucket (`catchUp`, the SQS loader) is applied only through
 *    its manifest (core MicroBatchManifest.ts), written after all its objects: never while
 *    the processor is still writing it. Objects without a manifest are never applied.
 *  - A call holding one whole micro-batch, none of it quarantined, records its manifest key
 *    in `totes_cdc.applied_batches`; a catch-up skips those without reading them.
 *  - An object in `totes_cdc.applied_objects` is skipped (a re-delivery is a no-op).
 *  - Objects are downloaded and decoded before the transaction; a bad one fails the call.
 *  - Load order: dim_date, the other dimensions, then the facts (`WAREHOUSE_TABLES`).
 *  - A truncate is never silently dropped (a `totes_cdc.truncations` row and a warning);
 *    `quarantine` (default) holds the table's objects until `releaseQuarantine`.
 */
import { compareLsn, decodeManifest, MANIFEST_PREFIX, manifestKeyOfObject, parseManifestKey, parseProcessedKey, WAREHOUSE_TABLES, type WarehouseTable } from "@totes-cdc/core"
import { decodeParquet, type PgError, type PgPool, type PgSession, S3, type S3Error } from "@totes-cdc/platform"
import { Clock, Effect, Option, Schema } from "effect"
import { Readable } from "node:stream"
import {
  ANALYZE_STAGE_ROWS,
  applyResync,
  applyTruncate,
  copyStageSql,
  copyText,
  createTempTables,
  type ForeignKeyChecks,
  INLINE_STAGE_ROWS,
  inlineStatement,
  insertStage,
  LOAD_CHECK_SQLSTATE,
  type LoadRow,
  REPLICA_SESSION,
  scriptOf,
  SEGMENT_FUNCTION_PREFIX,
  type SegmentFunction,
  segmentFunction,
  splitAtTruncates,
  type Statement,
  type TruncateMode
} from "./LoadPlan.ts"
import { commitLagPercentiles } from "./LatencyWindow.ts"
import { introspectTarget, type WarehouseTarget, type WarehouseTargetError } from "./WarehouseTarget.ts"

/**
 * A processed object could not be loaded: one line naming it and why. `cause`: the error
 * it was made from (e.g. the `ParquetError` of an unreadable object), when there was one.
 */
export class LoaderError extends Schema.TaggedError<LoaderError>()("LoaderError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

export interface LoaderConfig {
  /** The processed bucket (`<table>/YYYY/MM/DD/<batchId>.parquet`). */
  readonly processedBucket: string
  /** What a source truncate does (default `quarantine`). */
  readonly truncateMode: TruncateMode
  /** How the facts' foreign keys are checked (LoadPlan.ts `ForeignKeyChecks`; default `statement`, `row` when the role may not set session_replication_role). */
  readonly foreignKeyChecks?: ForeignKeyChecks
}

/**
 * A processed object to load: its key (the table is its first path segment), and its
 * bytes when the caller has them (the in-process loader of `dev`): then the object is not
 * read back from S3; with its `values` too (the rows the bytes were encoded from,
 * stream-processors ProcessedObject), it is not decoded either.
 */
export interface ObjectRef {
  readonly key: string
  readonly body?: Uint8Array
  readonly values?: ReadonlyArray<LoadRow>
}

/** What one `applyObjects` call did. */
export interface LoadReport {
  /** Objects applied now. */
  readonly applied: number
  /** Objects skipped: already applied earlier. */
  readonly alreadyApplied: number
  /** Objects left unapplied because their table is quarantined. */
  readonly quarantined: ReadonlyArray<{ readonly key: string; readonly table: WarehouseTable }>
  /** Rows read from the applied objects. */
  readonly rows: number
  /** Commit times (ms since the epoch) of the applied rows that carry one (`_commit_ts`). */
  readonly commitTimes: ReadonlyArray<number>
  /** Per table, the newest commit time (ms since the epoch) among its applied rows that carry one. */
  readonly newestCommitOfTable: Readonly<Partial<Record<WarehouseTable, number>>>
}

export interface Loader {
  readonly target: WarehouseTarget
  /**
   * Applies `objects` in one transaction. When they are all of one micro-batch they must be
   * all of it (the processor's hand-off, `replay`, a manifest): the micro-batch is then
   * recorded as applied whole (`totes_cdc.applied_batches`) unless part of it waits for a
   * quarantine. Fails with LoaderError, PgError or S3Error; nothing is written on failure.
   */
  readonly applyObjects: (objects: ReadonlyArray<ObjectRef>) => Effect.Effect<LoadReport, LoaderError | PgError | S3Error>
  /**
   * Reads the manifest at `key` (`manifests/YYYY/MM/DD/<batchId>.json`) and applies the
   * objects it lists in one transaction. Fails with LoaderError (no such manifest, one that
   * does not decode, a listed object missing or unreadable), PgError or S3Error.
   */
  readonly applyManifest: (key: string) => Effect.Effect<LoadReport, LoaderError | PgError | S3Error>
  /** Lists the processed bucket's manifests and applies every micro-batch not applied whole yet (`applyManifest`), in key order. */
  readonly catchUp: Effect.Effect<LoadReport, LoaderError | PgError | S3Error>
}

/** Pure: objects in load order — tables in `WAREHOUSE_TABLES` order (dim_date first, facts last), then by key. */
export const loadOrder = <O extends ObjectRef>(objects: ReadonlyArray<O>): ReadonlyArray<O> => {
  const rank = (o: O) => WAREHOUSE_TABLES.indexOf(parseProcessedKey(o.key)!.table)
  return [...objects].sort((a, b) => rank(a) - rank(b) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
}

/** Pure: the manifest key of the micro-batch `keys` belong to, or undefined when they are not all processed objects of one micro-batch. */
export const manifestKeyOfBatch = (keys: ReadonlyArray<string>): string | undefined => {
  const manifests = new Set(keys.map(manifestKeyOfObject))
  const [only] = manifests
  return manifests.size === 1 ? only : undefined
}

/** Pure: the source commit times (ms since the epoch) of the rows that have one (`_commit_ts`). */
const commitTimesOf = (rows: ReadonlyArray<LoadRow>): ReadonlyArray<number> =>
  rows.flatMap((row) => (typeof row["_commit_ts"] === "string" ? [Date.parse(row["_commit_ts"])] : []))

/** Pure: the newest `_commit_lsn` and `_commit_ts` of `rows` (null when none). */
export const newestCommit = (rows: ReadonlyArray<LoadRow>): { lsn: string | null; ts: string | null } => {
  let lsn: string | null = null
  let ts: string | null = null
  for (const row of rows) {
    const l = row["_commit_lsn"]
    const t = row["_commit_ts"]
    if (typeof l === "string" && (lsn === null || compareLsn(l, lsn) > 0)) lsn = l
    if (typeof t === "string" && (ts === null || t > ts)) ts = t
  }
  return { lsn, ts }
}

const EMPTY_REPORT: LoadReport = { applied: 0, alreadyApplied: 0, quarantined: [], rows: 0, commitTimes: [], newestCommitOfTable: {} }

/** Pure: the newest commit time per table of both. */
const newerCommits = (
  a: Readonly<Partial<Record<WarehouseTable, number>>>,
  b: Readonly<Partial<Record<WarehouseTable, number>>>
): Readonly<Partial<Record<WarehouseTable, number>>> => {
  const newest: Partial<Record<WarehouseTable, number>> = { ...a }
  for (const [table, ts] of Object.entries(b) as Array<[WarehouseTable, number]>) newest[table] = Math.max(newest[table] ?? ts, ts)
  return newest
}

/** Pure: two reports added. */
export const addReports = (a: LoadReport, b: LoadReport): LoadReport => ({
  applied: a.applied + b.applied,
  alreadyApplied: a.alreadyApplied + b.alreadyApplied,
  quarantined: [...a.quarantined, ...b.quarantined],
  rows: a.rows + b.rows,
  commitTimes: [...a.commitTimes, ...b.commitTimes],
  newestCommitOfTable: newerCommits(a.newestCommitOfTable, b.newestCommitOfTable)
})

/** Runs `statements` in order in one round trip (a script, their parameters inlined). */
const run = (tx: PgSession, statements: ReadonlyArray<Statement>) => tx.script(scriptOf(statements))

/**
 * The statements of a transaction not sent yet: `add` holds them, `flush` sends them all as
 * one script (before a COPY, a truncate's queries, and at the end). Most micro-batches are
 * one script. `apply` adds the call of a segment's function, its `CREATE` first when the
 * connection does not have it yet (`functions`: the names it has, kept up to date). A failed
 * check in the script (`LOAD_CHECK_SQLSTATE`) fails with LoaderError.
 */
const pendingScript = (tx: PgSession, functions: Set<string>) => {
  const held: Array<Statement> = []
  const add = (statements: ReadonlyArray<Statement>) => void held.push(...statements)
  return {
    add,
    apply: (fn: SegmentFunction) => {
      if (!functions.has(fn.name)) {
        add([{ sql: fn.create, params: [] }])
        functions.add(fn.name)
      }
      add([{ sql: fn.call, params: [] }])
    },
    flush: Effect.suspend(() => run(tx, held.splice(0))).pipe(
      Effect.catchIf(
        (error) => error.code === LOAD_CHECK_SQLSTATE,
        (error) => Effect.fail(new LoaderError({ message: error.message.replace(` (SQLSTATE ${LOAD_CHECK_SQLSTATE})`, "") }))
      )
    )
  }
}
type PendingScript = ReturnType<typeof pendingScript>

/**
 * Handles a truncate of `table` in `key` (module header). Answers whether loading the
 * table goes on (false = quarantined).
 */
const handleTruncate = (tx: PgSession, target: WarehouseTarget, table: WarehouseTable, key: string, row: LoadRow, mode: TruncateMode) =>
  Effect.gen(function* () {
    const at = { lsn: String(row["_commit_lsn"]), idx: Number(row["_commit_idx"]) }
    yield* tx.query(
      `INSERT INTO totes_cdc.truncations (target_schema, warehouse_table, commit_lsn, commit_idx, mode, in_force, object_key)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
      [target.schema, table, at.lsn, at.idx, mode, mode === "quarantine", key]
    )
    const stored = (yield* tx.query(
      `SELECT mode, in_force FROM totes_cdc.truncations
        WHERE target_schema = $1 AND warehouse_table = $2 AND commit_lsn = $3 AND commit_idx = $4`,
      [target.schema, table, at.lsn, at.idx]
    ))[0]!
    if (stored.in_force === "t") {
      yield* Effect.logWarning(
        `truncate of ${table} at ${at.lsn}/${at.idx} (object ${key}): table quarantined, its objects wait; release with \`totes-cdc loader release ${table} --as apply|ignore\``
      )
      return false
    }
    if (stored.mode === "apply") yield* run(tx, applyTruncate(target, table, at))
    yield* Effect.logWarning(`truncate of ${table} at ${at.lsn}/${at.idx} (object ${key}): ${stored.mode === "apply" ? "applied" : "ignored"}`)
    return true
  })

/** Applies a snapshot's resync row of `table` (LoadPlan.ts `applyResync`): never quarantined, whatever the truncate mode. */
const applyResyncRow = (tx: PgSession, target: WarehouseTarget, table: WarehouseTable, key: string, row: LoadRow) =>
  Effect.gen(function* () {
    const at = { lsn: String(row["_commit_lsn"]), idx: Number(row["_commit_idx"]) }
    yield* run(tx, applyResync(target, table, at))
    yield* Effect.logDebug(`snapshot of ${table} at ${at.lsn} (object ${key}): ids it does not bring back are flagged deleted`)
  })

/**
 * Applies one decoded object inside `tx`, whose temporary tables of `table` exist and are
 * empty (`createTempTables`); leaves them empty. Each segment is applied by its function
 * (`functionOf`, LoadPlan.ts `segmentFunction`). Its statements go to `script`, sent when a
 * COPY (a segment of `INLINE_STAGE_ROWS` rows or more) or a truncate needs the warehouse.
 * Answers false when its table became (or is) quarantined.
 */
const applyObject = (
  tx: PgSession,
  script: PendingScript,
  target: WarehouseTarget,
  table: WarehouseTable,
  key: string,
  rows: ReadonlyArray<LoadRow>,
  mode: TruncateMode,
  functionOf: (table: WarehouseTable, rows: number) => SegmentFunction
) =>
  Effect.gen(function* () {
    const segments = splitAtTruncates(rows)
    const newest = newestCommit(rows)
    const [p50 = null, p99 = null] = commitLagPercentiles(yield* Clock.currentTimeMillis, commitTimesOf(rows), [50, 99])
    const bookkeeping: ReadonlyArray<Statement> = [
      {
        sql: `INSERT INTO totes_cdc.applied_objects (target_schema, object_key, warehouse_table, row_count, commit_lag_p50_ms, commit_lag_p99_ms)
       VALUES ($1, $2, $3, $4, $5, $6)`,
        params: [target.schema, key, table, rows.length, p50 === null ? null : Math.round(p50), p99 === null ? null : Math.round(p99)]
      },
      {
        sql: `INSERT INTO totes_cdc.freshness AS f (target_schema, warehouse_table, last_commit_lsn, last_commit_ts, last_loaded_at)
       VALUES ($1, $2, $3, $4, clock_timestamp())
       ON CONFLICT (target_schema, warehouse_table) DO UPDATE SET
         last_commit_lsn = greatest(f.last_commit_lsn, EXCLUDED.last_commit_lsn),
         last_commit_ts = greatest(f.last_commit_ts, EXCLUDED.last_commit_ts),
         last_loaded_at = EXCLUDED.last_loaded_at`,
        params: [target.schema, table, newest.lsn, newest.ts]
      }
    ]
    for (const segment of segments) {
      if (segment.rows.length > 0) {
        if (segment.rows.length < INLINE_STAGE_ROWS) script.add([insertStage(table, segment.rows)])
        else {
          yield* script.flush
          yield* tx.copyIn(copyStageSql(table), Readable.from([copyText(table, segment.rows)]))
        }
        script.apply(functionOf(table, segment.rows.length))
      }
      if (segment.truncate === undefined) continue
      yield* script.flush
      if (segment.truncate["_op"] === "resync") yield* applyResyncRow(tx, target, table, key, segment.truncate)
      else if (!(yield* handleTruncate(tx, target, table, key, segment.truncate, mode))) return false
    }
    script.add(bookkeeping)
    return true
  })

/**
 * `wanted`, unless it is `statement` and the warehouse role may not set
 * session_replication_role: then `row`, with a warning naming the grant that enables it.
 */
const usableForeignKeyChecks = (pool: PgPool, wanted: ForeignKeyChecks) =>
  wanted === "row"
    ? Effect.succeed<ForeignKeyChecks>("row")
    : pool.transaction((tx) => tx.query("SET LOCAL session_replication_role = replica")).pipe(
        Effect.as<ForeignKeyChecks>("statement"),
        Effect.catchTag("PgError", (error) =>
          Effect.logWarning(
            `the warehouse role may not set session_replication_role (${error.message}): facts' foreign keys are checked row by row by PostgreSQL's triggers, several times slower; grant it (superuser, or on PostgreSQL 15+ GRANT SET ON PARAMETER session_replication_role TO <role>) or set LOADER_FOREIGN_KEY_CHECKS=row to silence this`
          ).pipe(Effect.as<ForeignKeyChecks>("row"))
        )
      )

/**
 * A loader for the warehouse `pool`, target schema `schema` (already migrated:
 * `migrateWarehouse`). Reads the target's columns once (`introspectTarget`). Fails with
 * PgError or WarehouseTargetError.
 */
export const makeLoader = (
  pool: PgPool,
  schema: string,
  config: LoaderConfig
): Effect.Effect<Loader, PgError | WarehouseTargetError, S3> =>
  Effect.gen(function* () {
    const s3 = yield* S3
    const target = yield* introspectTarget(pool, schema)
    const foreignKeyChecks = yield* usableForeignKeyChecks(pool, config.foreignKeyChecks ?? "statement")
    // Two variants per table (below and from ANALYZE_STAGE_ROWS), each built once.
    const functions = new Map<string, SegmentFunction>()
    const functionOf = (table: WarehouseTable, rows: number) => {
      const key = `${table}:${rows >= ANALYZE_STAGE_ROWS}`
      const known = functions.get(key)
      if (known !== undefined) return known
      const made = segmentFunction(target, table, foreignKeyChecks, rows)
      functions.set(key, made)
      return made
    }

    const appliedAmong = (session: PgSession, keys: ReadonlyArray<string>) =>
      session
        .query("SELECT object_key FROM totes_cdc.applied_objects WHERE target_schema = $1 AND object_key = ANY($2)", [schema, keys])
        .pipe(Effect.map((rows) => new Set(rows.map((row) => row.object_key!))))

    const download = ({ key, body: given, values }: ObjectRef) =>
      Effect.gen(function* () {
        const table = parseProcessedKey(key)?.table
        if (table === undefined) {
          return yield* new LoaderError({ message: `s3://${config.processedBucket}/${key} is not a processed object (<warehouse_table>/YYYY/MM/DD/<batchId>.parquet)` })
        }
        if (given !== undefined && values !== undefined) return { key, table, rows: values }
        const body = given === undefined ? yield* s3.getObject(config.processedBucket, key) : Option.some(given)
        if (Option.isNone(body)) {
          return yield* new LoaderError({ message: `processed object s3://${config.processedBucket}/${key} does not exist: was the bucket emptied? replay from the archive (totes-cdc replay)` })
        }
        const decoded = yield* decodeParquet(body.value).pipe(
          Effect.mapError((error) => new LoaderError({ message: `processed object s3://${config.processedBucket}/${key}: ${error.message}`, cause: error }))
        )
        return { key, table, rows: decoded.rows }
      })

    const applyObjects = (objects: ReadonlyArray<ObjectRef>) =>
      Effect.gen(function* () {
        if (objects.length === 0) return EMPTY_REPORT
        const keys = objects.map((o) => o.key)
        // Objects applied before are not downloaded again; with every body given there is nothing to save.
        const known = objects.every((o) => o.body !== undefined) ? new Set<string>() : yield* appliedAmong(pool, keys)
        const loaded = yield* Effect.forEach(
          loadOrder(objects.filter((o) => !known.has(o.key))),
          download,
          { concurrency: 4 }
        )
        return yield* pool.transaction((tx) =>
          Effect.gen(function* () {
            // One round trip: the session's replication role (LoadPlan.ts ForeignKeyChecks), the
            // loaders' lock on the target, the temporary tables applyObject stages through, which
            // objects were applied meanwhile, which tables are quarantined and which segment
            // functions this connection already has.
            const found = yield* tx.script([
              ...(foreignKeyChecks === "statement" ? [REPLICA_SESSION] : []),
              inlineStatement({ sql: "SELECT pg_advisory_xact_lock(hashtext('totes-cdc:loader:' || $1))", params: [schema] }),
              ...[...new Set(loaded.map((object) => object.table))].flatMap(createTempTables),
              inlineStatement({
                sql: `SELECT 'applied' AS kind, object_key AS name FROM totes_cdc.applied_objects
                       WHERE target_schema = $1 AND object_key IN (SELECT jsonb_array_elements_text($2::jsonb))
                      UNION ALL
                      SELECT DISTINCT 'quarantined', warehouse_table FROM totes_cdc.truncations WHERE target_schema = $1 AND in_force
                      UNION ALL
                      SELECT 'function', proname FROM pg_proc WHERE pronamespace = pg_my_temp_schema() AND starts_with(proname, $3)`,
                params: [schema, JSON.stringify(keys), SEGMENT_FUNCTION_PREFIX]
              })
            ])
            const applied = new Set(found.filter((row) => row.kind === "applied").map((row) => row.name!))
            const quarantinedTables = new Set(found.filter((row) => row.kind === "quarantined").map((row) => row.name!))
            const script = pendingScript(tx, new Set(found.filter((row) => row.kind === "function").map((row) => row.name!)))
            let report: LoadReport = { ...EMPTY_REPORT, alreadyApplied: objects.length - loaded.length }
            for (const object of loaded) {
              if (applied.has(object.key)) {
                report = { ...report, alreadyApplied: report.alreadyApplied + 1 }
                continue
              }
              const goesOn = !quarantinedTables.has(object.table) && (yield* applyObject(tx, script, target, object.table, object.key, object.rows, config.truncateMode, functionOf))
              if (!goesOn) {
                quarantinedTables.add(object.table)
                report = { ...report, quarantined: [...report.quarantined, { key: object.key, table: object.table }] }
                continue
              }
              const commitTimes = commitTimesOf(object.rows)
              const newestCommitOfTable = commitTimes.length === 0 ? {} : { [object.table]: commitTimes.reduce((a, b) => Math.max(a, b)) }
              report = addReports(report, { ...EMPTY_REPORT, applied: 1, rows: object.rows.length, commitTimes, newestCommitOfTable })
            }
            const manifest = manifestKeyOfBatch(keys)
            if (manifest !== undefined && report.quarantined.length === 0) {
              script.add([{ sql: "INSERT INTO totes_cdc.applied_batches (target_schema, manifest_key) VALUES ($1, $2) ON CONFLICT DO NOTHING", params: [schema, manifest] }])
            }
            yield* script.flush
            return report
          })
        )
      })

    const applyManifest = (key: string) =>
      Effect.gen(function* () {
        const where = `s3://${config.processedBucket}/${key}`
        const body = yield* s3.getObject(config.processedBucket, key)
        if (Option.isNone(body)) return yield* new LoaderError({ message: `manifest ${where} does not exist: was the bucket emptied? replay from the archive (totes-cdc replay)` })
        const manifest = yield* decodeManifest(key, new TextDecoder().decode(body.value)).pipe(
          Effect.mapError((error) => new LoaderError({ message: `processed bucket ${config.processedBucket}: ${error.message}`, cause: error }))
        )
        return yield* applyObjects(manifest.objects.map((object) => ({ key: object.key })))
      })

    const catchUp = Effect.gen(function* () {
      const listed = (yield* s3.listObjects(config.processedBucket, MANIFEST_PREFIX)).map((o) => o.key).filter((key) => parseManifestKey(key) !== undefined)
      if (listed.length === 0) return EMPTY_REPORT
      const applied = new Set(
        (yield* pool.query("SELECT manifest_key FROM totes_cdc.applied_batches WHERE target_schema = $1 AND manifest_key = ANY($2)", [schema, listed])).map(
          (row) => row.manifest_key!
        )
      )
      let report = EMPTY_REPORT
      for (const key of listed.filter((key) => !applied.has(key)).sort()) report = addReports(report, yield* applyManifest(key))
      return report
    })

    return { target, applyObjects, applyManifest, catchUp }
  })

/**
 * Ends the quarantine of `table` (every truncate of it still in force), deciding it as
 * `apply` or `ignore`; the next catch-up loads the objects that waited. Answers how many
 * truncates were released.
 */
export const releaseQuarantine = (pool: PgPool, schema: string, table: WarehouseTable, as: Exclude<TruncateMode, "quarantine">) =>
  pool
    .query(
      `UPDATE totes_cdc.truncations SET in_force = false, mode = $3
        WHERE target_schema = $1 AND warehouse_table = $2 AND in_force RETURNING commit_lsn`,
      [schema, table, as]
    )
    .pipe(Effect.map((rows) => rows.length))
