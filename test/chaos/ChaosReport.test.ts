import { describe, expect, it } from "@effect/vitest"
import { type ChaosRun, failures, lostOrDoubled, markdown, type RoundResult, summarizeRun } from "./ChaosReport.ts"

const counts = { sales: 7_000, purchases: 3_000, payments: 10_000, transactions: 10_000, deletes: 4 }

const round = (index: number, kind: RoundResult["kind"], overrides: Partial<RoundResult> = {}): RoundResult => ({
  index,
  kind,
  stack: "components",
  detail: `${kind} struck`,
  bigTransaction: false,
  faultMs: 1_000,
  recoveryMs: 1_000 * index,
  disruptionMs: 1_000 * index + 1_000,
  worstFreshnessMs: 500 * index,
  peakRetainedWalBytes: 1_048_576 * index,
  deadLetters: { expected: 0, found: {} },
  verify: { exitCode: 0, missing: 0, extra: 0, different: 0, duplicates: 0, foreignKeyViolations: 0, rowsCompared: 40_000, seconds: 9 },
  counts: { expected: counts, warehouse: counts },
  checks: [{ name: "no component exited by itself", ok: true, detail: "every component rode out the fault" }],
  loadFailures: 0,
  ...overrides
})

const run = (rounds: ReadonlyArray<RoundResult>): ChaosRun => ({
  date: "2026-12-05T18:00:00.000Z",
  command: "npm run chaos",
  seed: 42,
  machine: { cpus: 2, cpuModel: "Test CPU", node: "v24.21.0", git: "abc1234" },
  eventsPerSecond: 25,
  outageSeconds: 60,
  durationSeconds: 1_500,
  rounds,
  unexpectedExits: []
})

describe("the chaos report", () => {
  it("a round passes only with no drift, equal counts, exactly the poison dead letters and every check held", () => {
    expect(failures(round(1, "component-kill"))).toEqual([])
    expect(failures(round(1, "poison-records", { deadLetters: { expected: 2, found: { processor: 2 } } }))).toEqual([])
    expect(failures(round(1, "poison-records", { deadLetters: { expected: 2, found: { processor: 2, archiver: 1 } } }))).toEqual(["3 dead letters, 2 expected"])
    expect(failures(round(1, "source-restart", { verify: { ...round(1, "source-restart").verify, exitCode: 1, missing: 2, error: "fact_payment drift" } }))).toEqual([
      "verify exit 1: fact_payment drift",
      "2 rows lost or doubled"
    ])
    expect(failures(round(1, "slot-drop", { checks: [{ name: "the reader stops loudly", ok: false, detail: "kept running" }] }))).toEqual(["the reader stops loudly: kept running"])
    expect(failures(round(1, "dev-kill", { verify: { ...round(1, "dev-kill").verify, inFlight: 30_000 } }))).toEqual(["verify left 30000 rows in flight (not compared)"])
  })

  it("counts what the ledger says committed against the warehouse, in both directions", () => {
    expect(lostOrDoubled(round(1, "dev-kill", { counts: { expected: counts, warehouse: { ...counts, sales: 6_999, deletes: 5 } } }))).toBe(2)
    expect(lostOrDoubled(round(1, "dev-kill", { verify: { ...round(1, "dev-kill").verify, extra: 1, duplicates: 3 } }))).toBe(4)
  })

  it("summarises recovery nearest-rank, the peaks, and rounds per kind", () => {
    const summary = summarizeRun(run([round(1, "component-kill"), round(2, "component-kill"), round(3, "slot-drop"), round(4, "poison-records", { deadLetters: { expected: 2, found: { processor: 2 } } })]))
    expect(summary).toMatchObject({ rounds: 4, passed: 4, lostOrDoubled: 0, peakRetainedWalBytes: 4 * 1_048_576, worstFreshnessMs: 2_000, deadLetters: { expected: 2, found: 2 } })
    expect(summary.recovery).toEqual({ p50: 2_000, p99: 4_000, max: 4_000 })
    expect(summary.perKind.map((k) => [k.kind, k.rounds, k.passed])).toEqual([["component-kill", 2, 2], ["poison-records", 1, 1], ["slot-drop", 1, 1]])
  })

  it("writes RELIABILITY.md with the summary, a row per round and the failures named", () => {
    const text = markdown(run([round(1, "component-kill"), round(2, "warehouse-outage", { verify: { ...round(2, "warehouse-outage").verify, exitCode: 1, error: "dim_staff drift" } })]))
    expect(text).toContain("| rounds passed | 1 of 2 |")
    expect(text).toContain("| 1 | component-kill | components | component-kill struck |")
    expect(text).toContain("**failed**: verify exit 1: dim_staff drift")
    expect(text).toContain("seed 42")
  })
})
