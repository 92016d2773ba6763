"""docs/bi stays true to the views: every column the Qlik script selects exists, every view column is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.db import connection

DOCS = Path(__file__).resolve().parents[2] / "docs" / "bi"
VIEWS = ("bi_quarter_hour", "bi_day", "bi_month_peak")

pytestmark = pytest.mark.django_db


def _view_columns(view: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {view} WHERE 1 = 0")  # noqa: S608 (constant view names)
        return [c[0] for c in cursor.description]


def test_it_selects_only_existing_columns_in_the_qlik_script():
    script = (DOCS / "qlik-load-script.qvs").read_text()
    selects = re.findall(r"SQL SELECT\s+(.*?)\s+FROM (bi_\w+)", script, flags=re.S)
    assert {view for _, view in selects} == set(VIEWS)
    for columns, view in selects:
        wanted = [c.strip() for c in columns.split(",")]
        assert set(wanted) <= set(_view_columns(view)), f"{view}: {set(wanted) - set(_view_columns(view))}"
        with connection.cursor() as cursor:  # and the database accepts the statement as written
            cursor.execute(f"SELECT {columns} FROM {view} WHERE 1 = 0")  # noqa: S608 (text of our own docs)


@pytest.mark.parametrize("view", VIEWS)
def test_it_documents_every_column_of_the_views(view):
    readme = (DOCS / "README.md").read_text()
    section = readme.split(f"### `{view}`", 1)[1].split("\n### ", 1)[0]
    documented = set(re.findall(r"`(\w+)`", section))
    # Ranges such as `l1_voltage_v` … `l3_voltage_v` document the phase in between.
    documented |= {name.replace("l1_", "l2_") for name in documented if name.startswith("l1_")}
    missing = [c for c in _view_columns(view) if c not in documented]
    assert not missing, f"{view} columns missing from docs/bi/README.md: {missing}"
