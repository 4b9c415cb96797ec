/**
 * No SQL built by string concatenation from data (issue 16 item 4): every source file of
 * every workspace (`src/`, not tests) is read with the TypeScript compiler, and every piece
 * of SQL text may interpolate only identifiers quoted by `quoteIdent` (the one helper,
 * packages/core/src/Sql.ts), known constants and SQL-safe pieces built from those; values
 * go as `$n` parameters (SqlText.ts says exactly what passes). A finding names file:line,
 * the expression and the fix. Planted cases show each rule fires, and that the allow-list
 * below holds no stale entry.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterEach, describe, expect, it } from "vitest"
import { type Allowed, findSqlBuiltFromData, makeProgram } from "./SqlText.ts"

const ROOT = fileURLToPath(new URL("../..", import.meta.url))

/**
 * Findings accepted on purpose, each with its reason: literals made by `quoteLiteral` where
 * PostgreSQL takes no `$n` parameter or the statement is shown to a person to run, and SQL
 * text PostgreSQL itself wrote. Keep it short; an entry the sources no longer need fails.
 */
const ALLOWED: ReadonlyArray<Allowed> = [
  {
    file: "cdc-reader/src/Snapshot.ts",
    expression: "quoteLiteral(snapshotName)",
    reason: "SET TRANSACTION SNAPSHOT takes no $n parameter; the name is the server's own (CREATE_REPLICATION_SLOT … SNAPSHOT 'export')"
  },
  {
    file: "cdc-reader/src/preflight/Preflight.ts",
    expression: "quoteLiteral(slot)",
    reason: "a fix shown to the operator (SELECT pg_drop_replication_slot('…')) must run as printed: it cannot carry parameters"
  },
  {
    file: "packages/platform/src/Replication.ts",
    expression: "quoteLiteral(publications.map(quoteIdent).join(\",\"))",
    reason: "the replication protocol's START_REPLICATION takes no parameters; publication_names is a literal listing quoted identifiers"
  },
  {
    file: "packages/platform/src/Replication.ts",
    expression: "lastLsn",
    reason: "START_REPLICATION takes no parameters; the position is checked against core's LSN_PATTERN (hex digits and one slash) first"
  },
  {
    file: "loader/src/LoadPlan.ts",
    expression: "quoteLiteral(danglingMessage(table, fk))",
    reason: "the foreign-key check's messages are literals of a PL/pgSQL function body, which takes no $n parameter; they name the target's own tables and columns"
  },
  {
    file: "loader/src/LoadPlan.ts",
    expression: "body",
    reason: "a segment function's body: the segment's statements with their $n parameters (the target schema and table names) written inline by inlineStatement, as every script's are"
  },
  {
    file: "packages/local-stack/src/totesys/SeedLoader.ts",
    expression: "fk.definition",
    reason: "SQL PostgreSQL itself wrote (pg_get_constraintdef of the same constraint), put back as it was after the seed's COPY"
  }
]

/** Every `.ts` file under each workspace's `src/` (not declarations). */
const sourceFiles = (root: string): ReadonlyArray<string> => {
  const workspaces = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { workspaces: ReadonlyArray<string> }).workspaces
  const walk = (dir: string): ReadonlyArray<string> =>
    readdirSync(dir).flatMap((entry) => {
      const path = join(dir, entry)
      if (statSync(path).isDirectory()) return entry === "node_modules" ? [] : walk(path)
      return path.endsWith(".ts") && !path.endsWith(".d.ts") ? [path] : []
    })
  return workspaces.flatMap((workspace) => {
    const src = join(root, workspace, "src")
    try {
      return statSync(src).isDirectory() ? walk(src) : []
    } catch {
      return []
    }
  })
}

const format = (f: { file: string; line: number; expression: string; reason: string }) => `${f.file}:${f.line}: \${${f.expression}} — ${f.reason}`

describe("SQL text in the sources", () => {
  it("interpolates only quoteIdent(…), constants and SQL built from them; values are $n parameters", () => {
    const files = sourceFiles(ROOT)
    expect(files.length).toBeGreaterThan(100)
    const program = makeProgram(ROOT, files)
    expect(findSqlBuiltFromData(program, files, ROOT, ALLOWED).map(format)).toEqual([])
    // Every allowed entry is still needed: without the list, exactly those are found.
    const unexcused = findSqlBuiltFromData(program, files, ROOT).map((f) => `${f.file}: ${f.expression}`)
    expect(unexcused.sort()).toEqual(ALLOWED.map((a) => `${a.file}: ${a.expression}`).sort())
  }, 120_000)
})

describe("the SQL text check", () => {
  const folders: Array<string> = []
  afterEach(() => {
    for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true })
  })

  /** The findings for a small tree: the real Sql.ts plus `files` (path → source). */
  const check = (files: Record<string, string>, allowed: ReadonlyArray<Allowed> = []) => {
    const root = mkdtempSync(join(tmpdir(), "totes-cdc-sql-text-"))
    folders.push(root)
    copyFileSync(join(ROOT, "tsconfig.base.json"), join(root, "tsconfig.base.json"))
    const tree = { "packages/core/src/Sql.ts": readFileSync(join(ROOT, "packages/core/src/Sql.ts"), "utf8"), ...files }
    for (const [path, source] of Object.entries(tree)) {
      mkdirSync(dirname(join(root, path)), { recursive: true })
      writeFileSync(join(root, path), source)
    }
    const paths = Object.keys(tree).map((path) => join(root, path))
    return findSqlBuiltFromData(makeProgram(root, paths), paths, root, allowed).map(format)
  }
  const planted = (source: string, allowed: ReadonlyArray<Allowed> = []) =>
    check({ "app/src/Planted.ts": `import { quoteIdent, quoteLiteral } from "../../packages/core/src/Sql.ts"\nvoid quoteIdent\nvoid quoteLiteral\n${source}` }, allowed)

  it("passes quoted identifiers, constants, parameters and pieces built from them", () => {
    expect(
      planted(`
type Table = "address" | "staff"
const SCHEMA = "public"
const PAGE = 500
const TYPES = { int: "integer", text: "text" } as const
const qualified = (schema: string, table: string) => \`\${quoteIdent(schema)}.\${quoteIdent(table)}\`
const stage = (table: Table) => \`_stage_\${table}\`
export const a = (table: Table, schema: string, columns: ReadonlyArray<string>, i: number) => [
  \`SELECT \${columns.map(quoteIdent).join(", ")} FROM \${qualified(schema, table)} WHERE id = $\${i + 1} LIMIT \${PAGE}\`,
  \`CREATE TEMP TABLE \${stage(table)} (\${columns.map((c) => \`\${quoteIdent(c)} \${TYPES.int}\`).join(", ")})\`,
  \`SELECT * FROM \${SCHEMA}.\${table} ORDER BY \${i > 0 ? quoteIdent(columns[0]!) : "1"}\`,
  "SELECT * FROM " + quoteIdent(schema) + " WHERE x = $1",
  \`DELETE FROM t WHERE \${columns.map((c) => \`\${quoteIdent(c)} IS NULL\`).join(" AND ") || "true"}\`
]
`)
    ).toEqual([])
  })

  it("names a string value, a hand-quoted identifier, a value in a literal, concatenated data and a second quoting helper", () => {
    expect(
      planted(`
const ident = (name: string) => /^[a-z_]+$/.test(name) ? name : quoteIdent(name)
export const b = (table: string, slot: string, id: string, schema: string, role: string, column: string) => [
  \`SELECT * FROM public.\${table}\`,
  \`CREATE_REPLICATION_SLOT "\${slot}" LOGICAL pgoutput\`,
  \`SELECT * FROM t WHERE id = '\${quoteIdent(id)}'\`,
  "DELETE FROM t WHERE id = " + id,
  \`DROP TABLE \${ident(schema)}.t\`,
  \`"\${schema.replaceAll('"', '""')}"\`,
  \`role \${role} may not read (fix: GRANT SELECT ON public.t TO \${role})\`,
  \`--lsn \${role}: give a position (e.g. from SELECT pg_current_wal_lsn())\`,
  \`SELECT \${alias(column)} FROM t f\`
]
const alias = (name: string) => \`f.\${name}\`
`)
    ).toEqual([
      "app/src/Planted.ts:7: ${table} — data in SQL text: quote identifiers with quoteIdent, pass values as $n parameters",
      "app/src/Planted.ts:8: ${slot} — an identifier quoted by hand: use quoteIdent",
      "app/src/Planted.ts:9: ${quoteIdent(id)} — inside a SQL string literal: pass the value as a $n parameter",
      "app/src/Planted.ts:10: ${id} — data in SQL text: quote identifiers with quoteIdent, pass values as $n parameters",
      "app/src/Planted.ts:11: ${ident(schema)} — data in SQL text: quote identifiers with quoteIdent, pass values as $n parameters",
      "app/src/Planted.ts:12: ${schema.replaceAll('\"', '\"\"')} — a second identifier quoting helper: use quoteIdent (packages/core/src/Sql.ts)",
      "app/src/Planted.ts:13: ${role} — data in SQL text: quote identifiers with quoteIdent, pass values as $n parameters",
      // A piece of SQL built elsewhere is reported where its data goes in.
      "app/src/Planted.ts:17: ${name} — data in SQL text: quote identifiers with quoteIdent, pass values as $n parameters"
    ])
  })

  it("follows statements built elsewhere into query(…), and reports quoteLiteral unless allowed", () => {
    const source = `
declare const db: { query: (sql: string, params?: ReadonlyArray<unknown>) => unknown }
const lockSql = (table: string) => \`LOCK \${table}\`
export const c = (table: string, snapshot: string) => {
  db.query(lockSql(table))
  db.query(\`SET TRANSACTION SNAPSHOT \${quoteLiteral(snapshot)}\`)
}
`
    const literal = "app/src/Planted.ts:9: ${quoteLiteral(snapshot)} — a literal made in SQL text: pass the value as a $n parameter (quoteLiteral only where PostgreSQL takes none: allow it with the reason)"
    const data = "app/src/Planted.ts:6: ${table} — data in SQL text: quote identifiers with quoteIdent, pass values as $n parameters"
    expect(planted(source)).toEqual([data, literal])
    expect(planted(source, [{ file: "app/src/Planted.ts", expression: "quoteLiteral(snapshot)", reason: "no parameters" }])).toEqual([data])
  })
})
