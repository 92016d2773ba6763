"""Helpers for the deploy checks: repository paths, external tools (skip or fail), subprocess environments."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infrastructure"
VENV_BIN = Path(sys.executable).parent
TOOLS_BIN = ROOT / ".venv-tools" / "bin"

# Variables of the developer's shell that would change what a subprocess under test does.
_LEAKY_PREFIXES = (
    "DJANGO_SUPERUSER_",
    "DJANGO_ALLOW_ASYNC_UNSAFE",  # set while the test browser runs; never in a deployment
    "GUNICORN_",
    "SECURE_",
    "MIGRATE_ON_START",
    "DATABASE_URL",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "CSRF_",
    "SESSION_COOKIE_SECURE",
    "BEHIND_HTTPS_PROXY",
    "STATIC_",
    "PORT",
    "LOG_LEVEL",
)


def tools_required() -> bool:
    return os.environ.get("REQUIRE_DEPLOY_TOOLS", "") == "1" or os.environ.get("CI", "") == "true"


def find_tool(name: str, hint: str, *candidates: Path, in_registries: bool = True) -> str:
    """Path of an external tool; skips (or fails when REQUIRE_DEPLOY_TOOLS=1 or CI=true) when it is missing.

    ``in_registries=False`` marks a tool that .ci/run cannot install (terraform is in none of the package
    registries CI reaches): plain CI then skips without it; REQUIRE_DEPLOY_TOOLS=1 (the GitLab job) still fails.
    """
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    message = f"{name} is not installed ({hint})"
    if os.environ.get("REQUIRE_DEPLOY_TOOLS", "") == "1" or (tools_required() and in_registries):
        pytest.fail(f"{message}; REQUIRE_DEPLOY_TOOLS=1 or CI=true demands it")
    pytest.skip(f"{message}; set REQUIRE_DEPLOY_TOOLS=1 to make this a failure")


def clean_env(**overrides: str) -> dict[str, str]:
    """The current environment without deploy knobs, the test venv first on PATH, plus overrides."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(_LEAKY_PREFIXES)}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # With DEBUG off the settings refuse to start without a real key; a throw-away one unless a test sets its own.
    env["SECRET_KEY"] = secrets.token_urlsafe(50)
    env.update(overrides)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
