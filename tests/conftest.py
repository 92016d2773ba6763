"""Shared fixtures: users are built in code (alice owns, bob is another account), alice's meter, fast password
hashing for the suites that log in a lot; database and browser gates; ``wait_for`` for tests with threads."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.factories import ALICE_SERIAL, reading_item

T = TypeVar("T")


def _required(name: str) -> bool:
    return os.environ.get(name, "") == "1"


def wait_for(
    predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.01, message: str | Callable[[], str] = ""
) -> T:
    """Poll ``predicate`` every ``interval`` seconds until it returns something truthy, and return that.

    For "until X happened" in tests that run threads or subprocesses: the test goes on as soon as X holds instead of
    sleeping a guessed time. After ``timeout`` seconds it raises AssertionError naming what it waited for
    (``message``, or a callable that builds it then, e.g. with the tail of a log); an exception raised by
    ``predicate`` (e.g. "the process died") ends the wait at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            what = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or 'the condition'}")
        time.sleep(interval)


@pytest.fixture(autouse=True)
def _fresh_cache(request):
    """Each test starts with an empty cache: throttle counters and the series' past-month peaks live there, keyed by
    ids that rolled-back tests reuse.

    The default cache is a table in the test database: a test without the django_db mark cannot reach it, and so
    cannot have left anything in it either.
    """
    from django.core.cache import cache, caches
    from django.core.cache.backends.db import BaseDatabaseCache
    from django.core.cache.backends.redis import RedisCache

    if isinstance(caches["default"], BaseDatabaseCache) and request.node.get_closest_marker("django_db") is None:
        yield
        return
    cache.clear()
    yield
    # A test that points the cache at the real Redis clears its own keys: clear() there is FLUSHDB, which would
    # wipe the keys of a test running beside it in another worker.
    if not isinstance(caches["default"], RedisCache):
        cache.clear()


@pytest.fixture(autouse=True)
def _tariff_data(request):
    """The shipped tariff rows (VAT, network tariffs, levies, presets) that migration 0013 loads.

    A transactional test flushes every table when it ends, the rows of data migrations included, so a test that runs
    after one on the same worker would find no tariffs: load them again when they are gone (one cheap query else).
    """
    if request.node.get_closest_marker("django_db") is None:
        yield
        return
    from meters.billing import tariffs
    from meters.models import NetworkTariff

    if not NetworkTariff.objects.exists():
        tariffs.load(tariffs.read_file())
    yield


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the site's language: one that activates another (a translation test) leaves it active
    in its thread for the next test, and services called directly (not through a request) would answer in it."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


# Suites that create and log in many users: PBKDF2's deliberate slowness buys nothing there (hashing strength is
# not what they test). Elsewhere the real hashers stay, e.g. tests/deploy checks hashes made by the entrypoint.
_FAST_HASHING_SUITES = ("api", "users")


@pytest.fixture(autouse=True)
def _fast_password_hashing(request):
    """MD5 password hashing in the suites of ``_FAST_HASHING_SUITES``; a test module may override it by name."""
    suite = request.node.path.relative_to(Path(__file__).parent).parts[0]
    if suite in _FAST_HASHING_SUITES:
        settings = request.getfixturevalue("settings")
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_item():
    """``make_item(serial, timestamp, **overrides)``: a valid three-phase reading dict (docs/design.md field names)."""
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
def alice_meter(alice):
    """Alice's meter "Home" (serial ``ALICE_SERIAL``), without readings."""
    from meters.models import Meter

    return Meter.objects.create(serial=ALICE_SERIAL, name="Home", owner=alice)


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


@pytest.fixture
def redis_url() -> str:
    """The URL of the real Redis at 127.0.0.1:6379 (TEST_REDIS_URL); skipped when it does not answer, unless
    REQUIRE_REDIS=1 (CI), where that fails."""
    import redis

    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if os.environ.get("REQUIRE_REDIS") == "1":
            pytest.fail(f"REQUIRE_REDIS=1 but Redis at {url} does not answer: {exc}")
        pytest.skip(f"Redis at {url} does not answer ({exc.__class__.__name__}); start redis-server to run this")
    return url
