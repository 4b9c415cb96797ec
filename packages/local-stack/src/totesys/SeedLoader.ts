/**
 * Loads the data of a totesys pg_dump (plain format, `COPY … FROM stdin` blocks) into
 * the real totesys schema, e.g. ../shared/totesys/totesys-2024-02-23.sql.
 *
 * Invariants:
 *  - All or nothing: the whole load runs in one transaction; any problem (not a dump,
 *    unknown table or column, a line that is not UTF-8, a value that does not fit, an FK
 *    the data breaks) rolls it back and fails with one line naming the file, the line and
 *    the fix. A value PostgreSQL refuses is named at its own line (the error's COPY line),
 *    not at the line the reading had got to.
 *  - Lines are core's `byteLines` ("\n"-separated; a "\r" before the "\n" is dropped):
 *    U+2028 and U+2029, which pg_dump leaves unescaped in values, stay inside their line.
 *  - Only an empty totesys is seeded (no silent mixing with existing rows).
 *  - The dump's tables may come in any order: FKs are dropped for the load and
 *    re-created afterwards, which re-validates every row against them.
 *  - Every sequence is set past the largest id loaded, so later inserts succeed.
 *  - Memory stays bounded: the file is streamed line by line into COPY.
 */
import { byteLines, PRIMARY_KEY, TOTESYS_TABLES, type TotesysTable, quoteIdent } from "@totes-cdc/core"
import type { PgError, PgPool, PgSession } from "@totes-cdc/platform"
import { Effect, Schema } from "effect"
import { createReadStream } from "node:fs"
import { stat } from "node:fs/promises"
import { type CopyHeader, parseCopyHeader, repairDataLine } from "./DumpFormat.ts"

/** The seed file cannot be loaded; `message` names the problem and the fix. */
export class SeedError extends Schema.TaggedError<SeedError>()("SeedError", {
  message: Schema.String
}) {}

/** Rows loaded per table. */
export type SeedCounts = { readonly [T in TotesysTable]: number }

/** Fails with `SeedError` unless `file` is a readable regular file. */
export const checkSeedFile = (file: string): Effect.Effect<void, SeedError> =>
  Effect.tryPromise({
    try: () => stat(file),
    catch: () =>
      new SeedError({
        message: `seed file ${file} does not exist or cannot be read; pass a pg_dump of totesys such as ../shared/totesys/totesys-2024-02-23.sql`
      })
  }).pipe(
    Effect.filterOrFail(
      (info) => info.isFile(),
      () => new SeedError({ message: `seed file ${file} is not a regular file; pass a pg_dump file` })
    ),
    Effect.asVoid
  )

const checkEmpty = (pool: PgPool) =>
  Effect.gen(function* () {
    const [counts] = yield* pool.query(
      `SELECT ${TOTESYS_TABLES.map((t) => `(SELECT count(*) FROM public.${quoteIdent(t)}) AS ${t}`).join(", ")}`
    )
    const nonEmpty = TOTESYS_TABLES.filter((t) => counts?.[t] !== "0")
    if (nonEmpty.length > 0) {
      return yield* new SeedError({
        message: `totesys at ${pool.target} already holds rows (${nonEmpty.map((t) => `${t}: ${counts?.[t]}`).join(", ")}); seed only an empty database`
      })
    }
  })

interface ForeignKey {
  /** The table's name in schema public (unquoted). */
  readonly table: string
  readonly name: string
  /** `pg_get_constraintdef`: the constraint as SQL, PostgreSQL's own text. */
  readonly definition: string
}

const foreignKeys = (tx: PgSession) =>
  tx
    .query(
      `SELECT t.relname AS table, c.conname AS name, pg_get_constraintdef(c.oid) AS definition
         FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
        WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace ORDER BY c.conname`
    )
    .pipe(Effect.map((rows) => rows as ReadonlyArray<ForeignKey & Record<string, string>>))

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

/** The file's lines as text (a "\r" before the "\n" dropped), `undefined` for a line that is not UTF-8. */
async function* textLines(file: string): AsyncGenerator<string | undefined> {
  const input = createReadStream(file)
  try {
    for await (const bytes of byteLines(input)) {
      const end = bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.length - 1 : bytes.length
      let text: string | undefined
      try {
        text = utf8.decode(bytes.subarray(0, end))
      } catch {
        text = undefined
      }
      yield text
    }
  } finally {
    input.destroy()
  }
}

const NOT_UTF8 = "the line is not UTF-8; pass a plain-format pg_dump written with client_encoding UTF8"

const openLines = (file: string) =>
  Effect.acquireRelease(
    Effect.sync(() => textLines(file)),
    (lines) => Effect.promise(() => lines.return(undefined))
  )

/**
 * The line of the file a value PostgreSQL refused is on: the block's header line plus the
 * COPY data line its error names (`where`: "COPY currency, line 3, column …"), if it does.
 */
const refusedLine = (error: PgError, headerLine: number): number | undefined => {
  const where = typeof error.cause === "object" && error.cause !== null ? (error.cause as { readonly where?: unknown }).where : undefined
  const match = typeof where === "string" ? /^COPY [^,]+, line (\d+)/.exec(where) : null
  return match === null ? undefined : headerLine + Number(match[1])
}

/** Streams the file's COPY blocks into `tx`; returns rows per table. */
const copyBlocks = (tx: PgSession, file: string) =>
  Effect.gen(function* () {
    const lines = yield* openLines(file)
    const iterator = lines[Symbol.asyncIterator]()
    const counts: Record<string, number> = {}
    let lineNo = 0
    let problem: string | undefined
    const fail = (message: string, line = lineNo) => new SeedError({ message: `${file}:${line}: ${message}` })
    const nextLine = Effect.tryPromise({
      try: () => iterator.next(),
      catch: (cause) =>
        new SeedError({ message: `seed file ${file} cannot be read after line ${lineNo} (${cause instanceof Error ? cause.message : String(cause)}); pass a readable pg_dump file` })
    }).pipe(Effect.tap((next) => Effect.sync(() => !next.done && lineNo++)))

    /** The data lines of the block under `header`, repaired; stops at `\.`. */
    async function* blockLines(header: CopyHeader): AsyncGenerator<string> {
      for (;;) {
        const next = await iterator.next()
        if (next.done) {
          problem = `the COPY block for ${header.table} ends without its \\. line`
          throw new Error(problem)
        }
        lineNo++
        if (next.value === undefined) {
          problem = NOT_UTF8
          throw new Error(problem)
        }
        if (next.value === "\\.") return
        const repaired = repairDataLine(header, next.value, lineNo)
        if (typeof repaired !== "string") {
          problem = repaired.message
          throw new Error(problem)
        }
        yield `${repaired}\n`
      }
    }

    for (;;) {
      const next = yield* nextLine
      if (next.done) break
      if (next.value === undefined) return yield* fail(NOT_UTF8)
      const header = parseCopyHeader(next.value, lineNo)
      if (header === undefined) continue
      if (header._tag === "DumpProblem") return yield* fail(header.message)
      if (counts[header.table] !== undefined) return yield* fail(`a second COPY block for ${header.table}`)
      const headerLine = lineNo
      const sql = `COPY public.${quoteIdent(header.table)} (${header.columns.map(quoteIdent).join(", ")}) FROM STDIN`
      counts[header.table] = yield* tx.copyIn(sql, blockLines(header)).pipe(
        Effect.catchTag("PgError", (error) => fail(problem ?? `${header.table}: ${error.message}`, problem === undefined ? refusedLine(error, headerLine) : lineNo))
      )
    }
    if (Object.keys(counts).length === 0) {
      return yield* new SeedError({
        message: `${file} has no "COPY public.<table> (…) FROM stdin;" block for a totesys table; pass a plain-format pg_dump of totesys`
      })
    }
    return counts
  })

const resetSequences = (tx: PgSession) =>
  Effect.forEach(TOTESYS_TABLES, (table) => {
    const pk = PRIMARY_KEY[table]
    return tx.query(
      `SELECT setval(pg_get_serial_sequence($1, $2),
                     coalesce((SELECT max(${quoteIdent(pk)}) FROM public.${quoteIdent(table)}), 1),
                     (SELECT max(${quoteIdent(pk)}) FROM public.${quoteIdent(table)}) IS NOT NULL)`,
      [`public.${quoteIdent(table)}`, pk]
    )
  })

/**
 * Loads the data of `file` into the (empty) totesys database behind `pool`.
 * Returns the rows loaded per table (0 for tables the dump does not hold).
 * Fails with `SeedError` for a bad file or data, `PgError` for the database.
 */
export const loadSeed = (pool: PgPool, file: string): Effect.Effect<SeedCounts, SeedError | PgError> =>
  Effect.gen(function* () {
    yield* checkSeedFile(file)
    yield* checkEmpty(pool)
    const counts = yield* pool.transaction((tx) =>
      Effect.gen(function* () {
        const fks = yield* foreignKeys(tx)
        for (const fk of fks) yield* tx.query(`ALTER TABLE public.${quoteIdent(fk.table)} DROP CONSTRAINT ${quoteIdent(fk.name)}`)
        const counts = yield* Effect.scoped(copyBlocks(tx, file))
        for (const fk of fks) {
          yield* tx
            .query(`ALTER TABLE public.${quoteIdent(fk.table)} ADD CONSTRAINT ${quoteIdent(fk.name)} ${fk.definition}`)
            .pipe(
              Effect.catchTag("PgError", (error) =>
                Effect.fail(new SeedError({ message: `${file}: the data breaks ${fk.name}: ${error.message}` }))
              )
            )
        }
        yield* resetSequences(tx)
        return counts
      })
    )
    return Object.fromEntries(TOTESYS_TABLES.map((t) => [t, counts[t] ?? 0])) as SeedCounts
  })
