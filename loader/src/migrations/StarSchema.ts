/**
 * Migration 1: the star schema of totesys/warehouse_schema.sql ("RevisedDW"): 8
 * dimensions, 3 facts with SERIAL surrogate keys, the FKs, plus one unique
 * constraint per fact over (natural id, last_updated_date, last_updated_time), so a
 * fact version is never inserted twice (totesys/transform_rules.md §7).
 *
 * Column names follow the RevisedDW ERD [A] (`counterparty_legal_address_line_2`,
 * `fact_payment.last_updated_time`); a warehouse created elsewhere with the other
 * spellings is adopted as it is (`IF NOT EXISTS`), and the loader introspects names.
 */
import { quoteIdent } from "@totes-cdc/core"

/** DDL for schema `schema` (its name, e.g. `public`; quoted here). Idempotent. */
export const starSchemaSql = (name: string): string => {
  const schema = quoteIdent(name)
  return `
CREATE TABLE IF NOT EXISTS ${schema}.dim_date (
    date_id     date    NOT NULL,
    year        int     NOT NULL,
    month       int     NOT NULL,
    day         int     NOT NULL,
    day_of_week int     NOT NULL,
    day_name    varchar NOT NULL,
    month_name  varchar NOT NULL,
    quarter     int     NOT NULL,
    CONSTRAINT dim_date_pkey PRIMARY KEY (date_id)
);
CREATE TABLE IF NOT EXISTS ${schema}.dim_staff (
    staff_id        int     NOT NULL,
    first_name      varchar NOT NULL,
    last_name       varchar NOT NULL,
    department_name varchar NOT NULL,
    location        varchar NOT NULL,
    email_address   varchar NOT NULL,
    CONSTRAINT dim_staff_pkey PRIMARY KEY (staff_id)
);
CREATE TABLE IF NOT EXISTS ${schema}.dim_location (
    location_id    int     NOT NULL,
    address_line_1 varchar NOT NULL,
    address_line_2 varchar,
    district       varchar,
    city           varchar NOT NULL,
    postal_code    varchar NOT NULL,
    country        varchar NOT NULL,
    phone          varchar NOT NULL,
    CONSTRAINT dim_location_pkey PRIMARY KEY (location_id)
);
CREATE TABLE IF NOT EXISTS ${schema}.dim_currency (
    currency_id   int     NOT NULL,
    currency_code varchar NOT NULL,
    currency_name varchar NOT NULL,
    CONSTRAINT dim_currency_pkey PRIMARY KEY (currency_id)
);
CREATE TABLE IF NOT EXISTS ${schema}.dim_design (
    design_id     int     NOT NULL,
    design_name   varchar NOT NULL,
    file_location varchar NOT NULL,
    file_name     varchar NOT NULL,
    CONSTRAINT dim_design_pkey PRIMARY KEY (design_id)
);
CREATE TABLE IF NOT EXISTS ${schema}.dim_counterparty (
    counterparty_id                   int     NOT NULL,
    counterparty_legal_name           varchar NOT NULL,
    counterparty_legal_address_line_1 varchar NOT NULL,
    counterparty_legal_address_line_2 varchar,
    counterparty_legal_district       varchar,
    counterparty_legal_city           varchar NOT NULL,
    counterparty_legal_postal_code    varchar NOT NULL,
    counterparty_legal_country        varchar NOT NULL,
    counterparty_legal_phone_number   varchar NOT NULL,
    CONSTRAINT dim_counterparty_pkey PRIMARY KEY (counterparty_id)
);
CREATE TABLE IF NOT EXISTS ${schema}.dim_payment_type (
    payment_type_id   int     NOT NULL,
    payment_type_name varchar NOT NULL,
    CONSTRAINT dim_payment_type_pkey PRIMARY KEY (payment_type_id)
);
CREATE TABLE IF NOT EXISTS ${schema}.dim_transaction (
    transaction_id    int     NOT NULL,
    transaction_type  varchar NOT NULL,
    sales_order_id    int,
    purchase_order_id int,
    CONSTRAINT dim_transaction_pkey PRIMARY KEY (transaction_id)
);
CREATE TABLE IF NOT EXISTS ${schema}.fact_sales_order (
    sales_record_id             SERIAL        NOT NULL,
    sales_order_id              int           NOT NULL,
    created_date                date          NOT NULL,
    created_time                time          NOT NULL,
    last_updated_date           date          NOT NULL,
    last_updated_time           time          NOT NULL,
    sales_staff_id              int           NOT NULL,
    counterparty_id             int           NOT NULL,
    units_sold                  int           NOT NULL,
    unit_price                  numeric(10,2) NOT NULL,
    currency_id                 int           NOT NULL,
    design_id                   int           NOT NULL,
    agreed_payment_date         date          NOT NULL,
    agreed_delivery_date        date          NOT NULL,
    agreed_delivery_location_id int           NOT NULL,
    CONSTRAINT fact_sales_order_pkey PRIMARY KEY (sales_record_id),
    CONSTRAINT fact_sales_order_created_date_fkey FOREIGN KEY (created_date) REFERENCES ${schema}.dim_date(date_id),
    CONSTRAINT fact_sales_order_last_updated_date_fkey FOREIGN KEY (last_updated_date) REFERENCES ${schema}.dim_date(date_id),
    CONSTRAINT fact_sales_order_sales_staff_id_fkey FOREIGN KEY (sales_staff_id) REFERENCES ${schema}.dim_staff(staff_id),
    CONSTRAINT fact_sales_order_counterparty_id_fkey FOREIGN KEY (counterparty_id) REFERENCES ${schema}.dim_counterparty(counterparty_id),
    CONSTRAINT fact_sales_order_currency_id_fkey FOREIGN KEY (currency_id) REFERENCES ${schema}.dim_currency(currency_id),
    CONSTRAINT fact_sales_order_design_id_fkey FOREIGN KEY (design_id) REFERENCES ${schema}.dim_design(design_id),
    CONSTRAINT fact_sales_order_agreed_payment_date_fkey FOREIGN KEY (agreed_payment_date) REFERENCES ${schema}.dim_date(date_id),
    CONSTRAINT fact_sales_order_agreed_delivery_date_fkey FOREIGN KEY (agreed_delivery_date) REFERENCES ${schema}.dim_date(date_id),
    CONSTRAINT fact_sales_order_agreed_delivery_location_id_fkey FOREIGN KEY (agreed_delivery_location_id) REFERENCES ${schema}.dim_location(location_id)
);
CREATE TABLE IF NOT EXISTS ${schema}.fact_purchase_order (
    purchase_record_id          SERIAL  NOT NULL,
    purchase_order_id           int     NOT NULL,
    created_date                date    NOT NULL,
    created_time                time    NOT NULL,
    last_updated_date           date    NOT NULL,
    last_updated_time           time    NOT NULL,
    staff_id                    int     NOT NULL,
    counterparty_id             int     NOT NULL,
    item_code                   varchar NOT NULL,
    item_quantity               int     NOT NULL,
    item_unit_price             numeric NOT NULL,
    currency_id                 int     NOT NULL,
    agreed_delivery_date        date    NOT NULL,
    agreed_payment_date         date    NOT NULL,
    agreed_delivery_location_id int     NOT NULL,
    CONSTRAINT fact_purchase_order_pkey PRIMARY KEY (purchase_record_id),
    CONSTRAINT fact_purchase_order_created_date_fkey FOREIGN KEY (created_date) REFERENCES ${schema}.dim_date(date_id),
    CONSTRAINT fact_purchase_order_last_updated_date_fkey FOREIGN KEY (last_updated_date) REFERENCES ${schema}.dim_date(date_id),
    CONSTRAINT fact_purchase_order_staff_id_fkey FOREIGN KEY (staff_id) REFERENCES ${schema}.dim_staff(staff_id),
    CONSTRAINT fact_purchase_order_counterparty_id_fkey FOREIGN KEY (counterparty_id) REFERENCES ${schema}.dim_counterparty(counterparty_id),
    CONSTRAINT fact_purchase_order_currency_id_fkey FOREIGN KEY (currency_id) REFERENCES ${schema}.dim_currency(currency_id),
    CONSTRAINT fact_purchase_order_agreed_delivery_date_fkey FOREIGN KEY (agreed_delivery_date) REFERENCES ${schema}.dim_date(date_id),
    CONSTRAINT fact_purchase_order_agreed_payment_date_fkey FOREIGN KEY (agreed_payment_date) REFERENCES ${schema}.dim_date(date_id),
    CONSTRAINT fact_purchase_order_agreed_delivery_location_id_fkey FOREIGN KEY (agreed_delivery_location_id) REFERENCES ${schema}.dim_location(location_id)
);
CREATE TABLE IF NOT EXISTS ${schema}.fact_payment (
    payment_record_id SERIAL  NOT NULL,
    payment_id        int     NOT NULL,
    created_date      date    NOT NULL,
    created_time      time    NOT NULL,
    last_updated_date date    NOT NULL,
    last_updated_time time    NOT NULL,
    transaction_id    int     NOT NULL,
    counterparty_id   int     NOT NULL,
    payment_amount    numeric NOT NULL,
    currency_id       int     NOT NULL,
    payment_type_id   int     NOT NULL,
    paid              boolean NOT NULL,
    payment_date      date    NOT NULL,
    CONSTRAINT fact_payment_pkey PRIMARY KEY (payment_record_id),
    CONSTRAINT fact_payment_created_date_fkey FOREIGN KEY (created_date) REFERENCES ${schema}.dim_date(date_id),
    CONSTRAINT fact_payment_last_updated_date_fkey FOREIGN KEY (last_updated_date) REFERENCES ${schema}.dim_date(date_id),
    CONSTRAINT fact_payment_transaction_id_fkey FOREIGN KEY (transaction_id) REFERENCES ${schema}.dim_transaction(transaction_id),
    CONSTRAINT fact_payment_counterparty_id_fkey FOREIGN KEY (counterparty_id) REFERENCES ${schema}.dim_counterparty(counterparty_id),
    CONSTRAINT fact_payment_currency_id_fkey FOREIGN KEY (currency_id) REFERENCES ${schema}.dim_currency(currency_id),
    CONSTRAINT fact_payment_payment_type_id_fkey FOREIGN KEY (payment_type_id) REFERENCES ${schema}.dim_payment_type(payment_type_id),
    CONSTRAINT fact_payment_payment_date_fkey FOREIGN KEY (payment_date) REFERENCES ${schema}.dim_date(date_id)
);
`
}

/**
 * Unique version keys of the facts (natural id + last-updated date + time), built
 * against the columns the target actually has (`last_updated_time` or, in older
 * cohorts, `last_updated`). Source: transform_rules.md §7 recommendation.
 */
export const factVersionKeys = [
  { table: "fact_sales_order", naturalId: "sales_order_id", recordId: "sales_record_id" },
  { table: "fact_purchase_order", naturalId: "purchase_order_id", recordId: "purchase_record_id" },
  { table: "fact_payment", naturalId: "payment_id", recordId: "payment_record_id" }
] as const satisfies ReadonlyArray<{ readonly table: string; readonly naturalId: string; readonly recordId: string }>

/**
 * Migration 4: the analysts' `<fact>_latest` view over a fact table: one row per natural
 * id, its latest version — the newest (last_updated_date, last-updated time), ties to the
 * highest surrogate key: the "latest version" pattern of totesys/business_queries.sql,
 * so queries need no window function. `schema` and `time` (the table's last-updated time
 * column) are names, quoted here.
 */
export const latestViewSql = (schemaName: string, fact: (typeof factVersionKeys)[number], timeColumn: string): string => {
  const schema = quoteIdent(schemaName)
  const time = quoteIdent(timeColumn)
  return `CREATE OR REPLACE VIEW ${schema}.${fact.table}_latest AS
     SELECT DISTINCT ON (${fact.naturalId}) * FROM ${schema}.${fact.table}
      ORDER BY ${fact.naturalId}, last_updated_date DESC, ${time} DESC, ${fact.recordId} DESC`
}
