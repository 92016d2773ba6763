"""``manage.py check_catalogues``: every user-facing string ships in Dutch, French, German and English (``make lint``).

For each of our apps it runs ``makemessages`` on a scratch copy of the app (so the working tree is left alone)
and fails when a ``nl``, ``fr``, ``de`` or ``en`` catalogue then has an untranslated or fuzzy entry — which is also
what a new string that is not in the catalogues yet looks like — or when a committed ``.mo`` is not the compiled
``.po``. It
needs GNU gettext (``xgettext``, ``msgattrib``, ``msgfmt``); without it the check is skipped with a notice, unless
``REQUIRE_GETTEXT=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

APPS = ("users", "meters", "theme", "api")
# English is the source language: its catalogue holds each text as it is (msgen, run by `make messages`), so that
# every catalogue is complete and a new string shows up as untranslated in all four.
LANGUAGES = ("nl", "fr", "de", "en")
# Folders of an app that hold no source of ours (vendored and built files).
IGNORED = ("node_modules", "static_src", "static_vendor", "vendor", "__pycache__", "migrations", "dist")


def _run(args: list[str], cwd: Path) -> str:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "energy_app.settings", "PYTHONPATH": str(settings.BASE_DIR)}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise CommandError(f"{' '.join(args[:3])} failed in {cwd}:\n{done.stderr.strip()}")
    return done.stdout


def _entries(po: Path, flag: str) -> list[str]:
    """The msgids of ``po`` that ``msgattrib`` selects with ``flag`` (--untranslated, --only-fuzzy)."""
    output = _run(["msgattrib", flag, "--no-wrap", str(po)], po.parent)
    return [line[len("msgid ") :] for line in output.splitlines() if line.startswith("msgid ") and line != 'msgid ""']


class Command(BaseCommand):
    help = "Fail when a nl/fr/de/en catalogue misses, or has a fuzzy, translation, or a .mo is stale."

    def handle(self, *args: Any, **options: Any) -> None:
        tools = ("xgettext", "msgattrib", "msgfmt")
        missing = [tool for tool in tools if shutil.which(tool) is None]
        if missing:
            message = f"check_catalogues: GNU gettext is not installed ({', '.join(missing)} missing): check skipped"
            if os.environ.get("REQUIRE_GETTEXT") == "1":
                raise CommandError(message + " (REQUIRE_GETTEXT=1: apt-get install gettext)")
            self.stderr.write(message)
            return
        problems: list[str] = []
        with tempfile.TemporaryDirectory(prefix="p1-catalogues-") as scratch:
            for app in APPS:
                problems += self._check_app(Path(settings.BASE_DIR) / app, Path(scratch) / app)
        if problems:
            raise CommandError("Catalogues are not complete:\n  " + "\n  ".join(problems))
        self.stdout.write(f"check_catalogues: {', '.join(APPS)} complete in {', '.join(LANGUAGES)}")

    def _check_app(self, source: Path, copy: Path) -> list[str]:
        if not (source / "locale").is_dir():
            return [f"{source.name}: no locale/ folder (create it with makemessages)"]
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns(*IGNORED))
        makemessages = [sys.executable, "-m", "django", "makemessages", "--no-obsolete", "--no-location"]
        languages = [arg for code in LANGUAGES for arg in ("-l", code)]
        _run([*makemessages, *languages], copy)
        domains = ["django"]
        if any((source / "locale").glob("*/LC_MESSAGES/djangojs.po")):
            _run([*makemessages, "-d", "djangojs", *languages, "--ignore=static/js/vendor/*"], copy)
            domains.append("djangojs")
        problems = []
        for domain in domains:
            for code in LANGUAGES:
                committed = source / "locale" / code / "LC_MESSAGES" / f"{domain}.po"
                label = Path(source.name) / committed.relative_to(source)
                if not committed.exists():
                    problems.append(f"{label}: missing")
                    continue
                remade = copy / "locale" / code / "LC_MESSAGES" / f"{domain}.po"
                problems += [f"{label}: not translated: {m}" for m in _entries(remade, "--untranslated")]
                problems += [f"{label}: fuzzy: {m}" for m in _entries(remade, "--only-fuzzy")]
                problems += self._stale_mo(committed, label)
        return problems

    def _stale_mo(self, po: Path, label: Path) -> list[str]:
        mo = po.with_suffix(".mo")
        with tempfile.TemporaryDirectory() as tmp:
            fresh = Path(tmp) / "fresh.mo"
            _run(["msgfmt", "--check", "-o", str(fresh), str(po)], po.parent)
            if not mo.exists() or mo.read_bytes() != fresh.read_bytes():
                return [f"{label}: its .mo is missing or stale (run compilemessages)"]
        return []
