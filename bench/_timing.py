"""Timing helpers shared by the benchmarks (run as scripts: ``python bench/<name>.py``)."""

from __future__ import annotations

import os
import secrets
import statistics
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
