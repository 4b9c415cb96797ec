/**
 * The reader's preflight, I/O part: reads what `evaluatePreflight` needs from the source's
 * catalogs (pg_settings, pg_roles, pg_class / pg_index, pg_publication /
 * pg_publication_tables, pg_replication_slots, pg_stat_replication).
 * Details: cdc-reader/SPEC.md §6.
 *
 * Invariants:
 *  - Read-only: five SELECTs, nothing created, locked or changed (safe against production);
 *    a missing privilege is a fact, not a failure.
 *  - Works on PostgreSQL 13–18: version-specific columns are read only where they exist.
 *  - Every row is decoded with a Schema; an answer of an unexpected shape fails with
 *    `PgError` naming the query, never with a wrong fact.
 */
import { PgError, type PgPool, type Row } from "@totes-cdc/platform"
import { Effect, Schema, SchemaGetter } from "effect"
import type { PreflightConfig, PreflightFacts, PublicationFacts, SlotFacts, TableFacts } from "./Preflight.ts"

/** PostgreSQL's boolean text form. */
const PgBool = Schema.Literals(["t", "f"]).pipe(
  Schema.decodeTo(Schema.Boolean, {
    decode: SchemaGetter.transform((text) => text === "t"),
    encode: SchemaGetter.transform((flag) => (flag ? "t" : "f"))
  })
)

/** An integer (int4, int8, numeric without scale) in text form. */
const PgNumber = Schema.FiniteFromString

const IDENTITIES = { d: "default", n: "nothing", f: "full", i: "index" } as const
const IDENTITY_CODES = { default: "d", nothing: "n", full: "f", index: "i" } as const

/** `pg_class.relreplident`. */
const ReplicaIdentityCode = Schema.Literals(["d", "n", "f", "i"]).pipe(
  Schema.decodeTo(Schema.Literals(["default", "nothing", "full", "index"]), {
    decode: SchemaGetter.transform((code) => IDENTITIES[code]),
    encode: SchemaGetter.transform((identity) => IDENTITY_CODES[identity])
  })
)

const ServerRow = Schema.Struct({
  database: Schema.String,
  version_num: PgNumber,
  version: Schema.String,
  in_recovery: PgBool,
  server_encoding: Schema.String,
  wal_level: Schema.String,
  max_replication_slots: PgNumber,
  slots_in_use: PgNumber,
  max_wal_senders: PgNumber,
  active_wal_senders: PgNumber,
  max_slot_wal_keep_size_mb: Schema.NullOr(PgNumber),
  idle_slot_timeout_s: Schema.NullOr(PgNumber),
  rds: PgBool,
  role_name: Schema.String,
  superuser: PgBool,
  replication: PgBool,
  rds_replication: PgBool,
  create_on_database: PgBool,
  can_emit_message: PgBool
})

const TableRow = Schema.Struct({
  name: Schema.String,
  replica_identity: ReplicaIdentityCode,
  primary_key_index: Schema.NullOr(Schema.String),
  identity_index: Schema.NullOr(Schema.String),
  unlogged: PgBool,
  owned: PgBool,
  readable: PgBool
})

const PublicationRow = Schema.Struct({
  all_tables: PgBool,
  insert: PgBool,
  update: PgBool,
  delete: PgBool,
  truncate: PgBool
})

const PublishedTableRow = Schema.Struct({
  schema: Schema.String,
  name: Schema.String,
  row_filter: Schema.NullOr(Schema.String),
  column_list: PgBool
})

const SlotRow = Schema.Struct({
  slot_type: Schema.Literals(["logical", "physical"]),
  plugin: Schema.NullOr(Schema.String),
  database: Schema.NullOr(Schema.String),
  active_pid: Schema.NullOr(PgNumber),
  wal_status: Schema.NullOr(Schema.String),
  invalidation_reason: Schema.NullOr(Schema.String),
  confirmed_flush_lsn: Schema.NullOr(Schema.String),
  retained_bytes: Schema.NullOr(PgNumber)
})

// Settings, capacity and the role, in one round trip. Every expression exists on 13–18
// (and on older servers, so the version finding can still be reported).
const SERVER_SQL = `
SELECT current_database() AS database,
       current_setting('server_version_num') AS version_num,
       current_setting('server_version') AS version,
       pg_is_in_recovery() AS in_recovery,
       current_setting('server_encoding') AS server_encoding,
       current_setting('wal_level') AS wal_level,
       current_setting('max_replication_slots') AS max_replication_slots,
       (SELECT count(*) FROM pg_replication_slots) AS slots_in_use,
       current_setting('max_wal_senders') AS max_wal_senders,
       (SELECT count(*) FROM pg_stat_replication) AS active_wal_senders,
       (SELECT setting FROM pg_settings WHERE name = 'max_slot_wal_keep_size') AS max_slot_wal_keep_size_mb,
       (SELECT CASE unit WHEN 'min' THEN setting::bigint * 60 WHEN 'ms' THEN setting::bigint / 1000 ELSE setting::bigint END
          FROM pg_settings WHERE name = 'idle_replication_slot_timeout') AS idle_slot_timeout_s,
       current_setting('rds.logical_replication', true) IS NOT NULL AS rds,
       r.rolname AS role_name,
       r.rolsuper AS superuser,
       r.rolreplication AS replication,
       coalesce((SELECT pg_has_role(r.oid, g.oid, 'MEMBER') FROM pg_roles g WHERE g.rolname = 'rds_replication'), false) AS rds_replication,
       has_database_privilege(current_database(), 'CREATE') AS create_on_database,
       coalesce((SELECT bool_or(has_function_privilege(p.oid, 'EXECUTE')) FROM pg_proc p WHERE p.proname = 'pg_logical_emit_message'), false) AS can_emit_message
  FROM pg_roles r
 WHERE r.rolname = current_user`

// The configured tables that exist in schema public (tables and partitioned tables).
const TABLES_SQL = `
SELECT c.relname AS name,
       c.relreplident AS replica_identity,
       (SELECT ic.relname FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
         WHERE i.indrelid = c.oid AND i.indisprimary) AS primary_key_index,
       (SELECT ic.relname FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
         WHERE i.indrelid = c.oid AND i.indisreplident) AS identity_index,
       c.relpersistence = 'u' AS unlogged,
       pg_has_role(c.relowner, 'USAGE') AS owned,
       has_table_privilege(c.oid, 'SELECT') AS readable
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname::text = ANY ($1::text[])
 ORDER BY c.relname`

const PUBLICATION_SQL = `
SELECT puballtables AS all_tables, pubinsert AS insert, pubupdate AS update, pubdelete AS delete, pubtruncate AS truncate
  FROM pg_publication WHERE pubname = $1`

const publishedTablesSql = (versionNum: number) => `
SELECT pt.schemaname AS schema,
       pt.tablename AS name,
       ${versionNum >= 150000 ? "pt.rowfilter" : "NULL::text"} AS row_filter,
       ${
         versionNum >= 150000
           ? `EXISTS (SELECT 1 FROM pg_publication_rel pr
                        JOIN pg_class c ON c.oid = pr.prrelid
                        JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE pr.prpubid = p.oid AND n.nspname = pt.schemaname AND c.relname = pt.tablename
                         AND pr.prattrs IS NOT NULL)`
           : "false"
       } AS column_list
  FROM pg_publication p JOIN pg_publication_tables pt ON pt.pubname = p.pubname
 WHERE p.pubname = $1
 ORDER BY 1, 2`

const slotSql = (versionNum: number) => `
SELECT slot_type,
       plugin,
       database,
       active_pid,
       ${versionNum >= 130000 ? "wal_status" : "NULL::text"} AS wal_status,
       ${versionNum >= 170000 ? "invalidation_reason" : versionNum >= 160000 ? "CASE WHEN conflicting THEN 'conflicting' END" : "NULL::text"} AS invalidation_reason,
       confirmed_flush_lsn,
       pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END, restart_lsn)::bigint AS retained_bytes
  FROM pg_replication_slots
 WHERE slot_name = $1`

/** Decodes a query's rows; an unexpected shape is a `PgError` naming the query. */
const decodeRows =
  <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S, what: string, target: string) =>
  (rows: ReadonlyArray<Row>): Effect.Effect<ReadonlyArray<S["Type"]>, PgError> =>
    Schema.decodeUnknownEffect(Schema.Array(schema))(rows).pipe(
      Effect.mapError(
        (error) =>
          new PgError({
            message: `unexpected answer from ${target} to the preflight's ${what} query: ${error.message.replace(/\s*\n\s*/g, " ")}`,
            retryable: false,
            cause: error
          })
      )
    )

/**
 * Reads the facts `evaluatePreflight` needs about the source behind `pool`, for the
 * publication, slot and tables of `config`. Fails with `PgError` if a query fails.
 */
export const gatherPreflightFacts: (pool: PgPool, config: PreflightConfig) => Effect.Effect<PreflightFacts, PgError> =
  Effect.fn("gatherPreflightFacts")(function* (pool: PgPool, config: PreflightConfig) {
    const [server] = yield* pool.query(SERVER_SQL).pipe(Effect.flatMap(decodeRows(ServerRow, "server settings", pool.target)))
    if (server === undefined) {
      return yield* new PgError({
        message: `the current role of ${pool.target} is not in pg_roles; connect with an ordinary login role`,
        retryable: false
      })
    }
    const version = server.version_num

    const tables = yield* pool
      .query(TABLES_SQL, [config.tables])
      .pipe(Effect.flatMap(decodeRows(TableRow, "tables", pool.target)))

    const [publicationRow] = yield* pool
      .query(PUBLICATION_SQL, [config.publication])
      .pipe(Effect.flatMap(decodeRows(PublicationRow, "publication", pool.target)))
    const published =
      publicationRow === undefined
        ? []
        : yield* pool
            .query(publishedTablesSql(version), [config.publication])
            .pipe(Effect.flatMap(decodeRows(PublishedTableRow, "published tables", pool.target)))

    const [slotRow] = yield* pool
      .query(slotSql(version), [config.slot])
      .pipe(Effect.flatMap(decodeRows(SlotRow, "replication slot", pool.target)))

    const publication: PublicationFacts | null =
      publicationRow === undefined
        ? null
        : {
            allTables: publicationRow.all_tables,
            insert: publicationRow.insert,
            update: publicationRow.update,
            delete: publicationRow.delete,
            truncate: publicationRow.truncate,
            tables: published.map((t) => ({ schema: t.schema, name: t.name, rowFilter: t.row_filter, columnList: t.column_list }))
          }

    const slot: SlotFacts | null =
      slotRow === undefined
        ? null
        : {
            slotType: slotRow.slot_type,
            plugin: slotRow.plugin,
            database: slotRow.database,
            activePid: slotRow.active_pid,
            walStatus: slotRow.wal_status,
            invalidationReason: slotRow.invalidation_reason,
            confirmedFlushLsn: slotRow.confirmed_flush_lsn,
            retainedBytes: slotRow.retained_bytes
          }

    return {
      database: server.database,
      serverVersionNum: version,
      serverVersion: server.version,
      inRecovery: server.in_recovery,
      serverEncoding: server.server_encoding,
      walLevel: server.wal_level,
      maxReplicationSlots: server.max_replication_slots,
      replicationSlotsInUse: server.slots_in_use,
      maxWalSenders: server.max_wal_senders,
      activeWalSenders: server.active_wal_senders,
      maxSlotWalKeepSizeMb: server.max_slot_wal_keep_size_mb,
      idleSlotTimeoutSeconds: server.idle_slot_timeout_s,
      rds: server.rds,
      role: {
        name: server.role_name,
        superuser: server.superuser,
        replication: server.replication,
        rdsReplication: server.rds_replication,
        createOnDatabase: server.create_on_database,
        canEmitMessage: server.can_emit_message
      },
      tables: tables.map(
        (t): TableFacts => ({
          name: t.name,
          replicaIdentity: t.replica_identity,
          primaryKeyIndex: t.primary_key_index,
          identityIndex: t.identity_index,
          unlogged: t.unlogged,
          ownedByRole: t.owned,
          readable: t.readable
        })
      ),
      publication,
      slot
    } satisfies PreflightFacts
  })
