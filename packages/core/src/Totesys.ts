/**
 * The totesys source tables as the pipeline sees them: names, primary keys, column
 * order and a foreign-key-safe load order.
 *
 * Source: totesys/oltp_schema.sql (table and column names, column order, PKs, FKs).
 * Invariants:
 *  - `TOTESYS_TABLES` holds exactly the 11 business tables; `_prisma_migrations` is
 *    never captured (totesys/transform_rules.md §1) and is listed in `EXCLUDED_TABLES`.
 *  - `LOAD_ORDER` lists every table after every table it references by FK.
 */
import { Schema } from "effect"

/** The 11 captured business tables, in the schema file's order. */
export const TOTESYS_TABLES = [
  "address",
  "counterparty",
  "currency",
  "department",
  "design",
  "staff",
  "payment_type",
  "sales_order",
  "purchase_order",
  "transaction",
  "payment"
] as const

export type TotesysTable = (typeof TOTESYS_TABLES)[number]

/** Tables present in totesys that must never be captured. */
/**
 * The source tables the processor joins (dim_counterparty = counterparty ⋈ address,
 * dim_staff = staff ⋈ department): their rows are kept in the join state, and their
 * changes share one Kinesis partition key (`JOINED_PARTITION_KEY`).
 */
export const JOINED_SOURCE_TABLES = ["address", "department", "counterparty", "staff"] as const satisfies ReadonlyArray<TotesysTable>
export type JoinedSourceTable = (typeof JOINED_SOURCE_TABLES)[number]

/** Whether `table` is one of the joined source tables. */
export const isJoinedSourceTable = (table: string): table is JoinedSourceTable => (JOINED_SOURCE_TABLES as ReadonlyArray<string>).includes(table)

export const EXCLUDED_TABLES = ["_prisma_migrations"] as const

/** Single-column integer primary key of each table (each backed by `<table>_<pk>_seq`). */
export const PRIMARY_KEY: { readonly [T in TotesysTable]: string } = {
  address: "address_id",
  counterparty: "counterparty_id",
  currency: "currency_id",
  department: "department_id",
  design: "design_id",
  staff: "staff_id",
  payment_type: "payment_type_id",
  sales_order: "sales_order_id",
  purchase_order: "purchase_order_id",
  transaction: "transaction_id",
  payment: "payment_id"
}

/** Columns of each table in the source's physical order (oltp_schema.sql). */
export const COLUMNS: { readonly [T in TotesysTable]: ReadonlyArray<string> } = {
  address: [
    "address_id", "address_line_1", "address_line_2", "district", "city", "postal_code",
    "country", "phone", "created_at", "last_updated"
  ],
  counterparty: [
    "counterparty_id", "counterparty_legal_name", "legal_address_id", "commercial_contact",
    "delivery_contact", "created_at", "last_updated"
  ],
  currency: ["currency_id", "currency_code", "created_at", "last_updated"],
  department: ["department_id", "department_name", "location", "manager", "created_at", "last_updated"],
  design: ["design_id", "created_at", "design_name", "file_location", "file_name", "last_updated"],
  staff: ["staff_id", "first_name", "last_name", "department_id", "email_address", "created_at", "last_updated"],
  payment_type: ["payment_type_id", "payment_type_name", "created_at", "last_updated"],
  sales_order: [
    "sales_order_id", "created_at", "last_updated", "design_id", "staff_id", "counterparty_id",
    "units_sold", "unit_price", "currency_id", "agreed_delivery_date", "agreed_payment_date",
    "agreed_delivery_location_id"
  ],
  purchase_order: [
    "purchase_order_id", "created_at", "last_updated", "staff_id", "counterparty_id", "item_code",
    "item_quantity", "item_unit_price", "currency_id", "agreed_delivery_date", "agreed_payment_date",
    "agreed_delivery_location_id"
  ],
  transaction: [
    "transaction_id", "transaction_type", "sales_order_id", "purchase_order_id", "created_at", "last_updated"
  ],
  payment: [
    "payment_id", "created_at", "last_updated", "transaction_id", "counterparty_id", "payment_amount",
    "currency_id", "payment_type_id", "paid", "payment_date", "company_ac_number", "counterparty_ac_number"
  ]
}

/** Every table after the tables it references (FKs in oltp_schema.sql). */
export const LOAD_ORDER: ReadonlyArray<TotesysTable> = [
  "address",
  "currency",
  "department",
  "design",
  "payment_type",
  "counterparty",
  "staff",
  "sales_order",
  "purchase_order",
  "transaction",
  "payment"
]

/** Schema of a totesys table name, for names coming from outside (dump files, wire records). */
export const TotesysTableName = Schema.Literals(TOTESYS_TABLES)

/** True when `name` is one of the 11 captured tables. */
export const isTotesysTable = Schema.is(TotesysTableName)
