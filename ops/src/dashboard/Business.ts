/**
 * The analysts' questions for the dashboard, asked of the warehouse through the
 * `<fact>_latest` views (loader migration 4): the queries of totesys/business_queries.sql
 * (Q1 revenue by delivery country, Q2 top staff, Q5 best-selling designs, Q6 the monthly
 * trend) without their "latest version" CTE, plus payments by type (no query of the
 * file covers payments).
 *
 * Invariants: read-only; one statement per question, in one REPEATABLE READ transaction so
 * the five answers are of one moment; revenue is units × unit price in mixed currencies,
 * as the teams' queries compute it.
 */
import { quoteIdent } from "@totes-cdc/core"
import type { PgError, PgPool } from "@totes-cdc/platform"
import { Clock, Effect } from "effect"
import type { BusinessResponse } from "./DashboardModel.ts"

/** The five statements for star schema `schema` (quoted here). */
export const businessQueries = (schema: string) => {
  const s = quoteIdent(schema)
  return {
    revenueByCountry: `SELECT l.country, SUM(f.units_sold * f.unit_price)::float8 AS revenue
        FROM ${s}.fact_sales_order_latest f JOIN ${s}.dim_location l ON f.agreed_delivery_location_id = l.location_id
       GROUP BY l.country ORDER BY revenue DESC, l.country`,
    topStaff: `SELECT CONCAT(st.first_name, ' ', st.last_name) AS name, SUM(f.units_sold * f.unit_price)::float8 AS revenue
        FROM ${s}.fact_sales_order_latest f JOIN ${s}.dim_staff st ON f.sales_staff_id = st.staff_id
       GROUP BY st.staff_id, st.first_name, st.last_name ORDER BY revenue DESC, name LIMIT 10`,
    topDesigns: `SELECT d.design_name AS design, SUM(f.units_sold)::float8 AS units
        FROM ${s}.fact_sales_order_latest f JOIN ${s}.dim_design d ON f.design_id = d.design_id
       GROUP BY d.design_name ORDER BY units DESC, design LIMIT 10`,
    paymentsByType: `SELECT t.payment_type_name AS type, COUNT(*)::float8 AS payments, SUM(p.payment_amount)::float8 AS amount,
             COUNT(*) FILTER (WHERE p.paid)::float8 AS paid
        FROM ${s}.fact_payment_latest p JOIN ${s}.dim_payment_type t ON p.payment_type_id = t.payment_type_id
       GROUP BY t.payment_type_name ORDER BY payments DESC, type`,
    salesOverTime: `SELECT to_char(dd.date_id, 'YYYY-MM') AS month, SUM(f.units_sold)::float8 AS units, SUM(f.units_sold * f.unit_price)::float8 AS revenue
        FROM ${s}.fact_sales_order_latest f JOIN ${s}.dim_date dd ON dd.date_id = f.created_date
       GROUP BY 1 ORDER BY 1`
  } as const
}

const num = (value: string | null | undefined): number => Number(value ?? 0)

/** The answers now. Fails with `PgError`. */
export const businessAnswers = (warehouse: PgPool, schema: string): Effect.Effect<BusinessResponse, PgError> =>
  warehouse.transaction((tx) =>
    Effect.gen(function* () {
      yield* tx.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
      const q = businessQueries(schema)
      const [byCountry, staff, designs, payments, months] = yield* Effect.forEach(
        [q.revenueByCountry, q.topStaff, q.topDesigns, q.paymentsByType, q.salesOverTime],
        (sql) => tx.query(sql)
      )
      return {
        at: yield* Clock.currentTimeMillis,
        revenueByCountry: byCountry!.map((r) => ({ country: r.country ?? "", revenue: num(r.revenue) })),
        topStaff: staff!.map((r) => ({ name: r.name ?? "", revenue: num(r.revenue) })),
        topDesigns: designs!.map((r) => ({ design: r.design ?? "", units: num(r.units) })),
        paymentsByType: payments!.map((r) => ({ type: r.type ?? "", payments: num(r.payments), amount: num(r.amount), paid: num(r.paid) })),
        salesOverTime: months!.map((r) => ({ month: r.month ?? "", revenue: num(r.revenue), units: num(r.units) }))
      }
    })
  )
