/**
 * Pure: which fault each round of `npm run chaos` injects, and when (issue 16 item 1).
 *
 * Invariants:
 *  - The plan is a function of (rounds, seed, kinds): the same flags give the same faults
 *    at the same moments, so a failing run can be repeated (`--seed`).
 *  - Every kind chosen appears ⌊rounds / kinds⌋ or ⌈rounds / kinds⌉ times: the kinds are
 *    dealt in shuffled passes, so no kind is left out of a run of ≥ `kinds.length` rounds.
 *  - The slot drop forces a new snapshot (the fix the reader prints); it is dealt last
 *    in each pass, so the other faults of a pass run on a streaming slot.
 *  - The dev kill runs on a `totes-cdc dev --data-dir` stack of its own (the components
 *    are one process there): those rounds come after the component-stack rounds.
 */
import { makeRandom } from "../bench/FreshnessTraffic.ts"

/** The faults, in the order. */
export const FAULT_KINDS = [
  "component-kill",
  "dev-kill",
  "emulator-restart",
  "warehouse-outage",
  "source-restart",
  "warehouse-refuses-writes",
  "poison-records",
  "slot-drop"
] as const
export type FaultKind = (typeof FAULT_KINDS)[number]

/** What each fault does, for the report. */
export const FAULT_DESCRIPTIONS: Readonly<Record<FaultKind, string>> = {
  "component-kill": "SIGKILL of a random component (reader, archiver, processor, loader), restarted after a random 0–3 s",
  "dev-kill": "SIGKILL of the whole `totes-cdc dev --data-dir` process, restarted on the same data directory",
  "emulator-restart": "kinesalite killed and s3rver stopped, both restarted after 0–3 s on their endpoints with their data",
  "warehouse-outage": "the warehouse database refusing connections (existing ones terminated) for the outage length, then back",
  "source-restart": "the source PostgreSQL restarted (fast or immediate shutdown, alternately); the slot survives",
  "warehouse-refuses-writes": "a trigger failing every fact_sales_order write mid-micro-batch for 5–20 s, then dropped",
  "poison-records": "an invalid JSON record and a valid envelope with an impossible row put straight onto the stream",
  "slot-drop": "an operator terminating the reader's walsender and dropping its slot; the reader must stop with the re-snapshot fix"
}

export const COMPONENTS = ["reader", "archiver", "processor", "loader"] as const
export type Component = (typeof COMPONENTS)[number]

export interface Round {
  /** 1-based. */
  readonly index: number
  readonly kind: FaultKind
  /** Load before the fault (ms): the fault's random moment. */
  readonly faultAfterMs: number
  /** component-kill: the victim. */
  readonly component: Component
  /** Pause before a killed component or the emulators start again (ms, 0–3,000). */
  readonly restartAfterMs: number
  /** source-restart: the shutdown mode. */
  readonly shutdown: "fast" | "immediate"
  /** warehouse-refuses-writes: how long the trigger refuses (ms, 5,000–20,000). */
  readonly refuseMs: number
  /** Whether a 50,000-row transaction commits during the round. */
  readonly bigTransaction: boolean
}

const shuffle = <A>(items: ReadonlyArray<A>, random: () => number): Array<A> => {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

/**
 * The rounds of a run: `rounds` ≥ 1 faults of `kinds` (non-empty, no repeats), dealt in
 * shuffled passes (slot-drop last in a pass), dev-kill rounds moved after the others.
 * Faults strike 2–10 s into a round's load; every 5th round carries the 50,000-row transaction.
 */
export const planRounds = (rounds: number, seed: number, kinds: ReadonlyArray<FaultKind> = FAULT_KINDS): ReadonlyArray<Round> => {
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`rounds: give a whole number ≥ 1 (got ${rounds})`)
  if (kinds.length === 0 || new Set(kinds).size !== kinds.length) throw new Error(`kinds: give each fault kind once (got ${kinds.join(", ")})`)
  const random = makeRandom(seed)
  const dealt: Array<FaultKind> = []
  while (dealt.length < rounds) {
    const pass = shuffle(kinds.filter((k) => k !== "slot-drop"), random)
    if (kinds.includes("slot-drop")) pass.push("slot-drop")
    dealt.push(...pass.slice(0, rounds - dealt.length))
  }
  const ordered = [...dealt.filter((k) => k !== "dev-kill"), ...dealt.filter((k) => k === "dev-kill")]
  let shutdowns = 0
  return ordered.map((kind, i) => ({
    index: i + 1,
    kind,
    faultAfterMs: 2_000 + Math.floor(random() * 8_000),
    component: COMPONENTS[Math.floor(random() * COMPONENTS.length)]!,
    restartAfterMs: Math.floor(random() * 3_000),
    shutdown: kind === "source-restart" ? (shutdowns++ % 2 === 0 ? "fast" : "immediate") : "fast",
    refuseMs: 5_000 + Math.floor(random() * 15_000),
    bigTransaction: (i + 1) % 5 === 0
  }))
}

/** `a,b` → fault kinds; throws naming an unknown one. */
export const parseKinds = (text: string): ReadonlyArray<FaultKind> =>
  text.split(",").map((part) => {
    const kind = part.trim()
    if (!(FAULT_KINDS as ReadonlyArray<string>).includes(kind)) throw new Error(`unknown fault kind ${kind}: give some of ${FAULT_KINDS.join(", ")}`)
    return kind as FaultKind
  })
