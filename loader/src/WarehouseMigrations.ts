/**
 * Warehouse migrations: creates the star schema, the analysts' `<fact>_latest` views and
 * the `totes_cdc` bookkeeping schema, idempotently, at every start of a component that writes the warehouse.
 *
 * Invariants:
 *  - Each migration runs at most once per target schema, recorded in
 *    `totes_cdc.schema_migrations`; all pending ones run in one transaction under an
 *    advisory lock, so concurrent starters neither race nor half-apply.
 *  - Running it again on a migrated warehouse changes nothing.
 */
import { DEFAULTS, quoteIdent } from "@totes-cdc/core"
import type { PgError, PgPool, PgSession } from "@totes-cdc/platform"
import { Effect } from "effect"
import { APPLIED_BATCHES_SQL, APPLIED_OBJECT_LATENCY_SQL, BOOKKEEPING_SQL, FACT_VERSIONS_SQL } from "./migrations/Bookkeeping.ts"
import { factVersionKeys, latestViewSql, starSchemaSql } from "./migrations/StarSchema.ts"

interface Migration {
  readonly id: number
  readonly name: string
  readonly up: (tx: PgSession, schema: string) => Effect.Effect<void, PgError>
}

/** The last-updated time column a fact table has: `last_updated_time` or (older cohorts) `last_updated`. */
const lastUpdatedTimeColumn = (tx: PgSession, schema: string, table: string) =>
  tx
    .query(
      `SELECT column_name FROM information_schema.columns
        WHERE table_schema = $1 AND table_name = $2 AND column_name IN ('last_updated_time', 'last_updated')
        ORDER BY column_name DESC LIMIT 1`,
      [schema, table]
    )
    .pipe(Effect.map((rows) => rows[0]?.column_name ?? "last_updated_time"))

const addFactVersionKeys = (tx: PgSession, schema: string) =>
  Effect.forEach(factVersionKeys, ({ table, naturalId }) =>
    Effect.gen(function* () {
      const name = `${table}_version_key`
      const existing = yield* tx.query(
        "SELECT 1 FROM pg_constraint WHERE conname = $1 AND connamespace = $2::regnamespace",
        [name, quoteIdent(schema)]
      )
      if (existing.length > 0) return
      const time = yield* lastUpdatedTimeColumn(tx, schema, table)
      yield* tx.query(
        `ALTER TABLE ${quoteIdent(schema)}.${table} ADD CONSTRAINT ${name} UNIQUE (${naturalId}, last_updated_date, ${quoteIdent(time)})`
      )
    })
  )

/**
 * Fact rows loaded before `totes_cdc.fact_versions` existed get their natural id's newest
 * applied position (`row_versions`): an upper bound of the change that wrote them, so a
 * replay of older changes still changes nothing; 0/0 where the pipeline recorded none.
 */
const recordExistingFactVersions = (tx: PgSession, schema: string) =>
  Effect.forEach(factVersionKeys, ({ table, naturalId }) =>
    Effect.gen(function* () {
      const [primaryKey] = yield* tx.query(
        `SELECT a.attname AS name FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
          WHERE i.indrelid = $1::regclass AND i.indisprimary AND i.indnatts = 1`,
        [`${quoteIdent(schema)}.${table}`]
      )
      if (primaryKey === undefined) return
      yield* tx.query(
        `INSERT INTO totes_cdc.fact_versions (target_schema, warehouse_table, record_id, commit_lsn, commit_idx)
         SELECT $1, $2, f.${quoteIdent(primaryKey.name!)}, coalesce(v.commit_lsn, '0/0'), coalesce(v.commit_idx, -1)
           FROM ${quoteIdent(schema)}.${table} f
           LEFT JOIN totes_cdc.row_versions v ON v.target_schema = $1 AND v.warehouse_table = $2 AND v.natural_id = f.${naturalId}::text
             ON CONFLICT DO NOTHING`,
        [schema, table]
      )
    })
  )

const createLatestViews = (tx: PgSession, schema: string) =>
  Effect.forEach(factVersionKeys, (fact) =>
    lastUpdatedTimeColumn(tx, schema, fact.table).pipe(Effect.flatMap((time) => tx.query(latestViewSql(schema, fact, time))))
  )

const MIGRATIONS: ReadonlyArray<Migration> = [
  {
    id: 1,
    name: "star_schema",
    up: (tx, schema) =>
      tx.query(starSchemaSql(schema)).pipe(Effect.andThen(addFactVersionKeys(tx, schema)), Effect.asVoid)
  },
  { id: 2, name: "bookkeeping", up: (tx) => tx.query(BOOKKEEPING_SQL).pipe(Effect.asVoid) },
  {
    id: 3,
    name: "fact_versions",
    up: (tx, schema) => tx.query(FACT_VERSIONS_SQL).pipe(Effect.andThen(recordExistingFactVersions(tx, schema)), Effect.asVoid)
  },
  { id: 4, name: "fact_latest_views", up: (tx, schema) => createLatestViews(tx, schema).pipe(Effect.asVoid) },
  { id: 5, name: "applied_object_latency", up: (tx) => tx.query(APPLIED_OBJECT_LATENCY_SQL).pipe(Effect.asVoid) },
  { id: 6, name: "applied_batches", up: (tx) => tx.query(APPLIED_BATCHES_SQL).pipe(Effect.asVoid) }
]

const LOCK_KEY = "totes-cdc:warehouse-migrations"

/**
 * Brings the warehouse behind `pool` up to date for star schema `schema` (default
 * `public`). Returns the names of the migrations it applied (empty when none were
 * pending). Fails with `PgError`.
 */
export const migrateWarehouse = (pool: PgPool, schema: string = DEFAULTS.warehouseSchema): Effect.Effect<ReadonlyArray<string>, PgError> =>
  pool.transaction((tx) =>
    Effect.gen(function* () {
      yield* tx.query("SELECT pg_advisory_xact_lock(hashtext($1))", [LOCK_KEY])
      yield* tx.query(`CREATE SCHEMA IF NOT EXISTS totes_cdc`)
      yield* tx.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`)
      yield* tx.query(`CREATE TABLE IF NOT EXISTS totes_cdc.schema_migrations (
          target_schema text NOT NULL,
          id            int  NOT NULL,
          name          text NOT NULL,
          applied_at    timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (target_schema, id))`)
      const done = yield* tx.query("SELECT id FROM totes_cdc.schema_migrations WHERE target_schema = $1", [schema])
      const applied = new Set(done.map((row) => Number(row.id)))
      const pending = MIGRATIONS.filter((m) => !applied.has(m.id))
      for (const migration of pending) {
        yield* migration.up(tx, schema)
        yield* tx.query("INSERT INTO totes_cdc.schema_migrations (target_schema, id, name) VALUES ($1, $2, $3)", [
          schema,
          migration.id,
          migration.name
        ])
      }
      return pending.map((m) => m.name)
    })
  )
