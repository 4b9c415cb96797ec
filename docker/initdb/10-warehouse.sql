-- The warehouse database beside totesys on the compose PostgreSQL, owned by the loader's role.
-- The loader migrates the star schema and its totes_cdc bookkeeping schema itself at start
-- (loader/src/WarehouseMigrations.ts): all this creates is the role and the empty database.
-- LOADER_PASSWORD comes from the postgres service's environment (docker/compose.yaml).
-- SET ON PARAMETER session_replication_role lets the loader check fact foreign keys per
-- statement (LOADER_FOREIGN_KEY_CHECKS=statement) without being a superuser.
\getenv loader_password LOADER_PASSWORD
CREATE ROLE totes_cdc_loader WITH LOGIN PASSWORD :'loader_password';
CREATE DATABASE warehouse OWNER totes_cdc_loader;
GRANT SET ON PARAMETER session_replication_role TO totes_cdc_loader;
