/**
 * The warehouse side of `totes-cdc verify` (I/O): the star schema and
 * `totes_cdc.row_versions` read in ONE `REPEATABLE READ READ ONLY` transaction, so a row
 * and its recorded position are always seen together. Details: ops/SPEC.md §5.
 *
 * Invariants:
 *  - Column names come from the target (`introspectTarget`); rows are returned under the
 *    transform's names, values as PostgreSQL text with `DateStyle = ISO, YMD`.
 *  - Facts: the latest version of each natural id = latest (last_updated_date,
 *    last_updated_time), then the highest surrogate key; counts are of every version.
 *  - Foreign keys: one `NOT EXISTS` query per fact FK, declared or defined by the star
 *    schema (`foreignKeysToCheck`), so dropped constraints are checked too.
 *  - A warehouse without `totes_cdc.row_versions` reads as no versions.
 */
import { quoteIdent, STAR_COLUMNS, STAR_KEY, WAREHOUSE_TABLES, type WarehouseTable } from "@totes-cdc/core"
import type { PgError, PgPool, PgSession, Row } from "@totes-cdc/platform"
import { Effect } from "effect"
import { introspectTarget, type WarehouseTarget, type WarehouseTargetError } from "@totes-cdc/loader"
import type { DuplicateVersion, ForeignKeyViolation, RowVersion, WarehouseContents } from "./Reconcile.ts"
import { foreignKeysToCheck } from "./StarForeignKeys.ts"

const isWarehouseTable = (name: string | null): name is WarehouseTable =>
  name !== null && (WAREHOUSE_TABLES as ReadonlyArray<string>).includes(name)

/** The target column of transform column `column` of `table`, quoted. */
const targetColumn = (target: WarehouseTarget, table: WarehouseTable, column: string) =>
  quoteIdent(target.columns[table][column] ?? column)

const tableName = (target: WarehouseTarget, table: WarehouseTable) => `${quoteIdent(target.schema)}.${quoteIdent(table)}`

/** Every transform column of `table` as text, under the transform's name. */
const selectList = (target: WarehouseTarget, table: WarehouseTable) =>
  STAR_COLUMNS[table].map((c) => `${targetColumn(target, table, c.name)}::text AS ${quoteIdent(c.name)}`).join(", ")

/** The rows compared for `table`: every row of a dimension, the latest version per natural id of a fact. */
const readRows = (tx: PgSession, target: WarehouseTarget, table: WarehouseTable) => {
  const surrogate = target.surrogateKeys[table]
  if (surrogate === undefined) return tx.query(`SELECT ${selectList(target, table)} FROM ${tableName(target, table)}`)
  const id = targetColumn(target, table, STAR_KEY[table])
  const date = targetColumn(target, table, "last_updated_date")
  const time = targetColumn(target, table, "last_updated_time")
  return tx.query(
    `SELECT DISTINCT ON (${id}) ${selectList(target, table)} FROM ${tableName(target, table)}
      ORDER BY ${id}, ${date} DESC NULLS LAST, ${time} DESC NULLS LAST, ${quoteIdent(surrogate)} DESC`
  )
}

const readDuplicates = (tx: PgSession, target: WarehouseTarget, table: WarehouseTable) => {
  const id = targetColumn(target, table, STAR_KEY[table])
  const date = targetColumn(target, table, "last_updated_date")
  const time = targetColumn(target, table, "last_updated_time")
  return tx
    .query(
      `SELECT ${id}::text AS natural_id, ${date}::text AS last_updated_date, ${time}::text AS last_updated_time, count(*)::text AS n
         FROM ${tableName(target, table)} GROUP BY ${id}, ${date}, ${time} HAVING count(*) > 1 ORDER BY ${id}, ${date}, ${time}`
    )
    .pipe(
      Effect.map((rows) =>
        rows.map((row): DuplicateVersion => ({
          table,
          naturalId: row.natural_id ?? "",
          lastUpdatedDate: row.last_updated_date ?? "",
          lastUpdatedTime: row.last_updated_time ?? "",
          rows: Number(row.n)
        }))
      )
    )
}

const readViolations = (tx: PgSession, target: WarehouseTarget) =>
  Effect.forEach(foreignKeysToCheck(target), (fk) =>
    tx
      .query(
        `SELECT f.${quoteIdent(fk.column)}::text AS value, count(*)::text AS n
           FROM ${tableName(target, fk.table)} f
          WHERE f.${quoteIdent(fk.column)} IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM ${tableName(target, fk.references)} d
                             WHERE d.${quoteIdent(fk.referencedColumn)} = f.${quoteIdent(fk.column)})
          GROUP BY f.${quoteIdent(fk.column)} ORDER BY f.${quoteIdent(fk.column)}`
      )
      .pipe(Effect.map((rows) => rows.map((row): ForeignKeyViolation => ({ ...fk, value: row.value ?? "", rows: Number(row.n) }))))
  ).pipe(Effect.map((lists) => lists.flat()))

const readVersions = (tx: PgSession, schema: string) =>
  Effect.gen(function* () {
    const [exists] = yield* tx.query("SELECT to_regclass('totes_cdc.row_versions') IS NOT NULL AS present")
    if (exists?.present !== "t") return []
    const rows = yield* tx.query(
      `SELECT warehouse_table, natural_id, commit_lsn::text AS commit_lsn, commit_idx::text AS commit_idx, deleted::text AS deleted, inferred::text AS inferred
         FROM totes_cdc.row_versions WHERE target_schema = $1`,
      [schema]
    )
    return rows.flatMap((row): ReadonlyArray<RowVersion> =>
      isWarehouseTable(row.warehouse_table ?? null)
        ? [{
            table: row.warehouse_table as WarehouseTable,
            naturalId: row.natural_id ?? "",
            commitLsn: row.commit_lsn ?? "0/0",
            commitIdx: Number(row.commit_idx),
            deleted: row.deleted === "true",
            inferred: row.inferred === "true"
          }]
        : []
    )
  })

/**
 * Reads the warehouse star schema `schema` behind `pool` (module header). Fails with
 * `PgError`, or `WarehouseTargetError` when a table or column of the star schema is missing.
 */
export const readWarehouseContents = (
  pool: PgPool,
  schema: string
): Effect.Effect<{ readonly target: WarehouseTarget; readonly contents: WarehouseContents }, PgError | WarehouseTargetError> =>
  pool.transaction((tx) =>
    Effect.gen(function* () {
      yield* tx.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
      yield* tx.query("SET LOCAL DateStyle = 'ISO, YMD'")
      const target = yield* introspectTarget(tx, schema)
      const rows = {} as Record<WarehouseTable, ReadonlyArray<Row>>
      const counts = {} as Record<WarehouseTable, number>
      const duplicates: Array<DuplicateVersion> = []
      for (const table of WAREHOUSE_TABLES) {
        rows[table] = yield* readRows(tx, target, table)
        counts[table] = Number((yield* tx.query(`SELECT count(*)::text AS n FROM ${tableName(target, table)}`))[0]?.n ?? 0)
        if (target.surrogateKeys[table] !== undefined) duplicates.push(...(yield* readDuplicates(tx, target, table)))
      }
      const foreignKeyViolations = yield* readViolations(tx, target)
      const versions = yield* readVersions(tx, schema)
      return { target, contents: { rows, counts, duplicates, foreignKeyViolations, versions } }
    })
  )
