"""Shared fixtures: users are built in code (alice owns, bob is another account); database and browser gates."""

from __future__ import annotations

import os
import shutil

import pytest


def _required(name: str) -> bool:
    return os.environ.get(name, "") == "1"


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
