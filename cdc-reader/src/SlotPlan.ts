/**
 * Pure: what the reader does with its replication slot at start, from the slot as
 * PostgreSQL reports it and the reader's own durable state (DESIGN.md §6).
 *
 * Invariants:
 *  - A lost slot is never silently recreated: once a snapshot completed for a slot,
 *    a missing slot or `wal_status = lost` stops the reader with the re-snapshot fix.
 *  - A snapshot that did not complete is thrown away (slot dropped) and taken again,
 *    so a crash mid-snapshot leaves neither an orphaned slot nor a gap.
 *  - A slot with no state at all is never dropped: the reader records "in-progress"
 *    before it creates a slot, so such a slot belongs to another deployment or the state
 *    is looked for in the wrong place (e.g. a new ingestion bucket): dropping it would
 *    throw away the changes it retains. The reader stops and names both fixes.
 *  - A slot in use by another connection is never touched: the reader waits for it
 *    (a killed reader's walsender lingers until PostgreSQL notices) and gives up after
 *    a bound, naming the holder.
 */

/** The slot as pg_replication_slots shows it (absent: no such slot). */
export interface SlotInfo {
  readonly exists: boolean
  readonly plugin?: string
  readonly database?: string
  readonly active?: boolean
  readonly activePid?: string | null
  readonly walStatus?: string | null
  readonly confirmedFlushLsn?: string | null
}

/** The reader's durable state for one slot (kept outside the source, e.g. in S3). */
export interface ReaderState {
  readonly version: 1
  readonly slot: string
  readonly snapshot:
    | { readonly status: "in-progress"; readonly startedAt: string }
    | { readonly status: "complete"; readonly startedAt: string; readonly completedAt: string; readonly consistentPoint: string; readonly rows: number }
}

export type SlotPlan =
  | { readonly _tag: "CreateAndSnapshot" }
  | { readonly _tag: "DropAndSnapshot"; readonly reason: string }
  | { readonly _tag: "Resume" }
  /** Another connection holds the slot (e.g. the walsender of a reader that just died): wait, then retry. */
  | { readonly _tag: "Busy"; readonly message: string }
  | { readonly _tag: "Stop"; readonly message: string }

const RESNAPSHOT = (slot: string) =>
  `run "READER_SLOT=${slot} totes-cdc reader slot drop" to forget it, then start the reader again to take a new snapshot`

/**
 * Decides the start. `state` undefined = no reader state stored for this slot at
 * `stateUri` (where it was looked for, named in the messages).
 */
export const planSlot = (slot: string, info: SlotInfo, state: ReaderState | undefined, stateUri: string): SlotPlan => {
  if (info.exists && info.active === true) {
    return {
      _tag: "Busy",
      message: `replication slot ${slot} is in use by another connection (pid ${info.activePid ?? "?"}); stop the other reader, or give this one its own --slot`
    }
  }
  if (info.exists && info.plugin !== undefined && info.plugin !== "pgoutput") {
    return { _tag: "Stop", message: `replication slot ${slot} uses plugin ${info.plugin}, not pgoutput; choose another --slot name` }
  }
  if (state?.snapshot.status === "complete") {
    if (!info.exists) {
      return {
        _tag: "Stop",
        message: `replication slot ${slot} is gone although its snapshot completed at ${state.snapshot.completedAt}: changes since then may be lost; ${RESNAPSHOT(slot)}`
      }
    }
    if (info.walStatus === "lost") {
      return {
        _tag: "Stop",
        message: `replication slot ${slot} lost WAL it needed (wal_status = lost): changes were dropped by PostgreSQL; ${RESNAPSHOT(slot)}`
      }
    }
    return { _tag: "Resume" }
  }
  if (!info.exists) return { _tag: "CreateAndSnapshot" }
  if (state === undefined) {
    return {
      _tag: "Stop",
      message:
        `replication slot ${slot} exists but the reader has no state for it at ${stateUri}; ` +
        `to resume it, give the reader the ingestion bucket of the deployment that created it (INGESTION_BUCKET); ` +
        `to start over, ${RESNAPSHOT(slot)}`
    }
  }
  return { _tag: "DropAndSnapshot", reason: `the snapshot started at ${state.snapshot.startedAt} did not complete` }
}
