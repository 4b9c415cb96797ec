#!/usr/bin/env bash
# totesys at the compose PostgreSQL's first start (run by the image's entrypoint, in name
# order, after 10-warehouse.sql): the schema of ../shared/totesys/oltp_schema.sql, then the
# 2024-02-23 dump's data into loose staging tables of its own (schema totesys_dump: the dump's
# DDL as it is, its owner lines dropped), which 21-totesys-data.sql moves into the real tables.
# Both files are mounted read-only at /totesys (TOTESYS_DIR). Connection: the entrypoint's
# (its POSTGRES_USER and POSTGRES_DB; PGHOST/PGPORT/PGPASSWORD when run elsewhere, as the
# test does). Any error stops the first start (ON_ERROR_STOP; the entrypoint runs with -e).
set -euo pipefail
totesys_dir="${TOTESYS_DIR:-/totesys}"
psql_totesys=(psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-totesys}")
"${psql_totesys[@]}" -f "$totesys_dir/oltp_schema.sql"
{
  echo "CREATE SCHEMA totesys_dump;"
  sed -e '/^ALTER TABLE .* OWNER TO /d' \
      -e 's/^CREATE TABLE public\./CREATE TABLE totesys_dump./' \
      -e 's/^COPY public\./COPY totesys_dump./' \
      "$totesys_dir/totesys-2024-02-23.sql"
} | "${psql_totesys[@]}"
