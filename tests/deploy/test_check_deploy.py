"""`manage.py check --deploy` with production settings from the environment prints no warning."""

from __future__ import annotations

import secrets
import subprocess
import sys

import pytest

from energy_app.settings import DEFAULT_SECRET_KEY

from .conftest import ROOT, clean_env

PRODUCTION = {
    "DEBUG": "0",
    "ALLOWED_HOSTS": "energy.example.org",
    "CSRF_TRUSTED_ORIGINS": "https://energy.example.org",
    "BEHIND_HTTPS_PROXY": "1",
    "SECURE_SSL_REDIRECT": "1",
    "SESSION_COOKIE_SECURE": "1",
    "CSRF_COOKIE_SECURE": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
    "STATIC_MANIFEST": "1",
}


def check_deploy(tmp_path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = clean_env(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", **env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_it_reports_no_issue_for_a_production_environment(tmp_path):
    result = check_deploy(tmp_path, SECRET_KEY=secrets.token_urlsafe(50), **PRODUCTION)

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def test_it_warns_when_https_settings_are_missing(tmp_path):
    insecure = {key: value for key, value in PRODUCTION.items() if not key.startswith(("SECURE_", "SESSION", "CSRF_C"))}

    result = check_deploy(tmp_path, SECRET_KEY=secrets.token_urlsafe(50), **insecure)

    output = result.stdout + result.stderr
    for check_id in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check_id in output


@pytest.mark.parametrize(
    "key", ["", DEFAULT_SECRET_KEY, "too-short-for-production"], ids=["empty", "development key", "short"]
)
def test_it_refuses_to_start_without_a_real_secret_key(tmp_path, key):
    result = check_deploy(tmp_path, SECRET_KEY=key, **PRODUCTION)

    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be a random value of at least 50 characters" in result.stderr


def test_it_gives_subprocesses_a_real_secret_key_unless_told_otherwise():
    # docker/entrypoint.sh, gunicorn and /healthz run with DEBUG off in these tests, so they need one.
    assert len(clean_env()["SECRET_KEY"]) >= 50
    assert clean_env(SECRET_KEY="given")["SECRET_KEY"] == "given"
