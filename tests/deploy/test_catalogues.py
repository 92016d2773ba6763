"""check_catalogues (make lint): a new string missing from any of the four catalogues fails the build."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from django.conf import settings

from energy_app.management.commands.check_catalogues import Command

pytestmark = pytest.mark.skipif(shutil.which("msgattrib") is None, reason="GNU gettext is not installed")


def _app(tmp_path, source: str = "api"):
    copy = tmp_path / "source" / source
    shutil.copytree(settings.BASE_DIR / source, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def _compile(app) -> None:
    for po in app.glob("locale/*/LC_MESSAGES/*.po"):
        subprocess.run(["msgfmt", "-o", str(po.with_suffix(".mo")), str(po)], check=True)


def test_it_passes_the_catalogues_as_committed(tmp_path):
    assert Command()._check_app(_app(tmp_path), tmp_path / "scratch" / "api") == []


def test_it_names_a_new_string_that_no_catalogue_has(tmp_path):
    app = _app(tmp_path)
    (app / "new_text.py").write_text(
        "from django.utils.translation import gettext\n\n\n"
        "def text():\n    return gettext('A sentence nobody translated')\n"
    )

    problems = Command()._check_app(app, tmp_path / "scratch" / "api")

    assert {p.split(":")[0] for p in problems} == {
        f"api/locale/{code}/LC_MESSAGES/django.po" for code in ("nl", "fr", "de", "en")
    }
    assert all("A sentence nobody translated" in p for p in problems)


def test_it_names_a_fuzzy_translation_and_a_stale_compiled_catalogue(tmp_path):
    app = _app(tmp_path)
    po = app / "locale" / "fr" / "LC_MESSAGES" / "django.po"
    text = po.read_text()
    first = text.index('\nmsgid "', text.index('msgid ""') + 1)
    po.write_text(text[:first] + "\n#, fuzzy" + text[first:])

    problems = Command()._check_app(app, tmp_path / "scratch" / "api")

    assert any(p.startswith("api/locale/fr/LC_MESSAGES/django.po: fuzzy:") for p in problems), problems
    assert "api/locale/fr/LC_MESSAGES/django.po: its .mo is missing or stale (run compilemessages)" in problems
    _compile(app)
    assert not any("stale" in p for p in Command()._check_app(app, tmp_path / "scratch2" / "api"))
