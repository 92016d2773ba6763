"""docs/operations.md documents every environment variable the server and the container read."""

from __future__ import annotations

import re

from .conftest import ROOT

GUIDE = ROOT / "docs" / "operations.md"


def names_read_by_settings() -> set[str]:
    source = (ROOT / "energy_app" / "settings.py").read_text()
    return set(re.findall(r"\benv_[a-z_]+\(\s*\"([A-Z][A-Z0-9_]+)\"", source))


def names_read_by_container() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "docker").glob("*.py"):
        source = path.read_text()
        names |= set(re.findall(r"(?:environ\.get|_env_int|environ)\(?\[?\s*\"([A-Z][A-Z0-9_]+)\"", source))
    names |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)[:}]", (ROOT / "docker" / "entrypoint.sh").read_text()))
    return names - {"DJANGO_SETTINGS_MODULE", "PYTHON"}


def test_it_documents_every_setting_the_server_reads():
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", GUIDE.read_text()))
    read = names_read_by_settings()
    assert {"SECRET_KEY", "DATABASE_URL", "ALLOWED_HOSTS"} <= read

    assert read - documented == set(), "add these to the reference in docs/operations.md"


def test_it_documents_every_container_variable():
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", GUIDE.read_text()))
    read = names_read_by_container()
    assert {"MIGRATE_ON_START", "GUNICORN_WORKERS", "DJANGO_SUPERUSER_PASSWORD", "PORT"} <= read

    assert read - documented == set(), "add these to the reference in docs/operations.md"
