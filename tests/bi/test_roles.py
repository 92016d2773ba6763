"""The PostgreSQL read-only role recipe of docs/bi: its login reads the BI views and nothing else."""

from __future__ import annotations

import os
import re
from pathlib import Path

import psycopg
import pytest
from django.db import connection

RECIPE = Path(__file__).resolve().parents[2] / "docs" / "bi" / "postgresql-role.sql"

pytestmark = pytest.mark.django_db(transaction=True)


def _statements(sql: str) -> list[str]:
    without_comments = re.sub(r"--[^\n]*", "", sql)
    return [s.strip() for s in without_comments.split(";") if s.strip()]


@pytest.fixture
def bi_login():
    if connection.vendor != "postgresql":
        pytest.skip("the role recipe is PostgreSQL's; run with DATABASE_URL=postgres://... (make test does)")
    # Roles are cluster-wide: names of our own so parallel runs and the real roles are left alone.
    group, login = f"bi_reader_t{os.getpid()}", f"qlik_loader_t{os.getpid()}"
    recipe = RECIPE.read_text().replace("qlik_loader", login).replace("bi_reader", group)
    recipe = recipe.replace(":'qlik_password'", "NULL")  # trust authentication on the test server
    with connection.cursor() as cursor:
        for statement in _statements(recipe):
            cursor.execute(statement)
    params = connection.get_connection_params()
    conn = psycopg.connect(
        host=params.get("host", "127.0.0.1"), port=params.get("port", 5432), dbname=params["dbname"], user=login
    )
    try:
        yield conn
    finally:
        conn.close()
        with connection.cursor() as cursor:
            for role in (login, group):
                cursor.execute(f'DROP OWNED BY "{role}"')
                cursor.execute(f'DROP ROLE "{role}"')


@pytest.mark.parametrize("view", ["bi_quarter_hour", "bi_day", "bi_month_peak"])
def test_it_lets_the_bi_login_read_the_views(bi_login, view):
    with bi_login.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {view}")  # noqa: S608 (constant view names)
        assert cursor.fetchone() == (0,)


@pytest.mark.parametrize("table", ["meters_reading", "meters_meter", "auth_user", "users_profile"])
def test_it_refuses_the_bi_login_the_tables(bi_login, table):
    with bi_login.cursor() as cursor, pytest.raises(psycopg.errors.InsufficientPrivilege):
        cursor.execute(f"SELECT 1 FROM {table}")  # noqa: S608 (constant table names)


def test_it_keeps_the_bi_login_read_only(bi_login):
    with bi_login.cursor() as cursor:
        cursor.execute("SHOW default_transaction_read_only")
        assert cursor.fetchone() == ("on",)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            cursor.execute("CREATE TABLE bi_scratch (x integer)")
