/**
 * Replication slot and publication management on the source (I/O): read a slot's
 * status, drop it, make sure the publication exists and covers the captured tables.
 *
 * Invariants: the publication is created only when absent, covering exactly the given
 * tables (never `_prisma_migrations`) and publishing insert, update, delete, truncate;
 * an existing publication is never altered silently (preflight reports a mismatch).
 */
import { quoteIdent } from "@totes-cdc/core"
import type { PgError, PgSession } from "@totes-cdc/platform"
import { Effect } from "effect"
import type { SlotInfo } from "./SlotPlan.ts"

/** pg_replication_slots facts about `slot`, plus WAL it retains (bytes) and how far its confirmation is behind (bytes). */
export interface SlotStatus extends SlotInfo {
  readonly restartLsn?: string | null
  readonly retainedWalBytes?: number | null
  readonly confirmedLagBytes?: number | null
}

/** The slot as PostgreSQL reports it now. Fails with `PgError`. */
export const slotStatus = (db: PgSession, slot: string): Effect.Effect<SlotStatus, PgError> =>
  db
    .query(
      `SELECT plugin, database, active, active_pid, wal_status, confirmed_flush_lsn, restart_lsn,
              pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS retained,
              GREATEST(0, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn))::bigint AS lag
         FROM pg_replication_slots WHERE slot_name = $1`,
      [slot]
    )
    .pipe(
      Effect.map(([row]) =>
        row === undefined
          ? { exists: false }
          : {
              exists: true,
              ...(row.plugin === null || row.plugin === undefined ? {} : { plugin: row.plugin }),
              ...(row.database === null || row.database === undefined ? {} : { database: row.database }),
              active: row.active === "t",
              activePid: row.active_pid ?? null,
              walStatus: row.wal_status ?? null,
              confirmedFlushLsn: row.confirmed_flush_lsn ?? null,
              restartLsn: row.restart_lsn ?? null,
              retainedWalBytes: row.retained === null || row.retained === undefined ? null : Number(row.retained),
              confirmedLagBytes: row.lag === null || row.lag === undefined ? null : Number(row.lag)
            }
      )
    )

/** Drops `slot` if it exists (and is not in use). Returns whether it existed. Fails with `PgError`. */
export const dropSlot = (db: PgSession, slot: string): Effect.Effect<boolean, PgError> =>
  db
    .query("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", [slot])
    .pipe(Effect.map((rows) => rows.length > 0))

/** Creates publication `name` for `tables` unless it exists. Returns whether it created it. Fails with `PgError`. */
export const ensurePublication = (db: PgSession, name: string, tables: ReadonlyArray<string>): Effect.Effect<boolean, PgError> =>
  Effect.gen(function* () {
    const existing = yield* db.query("SELECT 1 FROM pg_publication WHERE pubname = $1", [name])
    if (existing.length > 0) return false
    yield* db.query(
      `CREATE PUBLICATION ${quoteIdent(name)} FOR TABLE ${tables.map((t) => `public.${quoteIdent(t)}`).join(", ")}
         WITH (publish = 'insert, update, delete, truncate')`
    )
    return true
  })

/** The logical-message prefix of the reader's heartbeats. */
export const HEARTBEAT_PREFIX = "totes-cdc-heartbeat"

/**
 * Writes one heartbeat into the source's WAL (a transactional logical message), so an
 * idle database still produces a commit the reader confirms, and the slot advances.
 */
export const emitHeartbeat = (db: PgSession): Effect.Effect<void, PgError> =>
  db.query("SELECT pg_logical_emit_message(true, $1, now()::text)", [HEARTBEAT_PREFIX]).pipe(Effect.asVoid)
