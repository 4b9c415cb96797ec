/**
 * Pure: has the pipeline applied every change committed before a WAL position `target`?
 * The decisions `totes-cdc verify --wait-for-lsn` polls for, in pipeline order, and the one
 * line it prints when one does not pass in time. Details: ops/SPEC.md §2.
 *
 * Conditions (each monotone: once passed it stays passed):
 *  0. snapshot: the reader's snapshot is complete; the target moves up to its consistent
 *     point when that is later (`effectiveTarget`);
 *  a. reader: the slot's `confirmed_flush_lsn` ≥ target (durable in Kinesis, DESIGN.md §6);
 *  b. processor, per shard: the first change after its checkpoint has `commitLsn` > target
 *     (or there is none, or the shard ended);
 *  c. loader: every processed object that existed once (b) passed is applied or belongs to a
 *     quarantined table — in `dev` too: the processor checkpoints a micro-batch once its
 *     objects are offered to the in-process loader, not loaded, so (b) does not imply (c).
 */
import { compareLsn } from "@totes-cdc/core"

/** The replication slot as read (`slotStatus`). */
export interface SlotObservation {
  readonly slot: string
  readonly exists: boolean
  readonly confirmedFlushLsn: string | null
}

/** What follows the processor's checkpoint in one shard. */
export type ShardObservation =
  | { readonly shardId: string; readonly _tag: "Ended" }
  | { readonly shardId: string; readonly _tag: "CaughtUp" }
  | { readonly shardId: string; readonly _tag: "Next"; readonly commitLsn: string }
  | { readonly shardId: string; readonly _tag: "Undecodable"; readonly sequenceNumber: string }

/** The reader's recorded snapshot: absent (not started), in progress, or complete at its consistent point. */
export type SnapshotObservation = { readonly _tag: "Missing" } | { readonly _tag: "InProgress" } | { readonly _tag: "Complete"; readonly consistentPoint: string }

/** (0): the target the later conditions use — `target`, or the snapshot's consistent point if later; undefined until the snapshot is complete. */
export const effectiveTarget = (target: string, snapshot: SnapshotObservation): string | undefined =>
  snapshot._tag !== "Complete" ? undefined : compareLsn(snapshot.consistentPoint, target) > 0 ? snapshot.consistentPoint : target

/** (a): the reader has made every change before `target` durable. */
export const slotPassed = (target: string, slot: SlotObservation): boolean =>
  slot.exists && slot.confirmedFlushLsn !== null && compareLsn(slot.confirmedFlushLsn, target) >= 0

/** (b), one shard: the processor has handled every change of it at or before `target`. */
export const shardPassed = (target: string, shard: ShardObservation): boolean =>
  shard._tag === "Ended" || shard._tag === "CaughtUp" || (shard._tag === "Next" && compareLsn(shard.commitLsn, target) > 0)

/** An unmet condition, as observed at the last poll. */
export type Unmet =
  | { readonly _tag: "Snapshot"; readonly slot: string; readonly snapshot: SnapshotObservation }
  | { readonly _tag: "Slot"; readonly slot: SlotObservation }
  | { readonly _tag: "Shard"; readonly shard: ShardObservation }
  | { readonly _tag: "Objects"; readonly pending: ReadonlyArray<string> }

/** One line: which condition did not pass for `target` within `seconds`, and the likely fix. */
export const describeUnmet = (target: string, unmet: Unmet, seconds: number): string => {
  const after = `after ${seconds} s`
  switch (unmet._tag) {
    case "Snapshot":
      return unmet.snapshot._tag === "Missing"
        ? `the reader has recorded no snapshot for slot ${unmet.slot} ${after}: is the reader running (and READER_SLOT right)?`
        : `the reader's initial snapshot for slot ${unmet.slot} is still in progress ${after}: give verify a longer --timeout`
    case "Slot": {
      const { slot } = unmet
      if (!slot.exists) return `slot ${slot.slot} does not exist ${after}: is the reader running (and READER_SLOT right)?`
      return `slot ${slot.slot} confirmed ${slot.confirmedFlushLsn ?? "nothing"} < ${target} ${after}: is the reader running?`
    }
    case "Shard": {
      const { shard } = unmet
      const next =
        shard._tag === "Next"
          ? `its next change is at ${shard.commitLsn}`
          : shard._tag === "Undecodable"
            ? `its next record ${shard.sequenceNumber} is not a change record (the processor dead-letters it)`
            : "it holds nothing unprocessed"
      return `processor has not passed ${target} in ${shard.shardId} ${after} (${next}): is the processor running?`
    }
    case "Objects":
      return `${unmet.pending.length} processed object(s) not loaded into the warehouse ${after} (e.g. ${unmet.pending[0] ?? "?"}): is the loader running?`
  }
}
