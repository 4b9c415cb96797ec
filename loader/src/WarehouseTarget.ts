/**
 * The warehouse as it actually is: which column of the target holds each column the
 * transform emits, each fact's surrogate key, and every foreign key of the facts, read
 * from the catalogs of the target schema (DESIGN.md §5; issue 5 "column-name drift
 * between cohorts handled by introspecting the target").
 *
 * Invariants:
 *  - Every column of `STAR_COLUMNS` maps to exactly one target column: its own name, else
 *    a known cohort spelling (`ALTERNATIVE_SPELLINGS`: `…_line_2` ↔ `…_line2`,
 *    `last_updated_time` ↔ `last_updated`; totesys/warehouse_schema.sql "KNOWN NAMING
 *    DRIFT", transform_rules.md §8). A table or column found under neither name is a
 *    `WarehouseTargetError` naming it and the fix — never a silently dropped column.
 *  - Pure resolution (`resolveTarget`) is separate from the catalog query (`introspectTarget`).
 */
import { isFactTable, STAR_COLUMNS, WAREHOUSE_TABLES, type WarehouseTable } from "@totes-cdc/core"
import type { PgError, PgSession } from "@totes-cdc/platform"
import { Effect, Schema } from "effect"

/** The target is not a totes-cdc warehouse as expected: one line with the missing name and the fix. */
export class WarehouseTargetError extends Schema.TaggedError<WarehouseTargetError>()("WarehouseTargetError", {
  message: Schema.String
}) {}

/** A foreign key of a fact table, as target column names. */
export interface FactForeignKey {
  readonly table: WarehouseTable
  readonly column: string
  readonly references: WarehouseTable
  readonly referencedColumn: string
}

export interface WarehouseTarget {
  /** The target schema, unquoted (e.g. `public`). */
  readonly schema: string
  /** Per table: transform column name → target column name. */
  readonly columns: { readonly [T in WarehouseTable]: Readonly<Record<string, string>> }
  /** Per fact table: its surrogate key column (`sales_record_id`, …), from the primary key. */
  readonly surrogateKeys: Readonly<Partial<Record<WarehouseTable, string>>>
  /** Every foreign key from a fact table to a dimension (target names). */
  readonly foreignKeys: ReadonlyArray<FactForeignKey>
}

/** Known spellings of one column in other warehouse cohorts. */
export const alternativeSpellings = (name: string): ReadonlyArray<string> => {
  const out: Array<string> = []
  if (/_\d+$/.test(name)) out.push(name.replace(/_(\d+)$/, "$1"))
  else if (/[a-z]\d+$/.test(name)) out.push(name.replace(/(\d+)$/, "_$1"))
  if (name === "last_updated_time") out.push("last_updated")
  return out
}

/** What the catalogs say: table → its columns; primary keys; fact foreign keys. */
export interface CatalogFacts {
  readonly columns: ReadonlyMap<string, ReadonlyArray<string>>
  readonly primaryKeys: ReadonlyMap<string, ReadonlyArray<string>>
  readonly foreignKeys: ReadonlyArray<{ table: string; column: string; references: string; referencedColumn: string }>
}

const isWarehouseTable = (name: string): name is WarehouseTable => (WAREHOUSE_TABLES as ReadonlyArray<string>).includes(name)

/** Pure: the target from catalog facts. Fails with `WarehouseTargetError` on a missing table or column. */
export const resolveTarget = (schema: string, facts: CatalogFacts): Effect.Effect<WarehouseTarget, WarehouseTargetError> =>
  Effect.gen(function* () {
    const columns = {} as Record<WarehouseTable, Record<string, string>>
    const surrogateKeys: Partial<Record<WarehouseTable, string>> = {}
    for (const table of WAREHOUSE_TABLES) {
      const present = facts.columns.get(table)
      if (present === undefined) {
        return yield* new WarehouseTargetError({
          message: `warehouse table ${schema}.${table} does not exist: run a totes-cdc component that migrates the warehouse, or set WAREHOUSE_SCHEMA to the schema that holds the star schema`
        })
      }
      const map: Record<string, string> = {}
      for (const { name } of STAR_COLUMNS[table]) {
        const found = [name, ...alternativeSpellings(name)].find((candidate) => present.includes(candidate))
        if (found === undefined) {
          return yield* new WarehouseTargetError({
            message: `warehouse table ${schema}.${table} has no column ${[name, ...alternativeSpellings(name)].join(" or ")}: add it (totesys/warehouse_schema.sql) or point WAREHOUSE_SCHEMA at a totes-cdc warehouse`
          })
        }
        map[name] = found
      }
      columns[table] = map
      if (isFactTable(table)) {
        const pk = facts.primaryKeys.get(table) ?? []
        if (pk.length !== 1) {
          return yield* new WarehouseTargetError({
            message: `warehouse table ${schema}.${table} needs a one-column primary key (its surrogate key, e.g. sales_record_id SERIAL): found ${pk.length === 0 ? "none" : pk.join(", ")}`
          })
        }
        surrogateKeys[table] = pk[0]!
      }
    }
    const foreignKeys = facts.foreignKeys.flatMap((fk) =>
      isWarehouseTable(fk.table) && isWarehouseTable(fk.references) && isFactTable(fk.table)
        ? [{ table: fk.table, column: fk.column, references: fk.references, referencedColumn: fk.referencedColumn }]
        : []
    )
    return { schema, columns, surrogateKeys, foreignKeys }
  })

/**
 * Reads the target schema's catalogs and resolves them (`resolveTarget`).
 * Fails with `PgError` (catalog query) or `WarehouseTargetError` (missing table/column).
 */
export const introspectTarget = (session: PgSession, schema: string): Effect.Effect<WarehouseTarget, PgError | WarehouseTargetError> =>
  Effect.gen(function* () {
    const columnRows = yield* session.query(
      `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = $1 ORDER BY table_name, ordinal_position`,
      [schema]
    )
    const keyRows = yield* session.query(
      `SELECT c.contype AS kind, cl.relname AS table_name, a.attname AS column_name,
              rc.relname AS referenced_table, ra.attname AS referenced_column
         FROM pg_constraint c
         JOIN pg_class cl ON cl.oid = c.conrelid
         CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, n)
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
         LEFT JOIN pg_class rc ON rc.oid = c.confrelid
         LEFT JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = c.confkey[k.n]
        WHERE c.connamespace = (SELECT oid FROM pg_namespace WHERE nspname = $1) AND c.contype IN ('p', 'f')
        ORDER BY cl.relname, c.conname, k.n`,
      [schema]
    )
    const columns = new Map<string, Array<string>>()
    for (const row of columnRows) {
      const list = columns.get(row.table_name!) ?? []
      list.push(row.column_name!)
      columns.set(row.table_name!, list)
    }
    const primaryKeys = new Map<string, Array<string>>()
    const foreignKeys: Array<CatalogFacts["foreignKeys"][number]> = []
    for (const row of keyRows) {
      if (row.kind === "p") primaryKeys.set(row.table_name!, [...(primaryKeys.get(row.table_name!) ?? []), row.column_name!])
      else foreignKeys.push({ table: row.table_name!, column: row.column_name!, references: row.referenced_table!, referencedColumn: row.referenced_column! })
    }
    return yield* resolveTarget(schema, { columns, primaryKeys, foreignKeys })
  })
