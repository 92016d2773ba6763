"""Settings from the environment: clear errors naming the variable, DATABASE_URL parsing, production checks."""

from __future__ import annotations

import os
import runpy
import secrets
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured

from energy_app import settings as project_settings
from energy_app.settings import (
    DEFAULT_SECRET_KEY,
    database_from_url,
    env_bool,
    env_decimal,
    env_int,
    env_url_list,
    require_secret_key,
)

BASE_DIR = Path(project_settings.BASE_DIR)


def _load_settings(monkeypatch, **env) -> dict:
    """Execute energy_app/settings.py afresh with extra environment variables."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_module("energy_app.settings", run_name="settings_under_test")


# --- helpers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("yes", True), ("On", True), ("0", False), ("false", False), ("", False)]
)
def test_it_reads_booleans(monkeypatch, raw, expected):
    monkeypatch.setenv("SOME_FLAG", raw)
    assert env_bool("SOME_FLAG") is expected


def test_it_uses_the_default_for_a_missing_boolean(monkeypatch):
    monkeypatch.delenv("SOME_FLAG", raising=False)
    assert env_bool("SOME_FLAG", True) is True


def test_it_names_the_variable_for_a_bad_boolean(monkeypatch):
    monkeypatch.setenv("SOME_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match=r"SOME_FLAG must be a boolean.*'maybe'"):
        env_bool("SOME_FLAG")


def test_it_names_the_variable_for_a_bad_integer(monkeypatch):
    monkeypatch.setenv("SOME_COUNT", "five")
    with pytest.raises(ImproperlyConfigured, match=r"SOME_COUNT must be a whole number, got 'five'"):
        env_int("SOME_COUNT", 5)


def test_it_enforces_an_integer_minimum(monkeypatch):
    monkeypatch.setenv("SOME_COUNT", "0")
    with pytest.raises(ImproperlyConfigured, match=r"SOME_COUNT must be at least 1, got 0"):
        env_int("SOME_COUNT", 5, minimum=1)


def test_it_names_the_variable_for_a_bad_price(monkeypatch):
    monkeypatch.setenv("SOME_PRICE", "0,30")
    with pytest.raises(ImproperlyConfigured, match=r"SOME_PRICE must be a decimal number such as 0.30"):
        env_decimal("SOME_PRICE", "0.30")
    monkeypatch.setenv("SOME_PRICE", "-0.1")
    with pytest.raises(ImproperlyConfigured, match=r"SOME_PRICE must be a finite number >= 0"):
        env_decimal("SOME_PRICE", "0.30")
    monkeypatch.setenv("SOME_PRICE", "0.2875")
    assert env_decimal("SOME_PRICE", "0.30") == Decimal("0.2875")


def test_it_names_the_variable_for_an_origin_without_scheme(monkeypatch):
    monkeypatch.setenv("CSRF_TRUSTED_ORIGINS", "https://p1.example.org, p1.example.org")
    with pytest.raises(ImproperlyConfigured, match=r"CSRF_TRUSTED_ORIGINS must be .*'p1.example.org'"):
        env_url_list("CSRF_TRUSTED_ORIGINS")


# --- the settings module as a whole -------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DEBUG", "perhaps", r"DEBUG must be a boolean"),
        ("AXES_FAILURE_LIMIT", "five", r"AXES_FAILURE_LIMIT must be a whole number"),
        ("EMAIL_PORT", "smtp", None),  # only read when EMAIL_HOST is set, see below
        ("DATABASE_URL", "mysql://u:p@db/p1", r"DATABASE_URL must start with sqlite:///, postgres:// or mssql://"),
        ("TIME_ZONE", "Europe/Gent", r"TIME_ZONE must be an IANA zone such as Europe/Brussels, got 'Europe/Gent'"),
        ("CSRF_TRUSTED_ORIGINS", "p1.example.org", r"CSRF_TRUSTED_ORIGINS must be a comma-separated list of origins"),
        ("LOG_LEVEL", "LOUD", r"LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'LOUD'"),
        ("PRICE_GAS_EUR_M3", "cheap", r"PRICE_GAS_EUR_M3 must be a decimal number"),
    ],
)
def test_it_refuses_to_start_with_a_bad_value(monkeypatch, variable, value, message):
    if message is None:
        monkeypatch.setenv("EMAIL_HOST", "smtp.example.org")
        message = r"EMAIL_PORT must be a whole number, got 'smtp'"
    with pytest.raises(ImproperlyConfigured, match=message):
        _load_settings(monkeypatch, **{variable: value})


def test_it_refuses_tls_and_ssl_together(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be on"):
        _load_settings(monkeypatch, EMAIL_HOST="smtp.example.org", EMAIL_USE_TLS="1", EMAIL_USE_SSL="1")


def test_it_switches_to_smtp_when_a_mail_host_is_set(monkeypatch):
    config = _load_settings(monkeypatch, EMAIL_HOST="smtp.example.org", EMAIL_PORT="465", EMAIL_USE_TLS="0")
    assert config["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert config["EMAIL_PORT"] == 465


def test_it_defaults_to_brussels_time_and_the_console_mailer(monkeypatch):
    for name in ("TIME_ZONE", "EMAIL_HOST", "EMAIL_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    config = _load_settings(monkeypatch)
    assert config["TIME_ZONE"] == "Europe/Brussels"
    assert config["USE_TZ"] is True
    assert config["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"


def test_it_reports_a_bad_value_when_manage_py_starts(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": "sqlite:///:memory:",
        "TIME_ZONE": "Mars/Olympus_Mons",
        "SECRET_KEY": secrets.token_urlsafe(50),
    }
    result = subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured: TIME_ZONE must be an IANA zone" in result.stderr


# --- DATABASE_URL -------------------------------------------------------------------------------


def test_it_reads_an_absolute_sqlite_path():
    config = database_from_url("sqlite:////var/lib/p1/db.sqlite3")
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == "/var/lib/p1/db.sqlite3"


def test_it_reads_the_default_sqlite_url_as_the_project_database():
    assert database_from_url(f"sqlite:///{BASE_DIR / 'db.sqlite3'}")["NAME"] == str(BASE_DIR / "db.sqlite3")


def test_it_reads_a_three_slash_sqlite_path_as_relative_to_the_project():
    assert database_from_url("sqlite:///data/p1.sqlite3")["NAME"] == str(BASE_DIR / "data" / "p1.sqlite3")


def test_it_reads_an_in_memory_sqlite():
    assert database_from_url("sqlite:///:memory:")["NAME"] == ":memory:"


def test_it_reads_a_postgres_url_with_escaped_password_and_options():
    config = database_from_url("postgres://p1app:s%40cret%2Fx@db.internal:6432/p1energy?sslmode=require")
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["NAME"], config["USER"], config["PASSWORD"]) == ("p1energy", "p1app", "s@cret/x")
    assert (config["HOST"], config["PORT"]) == ("db.internal", "6432")
    assert config["OPTIONS"] == {"sslmode": "require"}


def test_it_accepts_the_postgresql_spelling():
    assert database_from_url("postgresql://u@h/p1")["ENGINE"] == "django.db.backends.postgresql"


def test_it_reads_an_mssql_url_with_odbc_driver_18():
    config = database_from_url("mssql://sqladmin:pw@p1-sql.database.windows.net/p1energy")
    assert config["ENGINE"] == "mssql"
    assert (config["HOST"], config["PORT"], config["NAME"]) == ("p1-sql.database.windows.net", "1433", "p1energy")
    assert config["OPTIONS"]["driver"] == "ODBC Driver 18 for SQL Server"
    assert config["OPTIONS"]["extra_params"] == "Encrypt=yes;TrustServerCertificate=no"


def test_it_passes_mssql_query_options_through():
    config = database_from_url("mssql://u:p@h:14330/db?driver=ODBC+Driver+17+for+SQL+Server&Encrypt=no")
    assert config["PORT"] == "14330"
    assert config["OPTIONS"] == {"driver": "ODBC Driver 17 for SQL Server", "extra_params": "Encrypt=no"}


@pytest.mark.parametrize("url", ["postgres://u:p@h:5432/", "mssql://u:p@h:1433"])
def test_it_names_the_variable_when_the_database_name_is_missing(url):
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL must name a database"):
        database_from_url(url)


def test_it_names_the_variable_for_an_unknown_scheme():
    with pytest.raises(ImproperlyConfigured, match=r"DATABASE_URL must start with .*got scheme 'mysql'"):
        database_from_url("mysql://u:p@h/db")


# --- system check -------------------------------------------------------------------------------


def _warning_ids() -> set[str]:
    return {message.id for message in run_checks()}


def test_it_warns_about_the_default_key_and_empty_hosts_with_debug_off(settings):
    settings.DEBUG = False
    settings.SECRET_KEY = DEFAULT_SECRET_KEY
    settings.ALLOWED_HOSTS = []
    assert {"energy_app.W001", "energy_app.W002"} <= _warning_ids()


def test_it_warns_about_a_short_key_set_after_start(settings):
    settings.DEBUG = False
    settings.SECRET_KEY = "only-thirty-characters-long-x1"
    settings.ALLOWED_HOSTS = ["p1.example.org"]
    [warning] = [message for message in run_checks() if message.id == "energy_app.W001"]
    assert "it has 30 characters" in warning.msg
    assert settings.SECRET_KEY not in warning.msg


def test_it_does_not_warn_about_a_real_production_setup(settings):
    settings.DEBUG = False
    settings.SECRET_KEY = "a-long-random-production-key-" + "x" * 40
    settings.ALLOWED_HOSTS = ["p1.example.org"]
    assert not {"energy_app.W001", "energy_app.W002"} & _warning_ids()


def test_it_does_not_warn_while_debugging(settings):
    settings.DEBUG = True
    settings.SECRET_KEY = DEFAULT_SECRET_KEY
    settings.ALLOWED_HOSTS = []
    assert not {"energy_app.W001", "energy_app.W002"} & _warning_ids()


# --- SECRET_KEY (issue 12: the server started with the public development key) ---------------------------


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "it is not set"),
        (DEFAULT_SECRET_KEY, "it is the public development key"),
        ("x7!Kq2" * 8, "it has 48 characters"),
        ("a" * 64, "it has fewer than 5 different characters"),
    ],
)
def test_it_refuses_a_weak_secret_key_with_debug_off(key, reason):
    with pytest.raises(ImproperlyConfigured) as raised:
        require_secret_key(key, debug=False)
    message = str(raised.value)
    assert message.startswith("SECRET_KEY must be a random value of at least 50 characters")
    assert reason in message
    assert "secrets.token_urlsafe(50)" in message
    if key:
        assert key not in message  # a secret is never echoed into logs


def test_it_accepts_a_long_random_secret_key():
    require_secret_key(secrets.token_urlsafe(50), debug=False)


def test_it_allows_the_development_key_while_debugging():
    require_secret_key(DEFAULT_SECRET_KEY, debug=True)
    require_secret_key("", debug=True)


def _start(tmp_path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value for key, value in os.environ.items() if key not in {"SECRET_KEY", "DEBUG", "PYTEST_VERSION"}
    }
    environment.update(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", **env)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# What gunicorn does first: import the WSGI module, which sets Django up.
LOAD_WSGI_APP = "import energy_app.wsgi"


@pytest.mark.parametrize(
    "env",
    [{}, {"SECRET_KEY": DEFAULT_SECRET_KEY}, {"SECRET_KEY": "short-key"}, {"SECRET_KEY": "", "DEBUG": "0"}],
    ids=["missing", "development key", "short", "empty"],
)
def test_it_stops_the_server_at_start_without_a_real_secret_key(tmp_path, env):
    result = _start(tmp_path, LOAD_WSGI_APP, **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be a random value of at least 50 characters" in result.stderr


def test_it_starts_the_server_with_a_real_secret_key(tmp_path):
    result = _start(tmp_path, LOAD_WSGI_APP, SECRET_KEY=secrets.token_urlsafe(50))
    assert result.returncode == 0, result.stderr


def test_it_starts_a_debug_server_with_the_development_key(tmp_path):
    result = _start(tmp_path, LOAD_WSGI_APP, DEBUG="1")
    assert result.returncode == 0, result.stderr


# --- SQLite under concurrent writers ------------------------------------------------------------


def test_it_gives_a_sqlite_file_wal_a_busy_timeout_and_immediate_transactions():
    """Several gunicorn workers write one SQLite file: without these, concurrent uploads got "database is locked"."""
    options = database_from_url("sqlite:////var/lib/p1/db.sqlite3")["OPTIONS"]
    assert options["timeout"] >= 20
    assert options["transaction_mode"] == "IMMEDIATE"
    pragmas = {p.strip().lower() for p in options["init_command"].split(";") if p.strip()}
    assert pragmas == {"pragma journal_mode=wal", "pragma synchronous=normal"}


def test_it_keeps_an_in_memory_sqlite_to_a_busy_timeout():
    # One process owns an in-memory database (the test suite): WAL does not apply to it.
    assert database_from_url("sqlite:///:memory:")["OPTIONS"] == {"timeout": 20}


def test_it_really_runs_a_sqlite_file_in_wal_mode(tmp_path, django_db_blocker):
    from django.db.utils import ConnectionHandler

    # A connection of its own to a scratch file, outside the test database.
    connection = ConnectionHandler({"default": database_from_url(f"sqlite:///{tmp_path / 'p1.sqlite3'}")})["default"]
    with django_db_blocker.unblock():
        try:
            with connection.cursor() as cursor:
                assert cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
                assert cursor.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
                assert cursor.execute("PRAGMA busy_timeout").fetchone()[0] == 20_000
            # What Django's atomic() then sends as BEGIN: the write lock from the start of the transaction.
            assert connection.transaction_mode == "IMMEDIATE"
        finally:
            connection.close()


# --- the cache shared by every worker (throttles, lockouts, claim limits) -------------------------


def test_it_shares_the_cache_through_the_database_by_default(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    cache = _load_settings(monkeypatch)["CACHES"]["default"]
    assert cache["BACKEND"] == "django.core.cache.backends.db.DatabaseCache"
    assert cache["LOCATION"]


@pytest.mark.parametrize(
    "url",
    ["redis://127.0.0.1:6379/0", "redis://cache.internal:6379", "rediss://:s3cret@p1.redis.cache.windows.net:6380/2"],
)
def test_it_uses_redis_when_redis_url_is_set(monkeypatch, url):
    cache = _load_settings(monkeypatch, REDIS_URL=url)["CACHES"]["default"]
    assert cache["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert cache["LOCATION"] == url


@pytest.mark.parametrize(
    "url",
    [
        "127.0.0.1:6379",
        "http://127.0.0.1:6379/0",
        "redis://",
        "redis://127.0.0.1:port/0",
        "redis://127.0.0.1:6379/zero",
        "redis://127.0.0.1:6379/0/1",
        "redis://127.0.0.1:99999/0",
    ],
)
def test_it_names_redis_url_and_its_form_for_a_bad_value(monkeypatch, url):
    with pytest.raises(ImproperlyConfigured, match=r"REDIS_URL must look like redis://host:port/db"):
        _load_settings(monkeypatch, REDIS_URL=url)


def test_it_does_not_repeat_the_redis_password_in_the_error(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL") as exc_info:
        _load_settings(monkeypatch, REDIS_URL="redis://:hunter2-secret@cache:6379/x")
    assert "hunter2-secret" not in str(exc_info.value)
