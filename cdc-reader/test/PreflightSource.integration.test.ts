import { describe, expect, it, layer } from "@effect/vitest"
import { TOTESYS_TABLES } from "@totes-cdc/core"
import { LocalStack, createTotesysSchema, makeLocalStack } from "@totes-cdc/local-stack"
import { type PgPool, makePgPool } from "@totes-cdc/platform"
import { emptyTotesys } from "@totes-cdc/local-stack/testing"
import { Effect } from "effect"
import { gatherPreflightFacts } from "../src/preflight/GatherFacts.ts"
import { type Finding, type PreflightConfig, blockingFindings, evaluatePreflight, formatFinding } from "../src/preflight/Preflight.ts"

const ALL_TABLES_SQL =
  "public.address, public.counterparty, public.currency, public.department, public.design, public.staff, " +
  "public.payment_type, public.sales_order, public.purchase_order, public.transaction, public.payment"

/** The same tables as preflight's statements name them (every identifier quoted by quoteIdent). */
const ALL_TABLES_QUOTED = ALL_TABLES_SQL.replace(/public\.(\w+)/g, '"public"."$1"')

/** The preflight config for the local stack's server. */
const configFor = (stack: LocalStack["Service"], slot = "totes_cdc"): PreflightConfig => ({
  publication: "totes_cdc",
  slot,
  tables: TOTESYS_TABLES,
  sourceHost: stack.postgres.host,
  sourcePort: stack.postgres.port
})

/** Gathers the facts of `db` and evaluates them. */
const preflight = (db: PgPool, config: PreflightConfig) =>
  gatherPreflightFacts(db, config).pipe(Effect.map((facts) => evaluatePreflight(facts, config)))

const codes = (findings: ReadonlyArray<Finding>) => findings.map((f) => `${f.level} ${f.code}`)
const byCode = (findings: ReadonlyArray<Finding>, code: string) => findings.filter((f) => f.code === code)

/** A replication slot made for the test, dropped when the test ends. */
const scratchSlot = (db: PgPool, create: string, name: string) =>
  Effect.acquireRelease(db.query(create, [name]), () =>
    db.query("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", [name]).pipe(Effect.ignore)
  )

layer(LocalStack.layer(), { excludeTestServices: true })("preflight against the local stack's PostgreSQL", (it) => {
  it.effect("a fresh totesys passes with no error", () =>
    Effect.gen(function* () {
      const stack = yield* LocalStack
      const db = yield* emptyTotesys("preflight_fresh")
      const config = configFor(stack)
      const facts = yield* gatherPreflightFacts(db, config)
      expect(facts.database).toBe("preflight_fresh")
      expect(facts.walLevel).toBe("logical")
      expect(facts.maxReplicationSlots).toBe(20)
      expect(facts.maxWalSenders).toBe(20)
      expect(facts.serverVersionNum).toBeGreaterThanOrEqual(180000)
      expect(facts.maxSlotWalKeepSizeMb).toBe(-1)
      expect(facts.idleSlotTimeoutSeconds).toBe(0)
      expect(facts.rds).toBe(false)
      expect(facts.role).toEqual({
        name: "postgres",
        superuser: true,
        replication: true,
        rdsReplication: false,
        createOnDatabase: true,
        canEmitMessage: true
      })
      expect(facts.tables.map((t) => t.name)).toEqual([...TOTESYS_TABLES].sort())
      expect(facts.tables.find((t) => t.name === "payment")).toEqual({
        name: "payment",
        replicaIdentity: "default",
        primaryKeyIndex: "payment_pkey",
        identityIndex: null,
        unlogged: false,
        ownedByRole: true,
        readable: true
      })
      expect(facts.publication).toBe(null)
      expect(facts.slot).toBe(null)

      const findings = evaluatePreflight(facts, config)
      expect(blockingFindings(findings)).toEqual([])
      expect(codes(findings)).toEqual([
        "warning slot-wal-unlimited",
        "info publication-will-be-created",
        "info slot-will-be-created"
      ])
    })
  )

  it.effect("the publication the preflight proposes, created as printed, covers the 11 tables", () =>
    Effect.gen(function* () {
      const stack = yield* LocalStack
      const db = yield* emptyTotesys("preflight_created")
      const config = configFor(stack)
      const [proposal] = byCode(yield* preflight(db, config), "publication-will-be-created")
      const statement = proposal?.action.replace("nothing to do; to create it yourself: ", "") ?? ""
      expect(statement).toBe(
        `CREATE PUBLICATION "totes_cdc" FOR TABLE ${ALL_TABLES_QUOTED} WITH (publish = 'insert, update, delete, truncate')`
      )
      yield* db.query(statement)

      const facts = yield* gatherPreflightFacts(db, config)
      expect(facts.publication?.allTables).toBe(false)
      expect(facts.publication?.tables).toHaveLength(11)
      expect(facts.publication?.tables.find((t) => t.name === "transaction")).toEqual({
        schema: "public",
        name: "transaction",
        rowFilter: null,
        columnList: false
      })
      expect(codes(evaluatePreflight(facts, config))).toEqual(["warning slot-wal-unlimited", "info slot-will-be-created"])
    })
  )

  it.effect("a dropped table is an error naming it", () =>
    Effect.gen(function* () {
      const stack = yield* LocalStack
      const db = yield* emptyTotesys("preflight_dropped")
      yield* db.query("DROP TABLE payment")
      const errors = blockingFindings(yield* preflight(db, configFor(stack)))
      expect(errors).toEqual([
        {
          level: "error",
          code: "table-missing",
          message: "table public.payment does not exist in preflight_dropped: the source is not totesys or the schema is incomplete",
          action: "point the source URL at the totesys database, or create public.payment as totesys/oltp_schema.sql defines it"
        }
      ])
    })
  )

  it.effect("REPLICA IDENTITY NOTHING is an error, and its fix clears it", () =>
    Effect.gen(function* () {
      const stack = yield* LocalStack
      const db = yield* emptyTotesys("preflight_identity")
      yield* db.query("ALTER TABLE staff REPLICA IDENTITY NOTHING")
      const errors = blockingFindings(yield* preflight(db, configFor(stack)))
      expect(codes(errors)).toEqual(["error replica-identity"])
      expect(errors[0]?.message).toBe(
        "table public.staff has REPLICA IDENTITY NOTHING: its updates and deletes would carry no key, and once it is published PostgreSQL rejects UPDATE and DELETE on it"
      )
      expect(errors[0]?.action).toBe('ALTER TABLE "public"."staff" REPLICA IDENTITY DEFAULT')

      yield* db.query(errors[0]?.action ?? "")
      expect(blockingFindings(yield* preflight(db, configFor(stack)))).toEqual([])
    })
  )

  it.effect("REPLICA IDENTITY FULL is reported as information only", () =>
    Effect.gen(function* () {
      const stack = yield* LocalStack
      const db = yield* emptyTotesys("preflight_full")
      yield* db.query("ALTER TABLE address REPLICA IDENTITY FULL")
      const findings = yield* preflight(db, configFor(stack))
      expect(blockingFindings(findings)).toEqual([])
      expect(byCode(findings, "replica-identity-full").map((f) => f.message)).toEqual([
        "table public.address has REPLICA IDENTITY FULL: updates and deletes carry the whole old row (more WAL than the key alone)"
      ])
    })
  )

  it.effect("a publication that includes _prisma_migrations is an error whose ALTER PUBLICATION, run as given, fixes it", () =>
    Effect.gen(function* () {
      const stack = yield* LocalStack
      const db = yield* emptyTotesys("preflight_prisma")
      yield* db.query(`CREATE PUBLICATION totes_cdc FOR TABLE ${ALL_TABLES_SQL}, public._prisma_migrations`)
      const errors = blockingFindings(yield* preflight(db, configFor(stack)))
      expect(errors).toEqual([
        {
          level: "error",
          code: "publication-tables",
          message: "publication totes_cdc publishes public._prisma_migrations, which is never captured: it must publish exactly the 11 tables",
          action: `ALTER PUBLICATION "totes_cdc" SET TABLE ${ALL_TABLES_QUOTED}`
        }
      ])

      yield* db.query(errors[0]?.action ?? "")
      const after = yield* preflight(db, configFor(stack))
      expect(codes(after)).toEqual(["warning slot-wal-unlimited", "info slot-will-be-created"])
    })
  )

  it.effect("a publication that misses a table or publishes no deletes is an error with the fix", () =>
    Effect.gen(function* () {
      const stack = yield* LocalStack
      const db = yield* emptyTotesys("preflight_partial")
      yield* db.query(
        "CREATE PUBLICATION totes_cdc FOR TABLE public.address, public.counterparty, public.currency, public.department, " +
          "public.design, public.staff, public.payment_type, public.sales_order, public.purchase_order, public.transaction " +
          "WITH (publish = 'insert, update')"
      )
      const errors = blockingFindings(yield* preflight(db, configFor(stack)))
      expect(errors).toEqual([
        {
          level: "error",
          code: "publication-tables",
          message: "publication totes_cdc does not publish public.payment: it must publish exactly the 11 tables",
          action: `ALTER PUBLICATION "totes_cdc" SET TABLE ${ALL_TABLES_QUOTED}`
        },
        {
          level: "error",
          code: "publication-operations",
          message: "publication totes_cdc does not publish delete, truncate: those changes would never reach the warehouse",
          action: `ALTER PUBLICATION "totes_cdc" SET (publish = 'insert, update, delete, truncate')`
        }
      ])
      for (const error of errors) yield* db.query(error.action)
      expect(blockingFindings(yield* preflight(db, configFor(stack)))).toEqual([])
    })
  )

  it.effect("a row filter on a published table is an error", () =>
    Effect.gen(function* () {
      const stack = yield* LocalStack
      const db = yield* emptyTotesys("preflight_filtered")
      yield* db.query(`CREATE PUBLICATION totes_cdc FOR TABLE ${ALL_TABLES_SQL.replace(/public\.payment$/, "public.payment WHERE (paid)")}`)
      const errors = blockingFindings(yield* preflight(db, configFor(stack)))
      expect(codes(errors)).toEqual(["error publication-filtered"])
      expect(errors[0]?.message).toBe(
        "publication totes_cdc publishes public.payment with row filter WHERE paid: rows or columns would be missing from the warehouse"
      )
    })
  )

  it.effect("a role without REPLICATION that is not superuser is an error, as are its missing table rights", () =>
    Effect.gen(function* () {
      const stack = yield* LocalStack
      yield* emptyTotesys("preflight_role")
      const admin = yield* makePgPool(stack.postgres.url("preflight_role"), { max: 1 })
      yield* Effect.acquireRelease(
        admin.query("CREATE ROLE preflight_plain LOGIN PASSWORD 'plain-secret'"),
        () => admin.query("DROP ROLE IF EXISTS preflight_plain").pipe(Effect.ignore)
      )
      const asPlain = yield* makePgPool(
        `postgres://preflight_plain:plain-secret@${stack.postgres.host}:${stack.postgres.port}/preflight_role`,
        { max: 1 }
      )
      const errors = blockingFindings(yield* preflight(asPlain, configFor(stack)))
      expect(codes(errors)).toEqual(["error replication-privilege", "error table-not-readable", "error publication-missing"])
      expect(errors[0]).toEqual({
        level: "error",
        code: "replication-privilege",
        message: "role preflight_plain may not replicate: it has neither REPLICATION nor superuser",
        action: 'as a superuser run: ALTER ROLE "preflight_plain" WITH REPLICATION'
      })
      expect(errors[1]?.action).toBe(`as the tables' owner run: GRANT SELECT ON ${ALL_TABLES_QUOTED} TO "preflight_plain"`)

      for (const error of errors.slice(0, 2)) yield* admin.query(error.action.replace(/^as [^:]+: /, ""))
      expect(codes(blockingFindings(yield* preflight(asPlain, configFor(stack))))).toEqual(["error publication-missing"])
      // Once the publication exists the reader needs no more than REPLICATION and SELECT.
      yield* admin.query(`CREATE PUBLICATION totes_cdc FOR TABLE ${ALL_TABLES_SQL}`)
      expect(blockingFindings(yield* preflight(asPlain, configFor(stack)))).toEqual([])
    })
  )

  it.effect("an existing pgoutput slot is reported; a physical slot, or one of another database, under the reader's name is an error", () =>
    Effect.gen(function* () {
      const stack = yield* LocalStack
      const db = yield* emptyTotesys("preflight_slot")
      const other = yield* emptyTotesys("preflight_slot_other")
      yield* scratchSlot(db, "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", "preflight_logical")
      yield* scratchSlot(db, "SELECT pg_create_physical_replication_slot($1)", "preflight_physical")

      const own = yield* preflight(db, configFor(stack, "preflight_logical"))
      expect(blockingFindings(own)).toEqual([])
      expect(byCode(own, "slot-will-be-created")).toEqual([])
      const [exists] = byCode(own, "slot-exists")
      expect(exists?.message).toMatch(/^replication slot preflight_logical exists \(confirmed up to [0-9A-F]+\/[0-9A-F]+, \d+ (bytes|kB|MB) of WAL retained\)$/)

      expect(blockingFindings(yield* preflight(other, configFor(stack, "preflight_logical")))).toEqual([
        {
          level: "error",
          code: "slot-database",
          message: "replication slot preflight_logical belongs to database preflight_slot, not preflight_slot_other",
          action: "use another slot name, or drop preflight_logical if nothing uses it: SELECT pg_drop_replication_slot('preflight_logical')"
        }
      ])
      expect(codes(blockingFindings(yield* preflight(db, configFor(stack, "preflight_physical"))))).toEqual(["error slot-plugin"])
    })
  )
})

describe("preflight against a server without logical WAL", () => {
  it.live("wal_level=replica is the wal-level error, printed as one line with the fix", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const stack = yield* makeLocalStack({ postgresSettings: { wal_level: "replica" } })
        const db = yield* makePgPool(stack.sourceUrl)
        yield* createTotesysSchema(db)
        const config: PreflightConfig = {
          publication: "totes_cdc",
          slot: "totes_cdc",
          tables: TOTESYS_TABLES,
          sourceHost: stack.postgres.host,
          sourcePort: stack.postgres.port
        }
        const errors = blockingFindings(yield* preflight(db, config))
        expect(errors.map(formatFinding)).toEqual([
          "error wal-level: wal_level is replica: logical replication needs wal_level = logical — fix: set wal_level = logical (ALTER SYSTEM SET wal_level = logical, or postgresql.conf) and restart PostgreSQL; on RDS/Aurora set rds.logical_replication = 1 in the DB parameter group and reboot"
        ])
      })
    )
  )
})
