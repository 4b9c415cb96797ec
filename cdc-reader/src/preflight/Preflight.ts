/**
 * The reader's preflight, pure part: facts about the source (gathered by
 * `GatherFacts.ts`) in, findings out. Each finding names the problem and the fix
 * (`{ level, code, message, action }`, the shape of zero-cache's pg preflight), so the
 * reader can stop before it starts with one line per problem (DESIGN.md §6, §7).
 *
 * Invariants:
 *  - No I/O: `evaluatePreflight` is a function of its arguments only.
 *  - Codes are stable, kebab-case, one per condition; a finding's level never depends
 *    on anything but the facts. Findings come ordered error → warning → info, each
 *    level in check order.
 *  - Every SQL statement in an `action` is complete and can be run as written: every
 *    identifier quoted by core's `quoteIdent`, every literal made by `quoteLiteral`.
 *  - `formatFinding` gives exactly one line.
 */
import { EXCLUDED_TABLES, PRIMARY_KEY, isTotesysTable, quoteIdent, quoteLiteral } from "@totes-cdc/core"

export type FindingLevel = "error" | "warning" | "info"

export interface Finding {
  readonly level: FindingLevel
  readonly code: string
  readonly message: string
  readonly action: string
}

export interface PreflightConfig {
  /** Publication the reader streams (created if absent and the role may). */
  readonly publication: string
  /** Logical replication slot of the reader (created if absent). */
  readonly slot: string
  /** The captured tables, in schema `public`: the 11 totesys tables. */
  readonly tables: ReadonlyArray<string>
  /** Host of the source URL, to recognise poolers and proxies. */
  readonly sourceHost: string
  /** Port of the source URL, if known (6432 is pgbouncer's). */
  readonly sourcePort?: number
}

export type ReplicaIdentity = "default" | "nothing" | "full" | "index"

/** One of the configured tables, as found in schema `public`. */
export interface TableFacts {
  readonly name: string
  /** `pg_class.relreplident`. */
  readonly replicaIdentity: ReplicaIdentity
  /** Name of the primary-key index, or null when the table has no primary key. */
  readonly primaryKeyIndex: string | null
  /** Name of the index marked as replica identity (`REPLICA IDENTITY USING INDEX`), or null. */
  readonly identityIndex: string | null
  /** UNLOGGED tables write no WAL, so none of their changes can be decoded. */
  readonly unlogged: boolean
  /** The role owns the table (or has the privileges of its owner). */
  readonly ownedByRole: boolean
  /** The role may SELECT it (the initial snapshot reads every table). */
  readonly readable: boolean
}

export interface PublishedTable {
  readonly schema: string
  readonly name: string
  /** Row filter (`WHERE …`, PostgreSQL 15+), or null. */
  readonly rowFilter: string | null
  /** A column list (PostgreSQL 15+) restricts the published columns. */
  readonly columnList: boolean
}

export interface PublicationFacts {
  readonly allTables: boolean
  readonly insert: boolean
  readonly update: boolean
  readonly delete: boolean
  readonly truncate: boolean
  /** Every table the publication publishes (`pg_publication_tables`). */
  readonly tables: ReadonlyArray<PublishedTable>
}

export interface SlotFacts {
  readonly slotType: "logical" | "physical"
  /** Output plugin; null for a physical slot. */
  readonly plugin: string | null
  /** Database of a logical slot; null for a physical slot. */
  readonly database: string | null
  /** Backend streaming from the slot now, if any. */
  readonly activePid: number | null
  /** `reserved` | `extended` | `unreserved` | `lost` (PostgreSQL 13+), or null. */
  readonly walStatus: string | null
  /** Why the slot was invalidated (`invalidation_reason`, 17+; `conflicting` on 16), or null. */
  readonly invalidationReason: string | null
  readonly confirmedFlushLsn: string | null
  /** WAL the slot holds back (current WAL position − restart_lsn), bytes; null if unknown. */
  readonly retainedBytes: number | null
}

export interface RoleFacts {
  readonly name: string
  readonly superuser: boolean
  /** `rolreplication` (not inherited: the role's own attribute). */
  readonly replication: boolean
  /** Member of RDS's `rds_replication` role (false where it does not exist). */
  readonly rdsReplication: boolean
  /** CREATE on the current database (needed by CREATE PUBLICATION). */
  readonly createOnDatabase: boolean
  /** EXECUTE on `pg_logical_emit_message` (heartbeats). */
  readonly canEmitMessage: boolean
}

/** Everything `evaluatePreflight` needs, gathered by `gatherPreflightFacts`. */
export interface PreflightFacts {
  /** `current_database()`. */
  readonly database: string
  /** `server_version_num`, e.g. 180004. */
  readonly serverVersionNum: number
  /** `server_version`, e.g. "18.4". */
  readonly serverVersion: string
  readonly inRecovery: boolean
  readonly serverEncoding: string
  readonly walLevel: string
  readonly maxReplicationSlots: number
  /** Slots of any kind and database (`pg_replication_slots`). */
  readonly replicationSlotsInUse: number
  readonly maxWalSenders: number
  /** Running WAL senders (`pg_stat_replication`). */
  readonly activeWalSenders: number
  /** `max_slot_wal_keep_size` in MB, -1 = unlimited; null before PostgreSQL 13. */
  readonly maxSlotWalKeepSizeMb: number | null
  /** `idle_replication_slot_timeout` in seconds, 0 = off; null before PostgreSQL 18. */
  readonly idleSlotTimeoutSeconds: number | null
  /** The server is Amazon RDS / Aurora (it has the `rds.logical_replication` setting). */
  readonly rds: boolean
  readonly role: RoleFacts
  /** The configured tables that exist in schema `public` (a missing one is absent). */
  readonly tables: ReadonlyArray<TableFacts>
  /** The configured publication, or null when it does not exist. */
  readonly publication: PublicationFacts | null
  /** The configured slot, or null when it does not exist. */
  readonly slot: SlotFacts | null
}

/** The oldest server the reader supports. */
export const MIN_SERVER_VERSION_NUM = 130000

/** Operations the publication must publish. */
const OPERATIONS = ["insert", "update", "delete", "truncate"] as const

const dropSlotSql = (slot: string): string => `SELECT pg_drop_replication_slot(${quoteLiteral(slot)})`

const qualified = (schema: string, name: string): string => `${quoteIdent(schema)}.${quoteIdent(name)}`

/** `public.address` as shown in messages (unquoted). */
const shown = (schema: string, name: string): string => `${schema}.${name}`

const tableList = (config: PreflightConfig): string => config.tables.map((t) => qualified("public", t)).join(", ")

/** The statement that creates the publication the reader needs. */
export const createPublicationSql = (config: PreflightConfig): string =>
  `CREATE PUBLICATION ${quoteIdent(config.publication)} FOR TABLE ${tableList(config)} WITH (publish = 'insert, update, delete, truncate')`

/** The statement that makes an existing publication cover exactly the configured tables, unfiltered. */
export const setPublicationTablesSql = (config: PreflightConfig): string =>
  `ALTER PUBLICATION ${quoteIdent(config.publication)} SET TABLE ${tableList(config)}`

/** 10240 MB → "10 GB"; 1536 → "1.5 GB"; 512 → "512 MB". */
const formatMegabytes = (mb: number): string => {
  const units = [["TB", 1024 * 1024], ["GB", 1024]] as const
  for (const [unit, size] of units) {
    if (mb >= size) return `${Number((mb / size).toFixed(1))} ${unit}`
  }
  return `${mb} MB`
}

const formatBytes = (bytes: number): string =>
  bytes >= 1024 * 1024 ? formatMegabytes(Math.round(bytes / (1024 * 1024))) : bytes >= 1024 ? `${Math.round(bytes / 1024)} kB` : `${bytes} bytes`

/** 86400 → "1 d", 5400 → "90 min", 45 → "45 s". */
const formatSeconds = (seconds: number): string =>
  seconds % 86_400 === 0 ? `${seconds / 86_400} d` : seconds % 3_600 === 0 ? `${seconds / 3_600} h` : seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`

/** Host and port look like a connection pooler or proxy (pgbouncer, RDS Proxy, "-pooler" endpoints). */
export const looksPooled = (host: string, port: number | undefined): boolean => {
  const h = host.toLowerCase()
  return ["pooler", "pgbouncer", "-proxy", ".proxy-"].some((marker) => h.includes(marker)) || port === 6432
}

const error = (code: string, message: string, action: string): Finding => ({ level: "error", code, message, action })
const warning = (code: string, message: string, action: string): Finding => ({ level: "warning", code, message, action })
const info = (code: string, message: string, action: string): Finding => ({ level: "info", code, message, action })

const checkEndpoint = (config: PreflightConfig): Array<Finding> => {
  if (!looksPooled(config.sourceHost, config.sourcePort)) return []
  const endpoint = config.sourcePort === undefined ? config.sourceHost : `${config.sourceHost}:${config.sourcePort}`
  return [
    error(
      "pooled-endpoint",
      `source ${endpoint} looks like a connection pooler or proxy (pgbouncer, RDS Proxy, a pooler endpoint): logical replication needs a direct connection to the server`,
      "point the source URL at the database server itself (on RDS/Aurora the instance or cluster writer endpoint, not the proxy; elsewhere the direct, non-pooler host and port)"
    )
  ]
}

const checkServer = (facts: PreflightFacts): Array<Finding> => {
  const findings: Array<Finding> = []
  if (facts.serverVersionNum < MIN_SERVER_VERSION_NUM) {
    findings.push(
      error(
        "server-version",
        `PostgreSQL ${facts.serverVersion} is too old: the reader needs 13 or later (pgoutput publications with truncate, slot wal_status and max_slot_wal_keep_size)`,
        "upgrade the source to PostgreSQL 13 or later"
      )
    )
  }
  if (facts.inRecovery) {
    findings.push(
      facts.serverVersionNum < 160000
        ? error(
            "source-is-standby",
            `the source is a standby (in recovery): logical decoding on a standby needs PostgreSQL 16 or later, this is ${facts.serverVersion}`,
            "point the source URL at the primary (on RDS/Aurora the writer endpoint)"
          )
        : warning(
            "source-is-standby",
            "the source is a standby (in recovery): heartbeats cannot be written, the publication must be created on the primary, and the slot is lost on failover",
            "point the source URL at the primary, or keep the standby with hot_standby_feedback = on and create the publication on the primary"
          )
    )
  }
  if (facts.walLevel !== "logical") {
    findings.push(
      error(
        "wal-level",
        `wal_level is ${facts.walLevel}: logical replication needs wal_level = logical`,
        facts.rds
          ? "set rds.logical_replication = 1 in the DB parameter group and reboot the instance"
          : "set wal_level = logical (ALTER SYSTEM SET wal_level = logical, or postgresql.conf) and restart PostgreSQL; on RDS/Aurora set rds.logical_replication = 1 in the DB parameter group and reboot"
      )
    )
  }
  if (facts.serverEncoding === "SQL_ASCII") {
    findings.push(
      warning(
        "server-encoding",
        "server_encoding is SQL_ASCII: PostgreSQL stores text bytes unchecked and cannot convert them, so text values need not be valid UTF-8 and non-ASCII characters may arrive garbled",
        "migrate the database to UTF8 encoding (pg_dump, then restore into a database created WITH ENCODING 'UTF8')"
      )
    )
  }
  return findings
}

const checkCapacity = (facts: PreflightFacts, config: PreflightConfig): Array<Finding> => {
  const findings: Array<Finding> = []
  if (facts.slot === null && facts.maxReplicationSlots - facts.replicationSlotsInUse < 1) {
    findings.push(
      error(
        "replication-slots-exhausted",
        `no free replication slot for ${config.slot}: ${facts.replicationSlotsInUse} of max_replication_slots = ${facts.maxReplicationSlots} are in use`,
        `drop an unused slot (see pg_replication_slots; SELECT pg_drop_replication_slot('<name>')) or raise max_replication_slots${facts.rds ? " in the DB parameter group" : ""} and restart`
      )
    )
  }
  if (facts.maxWalSenders - facts.activeWalSenders < 1) {
    findings.push(
      error(
        "wal-senders-exhausted",
        `no free WAL sender: ${facts.activeWalSenders} of max_wal_senders = ${facts.maxWalSenders} are running`,
        `stop an unused replication connection (see pg_stat_replication) or raise max_wal_senders${facts.rds ? " in the DB parameter group" : ""} and restart`
      )
    )
  }
  return findings
}

const checkRole = (facts: PreflightFacts): Array<Finding> => {
  const { role } = facts
  const findings: Array<Finding> = []
  if (!role.superuser && !role.replication && !role.rdsReplication) {
    findings.push(
      error(
        "replication-privilege",
        `role ${role.name} may not replicate: it has neither REPLICATION nor superuser${facts.rds ? " nor membership in rds_replication" : ""}`,
        facts.rds
          ? `as the master user run: GRANT rds_replication TO ${quoteIdent(role.name)}`
          : `as a superuser run: ALTER ROLE ${quoteIdent(role.name)} WITH REPLICATION`
      )
    )
  }
  if (!role.canEmitMessage) {
    findings.push(
      warning(
        "heartbeat-unavailable",
        `role ${role.name} may not execute pg_logical_emit_message: the reader cannot write heartbeats, so on an idle database the slot does not advance and WAL piles up`,
        `as a superuser run: GRANT EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text${facts.serverVersionNum >= 170000 ? ", boolean" : ""}) TO ${quoteIdent(role.name)}`
      )
    )
  }
  return findings
}

const checkTables = (facts: PreflightFacts, config: PreflightConfig): Array<Finding> => {
  const findings: Array<Finding> = []
  const found = new Map(facts.tables.map((t) => [t.name, t]))
  const missing = config.tables.filter((t) => !found.has(t))
  if (missing.length > 0 && missing.length === config.tables.length) {
    findings.push(
      error(
        "table-missing",
        `none of the ${config.tables.length} tables (${config.tables.map((t) => shown("public", t)).join(", ")}) exists in ${facts.database}: the source is not totesys or the schema is incomplete`,
        "point the source URL at the totesys database (its path names the database)"
      )
    )
  } else {
    for (const name of missing) {
      findings.push(
        error(
          "table-missing",
          `table ${shown("public", name)} does not exist in ${facts.database}: the source is not totesys or the schema is incomplete`,
          `point the source URL at the totesys database, or create ${shown("public", name)} as totesys/oltp_schema.sql defines it`
        )
      )
    }
  }
  for (const name of config.tables) {
    const table = found.get(name)
    if (table === undefined) continue
    findings.push(...checkReplicaIdentity(table))
    if (table.unlogged) {
      findings.push(
        error(
          "table-unlogged",
          `table ${shown("public", name)} is UNLOGGED: its changes are not written to WAL, so none of them can be captured`,
          `ALTER TABLE ${qualified("public", name)} SET LOGGED`
        )
      )
    }
  }
  const unreadable = config.tables.filter((name) => found.get(name)?.readable === false)
  if (unreadable.length > 0) {
    findings.push(
      error(
        "table-not-readable",
        `role ${facts.role.name} may not SELECT ${unreadable.map((t) => shown("public", t)).join(", ")}: the initial snapshot reads every captured table`,
        `as the tables' owner run: GRANT SELECT ON ${unreadable.map((t) => qualified("public", t)).join(", ")} TO ${quoteIdent(facts.role.name)}`
      )
    )
  }
  return findings
}

const checkReplicaIdentity = (table: TableFacts): Array<Finding> => {
  const name = shown("public", table.name)
  const sqlName = qualified("public", table.name)
  const consequence = "its updates and deletes would carry no key, and once it is published PostgreSQL rejects UPDATE and DELETE on it"
  const addKey = isTotesysTable(table.name)
    ? `ALTER TABLE ${sqlName} ADD PRIMARY KEY (${quoteIdent(PRIMARY_KEY[table.name])})`
    : `add a primary key to ${name}, or ALTER TABLE ${sqlName} REPLICA IDENTITY FULL`
  const keyless = table.replicaIdentity === "nothing" || (table.replicaIdentity === "index" && table.identityIndex === null)
  if (keyless) {
    const what = table.replicaIdentity === "nothing" ? "REPLICA IDENTITY NOTHING" : "REPLICA IDENTITY USING INDEX, but that index no longer exists"
    return [
      error(
        "replica-identity",
        `table ${name} has ${what}: ${consequence}`,
        table.primaryKeyIndex !== null ? `ALTER TABLE ${sqlName} REPLICA IDENTITY DEFAULT` : addKey
      )
    ]
  }
  switch (table.replicaIdentity) {
    case "default":
      return table.primaryKeyIndex !== null
        ? []
        : [error("replica-identity", `table ${name} has REPLICA IDENTITY DEFAULT but no primary key: ${consequence}`, addKey)]
    case "full":
      return [
        info(
          "replica-identity-full",
          `table ${name} has REPLICA IDENTITY FULL: updates and deletes carry the whole old row (more WAL than the key alone)`,
          `nothing to do; to log only the primary key: ALTER TABLE ${sqlName} REPLICA IDENTITY DEFAULT`
        )
      ]
    default:
      return table.identityIndex === table.primaryKeyIndex
        ? []
        : [
            warning(
              "replica-identity-index",
              `table ${name} has REPLICA IDENTITY USING INDEX ${table.identityIndex}: deletes carry that index's columns, not the primary key the pipeline keys rows by`,
              table.primaryKeyIndex !== null ? `ALTER TABLE ${sqlName} REPLICA IDENTITY DEFAULT` : addKey
            )
          ]
  }
}

const checkPublication = (facts: PreflightFacts, config: PreflightConfig): Array<Finding> => {
  const pub = facts.publication
  const name = config.publication
  if (pub === null) {
    const existing = config.tables.filter((t) => facts.tables.some((found) => found.name === t))
    const ownsTables = existing.every((t) => facts.tables.find((found) => found.name === t)?.ownedByRole === true)
    const canCreate = !facts.inRecovery && (facts.role.superuser || (facts.role.createOnDatabase && ownsTables))
    if (canCreate) {
      return [
        info(
          "publication-will-be-created",
          `publication ${name} does not exist in ${facts.database}: the reader will create it for the ${config.tables.length} tables`,
          `nothing to do; to create it yourself: ${createPublicationSql(config)}`
        )
      ]
    }
    const why = facts.inRecovery
      ? "the source is a standby"
      : `role ${facts.role.name} cannot create it (that needs CREATE on the database and ownership of the tables, or superuser)`
    return [
      error(
        "publication-missing",
        `publication ${name} does not exist in ${facts.database} and ${why}`,
        `${facts.inRecovery ? "on the primary" : "as the tables' owner or a superuser"} run: ${createPublicationSql(config)}`
      )
    ]
  }
  const findings: Array<Finding> = []
  const wanted = new Set(config.tables.map((t) => shown("public", t)))
  const published = pub.tables.map((t) => shown(t.schema, t.name))
  const missing = [...wanted].filter((t) => !published.includes(t))
  const extra = published.filter((t) => !wanted.has(t))
  const excluded = new Set<string>(EXCLUDED_TABLES.map((t) => shown("public", t)))
  const never = extra.filter((t) => excluded.has(t))
  const others = extra.filter((t) => !excluded.has(t))
  const recreate = `DROP PUBLICATION ${quoteIdent(name)}; ${createPublicationSql(config)}`
  const exactly = `it must publish exactly the ${config.tables.length} tables`
  if (pub.allTables) {
    const including = never.length > 0 ? `, including ${never.join(", ")}, which is never captured` : ""
    findings.push(
      error(
        "publication-tables",
        `publication ${name} is FOR ALL TABLES: it publishes every table, present and future${including}; ${exactly}`,
        recreate
      )
    )
  } else if (missing.length > 0 || extra.length > 0) {
    const parts = [
      ...(missing.length > 0 ? [`does not publish ${missing.join(", ")}`] : []),
      ...(never.length > 0 ? [`publishes ${never.join(", ")}, which is never captured`] : []),
      ...(others.length > 0 ? [`publishes ${others.join(", ")}, which ${others.length === 1 ? "is" : "are"} not captured`] : [])
    ]
    findings.push(
      error("publication-tables", `publication ${name} ${parts.join(" and ")}: ${exactly}`, setPublicationTablesSql(config))
    )
  }
  const notPublished = OPERATIONS.filter((op) => !pub[op])
  if (notPublished.length > 0) {
    findings.push(
      error(
        "publication-operations",
        `publication ${name} does not publish ${notPublished.join(", ")}: those changes would never reach the warehouse`,
        `ALTER PUBLICATION ${quoteIdent(name)} SET (publish = 'insert, update, delete, truncate')`
      )
    )
  }
  const filtered = pub.tables.filter((t) => wanted.has(shown(t.schema, t.name)) && (t.rowFilter !== null || t.columnList))
  if (filtered.length > 0) {
    const described = filtered.map((t) =>
      [
        shown(t.schema, t.name),
        ...(t.rowFilter !== null ? [`row filter WHERE ${t.rowFilter}`] : []),
        ...(t.columnList ? ["a column list"] : [])
      ].join(" with ")
    )
    findings.push(
      error(
        "publication-filtered",
        `publication ${name} publishes ${described.join("; ")}: rows or columns would be missing from the warehouse`,
        pub.allTables ? recreate : setPublicationTablesSql(config)
      )
    )
  }
  return findings
}

const checkSlot = (facts: PreflightFacts, config: PreflightConfig): Array<Finding> => {
  const slot = facts.slot
  const name = config.slot
  if (slot === null) {
    return [
      info(
        "slot-will-be-created",
        `replication slot ${name} does not exist: the reader will create it and take an initial snapshot of the ${config.tables.length} tables`,
        "nothing to do"
      )
    ]
  }
  const other = `use another slot name, or drop ${name} if nothing uses it: ${dropSlotSql(name)}`
  if (slot.slotType !== "logical") {
    return [error("slot-plugin", `replication slot ${name} is a physical slot, not a logical pgoutput slot`, other)]
  }
  const findings: Array<Finding> = []
  if (slot.plugin !== "pgoutput") {
    findings.push(error("slot-plugin", `replication slot ${name} uses the plugin ${slot.plugin}, not pgoutput`, other))
  }
  if (slot.database !== facts.database) {
    findings.push(
      error("slot-database", `replication slot ${name} belongs to database ${slot.database}, not ${facts.database}`, other)
    )
  }
  if (findings.length > 0) return findings
  if (slot.walStatus === "lost" || slot.invalidationReason !== null) {
    const reason = slot.invalidationReason !== null ? ` (${slot.invalidationReason})` : " (wal_status = lost)"
    return [
      error(
        "slot-lost",
        `replication slot ${name} is invalidated${reason}: PostgreSQL removed WAL or catalog rows it needed, so changes since the reader last ran are gone`,
        `re-snapshot: run "READER_SLOT=${name} totes-cdc reader slot drop" (drops the slot and forgets its snapshot), then start the reader (it creates the slot and copies the tables again)`
      )
    ]
  }
  if (slot.activePid !== null) {
    findings.push(
      // Not blocking: the holder may be the walsender of a reader that just died, which
      // PostgreSQL releases shortly; the reader waits for it (SlotPlan "Busy"), bounded.
      warning(
        "slot-in-use",
        `replication slot ${name} is in use by process ${slot.activePid}: only one reader may stream from a slot; the reader waits for it to be released`,
        `if another reader holds it, stop that reader, or end its connection: SELECT pg_terminate_backend(${slot.activePid})`
      )
    )
  }
  if (slot.walStatus === "unreserved") {
    findings.push(
      warning(
        "slot-wal-at-risk",
        `replication slot ${name} holds more WAL than max_slot_wal_keep_size (wal_status = unreserved): the next checkpoint can invalidate it`,
        "start the reader now so it catches up; if the slot is lost, the reader must re-snapshot"
      )
    )
  }
  const state = [
    ...(slot.confirmedFlushLsn !== null ? [`confirmed up to ${slot.confirmedFlushLsn}`] : []),
    ...(slot.retainedBytes !== null ? [`${formatBytes(slot.retainedBytes)} of WAL retained`] : [])
  ]
  findings.push(
    info(
      "slot-exists",
      `replication slot ${name} exists${state.length > 0 ? ` (${state.join(", ")})` : ""}`,
      `nothing to do; to start over with a new snapshot: READER_SLOT=${name} totes-cdc reader slot drop`
    )
  )
  return findings
}

const checkWalRetention = (facts: PreflightFacts): Array<Finding> => {
  const findings: Array<Finding> = []
  const keep = facts.maxSlotWalKeepSizeMb
  const where = facts.rds ? " in the DB parameter group" : ""
  if (keep === -1) {
    findings.push(
      warning(
        "slot-wal-unlimited",
        "max_slot_wal_keep_size = -1 (unlimited): while the reader is stopped or stalled its slot retains WAL without bound and can fill the disk",
        `set max_slot_wal_keep_size${where} (e.g. to a few days of WAL: '50GB') and alert on slot lag (totes-cdc status)`
      )
    )
  } else if (keep !== null && keep < 1024) {
    findings.push(
      warning(
        "slot-wal-limit-low",
        `max_slot_wal_keep_size = ${formatMegabytes(keep)}: a reader that falls that far behind loses its slot and must re-snapshot, which a short stop can cause`,
        `raise max_slot_wal_keep_size${where} (e.g. '50GB') and alert on slot lag (totes-cdc status)`
      )
    )
  } else if (keep !== null) {
    findings.push(
      info(
        "slot-wal-limit",
        `max_slot_wal_keep_size = ${formatMegabytes(keep)}: the slot may retain up to ${formatMegabytes(keep)} of WAL, beyond that PostgreSQL invalidates it and the reader must re-snapshot`,
        `alert on slot lag (totes-cdc status) well below ${formatMegabytes(keep)}`
      )
    )
  }
  if (facts.idleSlotTimeoutSeconds !== null && facts.idleSlotTimeoutSeconds > 0) {
    const timeout = formatSeconds(facts.idleSlotTimeoutSeconds)
    findings.push(
      warning(
        "slot-idle-timeout",
        `idle_replication_slot_timeout = ${timeout}: a reader stopped for longer than ${timeout} loses its slot and must re-snapshot`,
        `keep the reader running, or set idle_replication_slot_timeout = 0${where}`
      )
    )
  }
  return findings
}

const LEVEL_ORDER: Readonly<Record<FindingLevel, number>> = { error: 0, warning: 1, info: 2 }

/** Every finding about the source: errors first, then warnings, then infos. */
export const evaluatePreflight = (facts: PreflightFacts, config: PreflightConfig): ReadonlyArray<Finding> =>
  [
    ...checkEndpoint(config),
    ...checkServer(facts),
    ...checkCapacity(facts, config),
    ...checkRole(facts),
    ...checkTables(facts, config),
    ...checkPublication(facts, config),
    ...checkSlot(facts, config),
    ...checkWalRetention(facts)
  ].sort((a, b) => LEVEL_ORDER[a.level] - LEVEL_ORDER[b.level])

/** The findings that stop the reader (level "error"). */
export const blockingFindings = (findings: ReadonlyArray<Finding>): ReadonlyArray<Finding> =>
  findings.filter((f) => f.level === "error")

/** One line per finding: "<level> <code>: <message> — fix: <action>". */
export const formatFinding = (f: Finding): string =>
  `${f.level} ${f.code}: ${f.message} — fix: ${f.action}`.replace(/\s*[\r\n]+\s*/g, " ")
