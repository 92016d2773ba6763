"""Shared fixtures: users are built in code (alice owns, bob is another account); database and browser gates."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from tests.factories import reading_item


def _required(name: str) -> bool:
    return os.environ.get(name, "") == "1"


@pytest.fixture(autouse=True)
def _fresh_cache(request):
    """Each test starts with an empty cache: throttle counters and the series' past-month peaks live there, keyed by
    ids that rolled-back tests reuse.

    The default cache is a table in the test database: a test without the django_db mark cannot reach it, and so
    cannot have left anything in it either.
    """
    from django.core.cache import cache, caches
    from django.core.cache.backends.db import BaseDatabaseCache

    if isinstance(caches["default"], BaseDatabaseCache) and request.node.get_closest_marker("django_db") is None:
        yield
        return
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def make_item():
    """``make_item(serial, timestamp, **overrides)``: a valid three-phase reading dict (DESIGN.md field names)."""
    return reading_item


@pytest.fixture
def password() -> str:
    return "correct-horse-battery-42"


@pytest.fixture
def alice(django_user_model, password):
    return django_user_model.objects.create_user("alice", "alice@example.org", password)


@pytest.fixture
def bob(django_user_model, password):
    return django_user_model.objects.create_user("bob", "bob@example.org", password)


@pytest.fixture
def staff(django_user_model, password):
    return django_user_model.objects.create_user("operator", "ops@example.org", password, is_staff=True)


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(client, bob):
    client.force_login(bob)
    return client


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if candidate and shutil.which(candidate):
            return candidate
    return None


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    path = chromium_path()
    if path is None:
        if _required("REQUIRE_BROWSER"):
            pytest.fail("REQUIRE_BROWSER=1 but Debian's chromium is not installed (apt-get install chromium)")
        pytest.skip("Debian's chromium is not installed; browser tests skipped (apt-get install chromium)")
    return path


# Flags for Debian's chromium in a closed network: no background connections that would only be refused.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser(chromium_executable) -> Iterator:
    """One Chromium for the whole run: Playwright's sync API allows one running instance per thread."""
    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API runs an event loop in this thread, so Django would refuse the tests' own (synchronous)
    # ORM calls; the flag lives only as long as the browser, so subprocesses started later don't inherit it.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_api.sync_playwright() as playwright:
            instance = playwright.chromium.launch(executable_path=chromium_executable, args=CHROMIUM_ARGS)
            yield instance
            instance.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous
