/**
 * Pure: when each record of a recording is due in a replay (issue 15, `--speed N` /
 * `--max-speed`). A replay at speed N sends the record committed `d` ms after the
 * recording's first record `d / N` ms after the replay's start; at maximum speed every
 * record is due at once (the producer's back-pressure is then the only pace).
 *
 * Invariants:
 *  - Due times never go back: a record committed earlier than the one before it (commit
 *    timestamps of concurrent transactions are not strictly in LSN order) or with an
 *    unparseable `commitTs` is due with the record before it, never out of order.
 *  - Units: epoch ms in, ms after the replay's start out.
 */

/** How fast a recording is replayed. */
export type Pace = { readonly _tag: "Speed"; readonly factor: number } | { readonly _tag: "MaxSpeed" }

/** A pacer: `dueAfter(commitTs)` → ms after the replay's start at which that record is due. */
export interface Pacer {
  readonly dueAfter: (commitTs: string) => number
}

/** Pure (with its own memory of the last due time): the pacer of one replay at `pace`. */
export const makePacer = (pace: Pace): Pacer => {
  let first: number | undefined
  let last = 0
  return {
    dueAfter: (commitTs) => {
      if (pace._tag === "MaxSpeed") return 0
      const at = Date.parse(commitTs)
      if (Number.isNaN(at)) return last
      first ??= at
      last = Math.max(last, (at - first) / pace.factor)
      return last
    }
  }
}

/** The pace's text for reports: `1×`, `10×`, `maximum speed`. */
export const describePace = (pace: Pace): string => (pace._tag === "MaxSpeed" ? "maximum speed" : `${pace.factor}×`)
