import { describe, expect, it } from "@effect/vitest"
import {
  type Finding,
  type PreflightConfig,
  type PreflightFacts,
  type TableFacts,
  blockingFindings,
  evaluatePreflight,
  formatFinding
} from "../src/preflight/Preflight.ts"

const TABLES = [
  "address", "counterparty", "currency", "department", "design", "staff",
  "payment_type", "sales_order", "purchase_order", "transaction", "payment"
]

const CONFIG: PreflightConfig = {
  publication: "totes_cdc",
  slot: "totes_cdc",
  tables: TABLES,
  sourceHost: "totesys.abc123.eu-west-2.rds.amazonaws.com",
  sourcePort: 5432
}

const healthyTable = (name: string): TableFacts => ({
  name,
  replicaIdentity: "default",
  primaryKeyIndex: `${name}_pkey`,
  identityIndex: null,
  unlogged: false,
  ownedByRole: true,
  readable: true
})

/** A source the reader can start on: publication in place, no slot yet, WAL capped at 50 GB. */
const HEALTHY: PreflightFacts = {
  database: "totesys",
  serverVersionNum: 180004,
  serverVersion: "18.4",
  inRecovery: false,
  serverEncoding: "UTF8",
  walLevel: "logical",
  maxReplicationSlots: 20,
  replicationSlotsInUse: 1,
  maxWalSenders: 20,
  activeWalSenders: 1,
  maxSlotWalKeepSizeMb: 51200,
  idleSlotTimeoutSeconds: 0,
  rds: false,
  role: {
    name: "reader",
    superuser: false,
    replication: true,
    rdsReplication: false,
    createOnDatabase: true,
    canEmitMessage: true
  },
  tables: TABLES.map(healthyTable),
  publication: {
    allTables: false,
    insert: true,
    update: true,
    delete: true,
    truncate: true,
    tables: TABLES.map((name) => ({ schema: "public", name, rowFilter: null, columnList: false }))
  },
  slot: null
}

const EXISTING_SLOT = {
  slotType: "logical",
  plugin: "pgoutput",
  database: "totesys",
  activePid: null,
  walStatus: "reserved",
  invalidationReason: null,
  confirmedFlushLsn: "16/B374D848",
  retainedBytes: 25_165_824
} as const

/** The 11 tables as preflight's statements name them (every identifier quoted by quoteIdent). */
const ALL_TABLES_SQL =
  '"public"."address", "public"."counterparty", "public"."currency", "public"."department", "public"."design", "public"."staff", ' +
  '"public"."payment_type", "public"."sales_order", "public"."purchase_order", "public"."transaction", "public"."payment"'

const withTable = (name: string, change: Partial<TableFacts>): PreflightFacts => ({
  ...HEALTHY,
  tables: HEALTHY.tables.map((t) => (t.name === name ? { ...t, ...change } : t))
})

const evaluate = (facts: PreflightFacts, config: PreflightConfig = CONFIG) => evaluatePreflight(facts, config)
const byCode = (findings: ReadonlyArray<Finding>, code: string) => findings.filter((f) => f.code === code)
const codes = (findings: ReadonlyArray<Finding>) => findings.map((f) => `${f.level} ${f.code}`)

describe("evaluatePreflight", () => {
  it("a healthy source gives no error, only what the reader will do", () => {
    const findings = evaluate(HEALTHY)
    expect(blockingFindings(findings)).toEqual([])
    expect(codes(findings)).toEqual(["info slot-will-be-created", "info slot-wal-limit"])
  })

  it("wal_level other than logical is an error saying to set it and restart", () => {
    const findings = evaluate({ ...HEALTHY, walLevel: "replica" })
    expect(byCode(findings, "wal-level")).toEqual([
      {
        level: "error",
        code: "wal-level",
        message: "wal_level is replica: logical replication needs wal_level = logical",
        action:
          "set wal_level = logical (ALTER SYSTEM SET wal_level = logical, or postgresql.conf) and restart PostgreSQL; on RDS/Aurora set rds.logical_replication = 1 in the DB parameter group and reboot"
      }
    ])
  })

  it("on RDS the wal_level fix is the rds.logical_replication parameter", () => {
    const [finding] = byCode(evaluate({ ...HEALTHY, rds: true, walLevel: "replica" }), "wal-level")
    expect(finding?.action).toBe("set rds.logical_replication = 1 in the DB parameter group and reboot the instance")
  })

  it("no free replication slot is an error when the reader's slot does not exist yet", () => {
    const full = { ...HEALTHY, maxReplicationSlots: 10, replicationSlotsInUse: 10 }
    expect(byCode(evaluate(full), "replication-slots-exhausted")).toEqual([
      {
        level: "error",
        code: "replication-slots-exhausted",
        message: "no free replication slot for totes_cdc: 10 of max_replication_slots = 10 are in use",
        action:
          "drop an unused slot (see pg_replication_slots; SELECT pg_drop_replication_slot('<name>')) or raise max_replication_slots and restart"
      }
    ])
    // The reader's own slot is one of the ten: nothing new to allocate.
    expect(byCode(evaluate({ ...full, slot: EXISTING_SLOT }), "replication-slots-exhausted")).toEqual([])
  })

  it("no free WAL sender is an error", () => {
    expect(byCode(evaluate({ ...HEALTHY, maxWalSenders: 4, activeWalSenders: 4 }), "wal-senders-exhausted")).toEqual([
      {
        level: "error",
        code: "wal-senders-exhausted",
        message: "no free WAL sender: 4 of max_wal_senders = 4 are running",
        action: "stop an unused replication connection (see pg_stat_replication) or raise max_wal_senders and restart"
      }
    ])
    expect(byCode(evaluate({ ...HEALTHY, maxWalSenders: 4, activeWalSenders: 3 }), "wal-senders-exhausted")).toEqual([])
  })

  it("a role without REPLICATION that is not superuser is an error; superuser or rds_replication suffice", () => {
    const plain = { ...HEALTHY.role, replication: false }
    expect(byCode(evaluate({ ...HEALTHY, role: plain }), "replication-privilege")).toEqual([
      {
        level: "error",
        code: "replication-privilege",
        message: "role reader may not replicate: it has neither REPLICATION nor superuser",
        action: 'as a superuser run: ALTER ROLE "reader" WITH REPLICATION'
      }
    ])
    expect(byCode(evaluate({ ...HEALTHY, rds: true, role: plain }), "replication-privilege")[0]?.action).toBe(
      'as the master user run: GRANT rds_replication TO "reader"'
    )
    expect(byCode(evaluate({ ...HEALTHY, role: { ...plain, superuser: true } }), "replication-privilege")).toEqual([])
    expect(byCode(evaluate({ ...HEALTHY, rds: true, role: { ...plain, rdsReplication: true } }), "replication-privilege")).toEqual([])
  })

  it("an absent publication the role can create is an info finding: it will be created", () => {
    expect(byCode(evaluate({ ...HEALTHY, publication: null }), "publication-will-be-created")).toEqual([
      {
        level: "info",
        code: "publication-will-be-created",
        message: "publication totes_cdc does not exist in totesys: the reader will create it for the 11 tables",
        action: `nothing to do; to create it yourself: CREATE PUBLICATION "totes_cdc" FOR TABLE ${ALL_TABLES_SQL} WITH (publish = 'insert, update, delete, truncate')`
      }
    ])
  })

  it("an absent publication the role cannot create is an error with the CREATE PUBLICATION to run", () => {
    const notOwner = { ...HEALTHY, publication: null, tables: HEALTHY.tables.map((t) => ({ ...t, ownedByRole: false })) }
    const findings = evaluate(notOwner)
    expect(byCode(findings, "publication-will-be-created")).toEqual([])
    expect(byCode(findings, "publication-missing")).toEqual([
      {
        level: "error",
        code: "publication-missing",
        message:
          "publication totes_cdc does not exist in totesys and role reader cannot create it (that needs CREATE on the database and ownership of the tables, or superuser)",
        action: `as the tables' owner or a superuser run: CREATE PUBLICATION "totes_cdc" FOR TABLE ${ALL_TABLES_SQL} WITH (publish = 'insert, update, delete, truncate')`
      }
    ])
    // A superuser can create it whoever owns the tables.
    const superuser = { ...notOwner, role: { ...notOwner.role, superuser: true } }
    expect(codes(byCode(evaluate(superuser), "publication-will-be-created"))).toEqual(["info publication-will-be-created"])
  })

  it("a publication that includes _prisma_migrations is an error with the ALTER PUBLICATION that fixes it", () => {
    const publication = {
      ...HEALTHY.publication!,
      tables: [
        { schema: "public", name: "_prisma_migrations", rowFilter: null, columnList: false },
        ...HEALTHY.publication!.tables
      ]
    }
    expect(byCode(evaluate({ ...HEALTHY, publication }), "publication-tables")).toEqual([
      {
        level: "error",
        code: "publication-tables",
        message: "publication totes_cdc publishes public._prisma_migrations, which is never captured: it must publish exactly the 11 tables",
        action: `ALTER PUBLICATION "totes_cdc" SET TABLE ${ALL_TABLES_SQL}`
      }
    ])
  })

  it("a publication missing a table is an error naming it", () => {
    const publication = { ...HEALTHY.publication!, tables: HEALTHY.publication!.tables.filter((t) => t.name !== "payment") }
    expect(byCode(evaluate({ ...HEALTHY, publication }), "publication-tables")).toEqual([
      {
        level: "error",
        code: "publication-tables",
        message: "publication totes_cdc does not publish public.payment: it must publish exactly the 11 tables",
        action: `ALTER PUBLICATION "totes_cdc" SET TABLE ${ALL_TABLES_SQL}`
      }
    ])
  })

  it("a FOR ALL TABLES publication is an error: it has to be dropped and created for the 11 tables", () => {
    const publication = {
      ...HEALTHY.publication!,
      allTables: true,
      tables: [...HEALTHY.publication!.tables, { schema: "public", name: "_prisma_migrations", rowFilter: null, columnList: false }]
    }
    expect(byCode(evaluate({ ...HEALTHY, publication }), "publication-tables")).toEqual([
      {
        level: "error",
        code: "publication-tables",
        message:
          "publication totes_cdc is FOR ALL TABLES: it publishes every table, present and future, including public._prisma_migrations, which is never captured; it must publish exactly the 11 tables",
        action: `DROP PUBLICATION "totes_cdc"; CREATE PUBLICATION "totes_cdc" FOR TABLE ${ALL_TABLES_SQL} WITH (publish = 'insert, update, delete, truncate')`
      }
    ])
  })

  it("a publication that does not publish truncate is an error", () => {
    const publication = { ...HEALTHY.publication!, truncate: false }
    expect(byCode(evaluate({ ...HEALTHY, publication }), "publication-operations")).toEqual([
      {
        level: "error",
        code: "publication-operations",
        message: "publication totes_cdc does not publish truncate: those changes would never reach the warehouse",
        action: `ALTER PUBLICATION "totes_cdc" SET (publish = 'insert, update, delete, truncate')`
      }
    ])
  })

  it("a row filter or column list on a captured table is an error", () => {
    const publication = {
      ...HEALTHY.publication!,
      tables: HEALTHY.publication!.tables.map((t) =>
        t.name === "payment" ? { ...t, rowFilter: "(paid = false)" } : t.name === "staff" ? { ...t, columnList: true } : t
      )
    }
    expect(byCode(evaluate({ ...HEALTHY, publication }), "publication-filtered")).toEqual([
      {
        level: "error",
        code: "publication-filtered",
        message:
          "publication totes_cdc publishes public.staff with a column list; public.payment with row filter WHERE (paid = false): rows or columns would be missing from the warehouse",
        action: `ALTER PUBLICATION "totes_cdc" SET TABLE ${ALL_TABLES_SQL}`
      }
    ])
  })

  it("a missing table is an error naming the table and the database", () => {
    const facts = { ...HEALTHY, tables: HEALTHY.tables.filter((t) => t.name !== "payment") }
    expect(byCode(evaluate(facts), "table-missing")).toEqual([
      {
        level: "error",
        code: "table-missing",
        message: "table public.payment does not exist in totesys: the source is not totesys or the schema is incomplete",
        action: "point the source URL at the totesys database, or create public.payment as totesys/oltp_schema.sql defines it"
      }
    ])
  })

  it("a database with none of the tables gives one error, not eleven", () => {
    const findings = evaluate({ ...HEALTHY, database: "postgres", tables: [] })
    expect(byCode(findings, "table-missing")).toEqual([
      {
        level: "error",
        code: "table-missing",
        message:
          "none of the 11 tables (public.address, public.counterparty, public.currency, public.department, public.design, public.staff, public.payment_type, public.sales_order, public.purchase_order, public.transaction, public.payment) exists in postgres: the source is not totesys or the schema is incomplete",
        action: "point the source URL at the totesys database (its path names the database)"
      }
    ])
  })

  it("REPLICA IDENTITY NOTHING is an error; the fix restores DEFAULT", () => {
    expect(byCode(evaluate(withTable("staff", { replicaIdentity: "nothing" })), "replica-identity")).toEqual([
      {
        level: "error",
        code: "replica-identity",
        message:
          "table public.staff has REPLICA IDENTITY NOTHING: its updates and deletes would carry no key, and once it is published PostgreSQL rejects UPDATE and DELETE on it",
        action: 'ALTER TABLE "public"."staff" REPLICA IDENTITY DEFAULT'
      }
    ])
  })

  it("REPLICA IDENTITY DEFAULT without a primary key is an error; the fix adds the key", () => {
    expect(byCode(evaluate(withTable("transaction", { primaryKeyIndex: null })), "replica-identity")).toEqual([
      {
        level: "error",
        code: "replica-identity",
        message:
          "table public.transaction has REPLICA IDENTITY DEFAULT but no primary key: its updates and deletes would carry no key, and once it is published PostgreSQL rejects UPDATE and DELETE on it",
        action: 'ALTER TABLE "public"."transaction" ADD PRIMARY KEY ("transaction_id")'
      }
    ])
  })

  it("REPLICA IDENTITY FULL is only information", () => {
    expect(byCode(evaluate(withTable("address", { replicaIdentity: "full" })), "replica-identity-full")).toEqual([
      {
        level: "info",
        code: "replica-identity-full",
        message: "table public.address has REPLICA IDENTITY FULL: updates and deletes carry the whole old row (more WAL than the key alone)",
        action: 'nothing to do; to log only the primary key: ALTER TABLE "public"."address" REPLICA IDENTITY DEFAULT'
      }
    ])
  })

  it("REPLICA IDENTITY USING INDEX: fine on the primary key, a warning on another index, an error once the index is gone", () => {
    expect(evaluate(withTable("design", { replicaIdentity: "index", identityIndex: "design_pkey" })).filter((f) => f.code.startsWith("replica"))).toEqual([])
    expect(codes(byCode(evaluate(withTable("design", { replicaIdentity: "index", identityIndex: "design_name_key" })), "replica-identity-index"))).toEqual([
      "warning replica-identity-index"
    ])
    expect(codes(byCode(evaluate(withTable("design", { replicaIdentity: "index", identityIndex: null })), "replica-identity"))).toEqual([
      "error replica-identity"
    ])
  })

  it("an UNLOGGED table is an error: its changes never reach WAL", () => {
    expect(byCode(evaluate(withTable("sales_order", { unlogged: true })), "table-unlogged")).toEqual([
      {
        level: "error",
        code: "table-unlogged",
        message: "table public.sales_order is UNLOGGED: its changes are not written to WAL, so none of them can be captured",
        action: 'ALTER TABLE "public"."sales_order" SET LOGGED'
      }
    ])
  })

  it("tables the role may not read are one error with one GRANT", () => {
    const facts = { ...HEALTHY, tables: HEALTHY.tables.map((t) => (t.name === "staff" || t.name === "payment" ? { ...t, readable: false } : t)) }
    expect(byCode(evaluate(facts), "table-not-readable")).toEqual([
      {
        level: "error",
        code: "table-not-readable",
        message: "role reader may not SELECT public.staff, public.payment: the initial snapshot reads every captured table",
        action: `as the tables' owner run: GRANT SELECT ON "public"."staff", "public"."payment" TO "reader"`
      }
    ])
  })

  it("max_slot_wal_keep_size = -1 is a warning that a stalled reader can fill the disk", () => {
    expect(byCode(evaluate({ ...HEALTHY, maxSlotWalKeepSizeMb: -1 }), "slot-wal-unlimited")).toEqual([
      {
        level: "warning",
        code: "slot-wal-unlimited",
        message:
          "max_slot_wal_keep_size = -1 (unlimited): while the reader is stopped or stalled its slot retains WAL without bound and can fill the disk",
        action: "set max_slot_wal_keep_size (e.g. to a few days of WAL: '50GB') and alert on slot lag (totes-cdc status)"
      }
    ])
  })

  it("a set max_slot_wal_keep_size is information stating how much WAL the slot may retain", () => {
    expect(byCode(evaluate({ ...HEALTHY, maxSlotWalKeepSizeMb: 10240 }), "slot-wal-limit")).toEqual([
      {
        level: "info",
        code: "slot-wal-limit",
        message:
          "max_slot_wal_keep_size = 10 GB: the slot may retain up to 10 GB of WAL, beyond that PostgreSQL invalidates it and the reader must re-snapshot",
        action: "alert on slot lag (totes-cdc status) well below 10 GB"
      }
    ])
    expect(codes(byCode(evaluate({ ...HEALTHY, maxSlotWalKeepSizeMb: 512 }), "slot-wal-limit-low"))).toEqual(["warning slot-wal-limit-low"])
  })

  it("a slot that lost WAL is an error: re-snapshot", () => {
    const slot = { ...EXISTING_SLOT, walStatus: "lost", invalidationReason: null, retainedBytes: null }
    expect(byCode(evaluate({ ...HEALTHY, slot }), "slot-lost")).toEqual([
      {
        level: "error",
        code: "slot-lost",
        message:
          "replication slot totes_cdc is invalidated (wal_status = lost): PostgreSQL removed WAL or catalog rows it needed, so changes since the reader last ran are gone",
        action: 're-snapshot: run "READER_SLOT=totes_cdc totes-cdc reader slot drop" (drops the slot and forgets its snapshot), then start the reader (it creates the slot and copies the tables again)'
      }
    ])
    const reason = { ...EXISTING_SLOT, walStatus: "lost", invalidationReason: "idle_timeout" }
    expect(byCode(evaluate({ ...HEALTHY, slot: reason }), "slot-lost")[0]?.message).toMatch(/^replication slot totes_cdc is invalidated \(idle_timeout\)/)
  })

  it("a slot with another plugin, a physical slot or a slot of another database is an error", () => {
    expect(byCode(evaluate({ ...HEALTHY, slot: { ...EXISTING_SLOT, plugin: "wal2json" } }), "slot-plugin")).toEqual([
      {
        level: "error",
        code: "slot-plugin",
        message: "replication slot totes_cdc uses the plugin wal2json, not pgoutput",
        action: "use another slot name, or drop totes_cdc if nothing uses it: SELECT pg_drop_replication_slot('totes_cdc')"
      }
    ])
    expect(byCode(evaluate({ ...HEALTHY, slot: { ...EXISTING_SLOT, slotType: "physical", plugin: null, database: null } }), "slot-plugin")[0]?.message).toBe(
      "replication slot totes_cdc is a physical slot, not a logical pgoutput slot"
    )
    expect(byCode(evaluate({ ...HEALTHY, slot: { ...EXISTING_SLOT, database: "warehouse" } }), "slot-database")).toEqual([
      {
        level: "error",
        code: "slot-database",
        message: "replication slot totes_cdc belongs to database warehouse, not totesys",
        action: "use another slot name, or drop totes_cdc if nothing uses it: SELECT pg_drop_replication_slot('totes_cdc')"
      }
    ])
  })

  it("a slot another process streams from is a warning: the reader waits for it (a dead reader's walsender lingers)", () => {
    expect(byCode(evaluate({ ...HEALTHY, slot: { ...EXISTING_SLOT, activePid: 4242 } }), "slot-in-use")).toEqual([
      {
        level: "warning",
        code: "slot-in-use",
        message: "replication slot totes_cdc is in use by process 4242: only one reader may stream from a slot; the reader waits for it to be released",
        action: "if another reader holds it, stop that reader, or end its connection: SELECT pg_terminate_backend(4242)"
      }
    ])
  })

  it("an existing, healthy slot is information with its position and retained WAL", () => {
    const findings = evaluate({ ...HEALTHY, slot: EXISTING_SLOT })
    expect(blockingFindings(findings)).toEqual([])
    expect(byCode(findings, "slot-will-be-created")).toEqual([])
    expect(byCode(findings, "slot-exists")).toEqual([
      {
        level: "info",
        code: "slot-exists",
        message: "replication slot totes_cdc exists (confirmed up to 16/B374D848, 24 MB of WAL retained)",
        action: "nothing to do; to start over with a new snapshot: READER_SLOT=totes_cdc totes-cdc reader slot drop"
      }
    ])
  })

  it("a slot about to lose WAL (wal_status = unreserved) is a warning", () => {
    expect(codes(byCode(evaluate({ ...HEALTHY, slot: { ...EXISTING_SLOT, walStatus: "unreserved" } }), "slot-wal-at-risk"))).toEqual([
      "warning slot-wal-at-risk"
    ])
  })

  it("a pooler or proxy endpoint is an error: logical replication needs a direct connection", () => {
    const pooled = (sourceHost: string, sourcePort = 5432) => byCode(evaluate(HEALTHY, { ...CONFIG, sourceHost, sourcePort }), "pooled-endpoint")
    expect(pooled("ep-cool-rain-123456-pooler.eu-central-1.aws.neon.tech")).toEqual([
      {
        level: "error",
        code: "pooled-endpoint",
        message:
          "source ep-cool-rain-123456-pooler.eu-central-1.aws.neon.tech:5432 looks like a connection pooler or proxy (pgbouncer, RDS Proxy, a pooler endpoint): logical replication needs a direct connection to the server",
        action:
          "point the source URL at the database server itself (on RDS/Aurora the instance or cluster writer endpoint, not the proxy; elsewhere the direct, non-pooler host and port)"
      }
    ])
    expect(pooled("totes.proxy-abc123xyz.eu-west-2.rds.amazonaws.com")).toHaveLength(1)
    expect(pooled("pgbouncer.internal")).toHaveLength(1)
    expect(pooled("totes-proxy.internal")).toHaveLength(1)
    expect(pooled("db.internal", 6432)).toHaveLength(1)
    expect(pooled("totes.abc123xyz.eu-west-2.rds.amazonaws.com")).toEqual([])
    expect(pooled("totes.cluster-abc123xyz.eu-west-2.rds.amazonaws.com")).toEqual([])
  })

  it("a server older than PostgreSQL 13 is an error", () => {
    const old = { ...HEALTHY, serverVersionNum: 120017, serverVersion: "12.17", maxSlotWalKeepSizeMb: null, idleSlotTimeoutSeconds: null }
    expect(byCode(evaluate(old), "server-version")).toEqual([
      {
        level: "error",
        code: "server-version",
        message:
          "PostgreSQL 12.17 is too old: the reader needs 13 or later (pgoutput publications with truncate, slot wal_status and max_slot_wal_keep_size)",
        action: "upgrade the source to PostgreSQL 13 or later"
      }
    ])
    expect(byCode(evaluate({ ...HEALTHY, serverVersionNum: 130000, serverVersion: "13.0" }), "server-version")).toEqual([])
  })

  it("a role that may not call pg_logical_emit_message gets a warning: no heartbeats", () => {
    const findings = evaluate({ ...HEALTHY, role: { ...HEALTHY.role, canEmitMessage: false } })
    expect(byCode(findings, "heartbeat-unavailable")).toEqual([
      {
        level: "warning",
        code: "heartbeat-unavailable",
        message:
          "role reader may not execute pg_logical_emit_message: the reader cannot write heartbeats, so on an idle database the slot does not advance and WAL piles up",
        action: 'as a superuser run: GRANT EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text, boolean) TO "reader"'
      }
    ])
  })

  it("a standby source is an error before PostgreSQL 16 and a warning from 16", () => {
    const standby15 = { ...HEALTHY, inRecovery: true, serverVersionNum: 150004, serverVersion: "15.4" }
    expect(codes(byCode(evaluate(standby15), "source-is-standby"))).toEqual(["error source-is-standby"])
    expect(codes(byCode(evaluate({ ...HEALTHY, inRecovery: true }), "source-is-standby"))).toEqual(["warning source-is-standby"])
    // A standby cannot create the publication: an absent one is an error to fix on the primary.
    const [missing] = byCode(evaluate({ ...HEALTHY, inRecovery: true, publication: null }), "publication-missing")
    expect(missing?.action).toBe(
      `on the primary run: CREATE PUBLICATION "totes_cdc" FOR TABLE ${ALL_TABLES_SQL} WITH (publish = 'insert, update, delete, truncate')`
    )
  })

  it("a SQL_ASCII database is a warning: text may not be UTF-8", () => {
    expect(codes(byCode(evaluate({ ...HEALTHY, serverEncoding: "SQL_ASCII" }), "server-encoding"))).toEqual(["warning server-encoding"])
    expect(byCode(evaluate({ ...HEALTHY, serverEncoding: "LATIN1" }), "server-encoding")).toEqual([])
  })

  it("an idle_replication_slot_timeout is a warning: a reader stopped longer loses its slot", () => {
    expect(byCode(evaluate({ ...HEALTHY, idleSlotTimeoutSeconds: 86_400 }), "slot-idle-timeout")).toEqual([
      {
        level: "warning",
        code: "slot-idle-timeout",
        message: "idle_replication_slot_timeout = 1 d: a reader stopped for longer than 1 d loses its slot and must re-snapshot",
        action: "keep the reader running, or set idle_replication_slot_timeout = 0"
      }
    ])
  })

  it("quotes identifiers that PostgreSQL would otherwise fold or reject", () => {
    const config = { ...CONFIG, publication: "Totes CDC", tables: ["address", "order"] }
    const facts = { ...HEALTHY, publication: null, tables: [healthyTable("address"), healthyTable("order")], role: { ...HEALTHY.role, createOnDatabase: false } }
    expect(byCode(evaluate(facts, config), "publication-missing")[0]?.action).toBe(
      `as the tables' owner or a superuser run: CREATE PUBLICATION "Totes CDC" FOR TABLE "public"."address", "public"."order" WITH (publish = 'insert, update, delete, truncate')`
    )
  })

  it("orders findings error, warning, info", () => {
    const findings = evaluate({ ...HEALTHY, walLevel: "replica", maxSlotWalKeepSizeMb: -1, slot: EXISTING_SLOT, role: { ...HEALTHY.role, canEmitMessage: false } })
    expect(codes(findings)).toEqual(["error wal-level", "warning heartbeat-unavailable", "warning slot-wal-unlimited", "info slot-exists"])
  })
})

describe("formatFinding", () => {
  it("gives one line: level, code, message and the fix", () => {
    const finding: Finding = {
      level: "error",
      code: "wal-level",
      message: "wal_level is replica: logical replication needs wal_level = logical",
      action: "set wal_level = logical and restart PostgreSQL"
    }
    expect(formatFinding(finding)).toBe(
      "error wal-level: wal_level is replica: logical replication needs wal_level = logical — fix: set wal_level = logical and restart PostgreSQL"
    )
  })

  it("folds line breaks so a finding never spans two lines", () => {
    const finding: Finding = { level: "warning", code: "x", message: "first\n  second", action: "do\r\nthis" }
    expect(formatFinding(finding)).toBe("warning x: first second — fix: do this")
  })
})

describe("blockingFindings", () => {
  it("keeps the errors only", () => {
    const error: Finding = { level: "error", code: "a", message: "m", action: "x" }
    const warning: Finding = { level: "warning", code: "b", message: "m", action: "x" }
    const info: Finding = { level: "info", code: "c", message: "m", action: "x" }
    expect(blockingFindings([info, error, warning])).toEqual([error])
  })
})
