-- Read-only BI role for PostgreSQL: SELECT on the three BI views and nothing else.
-- Run as the database owner, connected to the application's database, with the BI tool's password from your
-- secret store (never from this repository):
--   psql -d p1energy -v qlik_password="$QLIK_DB_PASSWORD" -f docs/bi/postgresql-role.sql
-- tests/bi/test_roles.py runs this file (with its own role names) and checks what the login can and cannot read.
--
-- A view runs with its owner's rights, so the BI role needs no grant on meters_reading, meters_meter or auth_user:
-- it sees exactly the columns the views expose (no password hashes, no e-mail addresses).

CREATE ROLE bi_reader NOLOGIN;
GRANT USAGE ON SCHEMA public TO bi_reader;
GRANT SELECT ON bi_quarter_hour, bi_day, bi_month_peak TO bi_reader;

-- One login per BI tool, member of bi_reader. Role settings are not inherited from bi_reader, so they are set on
-- the login itself: every session is read-only, and a runaway dashboard query cannot hold the database.
CREATE ROLE qlik_loader LOGIN PASSWORD :'qlik_password' IN ROLE bi_reader;
ALTER ROLE qlik_loader SET default_transaction_read_only = on;
ALTER ROLE qlik_loader SET statement_timeout = '120s';
