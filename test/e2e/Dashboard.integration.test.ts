/**
 * The dashboard as a user sees it: `totes-cdc dev` on the real data set, its page in real
 * Chromium (Debian's package, driven by playwright-core), `/metrics` read by a Prometheus
 * text parser, and `status --check` in another process.
 *
 * The simulator is off, so every number on the page can be compared with the same
 * question asked of the warehouse; the test makes the writes itself (an order delivered
 * to a new country, a payment flipped to paid) and injects the alert conditions (a poison
 * record on the stream; the loader held behind its own advisory lock).
 *
 * DASHBOARD_SCREENSHOT=docs/dashboard.png keeps the screenshot (the README's); otherwise
 * it goes to the temporary directory. CHROMIUM_PATH overrides /usr/bin/chromium.
 */
import { describe, expect, it } from "@effect/vitest"
import { Kinesis, makePgPool } from "@totes-cdc/platform"
import { Effect } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import parsePrometheusTextFormat from "parse-prometheus-text-format"
import { type Browser, chromium, type Page } from "playwright-core"
import { eventually, startQuietDev } from "./CliProcess.ts"

const CHROMIUM = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium"
const BUSINESS_QUERIES = new URL("../../../shared/totesys/business_queries.sql", import.meta.url)

/** Q1 of totesys/business_queries.sql as the teams wrote it (its own "latest version" CTE over the raw fact table). */
const q1 = (): string => {
  const text = readFileSync(BUSINESS_QUERIES, "utf8")
  const start = text.indexOf("WITH latest_sales AS", text.indexOf("-- Q1."))
  return text.slice(start, text.indexOf(";", start))
}

const browser = Effect.acquireRelease(
  Effect.promise((): Promise<Browser> => {
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium package (apt-get install chromium) or set CHROMIUM_PATH`)
    return chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] })
  }),
  (b) => Effect.promise(() => b.close())
)

/** The numbers of a page table: first column → `data-value` of column `column` (1-based). */
const tableValues = (page: Page, testId: string, column: number) =>
  Effect.promise(() =>
    page.$$eval(
      `[data-testid="${testId}"] tbody tr`,
      (rows, col) => rows.map((row) => [row.children[0]?.textContent?.trim() ?? "", Number(row.children[col - 1]?.getAttribute("data-value"))] as const),
      column
    )
  ).pipe(Effect.map((rows) => new Map(rows)))

/** The ids of the alerts on the page. */
const pageAlerts = (page: Page) =>
  Effect.promise(() => page.$$eval('[data-testid="alerts"] [data-alert-id]', (items) => items.map((item) => item.getAttribute("data-alert-id") ?? "")))

describe("the dashboard", () => {
  it.live(
    "served by dev on the real data set: every chart drawn, numbers equal to SQL, writes shown within seconds, alerts on the page and in status --check, /metrics parsed",
    () =>
      Effect.gen(function* () {
        // Caught up: the snapshot is in the warehouse and the reader has reported, nothing to act on.
        const { dir, run, state, check } = yield* startQuietDev
        const url = state.dashboard?.url ?? ""
        expect(run.stdout()).toContain(`  dashboard         ${url}  (Prometheus: ${url}metrics)`)
        const source = yield* makePgPool(state.source.url, { max: 1 })
        const warehouse = yield* makePgPool(state.warehouse.url, { max: 2 })

        const chromiumBrowser = yield* browser
        const page = yield* Effect.promise(() => chromiumBrowser.newPage({ viewport: { width: 1440, height: 900 } }))
        const problems: Array<string> = []
        page.on("console", (message) => {
          if (message.type() === "error") problems.push(`console: ${message.text()}`)
        })
        page.on("pageerror", (error) => problems.push(`page error: ${error.message}`))
        page.on("request", (request) => {
          if (!request.url().startsWith(url)) problems.push(`request outside the dashboard: ${request.url()}`)
        })
        yield* Effect.promise(() => page.goto(url))
        yield* Effect.promise(() => page.waitForSelector("body[data-ready=true]", { timeout: 30_000 }))

        // Writes: an order delivered to a country nobody delivered to, and a payment flipped to paid.
        const [address] = yield* source.query(
          `INSERT INTO address (address_line_1, city, postal_code, country, phone, last_updated)
           VALUES ('1 Harbour Row', 'Port Test', 'PT1 1TT', 'Testlandia', '0100 000000', now()) RETURNING address_id`
        )
        yield* source.query(
          `INSERT INTO sales_order (last_updated, design_id, staff_id, counterparty_id, units_sold, unit_price, currency_id,
                                    agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id)
           SELECT now(), min(design_id), (SELECT min(staff_id) FROM staff), (SELECT min(counterparty_id) FROM counterparty), 1234, 2.50,
                  (SELECT min(currency_id) FROM currency), '2027-01-01', '2027-01-02', $1
             FROM design`,
          [address?.address_id]
        )
        const [unpaid] = yield* source.query(
          `SELECT p.payment_id, t.payment_type_name FROM payment p JOIN payment_type t USING (payment_type_id) WHERE NOT p.paid ORDER BY p.payment_id LIMIT 1`
        )
        const paidBefore = (yield* tableValues(page, "table-payments-by-type", 3)).get(unpaid?.payment_type_name ?? "")!
        yield* source.query("UPDATE payment SET paid = true, last_updated = now() WHERE payment_id = $1", [unpaid?.payment_id])

        // The page shows both within seconds.
        yield* eventually(tableValues(page, "table-revenue-by-country", 2).pipe(Effect.map((revenue) => revenue.get("Testlandia") === 1234 * 2.5)), "15 seconds")
        yield* eventually(
          tableValues(page, "table-payments-by-type", 3).pipe(Effect.map((paid) => paid.get(unpaid?.payment_type_name ?? "") === paidBefore + 1)),
          "15 seconds"
        )

        // Every chart draws data (the latency chart once a load with commit times is in its minute).
        yield* Effect.promise(() =>
          page.waitForFunction(
            () =>
              Object.values((globalThis as unknown as { __dashboard: { charts: Record<string, { data: { datasets: Array<{ data: Array<unknown> }> } }> } }).__dashboard.charts).every(
                (chart) => chart.data.datasets.some((dataset) => dataset.data.some((value) => typeof value === "number" && Number.isFinite(value)))
              ),
            undefined,
            { timeout: 60_000 }
          )
        )
        const chartIds = yield* Effect.promise(() => page.evaluate(() => Object.keys((globalThis as unknown as { __dashboard: { charts: object } }).__dashboard.charts).sort()))
        expect(chartIds).toEqual([
          "chart-freshness",
          "chart-latency",
          "chart-payments-by-type",
          "chart-revenue-by-country",
          "chart-sales-over-time",
          "chart-slot",
          "chart-throughput",
          "chart-top-designs",
          "chart-top-staff"
        ])

        // A number on the page equals the analysts' own query (Q1, raw fact table) on the warehouse.
        const sql = new Map((yield* warehouse.query(q1())).map((row) => [row.country ?? "", Number(row.revenue)] as const))
        const onPage = yield* tableValues(page, "table-revenue-by-country", 2)
        expect(onPage.size).toBe(sql.size)
        for (const [country, revenue] of sql) expect(onPage.get(country), country).toBeCloseTo(revenue, 2)
        expect(yield* pageAlerts(page)).toEqual([])
        const screenshot = process.env["DASHBOARD_SCREENSHOT"] ?? join(dir, "dashboard.png")
        yield* Effect.promise(() => page.screenshot({ path: screenshot, fullPage: true }))

        // /metrics: Prometheus text with HELP and TYPE lines, the catalogue's names.
        const metricsText = yield* Effect.promise(() => fetch(`${url}metrics`).then((response) => response.text()))
        const families = new Map(parsePrometheusTextFormat(metricsText).map((family) => [family.name, family] as const))
        expect(families.get("totes_cdc_reader_changes_written_total")).toMatchObject({ type: "COUNTER", help: "Change records durably written to Kinesis (dead letters not counted)" })
        expect(Number(families.get("totes_cdc_reader_changes_written_total")?.metrics[0]?.value)).toBeGreaterThan(30_000)
        expect(families.get("totes_cdc_reader_micro_batch_changes")?.type).toBe("HISTOGRAM")
        expect(families.get("totes_cdc_pipeline_table_freshness_seconds")?.metrics.map((m) => m.labels?.["table"])).toContain("fact_sales_order")
        expect(families.get("totes_cdc_pipeline_alert_active")?.metrics.find((m) => m.labels?.["alert"] === "pipeline-stalled")?.value).toBe("0")

        // A poison record on the stream: dead-lettered by the processor, an alert on the page and in status --check.
        yield* Kinesis.use((k) => k.putRecords(state.kinesis.streamName, [{ partitionKey: "poison", data: new TextEncoder().encode("this is not json {") }])).pipe(
          Effect.provide(Kinesis.layer(state.kinesis))
        )
        yield* eventually(pageAlerts(page).pipe(Effect.map((ids) => ids.includes("dead-letters"))), "30 seconds")
        const lettered = yield* check
        expect(lettered.code).toBe(1)
        expect(lettered.stdout).toMatch(/^ALERT dead-letters: dead letters waiting: processor 1 /m)

        // The loader held behind its own advisory lock (a transaction kept open meanwhile) while a change waits: "pipeline stalled" after 60 s.
        const holder = yield* makePgPool(state.warehouse.url, { max: 1 })
        yield* holder.transaction((tx) =>
          Effect.gen(function* () {
            yield* tx.query("SELECT pg_advisory_xact_lock(hashtext('totes-cdc:loader:public'))")
            yield* source.query("UPDATE payment SET paid = NOT paid, last_updated = now() WHERE payment_id = $1", [unpaid?.payment_id])
            yield* eventually(pageAlerts(page).pipe(Effect.map((ids) => ids.includes("pipeline-stalled"))), "100 seconds")
            const stalled = yield* check
            expect(stalled.code).toBe(1)
            expect(stalled.stdout).toMatch(/^ALERT pipeline-stalled: pipeline stalled: a change committed at .* is in Kinesis but not in the warehouse after \d+ s/m)
            const stalledMetric = yield* Effect.promise(() => fetch(`${url}metrics`).then((response) => response.text()))
            expect(stalledMetric).toContain('totes_cdc_pipeline_alert_active{alert="pipeline-stalled"} 1')
          })
        )

        // Released (the transaction ended), the loader catches up and the stall alert goes.
        yield* eventually(pageAlerts(page).pipe(Effect.map((ids) => !ids.includes("pipeline-stalled"))), "30 seconds")
        expect(problems).toEqual([])
        expect(run.child.exitCode).toBeNull()
      }),
    300_000
  )
})
