import { expect, layer } from "@effect/vitest"
import { freshDatabase, introspect } from "../src/testing/index.ts"
import { Effect } from "effect"
import { readFile } from "node:fs/promises"
import { LocalStack } from "../src/LocalStack.ts"
import { createTotesysSchema } from "../src/totesys/TotesysSchema.ts"

const REFERENCE = new URL("../../../../shared/totesys/oltp_schema.sql", import.meta.url)

/** A fresh database holding `ddl` (nothing when empty). */
const databaseWith = (name: string, ddl: string) =>
  freshDatabase(name).pipe(Effect.tap((db) => (ddl === "" ? Effect.void : Effect.asVoid(db.query(ddl)))))

layer(LocalStack.layer(), { excludeTestServices: true })("totesys schema", (it) => {
  it.effect("matches totesys/oltp_schema.sql column for column, with the same keys, indexes, sequences and enums", () =>
    Effect.gen(function* () {
      const reference = yield* introspect(
        yield* databaseWith("reference_totesys", yield* Effect.promise(() => readFile(REFERENCE, "utf8")))
      )
      const ours = yield* databaseWith("our_totesys", "")
      expect(yield* createTotesysSchema(ours)).toBe(true)
      const facts = yield* introspect(ours)

      // Guard against comparing two empty schemas: 12 tables (11 + _prisma_migrations), 17 FKs.
      expect(new Set(reference.columns.map((c) => c.table_name)).size).toBe(12)
      expect(reference.foreignKeys).toHaveLength(17)

      expect(facts.columns).toEqual(reference.columns)
      expect(facts.constraints).toEqual(reference.constraints)
      expect(facts.foreignKeys).toEqual(reference.foreignKeys)
      expect(facts.indexes).toEqual(reference.indexes)
      expect(facts.sequences).toEqual(reference.sequences)
      expect(facts.enums).toEqual(reference.enums)
    })
  )

  it.effect("is created once: a second call changes nothing", () =>
    Effect.gen(function* () {
      const db = yield* databaseWith("twice_totesys", "")
      expect(yield* createTotesysSchema(db)).toBe(true)
      const before = yield* introspect(db)
      expect(yield* createTotesysSchema(db)).toBe(false)
      expect(yield* introspect(db)).toEqual(before)
    })
  )
})
