import { describe, expect, it } from "vitest"
import { expectedWarehouse, type SourceRows } from "../../src/verify/Expected.ts"

const TS = "2022-11-03 14:20:49.962"
const none: SourceRows = {
  address: [], counterparty: [], currency: [], department: [], design: [], staff: [],
  payment_type: [], sales_order: [], purchase_order: [], transaction: [], payment: []
}

describe("expectedWarehouse", () => {
  it("joins, maps and dates the snapshot rows as one batch, whatever the order of the tables given", () => {
    const source: SourceRows = {
      ...none,
      // The counterparty is listed before its address: the batch joins them anyway.
      counterparty: [{
        counterparty_id: "1", counterparty_legal_name: "Fahey and Sons", legal_address_id: "1", commercial_contact: "Micheal Toy",
        delivery_contact: "Mrs. Lucy Runolfsdottir", created_at: TS, last_updated: TS
      }],
      address: [{
        address_id: "1", address_line_1: "6826 Herzog Via", address_line_2: null, district: "Avon", city: "New Patienceburgh",
        postal_code: "28441", country: "Turkey", phone: "1803 637401", created_at: TS, last_updated: TS
      }],
      currency: [
        { currency_id: "1", currency_code: "GBP", created_at: TS, last_updated: TS },
        { currency_id: "2", currency_code: null, created_at: TS, last_updated: TS }
      ],
      sales_order: [{
        sales_order_id: "2", created_at: "2022-11-03 14:20:52.186", last_updated: "2022-11-03 14:20:52.186", design_id: "3",
        staff_id: "19", counterparty_id: "8", units_sold: "42972", unit_price: "3.94", currency_id: "2",
        agreed_delivery_date: "2022-11-07", agreed_payment_date: "2022-11-08", agreed_delivery_location_id: "8"
      }]
    }
    const { rows, rejected } = expectedWarehouse(source, "0/1A2B", "2026-01-01T00:00:00.000Z")
    expect(rows.dim_location).toEqual([{
      location_id: 1, address_line_1: "6826 Herzog Via", address_line_2: null, district: "Avon", city: "New Patienceburgh",
      postal_code: "28441", country: "Turkey", phone: "1803 637401"
    }])
    expect(rows.dim_counterparty).toEqual([{
      counterparty_id: 1, counterparty_legal_name: "Fahey and Sons", counterparty_legal_address_line_1: "6826 Herzog Via",
      counterparty_legal_address_line_2: null, counterparty_legal_district: "Avon", counterparty_legal_city: "New Patienceburgh",
      counterparty_legal_postal_code: "28441", counterparty_legal_country: "Turkey", counterparty_legal_phone_number: "1803 637401"
    }])
    expect(rows.dim_currency).toEqual([{ currency_id: 1, currency_code: "GBP", currency_name: "Pound Sterling" }])
    expect(rows.fact_sales_order).toEqual([{
      sales_order_id: 2, created_date: "2022-11-03", created_time: "14:20:52.186", last_updated_date: "2022-11-03",
      last_updated_time: "14:20:52.186", sales_staff_id: 19, counterparty_id: 8, units_sold: 42972, unit_price: "3.94",
      currency_id: 2, design_id: 3, agreed_payment_date: "2022-11-08", agreed_delivery_date: "2022-11-07", agreed_delivery_location_id: 8
    }])
    expect(rows.dim_date.map((d) => [d.date_id, d.day_name])).toEqual([
      ["2022-11-03", "Thursday"], ["2022-11-07", "Monday"], ["2022-11-08", "Tuesday"]
    ])
    expect(rows.dim_staff).toEqual([])
    expect(rejected).toHaveLength(1)
    expect(rejected[0]).toMatchObject({ table: "currency", key: "2" })
    expect(rejected[0]?.error).toContain("currency_code")
  })
})
