"""The BI schema itself: the calendar tables match the IANA tz database, the migration reverses, later migrations of
the reading table still run, and the SQL Server script under review is the one the migration would run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import connection, models

from meters import bi
from meters.models import Reading
from tests.bi.truth import build, local

BRUSSELS = ZoneInfo("Europe/Brussels")
REVIEW_SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "bi" / "sqlserver-views.sql"


def _instant(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _objects() -> set[str]:
    return set(connection.introspection.table_names(include_views=True))


@pytest.mark.django_db
def test_it_fills_the_offset_table_from_the_tz_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT utc_start, utc_end, offset_minutes FROM bi_utc_offset ORDER BY utc_start")
        periods = [(_instant(a), _instant(b), m) for a, b, m in cursor.fetchall()]

    assert periods[0][0] == datetime(2000, 1, 1, tzinfo=UTC)
    assert periods[-1][1] == datetime(2101, 1, 1, tzinfo=UTC)
    for (_, end, _), (start, _, _) in pairwise(periods):
        assert end == start  # no hole, no overlap
    for start, end, minutes in periods:
        for moment in (start, end - timedelta(seconds=1)):
            assert moment.astimezone(BRUSSELS).utcoffset() == timedelta(minutes=minutes)
    summer_2024 = [(s, m) for s, _, m in periods if s.year == 2024 and m == 120]
    assert summer_2024 == [(datetime(2024, 3, 31, 1, tzinfo=UTC), 120)]


@pytest.mark.django_db
def test_it_counts_the_quarters_of_every_local_day():
    with connection.cursor() as cursor:
        sql = "SELECT local_date, quarters, weekday FROM bi_calendar_day WHERE local_date >= %s ORDER BY local_date"
        cursor.execute(sql, ["2024-01-01"])
        days = cursor.fetchall()
    assert len(days) == (datetime(2101, 1, 1) - datetime(2024, 1, 1)).days
    short = [str(d) for d, q, _ in days if q == 92]
    long = [str(d) for d, q, _ in days if q == 100]
    assert short[:2] == ["2024-03-31", "2025-03-30"]
    assert long[:2] == ["2024-10-27", "2025-10-26"]
    assert {q for _, q, _ in days} == {92, 96, 100}
    assert {w for d, q, w in days if q != 96} == {7}  # EU clocks change on Sundays


@pytest.mark.django_db(transaction=True)
def test_it_drops_views_and_tables_when_the_migration_is_reversed():
    with connection.schema_editor() as editor:
        bi.drop_schema(None, editor)
    assert not _objects() & {*bi.VIEW_NAMES, *bi.TABLE_NAMES}

    from django.apps import apps

    with connection.schema_editor() as editor:
        bi.create_schema(apps, editor)
    assert _objects() >= {*bi.VIEW_NAMES, *bi.TABLE_NAMES}


@pytest.mark.django_db(transaction=True)
def test_it_lets_a_later_migration_alter_the_reading_table(alice_meter, rows):
    """SQLite rebuilds the table and PostgreSQL changes a column type: both fail while a view reads the table."""
    build(alice_meter, local(2024, 1, 15), local(2024, 1, 15, 2))
    old = Reading._meta.get_field("import_t1_kwh")
    wider = models.DecimalField(max_digits=14, decimal_places=3)
    wider.set_attributes_from_name("import_t1_kwh")
    wider.model = Reading

    bi.drop_views_before_migrate(sender=None, using="default")
    with connection.schema_editor() as editor:
        editor.alter_field(Reading, old, wider)
    bi.create_views_after_migrate(sender=None, using="default")
    assert rows("bi_day", alice_meter, "local_date")[0]["quarters_complete"] == 8

    bi.drop_views_before_migrate(sender=None, using="default")
    with connection.schema_editor() as editor:
        editor.alter_field(Reading, wider, old)
    bi.create_views_after_migrate(sender=None, using="default")


@pytest.mark.django_db(transaction=True)
def test_it_rebuilds_the_views_on_every_migrate():
    with connection.cursor() as cursor:
        cursor.execute("DROP VIEW bi_month_peak")
    call_command("migrate", verbosity=0)
    assert _objects() >= set(bi.VIEW_NAMES)


def test_it_keeps_the_sql_server_script_under_review_in_sync():
    assert REVIEW_SCRIPT.read_text() == bi.review_script("microsoft"), (
        "regenerate docs/bi/sqlserver-views.sql with meters.bi.review_script('microsoft')"
    )


def test_it_names_the_vendors_it_supports():
    with pytest.raises(bi.UnsupportedDatabase, match=r"sqlite, postgresql, microsoft.*'oracle'"):
        bi.create_views_sql("oracle")


def test_it_writes_sql_server_statements_that_parse_as_t_sql():
    """SQL Server cannot run here: at least every statement must parse as T-SQL and use only known functions."""
    sqlglot = pytest.importorskip("sqlglot")
    from sqlglot import exp

    statements = [
        *bi.create_tables_sql("microsoft"),
        *bi.create_views_sql("microsoft"),
        *bi.reference_views_sql("microsoft", "meters_reading", "meters_meter", "auth_user"),
        *bi.drop_views_sql("microsoft"),
    ]
    for sql in statements:
        tree = sqlglot.parse_one(sql, read="tsql", error_level=sqlglot.ErrorLevel.RAISE)
        # SWITCHOFFSET is a documented T-SQL function sqlglot does not model; any other unknown name is a typo.
        assert {f.name.upper() for f in tree.find_all(exp.Anonymous)} <= {"SWITCHOFFSET"}, sql
    reference = next(sql for sql in statements if "DATEADD(minute, 15, x.[timestamp])" in sql)
    unbalanced = reference.replace("DATEADD(minute, 15, x.[timestamp])", "DATEADD(minute, 15, x.[timestamp]", 1)
    with pytest.raises(sqlglot.errors.ParseError):  # the check itself can fail
        sqlglot.parse_one(unbalanced, read="tsql", error_level=sqlglot.ErrorLevel.RAISE)
