import { describe, expect, it, layer } from "@effect/vitest"
import { type ExpectedRows, reconcile, type WarehouseContents } from "@totes-cdc/ops"
import { migrateWarehouse } from "@totes-cdc/loader"
import { LocalStack, createTotesysSchema } from "@totes-cdc/local-stack"
import { CLI_BIN, freshDatabase } from "@totes-cdc/local-stack/testing"
import { Effect, Result } from "effect"
import { spawn } from "node:child_process"
import { formatVerifyReport, parseWaitFor, waitTarget } from "../src/VerifyCommand.ts"

const TABLES = [
  "dim_date", "dim_staff", "dim_location", "dim_currency", "dim_design", "dim_counterparty",
  "dim_payment_type", "dim_transaction", "fact_sales_order", "fact_purchase_order", "fact_payment"
] as const

const none = Object.fromEntries(TABLES.map((t) => [t, []]))
const zero = Object.fromEntries(TABLES.map((t) => [t, 0]))

describe("formatVerifyReport", () => {
  it("prints the window, one row per table, a line per sample of drift and the verdict", () => {
    const report = reconcile(
      { ...none, dim_currency: [{ currency_id: 1, currency_code: "GBP", currency_name: "Pound Sterling" }] } as unknown as ExpectedRows,
      {
        rows: { ...none, dim_currency: [{ currency_id: "1", currency_code: "GBP", currency_name: "Pound" }] },
        counts: { ...zero, dim_currency: 1, fact_payment: 2 },
        duplicates: [],
        foreignKeyViolations: [
          { table: "fact_payment", column: "currency_id", references: "dim_currency", referencedColumn: "currency_id", value: "2", rows: 2 }
        ],
        versions: []
      } as unknown as WarehouseContents,
      { from: "0/16B3740", to: "0/16B3748" }
    )
    expect(formatVerifyReport(report)).toEqual([
      "verify: source snapshot at 0/16B3748; rows changed from 0/16B3740 on count as in flight",
      "table                source  warehouse  missing  extra  different  dup  fk  in flight  kept(deleted)",
      "dim_date                  0          0        0      0          0    0   0          0              0",
      "dim_staff                 0          0        0      0          0    0   0          0              0",
      "dim_location              0          0        0      0          0    0   0          0              0",
      "dim_currency              1          1        0      0          1    0   0          0              0",
      "dim_design                0          0        0      0          0    0   0          0              0",
      "dim_counterparty          0          0        0      0          0    0   0          0              0",
      "dim_payment_type          0          0        0      0          0    0   0          0              0",
      "dim_transaction           0          0        0      0          0    0   0          0              0",
      "fact_sales_order          0          0        0      0          0    0   0          0              0",
      "fact_purchase_order       0          0        0      0          0    0   0          0              0",
      "fact_payment              0          2        0      0          0    0   2          0              0",
      '  dim_currency 1: currency_name expected "Pound Sterling", warehouse has "Pound"',
      "  fact_payment.currency_id = 2: no dim_currency row with currency_id = 2 (2 fact rows)",
      "verify: DRIFT in 2 tables"
    ])
  })

  it("ends with OK and the rows compared when nothing drifts", () => {
    const report = reconcile(none as unknown as ExpectedRows, { rows: none, counts: zero, duplicates: [], foreignKeyViolations: [], versions: [] } as unknown as WarehouseContents, {
      from: "0/10",
      to: "0/10"
    })
    expect(formatVerifyReport(report).at(-1)).toBe("verify: OK (11 tables, 0 rows compared)")
  })
})

describe("--wait-for-lsn", () => {
  it("takes an LSN (canonical form), current or none, and names the fix for anything else", () => {
    expect(parseWaitFor("current")).toEqual(Result.succeed({ _tag: "Current" }))
    expect(parseWaitFor("none")).toEqual(Result.succeed({ _tag: "None" }))
    expect(parseWaitFor("16/b374d848")).toEqual(Result.succeed({ _tag: "Lsn", lsn: "16/B374D848" }))
    expect(parseWaitFor("yesterday")).toEqual(
      Result.fail('--wait-for-lsn yesterday: give a WAL position such as 0/1A2B3C (e.g. from SELECT pg_current_wal_lsn()), "current" or "none"')
    )
  })
  it("never waits for less than the source snapshot's end", () => {
    expect(waitTarget({ _tag: "Current" }, "0/500")).toBe("0/500")
    expect(waitTarget({ _tag: "Lsn", lsn: "0/400" }, "0/500")).toBe("0/500")
    expect(waitTarget({ _tag: "Lsn", lsn: "1/0" }, "0/500")).toBe("1/0")
  })
})

/** `totes-cdc verify …args` with `env` added to this process's environment: exit code, stdout, stderr. */
const runVerify = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  Effect.promise(
    () =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [CLI_BIN, "verify", ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
        let stdout = ""
        let stderr = ""
        child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
        child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
        child.once("exit", (code) => resolve({ code, stdout, stderr }))
      })
  )

layer(LocalStack.layer(), { excludeTestServices: true })("totes-cdc verify (command)", (it) => {
  it.effect("exits 0 without drift, 1 with the report and one line on stderr on drift, 2 on bad input", () =>
    Effect.gen(function* () {
      const stack = yield* LocalStack
      const source = yield* freshDatabase("verify_cli_src")
      yield* createTotesysSchema(source)
      const warehouse = yield* freshDatabase("verify_cli_wh")
      yield* migrateWarehouse(warehouse)
      const env = { SOURCE_URL: stack.postgres.url("verify_cli_src"), WAREHOUSE_URL: stack.postgres.url("verify_cli_wh") }

      const quiet = yield* runVerify([], env)
      expect(quiet).toMatchObject({ code: 0, stderr: "" })
      expect(quiet.stdout.trim().split("\n").at(-1)).toBe("verify: OK (11 tables, 0 rows compared)")

      yield* source.query("INSERT INTO currency VALUES (1, 'GBP', '2022-11-03 14:20:49.962', '2022-11-03 14:20:49.962')")
      const drift = yield* runVerify([], env)
      expect(drift.code).toBe(1)
      expect(drift.stdout).toContain("  dim_currency 1: in the source, missing from the warehouse\nverify: DRIFT in 1 table\n")
      expect(drift.stderr).toBe("totes-cdc: verify found drift in dim_currency; the report above says where\n")

      const json = yield* runVerify(["--json"], env)
      expect(json.code).toBe(1)
      const parsed = JSON.parse(json.stdout) as { drift: boolean; driftTables: Array<string> }
      expect(parsed).toMatchObject({ drift: true, driftTables: ["dim_currency"] })

      const badLsn = yield* runVerify(["--wait-for-lsn", "soon"], env)
      expect(badLsn.code).toBe(2)
      expect(badLsn.stderr).toContain("--wait-for-lsn soon: give a WAL position")

      const noSlot = yield* runVerify(["--wait-for-lsn", "current", "--timeout", "1"], { ...env, READER_SLOT: "no_such_slot" })
      expect(noSlot.code).toBe(1)
      expect(noSlot.stderr).toBe("totes-cdc: slot no_such_slot does not exist after 1 s: is the reader running (and READER_SLOT right)?\n")
    })
  )
})
