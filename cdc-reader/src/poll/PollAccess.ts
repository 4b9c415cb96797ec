/**
 * Poll mode's preflight: instead of the replication facts (wal_level, REPLICATION,
 * publication, slot), poll mode needs only that the role may SELECT every captured table
 * and that each has the `last_updated` and `created_at` columns it polls by.
 *
 * Invariants: every problem found is reported at once, on ONE line naming the table (or
 * the schema) and the fix, a statement that can be run as written (names quoted by
 * `quoteIdent`); nothing is read from a table before this passes.
 */
import { quoteIdent, type TotesysTable } from "@totes-cdc/core"
import type { PgPool, Row } from "@totes-cdc/platform"
import { Effect } from "effect"
import { ReaderError } from "../Reader.ts"

/** What the catalogs say about one table, for the current role. */
export interface TableAccess {
  readonly table: string
  readonly exists: boolean
  readonly canSelect: boolean
  /** Which of `last_updated`, `created_at` the table has. */
  readonly timestampColumns: ReadonlyArray<string>
}

export interface AccessFacts {
  readonly role: string
  readonly database: string
  readonly schemaUsage: boolean
  readonly tables: ReadonlyArray<TableAccess>
}

/** Pure: the one-line problem with `facts`, or undefined when the role can poll every table. */
export const describeAccessProblems = (facts: AccessFacts): string | undefined => {
  const problems: Array<string> = []
  if (!facts.schemaUsage) {
    problems.push(`role ${facts.role} has no USAGE on schema public (fix: GRANT USAGE ON SCHEMA public TO ${quoteIdent(facts.role)})`)
  }
  const missing = facts.tables.filter((t) => !t.exists).map((t) => `public.${t.table}`)
  if (missing.length > 0) {
    problems.push(`table${missing.length > 1 ? "s" : ""} ${missing.join(", ")} ${missing.length > 1 ? "do" : "does"} not exist in database ${facts.database} (fix: point SOURCE_URL at the totesys database)`)
  }
  const denied = facts.tables.filter((t) => t.exists && !t.canSelect)
  if (denied.length > 0) {
    const shown = denied.map((t) => `public.${t.table}`).join(", ")
    const sql = denied.map((t) => `public.${quoteIdent(t.table)}`).join(", ")
    problems.push(`role ${facts.role} may not SELECT ${shown} (fix: GRANT SELECT ON ${sql} TO ${quoteIdent(facts.role)})`)
  }
  for (const t of facts.tables.filter((t) => t.exists)) {
    const absent = ["last_updated", "created_at"].filter((c) => !t.timestampColumns.includes(c))
    if (absent.length > 0) problems.push(`table public.${t.table} has no ${absent.join(" or ")} column, which poll mode reads (fix: point SOURCE_URL at the totesys database)`)
  }
  return problems.length === 0 ? undefined : `poll mode cannot read the source: ${problems.join("; ")}`
}

const asBool = (value: string | null | undefined) => value === "t" || value === "true"

/** Reads the access facts of `tables` for the pool's role. Fails with `PgError`. */
export const gatherAccessFacts = (pool: PgPool, tables: ReadonlyArray<TotesysTable>) =>
  Effect.gen(function* () {
    const [who] = yield* pool.query(
      "SELECT current_user AS role, current_database() AS database, has_schema_privilege('public', 'USAGE') AS usage"
    )
    const rows: ReadonlyArray<Row> = yield* pool.query(
      `SELECT u.t AS table_name,
              c.oid IS NOT NULL AS present,
              COALESCE(has_table_privilege(c.oid, 'SELECT'), false) AS can_select,
              (SELECT string_agg(a.attname, ',' ORDER BY a.attname) FROM pg_attribute a
                WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                  AND a.attname IN ('last_updated', 'created_at')) AS timestamp_columns
         FROM unnest($1::text[]) WITH ORDINALITY AS u(t, n)
         LEFT JOIN LATERAL (SELECT to_regclass(format('public.%I', u.t))::oid AS oid) c ON true
        ORDER BY u.n`,
      [[...tables]]
    )
    return {
      role: who?.role ?? "?",
      database: who?.database ?? "?",
      schemaUsage: asBool(who?.usage),
      tables: rows.map((row) => ({
        table: row.table_name ?? "?",
        exists: asBool(row.present),
        canSelect: asBool(row.can_select),
        timestampColumns: (row.timestamp_columns ?? "").split(",").filter((c) => c !== "")
      }))
    } satisfies AccessFacts
  })

/** Fails with `ReaderError` (one line) unless the role can poll every table of `tables`. */
export const checkPollAccess = (pool: PgPool, tables: ReadonlyArray<TotesysTable>) =>
  Effect.gen(function* () {
    const problem = describeAccessProblems(yield* gatherAccessFacts(pool, tables))
    if (problem !== undefined) return yield* new ReaderError({ message: problem })
  })
