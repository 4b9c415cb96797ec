/**
 * The loader's SQL, pure: staging tables, `COPY` text or `INSERT … VALUES`, and the statements that apply one
 * staged segment of a processed object (DESIGN.md §5; README "Warehouse semantics").
 * Loader.ts runs them in one transaction per micro-batch. Details: loader/SPEC.md §2.
 *
 * Invariants:
 *  - `$1` = target schema, `$2` = warehouse table; truncates also `$3`/`$4` = LSN, index.
 *  - Dimensions (SCD 1): the newest staged row per key applies when its position is ≥ the
 *    stored one (≥: see TransformBatch.ts) and newer than the table's applied truncates.
 *  - Facts (`mergeFactVersions`): one row per version; a newer change to a present version
 *    updates it in place (`totes_cdc.fact_versions`), an older or equal one does nothing.
 *  - Deletes: a dimension row a fact references is kept and flagged, never removed.
 *  - A fact's missing dimension row is first inserted as an inferred member at 0/0.
 *  - `ForeignKeyChecks`: `statement` = one anti-join per key; `row` = PostgreSQL's triggers.
 *  - A segment's apply runs as a function of the session (`segmentFunction`), its plans
 *    kept per connection; only the staging `INSERT` and the bookkeeping carry row data.
 */
import { createHash } from "node:crypto"
import { compareLsn, isFactTable, PIPELINE_COLUMNS, quoteIdent, quoteLiteral, STAR_COLUMNS, STAR_KEY, type StarColumnType, type WarehouseTable } from "@totes-cdc/core"
import type { ParquetRow, ParquetValue } from "@totes-cdc/platform"
import type { WarehouseTarget } from "./WarehouseTarget.ts"

/** A decoded processed row: transform column → value, plus `_commit_lsn`, `_commit_idx`, `_op`, `_commit_ts`. */
export type LoadRow = ParquetRow

/** One statement and its parameters. */
export interface Statement {
  readonly sql: string
  readonly params: ReadonlyArray<unknown>
}

/**
 * The SQLSTATE a load check raises (`danglingReferences`): its error's message is the whole
 * one-line description of what failed, and the micro-batch is rolled back.
 */
export const LOAD_CHECK_SQLSTATE = "TC001"

/**
 * A parameter's SQL literal as PostgreSQL would read the parameter: `NULL`, or the value's
 * text quoted (unknown-typed, as a text parameter is). Text holding a backslash is written as
 * an escape string (`E'…'`, backslashes doubled): read the same whatever the server's
 * `standard_conforming_strings`.
 */
const literalOf = (value: unknown): string => {
  if (value === null || value === undefined) return "NULL"
  if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean" && typeof value !== "bigint") {
    throw new RangeError(`a statement parameter of type ${typeof value} cannot be written inline`)
  }
  const text = String(value)
  return text.includes("\\") ? `E${quoteLiteral(text.replaceAll("\\", "\\\\"))}` : quoteLiteral(text)
}

/**
 * Pure: `statement` with its `$n` parameters written inline as literals (`literalOf`), so it
 * can run in a script (`PgSession.script`). `$n` inside a quoted literal or identifier is
 * left alone; a `$n` without a parameter is a defect (RangeError).
 */
export const inlineStatement = ({ sql, params }: Statement): string => {
  let out = ""
  let i = 0
  while (i < sql.length) {
    const c = sql[i]!
    if (c === "'" || c === '"') {
      const end = sql.indexOf(c, i + 1)
      const stop = end < 0 ? sql.length : end + 1
      out += sql.slice(i, stop)
      i = stop
    } else if (c === "$" && /[0-9]/.test(sql[i + 1] ?? "")) {
      let j = i + 1
      while (j < sql.length && /[0-9]/.test(sql[j]!)) j++
      const n = Number(sql.slice(i + 1, j))
      if (n < 1 || n > params.length) throw new RangeError(`statement parameter $${n} has no value (${params.length} given)`)
      out += literalOf(params[n - 1])
      i = j
    } else {
      out += c
      i++
    }
  }
  return out
}

/** Pure: `statements` as a script (`PgSession.script`): each inlined (`inlineStatement`), in order. */
export const scriptOf = (statements: ReadonlyArray<Statement>): ReadonlyArray<string> =>
  statements.map((statement) => (statement.params.length === 0 ? statement.sql : inlineStatement(statement)))

/** How a source truncate is handled (README "Truncates"). */
export type TruncateMode = "apply" | "quarantine" | "ignore"
export const TRUNCATE_MODES: ReadonlyArray<TruncateMode> = ["apply", "quarantine", "ignore"]

/**
 * How the facts' foreign keys are checked (README "Warehouse semantics"):
 *  - `statement`: one set-based check per foreign key per staged segment (an anti-join of
 *    the staged rows against the dimension), and the loader's connections run with
 *    `session_replication_role = replica` (as a logical replication apply worker does), so
 *    PostgreSQL's per-row RI triggers do not run again what the check just did (they were
 *    ~75% of the append's time: nine index probes and row locks per fact row). The other
 *    side of the keys needs no trigger either: the loader never changes a dimension's key and
 *    deletes only dimension rows no fact references (`unreferenced`). Set once per connection
 *    and kept (`REPLICA_SESSION`): every change of the setting flushes PostgreSQL's plan
 *    cache, the `segmentFunction` plans with it. Needs superuser or, on PostgreSQL 15+,
 *    `GRANT SET ON PARAMETER session_replication_role`.
 *  - `row`: PostgreSQL's own per-row triggers.
 */
export type ForeignKeyChecks = "statement" | "row"
export const FOREIGN_KEY_CHECKS: ReadonlyArray<ForeignKeyChecks> = ["statement", "row"]

/**
 * Segments of at least this many rows have their temporary tables (the stage, a fact's
 * `_apply_<table>`) ANALYZEd before they are used: without statistics the planner assumes
 * a tiny table and can pick quadratic nested loops against row_versions or the facts.
 */
export const ANALYZE_STAGE_ROWS = 1_000

/**
 * The columns of a temporary table of `table` that are ANALYZEd: those the apply's plans
 * depend on — the key (a fact's version key), `_op` (filters), the position (sorts) and a
 * fact's `_record_id` (`temp` = "apply"). ANALYZE counts every row whatever the columns;
 * statistics of every column cost ~2.5 µs per staged row of a fact, these ~0.5.
 */
const analyzedColumns = (table: WarehouseTable, temp: "stage" | "apply"): ReadonlyArray<string> => [
  STAR_KEY[table],
  ...(isFactTable(table) ? ["last_updated_date", "last_updated_time"] : []),
  "_op",
  "_commit_lsn",
  "_commit_idx",
  ...(temp === "apply" && isFactTable(table) ? ["_record_id"] : [])
]

const SQL_TYPE: { readonly [T in StarColumnType]: string } = {
  int: "integer",
  date: "date",
  time: "time(3)",
  "decimal(10,2)": "numeric(10,2)",
  numeric: "numeric",
  varchar: "text",
  boolean: "boolean"
}

/** The SQL types the pipeline columns are staged as. */
type PipelineSqlType = "pg_lsn" | "integer" | "text" | "timestamptz"

/** The SQL type each pipeline column of a processed object (contracts/ProcessedObject.ts) is staged as. */
const PIPELINE_SQL_TYPE: Readonly<Record<string, PipelineSqlType>> = { _commit_lsn: "pg_lsn", _commit_idx: "integer", _op: "text", _commit_ts: "timestamptz" }

/** The staging table's pipeline columns, after the transform's columns: the contract's, then `_ord` = row index in the segment. */
const PIPELINE: ReadonlyArray<readonly [name: string, sqlType: PipelineSqlType]> = [
  ...PIPELINE_COLUMNS.map((column) => {
    const sqlType = PIPELINE_SQL_TYPE[column.name]
    if (sqlType === undefined) throw new Error(`LoadPlan.ts: processed-object column ${column.name} has no staging type`)
    return [column.name, sqlType] as const
  }),
  ["_ord", "integer"]
]

/** `_stage_<table>` (quoted): a temporary table of the session, emptied at every commit. */
export const stageName = (table: WarehouseTable): string => quoteIdent(`_stage_${table}`)

/** `_apply_<table>` (quoted): the rows of a staged segment that apply, a temporary table of the session emptied at every commit. */
const applyName = (table: WarehouseTable): string => quoteIdent(`_apply_${table}`)

/** A table alias of the statements below. */
type Alias = "s" | "l" | "d" | "a" | "f"

const starNames = (table: WarehouseTable): ReadonlyArray<string> => STAR_COLUMNS[table].map((c) => c.name)

/** The staging table's columns, in COPY order. */
export const stageColumns = (table: WarehouseTable): ReadonlyArray<string> => [...starNames(table), ...PIPELINE.map(([name]) => name)]

/** A processed row's columns, in staging order before `_ord`: the transform's, then the contract's pipeline columns. */
const rowColumns = (table: WarehouseTable): ReadonlyArray<string> => [...starNames(table), ...PIPELINE_COLUMNS.map((column) => column.name)]

/** The staging table's column definitions, in COPY order (SQL: `"a" integer, "b" text, …`). */
const stageDefinitions = (table: WarehouseTable): string =>
  [...STAR_COLUMNS[table].map((c) => `${quoteIdent(c.name)} ${SQL_TYPE[c.type]}`), ...PIPELINE.map(([name, type]) => `${quoteIdent(name)} ${type}`)].join(", ")

/**
 * Creates the temporary tables the segments of `table` are applied through, unless the
 * session has them: the staging table and, but for dim_date, `_apply_<table>` (the staging
 * columns, and a fact's `_record_id`). They live as long as the connection and are emptied
 * at every commit (`ON COMMIT DELETE ROWS`): no catalog rows are written and dropped per
 * micro-batch. A rolled-back transaction leaves them as empty as it found them.
 */
export const createTempTables = (table: WarehouseTable): ReadonlyArray<string> => [
  `CREATE TEMP TABLE IF NOT EXISTS ${stageName(table)} (${stageDefinitions(table)}) ON COMMIT DELETE ROWS`,
  ...(table === "dim_date"
    ? []
    : [`CREATE TEMP TABLE IF NOT EXISTS ${applyName(table)} (${stageDefinitions(table)}${isFactTable(table) ? `, ${quoteIdent("_record_id")} bigint` : ""}) ON COMMIT DELETE ROWS`])
]

/**
 * Empties the temporary tables of `table` once a segment of `rows` rows is applied, so the
 * next segment (or object) of the table in the transaction finds them empty: `DELETE` for
 * small segments (no catalog write; the dead rows go at commit), `TRUNCATE` from
 * `ANALYZE_STAGE_ROWS` rows.
 */
export const clearTempTables = (table: WarehouseTable, rows: number): ReadonlyArray<Statement> => {
  const empty = rows >= ANALYZE_STAGE_ROWS ? "TRUNCATE" : "DELETE FROM"
  return [
    { sql: `${empty} ${stageName(table)}`, params: [] },
    ...(table === "dim_date" ? [] : [{ sql: `${empty} ${applyName(table)}`, params: [] }])
  ]
}

/**
 * Segments of fewer rows are staged by an `INSERT … VALUES` in the micro-batch's script
 * (`insertStage`), larger ones by `COPY` (a round trip of its own, but far less SQL to parse).
 */
export const INLINE_STAGE_ROWS = 1_000

/**
 * `INSERT INTO _stage_<table> … VALUES …` of `rows` (`_ord` = index), one `$n` per value (in a
 * script each is written inline, `inlineStatement`: the quoted literal of its text, which
 * INSERT coerces to the column's type as COPY reads the text).
 */
export const insertStage = (table: WarehouseTable, rows: ReadonlyArray<LoadRow>): Statement => {
  const names = rowColumns(table)
  const width = names.length
  return {
    sql: `INSERT INTO ${stageName(table)} (${stageColumns(table).map(quoteIdent).join(", ")}) VALUES ${rows
      .map((_, ord) => `(${names.map((_, column) => `$${ord * width + column + 1}`).join(", ")}, ${ord})`)
      .join(",\n")}`,
    params: rows.flatMap((row) => names.map((name) => row[name] ?? null))
  }
}

/** `COPY _stage_<table> (…) FROM STDIN` (text format). */
export const copyStageSql = (table: WarehouseTable): string =>
  `COPY ${stageName(table)} (${stageColumns(table).map(quoteIdent).join(", ")}) FROM STDIN`

const ESCAPES: Readonly<Record<string, string>> = { "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t" }

/** One value in COPY text format: `\N` for null, `t`/`f`, digits, or the text with `\`, newline, CR and tab escaped. */
export const copyField = (value: ParquetValue): string => {
  if (value === null) return "\\N"
  if (typeof value === "boolean") return value ? "t" : "f"
  if (typeof value === "number") return String(value)
  return NEEDS_ESCAPE.test(value) ? value.replace(ESCAPED, (c) => ESCAPES[c]!) : value
}

const NEEDS_ESCAPE = /[\\\n\r\t]/
const ESCAPED = /[\\\n\r\t]/g

/** The COPY text of `rows` for the staging table of `table` (one line each, `_ord` = index), built field by field into one string. */
export const copyText = (table: WarehouseTable, rows: ReadonlyArray<LoadRow>): string => {
  const names = rowColumns(table)
  let text = ""
  for (let ord = 0; ord < rows.length; ord++) {
    const row = rows[ord]!
    for (const name of names) text += `${copyField(row[name] ?? null)}\t`
    text += `${ord}\n`
  }
  return text
}

/** A processed object's rows cut at its truncates and resyncs: segments of upserts/deletes, each followed by the truncate or resync row that ends it (if any). */
export const splitAtTruncates = (
  rows: ReadonlyArray<LoadRow>
): ReadonlyArray<{ readonly rows: ReadonlyArray<LoadRow>; readonly truncate: LoadRow | undefined }> => {
  const out: Array<{ rows: Array<LoadRow>; truncate: LoadRow | undefined }> = [{ rows: [], truncate: undefined }]
  for (const row of rows) {
    const current = out.at(-1)!
    if (row["_op"] === "truncate" || row["_op"] === "resync") {
      current.truncate = row
      out.push({ rows: [], truncate: undefined })
    } else current.rows.push(row)
  }
  return out.filter((segment) => segment.rows.length > 0 || segment.truncate !== undefined)
}

const q = quoteIdent
const target = (t: WarehouseTarget, table: WarehouseTable) => `${q(t.schema)}.${q(table)}`
const col = (t: WarehouseTarget, table: WarehouseTable, star: string) => q(t.columns[table][star]!)

/** `sql` with the first n of `params`, n = the highest `$n` it uses (PostgreSQL rejects unused parameters). */
const statement = (sql: string, params: ReadonlyArray<unknown>): Statement => {
  const used = Math.max(0, ...[...sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])))
  return { sql, params: params.slice(0, used) }
}

/** `s` is not older than an applied truncate of the table. */
const notTruncated = (s: Alias) => `NOT EXISTS (SELECT 1 FROM totes_cdc.truncations tr
     WHERE tr.target_schema = $1 AND tr.warehouse_table = $2 AND tr.mode = 'apply' AND NOT tr.in_force
       AND (tr.commit_lsn, tr.commit_idx) > (${s}._commit_lsn, ${s}._commit_idx))`

/** No fact row references dimension row `d` (one NOT EXISTS per foreign key to `table`). */
const unreferenced = (t: WarehouseTarget, table: WarehouseTable, d: Alias) =>
  t.foreignKeys
    .filter((fk) => fk.references === table)
    .map((fk) => `NOT EXISTS (SELECT 1 FROM ${target(t, fk.table)} f WHERE f.${q(fk.column)} = ${d}.${q(fk.referencedColumn)})`)
    .join(" AND ") || "true"

/**
 * Records the newest position per key of `table`'s rows (with `_op`) in row_versions, where
 * newer than stored: the rows that apply (`_apply_<table>`, a dimension's) or the whole
 * staged segment (`_stage_<table>`, a fact's).
 */
const recordVersions = (table: WarehouseTable, rows: "apply" | "stage") => {
  const from = rows === "apply" ? applyName(table) : stageName(table)
  const key = q(STAR_KEY[table])
  return `INSERT INTO totes_cdc.row_versions AS v
       (target_schema, warehouse_table, natural_id, commit_lsn, commit_idx, deleted, inferred)
SELECT DISTINCT ON (s.${key}) $1, $2, s.${key}::text, s._commit_lsn, s._commit_idx, s._op = 'delete', false
  FROM ${from} s WHERE s._op <> 'truncate' AND ${notTruncated("s")}
 ORDER BY s.${key}, s._commit_lsn DESC, s._commit_idx DESC, s._ord DESC
    ON CONFLICT (target_schema, warehouse_table, natural_id) DO UPDATE
   SET commit_lsn = EXCLUDED.commit_lsn, commit_idx = EXCLUDED.commit_idx, deleted = EXCLUDED.deleted, inferred = false
 WHERE (EXCLUDED.commit_lsn, EXCLUDED.commit_idx) >= (v.commit_lsn, v.commit_idx)`
}

/**
 * Applies the staged segment of dimension `table` (not dim_date): the newest staged change
 * per key that is not older than the key's row_versions position (read one key at a time
 * through its primary key, a scalar subquery: never a scan of row_versions, which holds
 * every id of every table), then upserts, positions, deletes.
 */
const applyDimension = (t: WarehouseTarget, table: WarehouseTable): ReadonlyArray<string> => {
  const key = q(STAR_KEY[table])
  const apply = applyName(table)
  const names = starNames(table)
  const targetKey = col(t, table, STAR_KEY[table])
  return [
    `INSERT INTO ${apply}
SELECT l.* FROM (
  SELECT DISTINCT ON (s.${key}) s.* FROM ${stageName(table)} s WHERE s._op <> 'truncate'
   ORDER BY s.${key}, s._commit_lsn DESC, s._commit_idx DESC, s._ord DESC) l
 WHERE coalesce((SELECT (l._commit_lsn, l._commit_idx) >= (v.commit_lsn, v.commit_idx) FROM totes_cdc.row_versions v
                  WHERE v.target_schema = $1 AND v.warehouse_table = $2 AND v.natural_id = l.${key}::text), true)
   AND ${notTruncated("l")}`,
    `INSERT INTO ${target(t, table)} (${names.map((n) => col(t, table, n)).join(", ")})
SELECT ${names.map(q).join(", ")} FROM ${apply} WHERE _op = 'upsert'
    ON CONFLICT (${targetKey}) DO UPDATE SET ${names
      .filter((n) => n !== STAR_KEY[table])
      .map((n) => `${col(t, table, n)} = EXCLUDED.${col(t, table, n)}`)
      .join(", ")}`,
    recordVersions(table, "apply"),
    `DELETE FROM ${target(t, table)} d USING ${apply} a
 WHERE a._op = 'delete' AND d.${targetKey} = a.${key} AND ${unreferenced(t, table, "d")}`
  ]
}

/** The foreign keys of fact `table` on columns the transform fills, each with its staging column. */
const stagedForeignKeys = (t: WarehouseTarget, table: WarehouseTable) => {
  const starOf = new Map(Object.entries(t.columns[table]).map(([star, actual]) => [actual, star]))
  return t.foreignKeys.flatMap((fk) => {
    const star = starOf.get(fk.column)
    return fk.table === table && star !== undefined ? [{ ...fk, star }] : []
  })
}

/** Inserts an inferred member for every dimension row the staged facts reference but the warehouse lacks. */
const inferredMembers = (t: WarehouseTarget, table: WarehouseTable): ReadonlyArray<Statement> =>
  stagedForeignKeys(t, table)
    .filter((fk) => fk.references !== "dim_date")
    .map((fk) => {
      const dim = fk.references
      const source = q(fk.star)
      const others = STAR_COLUMNS[dim].filter((c) => c.name !== STAR_KEY[dim])
      const placeholder = (c: (typeof others)[number]) => (c.nullable ? "NULL" : c.type === "varchar" ? "'Unknown'" : c.type === "int" ? "0" : "NULL")
      return {
        sql: `WITH missing AS (
  SELECT DISTINCT s.${source} AS id FROM ${stageName(table)} s
   WHERE s._op = 'upsert' AND s.${source} IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM ${target(t, dim)} d WHERE d.${q(fk.referencedColumn)} = s.${source})),
inserted AS (
  INSERT INTO ${target(t, dim)} (${[q(fk.referencedColumn), ...others.map((c) => col(t, dim, c.name))].join(", ")})
  SELECT id${others.map((c) => `, ${placeholder(c)}`).join("")} FROM missing
      ON CONFLICT DO NOTHING RETURNING ${q(fk.referencedColumn)} AS id)
INSERT INTO totes_cdc.row_versions (target_schema, warehouse_table, natural_id, commit_lsn, commit_idx, deleted, inferred)
SELECT $1, $2, id::text, '0/0', -1, false, true FROM inserted
    ON CONFLICT DO NOTHING`,
        params: [t.schema, dim]
      }
    })

/** `LOAD_CHECK_SQLSTATE` as a SQL literal. */
const LOAD_CHECK_ERRCODE = `'${LOAD_CHECK_SQLSTATE}'`

/** The check's message for a dangling `fk` of `table`, a `format` pattern (`%s`: the value). */
const danglingMessage = (table: WarehouseTable, fk: { readonly column: string; readonly references: WarehouseTable; readonly referencedColumn: string }) =>
  `${table}.${fk.column} = %s references no ${fk.references} row (foreign key to ${fk.references}.${fk.referencedColumn}); nothing of this micro-batch was written — run \`totes-cdc verify\` and report it: the loader inserts every dimension row a fact needs first`.replaceAll(
    /%(?!s)/g,
    "%%"
  )

/**
 * Foreign-key checks `statement`: a check (PL/pgSQL, a step of `segmentFunction`'s body,
 * which declares `dangling`) that looks for the first staged row per foreign key of fact
 * `table` (rows the append would consider: upserts not older than an applied truncate)
 * whose key matches no row of the referenced table, and raises `LOAD_CHECK_SQLSTATE`
 * naming it when there is one. Run after the inferred members and dim_date are in; it runs
 * inside the micro-batch's transaction, so a failure rolls it all back.
 */
const danglingReferences = (t: WarehouseTarget, table: WarehouseTable): ReadonlyArray<Statement> => {
  const fks = stagedForeignKeys(t, table)
  if (fks.length === 0) return []
  const candidates = fks
    .map(
      (fk, i) => `(SELECT ${i} AS fk, s.${q(fk.star)}::text AS value FROM ${stageName(table)} s
   WHERE s._op = 'upsert' AND s.${q(fk.star)} IS NOT NULL AND ${notTruncated("s")}
     AND NOT EXISTS (SELECT 1 FROM ${target(t, fk.references)} d WHERE d.${q(fk.referencedColumn)} = s.${q(fk.star)})
   LIMIT 1)`
    )
    .join("\nUNION ALL\n")
  const messages = fks.map((fk, i) => `WHEN ${i} THEN ${quoteLiteral(danglingMessage(table, fk))}`).join(" ")
  return [
    statement(
      `SELECT * INTO dangling FROM (${candidates}) c LIMIT 1;
IF FOUND THEN
  RAISE EXCEPTION USING ERRCODE = ${LOAD_CHECK_ERRCODE}, MESSAGE = format(CASE dangling.fk ${messages} END, dangling.value);
END IF`,
      [t.schema, table]
    )
  ]
}

/**
 * The statements that apply the staged segment of fact `table` (rule: `mergeFactVersions`):
 *  - `prepare`: `_apply_<table>` = the newest staged upsert per version (natural id,
 *    last_updated_date, last_updated_time), with the surrogate key of the version row it
 *    lands on (`_record_id`, null when the version is new), looked up one row at a time
 *    through the version key's index (a scalar subquery: as a join, the planner chose a
 *    hash join over a scan of the whole fact table once it had a few hundred thousand
 *    rows, so each segment cost grew with the table — 11 µs per row on average over a
 *    1,000,000-row load against 2 µs). A table, not a CTE, so that (ANALYZEd when large)
 *    the planner knows how many rows land on existing versions: usually none or a few.
 *    Their positions are read one by one by primary key (a scalar subquery too);
 *  - `write` (one statement): new versions appended in commit order — a plain INSERT:
 *    under the loaders' lock no version `prepare` did not find can exist, so a unique
 *    violation there is a defect that fails the micro-batch, never a row skipped; existing
 *    version rows whose staged change is after the position that last wrote them
 *    (`totes_cdc.fact_versions`) take the change's values in place (same surrogate key;
 *    a row whose values are already equal is not rewritten); the positions of both
 *    stored in fact_versions;
 *  - `record`: the newest position per natural id in row_versions.
 */
const applyFact = (t: WarehouseTarget, table: WarehouseTable) => {
  const names = starNames(table)
  const sk = q(t.surrogateKeys[table]!)
  const version = [STAR_KEY[table], "last_updated_date", "last_updated_time"]
  const values = names.filter((n) => !version.includes(n))
  const apply = applyName(table)
  const staged = version.map((v) => `s.${q(v)}`).join(", ")
  return {
    prepare: [
      `INSERT INTO ${apply}
SELECT l.*, (SELECT f.${sk}::bigint FROM ${target(t, table)} f WHERE ${version.map((v) => `f.${col(t, table, v)} = l.${q(v)}`).join(" AND ")}) AS _record_id FROM (
  SELECT DISTINCT ON (${staged}) s.* FROM ${stageName(table)} s
   WHERE s._op = 'upsert' AND ${notTruncated("s")}
   ORDER BY ${staged}, s._commit_lsn DESC, s._commit_idx DESC, s._ord DESC) l`
    ],
    write: `WITH appended AS (
  INSERT INTO ${target(t, table)} AS f (${names.map((n) => col(t, table, n)).join(", ")})
  SELECT ${names.map(q).join(", ")} FROM ${apply} WHERE _record_id IS NULL
   ORDER BY _commit_lsn, _commit_idx, _ord
  RETURNING f.${sk} AS _record_id, ${version.map((v) => `f.${col(t, table, v)} AS ${q(v)}`).join(", ")}),
newer AS (
  SELECT a.* FROM ${apply} a
   WHERE a._record_id IS NOT NULL
     AND coalesce((SELECT (w.commit_lsn, w.commit_idx) < (a._commit_lsn, a._commit_idx) FROM totes_cdc.fact_versions w
                    WHERE w.target_schema = $1 AND w.warehouse_table = $2 AND w.record_id = a._record_id), true)),
replaced AS (
  UPDATE ${target(t, table)} f SET ${values.map((n) => `${col(t, table, n)} = a.${q(n)}`).join(", ")}
    FROM newer a
   WHERE f.${sk} = a._record_id
     AND (${values.map((n) => `f.${col(t, table, n)}`).join(", ")}) IS DISTINCT FROM (${values.map((n) => `a.${q(n)}`).join(", ")}))
INSERT INTO totes_cdc.fact_versions AS w (target_schema, warehouse_table, record_id, commit_lsn, commit_idx)
SELECT $1, $2, n._record_id, a._commit_lsn, a._commit_idx FROM appended n JOIN ${apply} a ON ${version.map((v) => `a.${q(v)} = n.${q(v)}`).join(" AND ")}
 UNION ALL
SELECT $1, $2, a._record_id, a._commit_lsn, a._commit_idx FROM newer a
    ON CONFLICT (target_schema, warehouse_table, record_id) DO UPDATE SET commit_lsn = EXCLUDED.commit_lsn, commit_idx = EXCLUDED.commit_idx`,
    record: recordVersions(table, "stage")
  }
}

/** A change's position in the source's commit order: (commit LSN, index in its transaction). */
export interface Position {
  readonly lsn: string
  readonly idx: number
}

/** Pure: `a` is after `b` in commit order (LSNs compared as numbers). */
export const isAfter = (a: Position, b: Position): boolean => {
  const byLsn = compareLsn(a.lsn, b.lsn)
  return byLsn > 0 || (byLsn === 0 && a.idx > b.idx)
}

/** A fact version's row as the rule sees it: its values and the position that last wrote them. */
export interface FactVersionRow<V> {
  readonly values: V
  readonly writtenAt: Position
}

/**
 * Pure: the fact rule the `applyFact` SQL implements (README "Warehouse semantics"), on
 * one micro-batch. `rows` maps a version key (natural id, last_updated_date,
 * last_updated_time) to its row; `batch` holds the staged upserts in file order. Per
 * version the batch's newest change (by position, then file order) counts: a new version
 * is added; an existing one takes the change's values only when the change is after
 * `writtenAt`; an older or equal change leaves it as it is. Answers the new map (the
 * input is not changed). Applying any cut of a change history into batches, in any order,
 * any batch any number of times, ends with every version holding its newest change.
 */
export const mergeFactVersions = <V>(
  rows: ReadonlyMap<string, FactVersionRow<V>>,
  batch: ReadonlyArray<{ readonly version: string; readonly position: Position; readonly values: V }>
): ReadonlyMap<string, FactVersionRow<V>> => {
  const newest = new Map<string, (typeof batch)[number]>()
  for (const change of batch) {
    const seen = newest.get(change.version)
    if (seen === undefined || !isAfter(seen.position, change.position)) newest.set(change.version, change)
  }
  const out = new Map(rows)
  for (const [version, change] of newest) {
    const row = rows.get(version)
    if (row === undefined || isAfter(change.position, row.writtenAt)) out.set(version, { values: change.values, writtenAt: change.position })
  }
  return out
}

/**
 * Foreign-key checks `statement`: the session's setting (`ForeignKeyChecks`), run at the start
 * of each of the loader's transactions (a no-op once the connection has it).
 */
export const REPLICA_SESSION = "SET session_replication_role = replica"

/**
 * The statements that apply the staged segment of `table` (stage filled by `insertStage` or
 * `copyStageSql`), of `rows` rows: the body of its `segmentFunction` (a fact's foreign-key
 * check is PL/pgSQL, `danglingReferences`).
 */
const applySegment = (t: WarehouseTarget, table: WarehouseTable, foreignKeyChecks: ForeignKeyChecks, rows: number): ReadonlyArray<Statement> => {
  const own = (sqls: ReadonlyArray<string>) => sqls.map((sql) => statement(sql, [t.schema, table]))
  const analyze = (temp: "stage" | "apply"): ReadonlyArray<Statement> =>
    rows >= ANALYZE_STAGE_ROWS
      ? [{ sql: `ANALYZE ${temp === "stage" ? stageName(table) : applyName(table)} (${analyzedColumns(table, temp).map(q).join(", ")})`, params: [] }]
      : []
  if (table === "dim_date") {
    const names = starNames(table)
    return [
      {
        sql: `INSERT INTO ${target(t, table)} (${names.map((n) => col(t, table, n)).join(", ")})
SELECT DISTINCT ON (date_id) ${names.map(q).join(", ")} FROM ${stageName(table)} WHERE _op = 'upsert'
 ORDER BY date_id ON CONFLICT DO NOTHING`,
        params: []
      }
    ]
  }
  if (!isFactTable(table)) return [...analyze("stage"), ...own(applyDimension(t, table))]
  const fact = applyFact(t, table)
  const write = own([fact.write])
  return [
    ...analyze("stage"),
    ...inferredMembers(t, table),
    ...own(fact.prepare),
    ...analyze("apply"),
    ...(foreignKeyChecks === "row" ? [] : danglingReferences(t, table)),
    ...write,
    ...own([fact.record])
  ]
}

/**
 * Pure: the statements that apply a staged segment of `rows` rows of `table`, in order,
 * their parameters inline (`applySegment`, then `clearTempTables`): the body of its
 * `segmentFunction`, one statement each (a fact's foreign-key check is a PL/pgSQL
 * `SELECT … INTO dangling …; IF …` block).
 */
export const segmentStatements = (t: WarehouseTarget, table: WarehouseTable, foreignKeyChecks: ForeignKeyChecks, rows: number): ReadonlyArray<string> =>
  scriptOf([...applySegment(t, table, foreignKeyChecks, rows), ...clearTempTables(table, rows)])

/** A segment's apply as a function of the session (`segmentFunction`). */
export interface SegmentFunction {
  /** `totes_cdc_apply_<16 hex digits>` (in pg_temp). */
  readonly name: string
  /** `CREATE FUNCTION pg_temp.<name>() …`: run once per connection, before the first `call`. */
  readonly create: string
  /** `SELECT pg_temp.<name>()`. */
  readonly call: string
}

/** The prefix of every `segmentFunction` name. */
export const SEGMENT_FUNCTION_PREFIX = "totes_cdc_apply_"

const FUNCTION_BODY_QUOTE = "$totes_cdc_body$"

/**
 * Pure: the apply of a segment of `rows` rows of `table` (`applySegment`, then
 * `clearTempTables`) as a PL/pgSQL function of the session, `pg_temp.<name>()`, its
 * parameters written inline (`inlineStatement`: they are the target's schema and table
 * names, the same on every call). PostgreSQL plans a function's statements on its first
 * call on a connection and keeps the plans, re-planning one when a table it reads is
 * ANALYZEd or altered (the segments of `ANALYZE_STAGE_ROWS` rows or more run their own
 * variant, which ANALYZEs the stage first); the same statements sent as a script were
 * parsed and planned on every micro-batch, and the check as a `DO` block compiled every
 * time: ~60% of the warehouse's time per micro-batch at 1,000 changes/s. `name` is a hash
 * of the definition: a changed target or rule is a new function, never a stale one. The
 * function lives as long as the connection (pg_temp) and, created in a transaction that
 * rolls back, goes with it.
 */
export const segmentFunction = (t: WarehouseTarget, table: WarehouseTable, foreignKeyChecks: ForeignKeyChecks, rows: number): SegmentFunction => {
  const body = segmentStatements(t, table, foreignKeyChecks, rows).join(";\n")
  if (body.includes(FUNCTION_BODY_QUOTE)) throw new RangeError(`the apply of ${table} contains ${FUNCTION_BODY_QUOTE} and cannot be a function body`)
  const definition = `RETURNS void LANGUAGE plpgsql AS ${FUNCTION_BODY_QUOTE}
DECLARE dangling record;
BEGIN
${body};
END
${FUNCTION_BODY_QUOTE}`
  const name = `${SEGMENT_FUNCTION_PREFIX}${createHash("sha256").update(definition).digest("hex").slice(0, 16)}`
  return {
    name,
    create: `CREATE FUNCTION pg_temp.${quoteIdent(name)}() ${definition}`,
    call: `SELECT pg_temp.${quoteIdent(name)}()`
  }
}

/**
 * Applies a snapshot's resync of `table` at its position (StarRow `resync`): every natural
 * id older than it is flagged deleted at that position; dimension rows older than it go
 * unless a fact references them (as a truncate), fact rows stay — their history is kept,
 * and the snapshot's own rows, newer, bring back (and unflag) every id that still exists,
 * whichever is loaded first. Params `$1…$4`.
 */
export const applyResync = (t: WarehouseTarget, table: WarehouseTable, at: { lsn: string; idx: number }): ReadonlyArray<Statement> =>
  isFactTable(table) ? [flagOlderDeleted(t, table, at)] : applyTruncate(t, table, at)

/** Flags every natural id of `table` older than `at` deleted, at `at`. */
const flagOlderDeleted = (t: WarehouseTarget, table: WarehouseTable, at: { lsn: string; idx: number }): Statement => ({
  sql: `UPDATE totes_cdc.row_versions SET deleted = true, inferred = false, commit_lsn = $3::pg_lsn, commit_idx = $4::int
 WHERE target_schema = $1 AND warehouse_table = $2 AND (commit_lsn, commit_idx) < ($3::pg_lsn, $4::int)`,
  params: [t.schema, table, at.lsn, at.idx]
})

/**
 * Applies a truncate of `table` at its position (mode `apply`): rows older than it go
 * (dimension rows still referenced by facts stay), and every natural id older than it
 * is flagged deleted at the truncate's position. Params `$1…$4`.
 */
export const applyTruncate = (t: WarehouseTarget, table: WarehouseTable, at: { lsn: string; idx: number }): ReadonlyArray<Statement> => {
  const targetKey = col(t, table, STAR_KEY[table])
  const params = [t.schema, table, at.lsn, at.idx]
  return [
    {
      sql: `DELETE FROM ${target(t, table)} d
 WHERE NOT EXISTS (SELECT 1 FROM totes_cdc.row_versions v
                    WHERE v.target_schema = $1 AND v.warehouse_table = $2 AND v.natural_id = d.${targetKey}::text
                      AND (v.commit_lsn, v.commit_idx) >= ($3::pg_lsn, $4::int))
   AND ${isFactTable(table) ? "true" : unreferenced(t, table, "d")}`,
      params
    },
    flagOlderDeleted(t, table, at),
    ...(isFactTable(table)
      ? [
          statement(
            `DELETE FROM totes_cdc.fact_versions w WHERE w.target_schema = $1 AND w.warehouse_table = $2
   AND NOT EXISTS (SELECT 1 FROM ${target(t, table)} f WHERE f.${q(t.surrogateKeys[table]!)} = w.record_id)`,
            params
          )
        ]
      : [])
  ]
}
