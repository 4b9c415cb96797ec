-- totesys's data, from the dump's loose staging tables (totesys_dump, 20-totesys.sh) into the
-- real ones (oltp_schema.sql), in one transaction, parents before children (every foreign key
-- is checked), with the two repairs ../shared/totesys/README.md names and the project's seed
-- loader makes (packages/local-stack/src/totesys/DumpFormat.ts): the literal text NULL in
-- address.address_line_2/district is SQL NULL, and integral floats (2.0) in integer columns
-- typed text in the dump are integers (a fractional one stops the start, never rounded).
-- Then every id sequence is set past the largest id, and the staging schema goes.
BEGIN;

CREATE FUNCTION totesys_dump.integral(value text) RETURNS integer LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF value IS NULL THEN RETURN NULL; END IF;
  IF value !~ '^-?[0-9]+(\.0*)?$' THEN RAISE EXCEPTION 'totesys dump: % is not an integer', value; END IF;
  RETURN split_part(value, '.', 1)::integer;
END $$;

INSERT INTO public.address (address_id, address_line_1, address_line_2, district, city, postal_code, country, phone, created_at, last_updated)
  SELECT address_id, address_line_1, NULLIF(address_line_2, 'NULL'), NULLIF(district, 'NULL'), city, postal_code, country, phone, created_at, last_updated
    FROM totesys_dump.address;
INSERT INTO public.currency (currency_id, currency_code, created_at, last_updated)
  SELECT currency_id, currency_code, created_at, last_updated FROM totesys_dump.currency;
INSERT INTO public.department (department_id, department_name, location, manager, created_at, last_updated)
  SELECT department_id, department_name, location, manager, created_at, last_updated FROM totesys_dump.department;
INSERT INTO public.design (design_id, created_at, design_name, file_location, file_name, last_updated)
  SELECT design_id, created_at, design_name, file_location, file_name, last_updated FROM totesys_dump.design;
INSERT INTO public.payment_type (payment_type_id, payment_type_name, created_at, last_updated)
  SELECT payment_type_id, payment_type_name::public."PaymentTypeName", created_at, last_updated FROM totesys_dump.payment_type;
INSERT INTO public.counterparty (counterparty_id, counterparty_legal_name, legal_address_id, commercial_contact, delivery_contact, created_at, last_updated)
  SELECT counterparty_id, counterparty_legal_name, legal_address_id, commercial_contact, delivery_contact, created_at, last_updated FROM totesys_dump.counterparty;
INSERT INTO public.staff (staff_id, first_name, last_name, department_id, email_address, created_at, last_updated)
  SELECT staff_id, first_name, last_name, department_id, email_address, created_at, last_updated FROM totesys_dump.staff;
INSERT INTO public.sales_order (sales_order_id, created_at, last_updated, design_id, staff_id, counterparty_id, units_sold, unit_price, currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id)
  SELECT totesys_dump.integral(sales_order_id), created_at, last_updated, design_id, staff_id, counterparty_id, units_sold, unit_price, currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id
    FROM totesys_dump.sales_order;
INSERT INTO public.purchase_order (purchase_order_id, created_at, last_updated, staff_id, counterparty_id, item_code, item_quantity, item_unit_price, currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id)
  SELECT purchase_order_id, created_at, last_updated, staff_id, counterparty_id, item_code, item_quantity, item_unit_price, currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id
    FROM totesys_dump.purchase_order;
INSERT INTO public.transaction (transaction_id, transaction_type, sales_order_id, purchase_order_id, created_at, last_updated)
  SELECT transaction_id, transaction_type::public."TransactionType", totesys_dump.integral(sales_order_id), totesys_dump.integral(purchase_order_id), created_at, last_updated
    FROM totesys_dump.transaction;
INSERT INTO public.payment (payment_id, created_at, last_updated, transaction_id, counterparty_id, payment_amount, currency_id, payment_type_id, paid, payment_date, company_ac_number, counterparty_ac_number)
  SELECT payment_id, created_at, last_updated, transaction_id, counterparty_id, payment_amount, currency_id, payment_type_id, paid, payment_date, company_ac_number, counterparty_ac_number
    FROM totesys_dump.payment;

DO $$
DECLARE
  t record;
  top integer;
BEGIN
  FOR t IN SELECT * FROM (VALUES
      ('address', 'address_id'), ('counterparty', 'counterparty_id'), ('currency', 'currency_id'),
      ('department', 'department_id'), ('design', 'design_id'), ('staff', 'staff_id'),
      ('payment_type', 'payment_type_id'), ('sales_order', 'sales_order_id'),
      ('purchase_order', 'purchase_order_id'), ('transaction', 'transaction_id'), ('payment', 'payment_id')
    ) AS ids(name, id)
  LOOP
    EXECUTE format('SELECT coalesce(max(%I), 0) FROM public.%I', t.id, t.name) INTO top;
    PERFORM setval(pg_get_serial_sequence(format('public.%I', t.name), t.id), top + 1, false);
  END LOOP;
END $$;

DROP SCHEMA totesys_dump CASCADE;
COMMIT;
