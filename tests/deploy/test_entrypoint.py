"""docker/entrypoint.sh run for real against a temporary SQLite database, with a short command (or gunicorn)."""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.contrib.auth.hashers import check_password

from .conftest import ROOT, clean_env, find_tool, free_port

ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
STRONG_PASSWORD = "Granite-Kettle-Orbit-2817"
MARKER_COMMAND = [sys.executable, "-c", "print('command ran')"]


def run_entrypoint(db: Path, *command: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = clean_env(DATABASE_URL=f"sqlite:///{db}", LOG_LEVEL="WARNING", **env)
    return subprocess.run(
        ["sh", str(ENTRYPOINT), *command],
        cwd="/",  # the script must find the project from its own location, as in the image
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def users(db: Path) -> list[tuple[str, str, str, int, int]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT username, email, password, is_superuser, is_staff FROM auth_user").fetchall()


@pytest.fixture(scope="module")
def migrated_db(tmp_path_factory) -> Path:
    """One migrated database per module; tests work on copies (migrating takes seconds)."""
    db = tmp_path_factory.mktemp("entrypoint") / "template.sqlite3"
    result = run_entrypoint(db, *MARKER_COMMAND)
    assert result.returncode == 0, result.stderr
    return db


@pytest.fixture
def db_copy(migrated_db, tmp_path) -> Path:
    copy = tmp_path / "db.sqlite3"
    shutil.copy(migrated_db, copy)
    return copy


def test_it_migrates_then_runs_the_command_without_creating_any_account(tmp_path):
    db = tmp_path / "fresh.sqlite3"

    result = run_entrypoint(db, *MARKER_COMMAND)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("command ran")
    assert {"django_migrations", "meters_meter", "meters_reading", "auth_user"} <= tables(db)
    assert users(db) == []


def test_it_skips_migrations_when_migrate_on_start_is_off(tmp_path):
    db = tmp_path / "untouched.sqlite3"

    result = run_entrypoint(db, *MARKER_COMMAND, MIGRATE_ON_START="off")

    assert result.returncode == 0, result.stderr
    assert "command ran" in result.stdout
    assert "django_migrations" not in tables(db)


def test_it_refuses_a_misspelt_migrate_on_start(db_copy):
    result = run_entrypoint(db_copy, *MARKER_COMMAND, MIGRATE_ON_START="sometimes")

    assert result.returncode == 2
    assert "MIGRATE_ON_START must be a boolean" in result.stderr
    assert "command ran" not in result.stdout


def test_it_creates_the_superuser_when_all_three_variables_are_set(db_copy):
    result = run_entrypoint(
        db_copy,
        *MARKER_COMMAND,
        MIGRATE_ON_START="0",
        DJANGO_SUPERUSER_USERNAME="operator",
        DJANGO_SUPERUSER_PASSWORD=STRONG_PASSWORD,
        DJANGO_SUPERUSER_EMAIL="ops@example.org",
    )

    assert result.returncode == 0, result.stderr
    assert "command ran" in result.stdout
    [(username, email, password_hash, is_superuser, is_staff)] = users(db_copy)
    assert (username, email, is_superuser, is_staff) == ("operator", "ops@example.org", 1, 1)
    assert check_password(STRONG_PASSWORD, password_hash)


def test_it_leaves_an_existing_superuser_untouched_on_restart(db_copy):
    first = {
        "DJANGO_SUPERUSER_USERNAME": "operator",
        "DJANGO_SUPERUSER_EMAIL": "ops@example.org",
        "MIGRATE_ON_START": "0",
    }
    assert run_entrypoint(db_copy, *MARKER_COMMAND, DJANGO_SUPERUSER_PASSWORD=STRONG_PASSWORD, **first).returncode == 0

    again = run_entrypoint(db_copy, *MARKER_COMMAND, DJANGO_SUPERUSER_PASSWORD="Another-Strong-Pass-9931", **first)

    assert again.returncode == 0, again.stderr
    assert "command ran" in again.stdout
    [(_, _, password_hash, _, _)] = users(db_copy)
    assert check_password(STRONG_PASSWORD, password_hash)


def test_it_refuses_the_prototypes_admin_admin_account(db_copy):
    result = run_entrypoint(
        db_copy,
        *MARKER_COMMAND,
        MIGRATE_ON_START="0",
        DJANGO_SUPERUSER_USERNAME="admin",
        DJANGO_SUPERUSER_PASSWORD="admin",
        DJANGO_SUPERUSER_EMAIL="admin@example.com",
    )

    assert result.returncode == 2
    assert "DJANGO_SUPERUSER_PASSWORD is too weak" in result.stderr
    assert "command ran" not in result.stdout
    assert users(db_copy) == []


def test_it_names_the_missing_superuser_variables(db_copy):
    result = run_entrypoint(db_copy, *MARKER_COMMAND, MIGRATE_ON_START="0", DJANGO_SUPERUSER_USERNAME="operator")

    assert result.returncode == 2
    assert "DJANGO_SUPERUSER_PASSWORD, DJANGO_SUPERUSER_EMAIL must be set too" in result.stderr
    assert users(db_copy) == []


def test_it_starts_gunicorn_by_default_and_the_healthcheck_passes(db_copy):
    find_tool("gunicorn", "pip install -r requirements.txt", ROOT / ".venv" / "bin" / "gunicorn")
    port = free_port()
    env = clean_env(
        DATABASE_URL=f"sqlite:///{db_copy}",
        MIGRATE_ON_START="0",
        PORT=str(port),
        ALLOWED_HOSTS="energy.example.org",
        GUNICORN_WORKERS="1",
        GUNICORN_THREADS="2",
        LOG_LEVEL="WARNING",
    )
    server = subprocess.Popen(
        ["sh", str(ENTRYPOINT)], cwd="/", env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 30
        healthy = None
        while time.monotonic() < deadline and server.poll() is None:
            healthy = subprocess.run(
                [sys.executable, str(ROOT / "docker" / "healthcheck.py")],
                env=env,
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
            if healthy.returncode == 0:
                break
            time.sleep(0.3)
        assert server.poll() is None, server.stdout.read() if server.stdout else ""
        assert healthy is not None
        assert healthy.returncode == 0, healthy.stderr
        # exec: the entrypoint's process is gunicorn itself, so SIGTERM stops it gracefully.
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
