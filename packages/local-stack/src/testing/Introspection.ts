/**
 * Schema introspection for tests: what information_schema and the catalogs say about
 * a database's tables, so a schema can be compared with a reference one without
 * restating either (every value in PostgreSQL's text form).
 */
import type { PgError, PgSession, Row } from "@totes-cdc/platform"
import { Effect } from "effect"

export interface SchemaFacts {
  readonly columns: ReadonlyArray<Row>
  readonly constraints: ReadonlyArray<Row>
  readonly foreignKeys: ReadonlyArray<Row>
  readonly indexes: ReadonlyArray<Row>
  readonly sequences: ReadonlyArray<Row>
  readonly enums: ReadonlyArray<Row>
}

/** Facts about the tables of `schema` (all of them, or only `tables`). */
export const introspect = (
  db: PgSession,
  schema = "public",
  tables?: ReadonlyArray<string>
): Effect.Effect<SchemaFacts, PgError> => {
  /** Restricts `column` to `tables` (parameter $2), when given. */
  const only = (column: "table_name" | "tc.table_name") => (tables === undefined ? "" : `AND ${column} = ANY($2::text[])`)
  const params = tables === undefined ? [schema] : [schema, [...tables]]
  return Effect.all({
    columns: db.query(
      `SELECT table_name, column_name, ordinal_position, data_type, udt_name, character_maximum_length,
              numeric_precision, numeric_scale, datetime_precision, is_nullable, column_default
         FROM information_schema.columns WHERE table_schema = $1 ${only("table_name")}
        ORDER BY table_name, ordinal_position`,
      params
    ),
    constraints: db.query(
      `SELECT tc.table_name, tc.constraint_name, tc.constraint_type,
              string_agg(kcu.column_name, ',' ORDER BY kcu.ordinal_position) AS columns
         FROM information_schema.table_constraints tc
         JOIN information_schema.key_column_usage kcu
           ON kcu.constraint_schema = tc.constraint_schema AND kcu.constraint_name = tc.constraint_name
          AND kcu.table_name = tc.table_name
        WHERE tc.table_schema = $1 AND tc.constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY', 'UNIQUE') ${only("tc.table_name")}
        GROUP BY 1, 2, 3 ORDER BY 1, 2`,
      params
    ),
    foreignKeys: db.query(
      `SELECT c.conrelid::regclass::text AS table_name, c.conname, pg_get_constraintdef(c.oid) AS definition
         FROM pg_constraint c WHERE c.contype = 'f' AND c.connamespace = $1::regnamespace
        ORDER BY 2`,
      [schema]
    ),
    indexes: db.query(
      `SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY 2`,
      [schema]
    ),
    sequences: db.query(
      `SELECT sequence_name, data_type, start_value, minimum_value, maximum_value, increment
         FROM information_schema.sequences WHERE sequence_schema = $1 ORDER BY 1`,
      [schema]
    ),
    enums: db.query(
      `SELECT t.typname, string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) AS labels
         FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
        WHERE t.typnamespace = $1::regnamespace GROUP BY 1 ORDER BY 1`,
      [schema]
    )
  })
}
