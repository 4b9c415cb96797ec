/**
 * Scratch databases on a test's LocalStack server: each test names its own, so tests
 * sharing one stack never see each other's rows.
 */
import { quoteIdent } from "@totes-cdc/core"
import { type PgError, type PgPool, makePgPool } from "@totes-cdc/platform"
import { Effect, type Scope } from "effect"
import { LocalStack } from "../LocalStack.ts"
import { createTotesysSchema } from "../totesys/TotesysSchema.ts"

/** A new, empty database `name` (dropped first if it exists), and a pool to it. */
export const freshDatabase = (name: string): Effect.Effect<PgPool, PgError, LocalStack | Scope.Scope> =>
  Effect.gen(function* () {
    const stack = yield* LocalStack
    yield* Effect.scoped(
      Effect.gen(function* () {
        const admin = yield* makePgPool(stack.postgres.url("postgres"), { max: 1 })
        yield* admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`)
        yield* admin.query(`CREATE DATABASE ${quoteIdent(name)}`)
      })
    )
    return yield* makePgPool(stack.postgres.url(name))
  })

/** A new database `name` holding the empty totesys schema. */
export const emptyTotesys = (name: string): Effect.Effect<PgPool, PgError, LocalStack | Scope.Scope> =>
  freshDatabase(name).pipe(Effect.tap(createTotesysSchema))
