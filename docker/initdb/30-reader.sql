-- The reader's role and publication, as the README's AWS deployment section recommends (on a
-- plain PostgreSQL the REPLICATION attribute stands for RDS's rds_replication): it may log
-- in, replicate and read the 11 tables; the publication is created here, by the tables'
-- owner, so the reader only checks it (it creates its slot itself, over the replication
-- protocol; heartbeats use pg_logical_emit_message, executable by PUBLIC).
-- READER_PASSWORD comes from the postgres service's environment (docker/compose.yaml).
\getenv reader_password READER_PASSWORD
CREATE ROLE totes_cdc_reader WITH LOGIN REPLICATION PASSWORD :'reader_password';
GRANT USAGE ON SCHEMA public TO totes_cdc_reader;
GRANT SELECT ON public.address, public.counterparty, public.currency, public.department,
  public.design, public.staff, public.payment_type, public.sales_order, public.purchase_order,
  public.transaction, public.payment TO totes_cdc_reader;
CREATE PUBLICATION totes_cdc FOR TABLE public.address, public.counterparty, public.currency,
  public.department, public.design, public.staff, public.payment_type, public.sales_order,
  public.purchase_order, public.transaction, public.payment
  WITH (publish = 'insert, update, delete, truncate');
