/**
 * Migration 2: the pipeline's own bookkeeping schema `totes_cdc` (DESIGN.md §5), kept
 * apart from the analysts' star schema. One row set per target schema, so several
 * warehouses (e.g. `project_team_<n>` schemas) can share one database.
 *
 *  - applied_objects: every processed-bucket object loaded (a re-delivery is a no-op)
 *  - freshness: per warehouse table, last source commit applied and last load time
 *  - row_versions: per warehouse row identity (dimension key, or a fact's natural id),
 *    the (commit LSN, index) of the newest change applied, so only newer changes are
 *    applied to a dimension (SCD type 1) and verify can tell a row changed after its
 *    source snapshot from drift; `deleted` = the source row was deleted (the row is kept
 *    while facts reference it); `inferred` = a placeholder dimension row inserted for a
 *    fact whose dimension row had not arrived yet (late-arriving dimension), at
 *    position 0/0, replaced by the first real change
 *  - fact_versions: per fact row (its surrogate key), the (commit LSN, index) of the
 *    change that last wrote it, so a later change of the same version — totesys updating
 *    a row without moving `last_updated` — replaces its values only when newer, whatever
 *    order micro-batches arrive in (migration 3, `FACT_VERSIONS_SQL`)
 *  - truncations: every source truncate the loader saw, the mode it was handled with
 *    (`apply`, `ignore`, `quarantine`) and whether a quarantine is still in force
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
