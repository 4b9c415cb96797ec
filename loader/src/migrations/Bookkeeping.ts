/**
 * Migration 2: the pipeline's own bookkeeping schema `totes_cdc` (DESIGN.md §5), apart from
 * the analysts' star schema; one row set per target schema, so several warehouses can share
 * one database. Details: loader/SPEC.md §5.
 *
 *  - applied_objects: every processed-bucket object loaded (a re-delivery is a no-op); from
 *    migration 5 (`APPLIED_OBJECT_LATENCY_SQL`) also the commit→warehouse latency p50/p99 of
 *    its rows (ms; bigint: a replay loads rows committed years ago; null when no row has a
 *    commit time), indexed by `applied_at` for the dashboard's recent-load queries
 *  - freshness: per warehouse table, last source commit applied and last load time
 *  - row_versions: per warehouse row identity, the (commit LSN, index) of the newest change
 *    applied; `deleted`, and `inferred` (a late-arriving dimension's placeholder at 0/0)
 *  - applied_batches: every micro-batch applied whole, by its manifest key (migration 6,
 *    `APPLIED_BATCHES_SQL`): a catch-up skips it without reading its manifest
 *  - fact_versions: per fact row, the (commit LSN, index) of the change that last wrote it
 *    (migration 3, `FACT_VERSIONS_SQL`)
 *  - truncations: every source truncate seen, its mode and whether a quarantine is in force
 *  - checkpoints: per consumer and shard, the last sequence number fully processed
 */
export const BOOKKEEPING_SQL = `
CREATE TABLE IF NOT EXISTS totes_cdc.applied_objects (
    target_schema   text        NOT NULL,
    object_key      text        NOT NULL,
    warehouse_table text        NOT NULL,
    row_count       int         NOT NULL,
    applied_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target_schema, object_key)
);
CREATE TABLE IF NOT EXISTS totes_cdc.freshness (
    target_schema   text        NOT NULL,
    warehouse_table text        NOT NULL,
    last_commit_lsn pg_lsn,
    last_commit_ts  timestamptz,
    last_loaded_at  timestamptz,
    PRIMARY KEY (target_schema, warehouse_table)
);
CREATE TABLE IF NOT EXISTS totes_cdc.row_versions (
    target_schema   text    NOT NULL,
    warehouse_table text    NOT NULL,
    natural_id      text    NOT NULL,
    commit_lsn      pg_lsn  NOT NULL,
    commit_idx      int     NOT NULL,
    deleted         boolean NOT NULL DEFAULT false,
    inferred        boolean NOT NULL DEFAULT false,
    PRIMARY KEY (target_schema, warehouse_table, natural_id)
);
CREATE TABLE IF NOT EXISTS totes_cdc.truncations (
    target_schema   text        NOT NULL,
    warehouse_table text        NOT NULL,
    commit_lsn      pg_lsn      NOT NULL,
    commit_idx      int         NOT NULL,
    mode            text        NOT NULL CHECK (mode IN ('apply', 'ignore', 'quarantine')),
    in_force        boolean     NOT NULL,
    object_key      text        NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target_schema, warehouse_table, commit_lsn, commit_idx)
);
CREATE TABLE IF NOT EXISTS totes_cdc.checkpoints (
    consumer        text        NOT NULL,
    shard_id        text        NOT NULL,
    sequence_number text        NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, shard_id)
);
`

/** Migration 3: `totes_cdc.fact_versions` (see the header); WarehouseMigrations.ts fills it for fact rows loaded before it existed. */
export const FACT_VERSIONS_SQL = `
CREATE TABLE IF NOT EXISTS totes_cdc.fact_versions (
    target_schema   text   NOT NULL,
    warehouse_table text   NOT NULL,
    record_id       bigint NOT NULL,
    commit_lsn      pg_lsn NOT NULL,
    commit_idx      int    NOT NULL,
    PRIMARY KEY (target_schema, warehouse_table, record_id)
);
`

/** Migration 5: per applied object, the commit→warehouse latency of its rows (p50, p99 ms), and an index for "objects applied in the last minute". */
export const APPLIED_OBJECT_LATENCY_SQL = `
ALTER TABLE totes_cdc.applied_objects ADD COLUMN IF NOT EXISTS commit_lag_p50_ms bigint;
ALTER TABLE totes_cdc.applied_objects ADD COLUMN IF NOT EXISTS commit_lag_p99_ms bigint;
CREATE INDEX IF NOT EXISTS applied_objects_applied_at ON totes_cdc.applied_objects (target_schema, applied_at);
`

/** Migration 6: `totes_cdc.applied_batches` (see the header), one row per micro-batch manifest applied whole. */
export const APPLIED_BATCHES_SQL = `
CREATE TABLE IF NOT EXISTS totes_cdc.applied_batches (
    target_schema   text        NOT NULL,
    manifest_key    text        NOT NULL,
    applied_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target_schema, manifest_key)
);
`
