-- The warehouse database beside totesys on the compose PostgreSQL.
CREATE DATABASE warehouse;
