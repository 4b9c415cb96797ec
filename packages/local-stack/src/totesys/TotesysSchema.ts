/**
 * The totesys source schema, written by this project from the facts in
 * totesys/oltp_schema.sql: the same table and column names and order, the real types
 * (`timestamp(3)`, `numeric(10,2)`, text dates, the two Prisma enums), PK/FK/unique
 * names and actions, `<table>_<pk>_seq` sequences, and `_prisma_migrations`.
 *
 * Invariants:
 *  - `createTotesysSchema` is idempotent: on a database that already has the tables it
 *    changes nothing; otherwise it creates everything in one transaction.
 *  - The schema test compares this DDL with the reference file through
 *    information_schema, so the two cannot drift silently.
 */
import type { PgError, PgPool } from "@totes-cdc/platform"
import { Effect } from "effect"

const timestamps = `
    created_at timestamp(3) without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    last_updated timestamp(3) without time zone NOT NULL`

/** Creates enums, tables, unique indexes and FKs. Source: totesys/oltp_schema.sql. */
export const TOTESYS_DDL = `
CREATE TYPE public."PaymentTypeName" AS ENUM ('SALES_RECEIPT', 'SALES_REFUND', 'PURCHASE_PAYMENT', 'PURCHASE_REFUND');
CREATE TYPE public."TransactionType" AS ENUM ('SALE', 'PURCHASE');

CREATE TABLE public._prisma_migrations (
    id character varying(36) NOT NULL,
    checksum character varying(64) NOT NULL,
    finished_at timestamp with time zone,
    migration_name character varying(255) NOT NULL,
    logs text,
    rolled_back_at timestamp with time zone,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    applied_steps_count integer DEFAULT 0 NOT NULL,
    CONSTRAINT _prisma_migrations_pkey PRIMARY KEY (id)
);

CREATE TABLE public.address (
    address_id serial NOT NULL,
    address_line_1 text NOT NULL,
    address_line_2 text,
    district text,
    city text NOT NULL,
    postal_code text NOT NULL,
    country text NOT NULL,
    phone text NOT NULL,${timestamps},
    CONSTRAINT address_pkey PRIMARY KEY (address_id)
);

CREATE TABLE public.counterparty (
    counterparty_id serial NOT NULL,
    counterparty_legal_name text NOT NULL,
    legal_address_id integer NOT NULL,
    commercial_contact text,
    delivery_contact text,${timestamps},
    CONSTRAINT counterparty_pkey PRIMARY KEY (counterparty_id)
);

CREATE TABLE public.currency (
    currency_id serial NOT NULL,
    currency_code character varying(3) NOT NULL,${timestamps},
    CONSTRAINT currency_pkey PRIMARY KEY (currency_id)
);

CREATE TABLE public.department (
    department_id serial NOT NULL,
    department_name text NOT NULL,
    location text,
    manager text,${timestamps},
    CONSTRAINT department_pkey PRIMARY KEY (department_id)
);

CREATE TABLE public.design (
    design_id serial NOT NULL,
    created_at timestamp(3) without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    design_name text NOT NULL,
    file_location text NOT NULL,
    file_name text NOT NULL,
    last_updated timestamp(3) without time zone NOT NULL,
    CONSTRAINT design_pkey PRIMARY KEY (design_id)
);

CREATE TABLE public.staff (
    staff_id serial NOT NULL,
    first_name text NOT NULL,
    last_name text NOT NULL,
    department_id integer NOT NULL,
    email_address text NOT NULL,${timestamps},
    CONSTRAINT staff_pkey PRIMARY KEY (staff_id)
);

CREATE TABLE public.payment_type (
    payment_type_id serial NOT NULL,
    payment_type_name public."PaymentTypeName" NOT NULL,${timestamps},
    CONSTRAINT payment_type_pkey PRIMARY KEY (payment_type_id)
);

CREATE TABLE public.sales_order (
    sales_order_id serial NOT NULL,
    created_at timestamp(3) without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    last_updated timestamp(3) without time zone NOT NULL,
    design_id integer NOT NULL,
    staff_id integer NOT NULL,
    counterparty_id integer NOT NULL,
    units_sold integer NOT NULL,
    unit_price numeric(10,2) NOT NULL,
    currency_id integer NOT NULL,
    agreed_delivery_date text NOT NULL,
    agreed_payment_date text NOT NULL,
    agreed_delivery_location_id integer NOT NULL,
    CONSTRAINT sales_order_pkey PRIMARY KEY (sales_order_id)
);

CREATE TABLE public.purchase_order (
    purchase_order_id serial NOT NULL,
    created_at timestamp(3) without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    last_updated timestamp(3) without time zone NOT NULL,
    staff_id integer NOT NULL,
    counterparty_id integer NOT NULL,
    item_code text NOT NULL,
    item_quantity integer NOT NULL,
    item_unit_price numeric(10,2) NOT NULL,
    currency_id integer NOT NULL,
    agreed_delivery_date text NOT NULL,
    agreed_payment_date text NOT NULL,
    agreed_delivery_location_id integer NOT NULL,
    CONSTRAINT purchase_order_pkey PRIMARY KEY (purchase_order_id)
);

CREATE TABLE public.transaction (
    transaction_id serial NOT NULL,
    transaction_type public."TransactionType" NOT NULL,
    sales_order_id integer,
    purchase_order_id integer,${timestamps},
    CONSTRAINT transaction_pkey PRIMARY KEY (transaction_id)
);

CREATE TABLE public.payment (
    payment_id serial NOT NULL,
    created_at timestamp(3) without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    last_updated timestamp(3) without time zone NOT NULL,
    transaction_id integer NOT NULL,
    counterparty_id integer NOT NULL,
    payment_amount numeric(10,2) NOT NULL,
    currency_id integer NOT NULL,
    payment_type_id integer NOT NULL,
    paid boolean NOT NULL,
    payment_date text NOT NULL,
    company_ac_number integer NOT NULL,
    counterparty_ac_number integer NOT NULL,
    CONSTRAINT payment_pkey PRIMARY KEY (payment_id)
);

CREATE UNIQUE INDEX payment_transaction_id_key ON public.payment USING btree (transaction_id);
CREATE UNIQUE INDEX transaction_purchase_order_id_key ON public.transaction USING btree (purchase_order_id);
CREATE UNIQUE INDEX transaction_sales_order_id_key ON public.transaction USING btree (sales_order_id);

${([
  ["counterparty", "legal_address_id", "address", "address_id", "RESTRICT"],
  ["staff", "department_id", "department", "department_id", "RESTRICT"],
  ["sales_order", "design_id", "design", "design_id", "RESTRICT"],
  ["sales_order", "staff_id", "staff", "staff_id", "RESTRICT"],
  ["sales_order", "counterparty_id", "counterparty", "counterparty_id", "RESTRICT"],
  ["sales_order", "currency_id", "currency", "currency_id", "RESTRICT"],
  ["sales_order", "agreed_delivery_location_id", "address", "address_id", "RESTRICT"],
  ["purchase_order", "staff_id", "staff", "staff_id", "RESTRICT"],
  ["purchase_order", "counterparty_id", "counterparty", "counterparty_id", "RESTRICT"],
  ["purchase_order", "currency_id", "currency", "currency_id", "RESTRICT"],
  ["purchase_order", "agreed_delivery_location_id", "address", "address_id", "RESTRICT"],
  ["transaction", "sales_order_id", "sales_order", "sales_order_id", "SET NULL"],
  ["transaction", "purchase_order_id", "purchase_order", "purchase_order_id", "SET NULL"],
  ["payment", "transaction_id", "transaction", "transaction_id", "RESTRICT"],
  ["payment", "counterparty_id", "counterparty", "counterparty_id", "RESTRICT"],
  ["payment", "currency_id", "currency", "currency_id", "RESTRICT"],
  ["payment", "payment_type_id", "payment_type", "payment_type_id", "RESTRICT"]
] as const)
  .map(
    ([table, column, target, targetColumn, onDelete]) =>
      `ALTER TABLE ONLY public.${table} ADD CONSTRAINT ${table}_${column}_fkey FOREIGN KEY (${column}) ` +
      `REFERENCES public.${target}(${targetColumn}) ON UPDATE CASCADE ON DELETE ${onDelete};`
  )
  .join("\n")}
`

/**
 * Creates the totesys schema in the database behind `pool` unless it is already there.
 * Returns whether it created it. Fails with `PgError`.
 */
export const createTotesysSchema = (pool: PgPool): Effect.Effect<boolean, PgError> =>
  Effect.gen(function* () {
    const [present] = yield* pool.query("SELECT to_regclass('public.sales_order') IS NOT NULL AS present")
    if (present?.present === "t") return false
    yield* pool.transaction((tx) => tx.query(TOTESYS_DDL))
    return true
  })
