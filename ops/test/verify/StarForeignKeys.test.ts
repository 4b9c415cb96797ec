import { describe, expect, it } from "vitest"
import { STAR_FOREIGN_KEYS } from "../../src/verify/StarForeignKeys.ts"

describe("STAR_FOREIGN_KEYS", () => {
  it("are the fact foreign keys of totesys/warehouse_schema.sql", () => {
    const fks = STAR_FOREIGN_KEYS.map((fk) => `${fk.table}.${fk.column} -> ${fk.references}.${fk.referencedColumn}`).sort()
    expect(fks).toEqual([
      "fact_payment.counterparty_id -> dim_counterparty.counterparty_id",
      "fact_payment.created_date -> dim_date.date_id",
      "fact_payment.currency_id -> dim_currency.currency_id",
      "fact_payment.last_updated_date -> dim_date.date_id",
      "fact_payment.payment_date -> dim_date.date_id",
      "fact_payment.payment_type_id -> dim_payment_type.payment_type_id",
      "fact_payment.transaction_id -> dim_transaction.transaction_id",
      "fact_purchase_order.agreed_delivery_date -> dim_date.date_id",
      "fact_purchase_order.agreed_delivery_location_id -> dim_location.location_id",
      "fact_purchase_order.agreed_payment_date -> dim_date.date_id",
      "fact_purchase_order.counterparty_id -> dim_counterparty.counterparty_id",
      "fact_purchase_order.created_date -> dim_date.date_id",
      "fact_purchase_order.currency_id -> dim_currency.currency_id",
      "fact_purchase_order.last_updated_date -> dim_date.date_id",
      "fact_purchase_order.staff_id -> dim_staff.staff_id",
      "fact_sales_order.agreed_delivery_date -> dim_date.date_id",
      "fact_sales_order.agreed_delivery_location_id -> dim_location.location_id",
      "fact_sales_order.agreed_payment_date -> dim_date.date_id",
      "fact_sales_order.counterparty_id -> dim_counterparty.counterparty_id",
      "fact_sales_order.created_date -> dim_date.date_id",
      "fact_sales_order.currency_id -> dim_currency.currency_id",
      "fact_sales_order.design_id -> dim_design.design_id",
      "fact_sales_order.last_updated_date -> dim_date.date_id",
      "fact_sales_order.sales_staff_id -> dim_staff.staff_id"
    ])
  })
})
