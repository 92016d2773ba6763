"""Timing helpers shared by the benchmarks (run as scripts: ``python bench/<name>.py``)."""

from __future__ import annotations

import os
import secrets
import signal
import statistics
import subprocess
import time
from collections.abc import Callable


def time_calls(fn: Callable[[], object], calls: int) -> tuple[float, float]:
    """Median and p95 in milliseconds of ``calls`` calls of ``fn``, after one warm-up call (connection, caches)."""
    fn()
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, round(0.95 * len(samples)) - 1)]


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a benchmark's Django child process: DEBUG off, as in production, with a throw-away key.

    The settings refuse to start without a real SECRET_KEY when DEBUG is off; DEBUG on would log every query
    and skew the figures.
    """
    env = {**os.environ, "DEBUG": "0", **extra}
    if not env.get("SECRET_KEY"):
        env["SECRET_KEY"] = secrets.token_urlsafe(50)
    return env


def wait_for_health(process: subprocess.Popen[bytes], base: str, log_name: str, timeout: float = 60) -> None:
    """Until the server at ``base`` answers /healthz with 200; RuntimeError when ``process`` exits or time is up."""
    import requests  # only the server benchmarks need it

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}; see {log_name}")
        try:
            if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass  # still booting
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer /healthz within {timeout:.0f} s")


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, then SIGKILL when it has not stopped within 20 s."""
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_children(script: str, passthrough: list[str], scale: str, pg_url: str) -> int:
    """Run ``script --child`` once on SQLite (a temporary file) and once on PostgreSQL (a scratch database ``pg_url``,
    dropped and created around the run; skipped with a message when the server is unreachable): Django reads its
    settings once per process. The children's exit statuses or-ed."""
    import sys
    import tempfile

    status = 0
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        print(f"== SQLite (temporary file), {scale} ==", flush=True)
        env = child_env(DATABASE_URL=f"sqlite:///{tmp}/bench.sqlite3")
        status |= subprocess.run([sys.executable, script, *passthrough, "--child"], env=env, check=False).returncode
    print(f"== PostgreSQL ({pg_url}), {scale} ==", flush=True)
    try:
        import psycopg

        admin_url, name = pg_url.rsplit("/", 1)
        with psycopg.connect(f"{admin_url}/postgres", autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            admin.execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # noqa: BLE001 - any connection problem means "skip PostgreSQL"
        print(f"  skipped: PostgreSQL unreachable ({exc.__class__.__name__}: {exc})")
        return status
    try:
        env = child_env(DATABASE_URL=pg_url)
        status |= subprocess.run([sys.executable, script, *passthrough, "--child"], env=env, check=False).returncode
    finally:
        with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    return status
