/**
 * Source row → warehouse values, one mapping per warehouse table (totesys/transform_rules.md
 * §2, §3), over a row image in PostgreSQL text form. Pure; each mapping answers a
 * `Result` whose failure names the column and the bad value.
 *
 * Invariants:
 *  - Columns are read by name, never by position (§2 "Order of columns").
 *  - A column absent from the image is an error, never a null: an unchanged-TOAST
 *    column the caller could not fill from an earlier version says so (DESIGN.md §3).
 *  - A null in a column the warehouse declares NOT NULL is an error, except
 *    `department.location`, which becomes the sentinel 'Undefined' (§3, §8).
 *  - Facts: timestamps split into date + time with milliseconds (§2), text dates cast
 *    to dates (§2), `staff_id → sales_staff_id` for sales only, `company_ac_number` and
 *    `counterparty_ac_number` dropped (§3), no surrogate key (§7).
 */
import { Result } from "effect"
import type { RowImage } from "../contracts/ChangeRecord.ts"
import { currencyName } from "./CurrencyName.ts"
import {
  type DateAndTime,
  type Parsed,
  parseBool,
  parseDate,
  parseDecimal10_2,
  parseInt4,
  parseNumeric,
  parseTimestamp
} from "./PgText.ts"
import type { StarValue } from "./StarRow.ts"

/** The sentinel for a department without a location (dim_staff.location is NOT NULL; rules §3, §8). */
export const UNDEFINED_LOCATION = "Undefined"

/** Typed access to the columns of one row image. */
export interface RowReader {
  readonly text: (column: string) => Parsed<string>
  readonly optText: (column: string) => Parsed<string | null>
  readonly int: (column: string) => Parsed<number>
  readonly optInt: (column: string) => Parsed<number | null>
  readonly date: (column: string) => Parsed<string>
  readonly timestamp: (column: string) => Parsed<DateAndTime>
  readonly numeric: (column: string) => Parsed<string>
  readonly decimal10_2: (column: string) => Parsed<string>
  readonly bool: (column: string) => Parsed<boolean>
}

/**
 * A reader over `row`. `unsentToast` names the columns PostgreSQL did not send (unchanged
 * TOAST) that no earlier version could fill: reading one fails with that reason.
 */
export const rowReader = (row: RowImage, unsentToast: ReadonlySet<string> = new Set()): RowReader => {
  const raw = (column: string): Parsed<string | null> => {
    if (Object.hasOwn(row, column)) return Result.succeed(row[column] ?? null)
    return Result.fail(
      unsentToast.has(column)
        ? `column ${column} was not sent (unchanged TOAST value) and no earlier version of the row is known`
        : `column ${column} is missing from the row image`
    )
  }
  const required = (column: string): Parsed<string> =>
    Result.flatMap(raw(column), (value) =>
      value === null ? Result.fail(`column ${column} is null; the warehouse column is NOT NULL`) : Result.succeed(value))
  const parsed = <A>(column: string, parse: (text: string) => Parsed<A>): Parsed<A> =>
    Result.flatMap(required(column), (text) => Result.mapError(parse(text), (error) => `column ${column}: ${error}`))
  return {
    text: required,
    optText: raw,
    int: (column) => parsed(column, parseInt4),
    optInt: (column) =>
      Result.flatMap(raw(column), (text) =>
        text === null
          ? Result.succeed(null)
          : Result.mapError(parseInt4(text), (error) => `column ${column}: ${error}`)),
    date: (column) => parsed(column, parseDate),
    timestamp: (column) => parsed(column, parseTimestamp),
    numeric: (column) => parsed(column, parseNumeric),
    decimal10_2: (column) => parsed(column, parseDecimal10_2),
    bool: (column) => parsed(column, parseBool)
  }
}

export type Values = Readonly<Record<string, StarValue>>

/** dim_location ← address (§3: `address_id → location_id`, timestamps dropped). */
export const dimLocation = (address: RowReader): Parsed<Values> =>
  Result.all({
    location_id: address.int("address_id"),
    address_line_1: address.text("address_line_1"),
    address_line_2: address.optText("address_line_2"),
    district: address.optText("district"),
    city: address.text("city"),
    postal_code: address.text("postal_code"),
    country: address.text("country"),
    phone: address.text("phone")
  })

/**
 * dim_counterparty ← counterparty ⋈ address on legal_address_id (§3 renames;
 * commercial_contact, delivery_contact, legal_address_id dropped). The address-line-2
 * column is emitted as `counterparty_legal_address_line_2`; the loader maps the
 * `…line2` spelling (§8).
 */
export const dimCounterparty = (counterparty: RowReader, address: RowReader): Parsed<Values> =>
  Result.all({
    counterparty_id: counterparty.int("counterparty_id"),
    counterparty_legal_name: counterparty.text("counterparty_legal_name"),
    counterparty_legal_address_line_1: address.text("address_line_1"),
    counterparty_legal_address_line_2: address.optText("address_line_2"),
    counterparty_legal_district: address.optText("district"),
    counterparty_legal_city: address.text("city"),
    counterparty_legal_postal_code: address.text("postal_code"),
    counterparty_legal_country: address.text("country"),
    counterparty_legal_phone_number: address.text("phone")
  })

/** dim_staff ← staff ⋈ department (§3); a null location becomes 'Undefined' (§3, §8 "fill a sentinel"). */
export const dimStaff = (staff: RowReader, department: RowReader): Parsed<Values> =>
  Result.all({
    staff_id: staff.int("staff_id"),
    first_name: staff.text("first_name"),
    last_name: staff.text("last_name"),
    department_name: department.text("department_name"),
    location: Result.map(department.optText("location"), (location) => location ?? UNDEFINED_LOCATION),
    email_address: staff.text("email_address")
  })

/** dim_currency ← currency, plus the static ISO-4217 `currency_name` (§5). */
export const dimCurrency = (currency: RowReader): Parsed<Values> =>
  Result.gen(function*() {
    const code = yield* currency.text("currency_code")
    return { currency_id: yield* currency.int("currency_id"), currency_code: code, currency_name: currencyName(code) }
  })

/** dim_design ← design (§3: timestamps dropped). */
export const dimDesign = (design: RowReader): Parsed<Values> =>
  Result.all({
    design_id: design.int("design_id"),
    design_name: design.text("design_name"),
    file_location: design.text("file_location"),
    file_name: design.text("file_name")
  })

/** dim_payment_type ← payment_type (§3: enum → varchar). */
export const dimPaymentType = (paymentType: RowReader): Parsed<Values> =>
  Result.all({
    payment_type_id: paymentType.int("payment_type_id"),
    payment_type_name: paymentType.text("payment_type_name")
  })

/** dim_transaction ← transaction (§3: enum → varchar; the nullable order ids stay int, '2.0' → 2, §1). */
export const dimTransaction = (transaction: RowReader): Parsed<Values> =>
  Result.all({
    transaction_id: transaction.int("transaction_id"),
    transaction_type: transaction.text("transaction_type"),
    sales_order_id: transaction.optInt("sales_order_id"),
    purchase_order_id: transaction.optInt("purchase_order_id")
  })

/** A fact's `created_at` and `last_updated` split into their date and time columns (§2). */
const splitTimestamps = <C extends { readonly created: DateAndTime; readonly updated: DateAndTime }>({ created, updated, ...columns }: C): Values => ({
  ...columns,
  created_date: created.date,
  created_time: created.time,
  last_updated_date: updated.date,
  last_updated_time: updated.time
})

/** fact_sales_order ← sales_order (§2 split and casts, §3 `staff_id → sales_staff_id`, unit_price numeric(10,2)). */
export const factSalesOrder = (order: RowReader): Parsed<Values> =>
  Result.map(
    Result.all({
      sales_order_id: order.int("sales_order_id"),
      created: order.timestamp("created_at"),
      updated: order.timestamp("last_updated"),
      sales_staff_id: order.int("staff_id"),
      counterparty_id: order.int("counterparty_id"),
      units_sold: order.int("units_sold"),
      unit_price: order.decimal10_2("unit_price"),
      currency_id: order.int("currency_id"),
      design_id: order.int("design_id"),
      agreed_payment_date: order.date("agreed_payment_date"),
      agreed_delivery_date: order.date("agreed_delivery_date"),
      agreed_delivery_location_id: order.int("agreed_delivery_location_id")
    }),
    splitTimestamps
  )

/** fact_purchase_order ← purchase_order (§2; §3: `staff_id` NOT renamed; item_unit_price plain numeric). */
export const factPurchaseOrder = (order: RowReader): Parsed<Values> =>
  Result.map(
    Result.all({
      purchase_order_id: order.int("purchase_order_id"),
      created: order.timestamp("created_at"),
      updated: order.timestamp("last_updated"),
      staff_id: order.int("staff_id"),
      counterparty_id: order.int("counterparty_id"),
      item_code: order.text("item_code"),
      item_quantity: order.int("item_quantity"),
      item_unit_price: order.numeric("item_unit_price"),
      currency_id: order.int("currency_id"),
      agreed_delivery_date: order.date("agreed_delivery_date"),
      agreed_payment_date: order.date("agreed_payment_date"),
      agreed_delivery_location_id: order.int("agreed_delivery_location_id")
    }),
    splitTimestamps
  )

/** fact_payment ← payment (§2; §3: company_ac_number and counterparty_ac_number dropped; 6th column `last_updated_time`). */
export const factPayment = (payment: RowReader): Parsed<Values> =>
  Result.map(
    Result.all({
      payment_id: payment.int("payment_id"),
      created: payment.timestamp("created_at"),
      updated: payment.timestamp("last_updated"),
      transaction_id: payment.int("transaction_id"),
      counterparty_id: payment.int("counterparty_id"),
      payment_amount: payment.numeric("payment_amount"),
      currency_id: payment.int("currency_id"),
      payment_type_id: payment.int("payment_type_id"),
      paid: payment.bool("paid"),
      payment_date: payment.date("payment_date")
    }),
    splitTimestamps
  )

/** The date columns of each fact: every one needs its dim_date row first (DESIGN.md §5, rules §6, §7 load order). */
export const FACT_DATE_COLUMNS: ReadonlyArray<string> = [
  "created_date",
  "last_updated_date",
  "agreed_payment_date",
  "agreed_delivery_date",
  "payment_date"
]
