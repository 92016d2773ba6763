"""Rate limits: token endpoints per client IP (password guessing), ingest per user (runaway devices).

Rates come from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (env THROTTLE_TOKEN_RATE / THROTTLE_INGEST_RATE)
and are read at request time, so a changed setting applies without a restart of the import machinery.
A refused request gets 429 with ``Retry-After`` from DRF's exception handler.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache import cache as default_cache
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.db import BaseDatabaseCache
from django.db import connections, router, transaction
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from users.lockout import client_ip

logger = logging.getLogger(__name__)


# How long a lock on one client's history may live (a worker killed while holding it delays that client no
# longer) and how long a request waits for it before it is refused like a throttled one.
_LOCK_SECONDS = 5
_LOCK_WAIT_SECONDS = 3


@contextmanager
def _exclusive(cache: BaseCache, key: str) -> Iterator[bool]:
    """Hold ``key``'s throttle history against every other worker and instance; yields False when the lock was
    not had in time.

    SQLite (the database cache's default home): the settings make Django begin with BEGIN IMMEDIATE, which takes
    the database's one write lock, so reading and writing back the history inside one transaction is atomic.
    Elsewhere (Redis, PostgreSQL, SQL Server) ``cache.add`` of a lock key is atomic: Redis SET NX, a database INSERT
    against the cache table's primary key.
    """
    if isinstance(cache, BaseDatabaseCache):
        alias = router.db_for_write(cache.cache_model_class)
        if connections[alias].vendor == "sqlite":
            with transaction.atomic(using=alias):
                yield True
            return
    lock = f"{key}:lock"
    deadline = time.monotonic() + _LOCK_WAIT_SECONDS
    while not cache.add(lock, 1, _LOCK_SECONDS):
        if time.monotonic() > deadline:
            logger.warning("throttle: no lock on %s within %s s; request refused", key, _LOCK_WAIT_SECONDS)
            yield False
            return
        time.sleep(0.005)
    try:
        yield True
    finally:
        cache.delete(lock)


class _SettingsRateThrottle(SimpleRateThrottle):
    def get_rate(self) -> str | None:
        # drf-stubs types the rates as numbers; DRF's are texts such as "20/min".
        rates = cast("dict[str, str | None]", api_settings.DEFAULT_THROTTLE_RATES)
        return rates.get(self.scope) if self.scope is not None else None

    def allow_request(self, request: Request, view: APIView) -> bool:
        """DRF's sliding window, with its read and write-back of the client's history made atomic: two workers that
        read the same history before either wrote it back each let a request through (28 of 40 parallel attempts
        against 20/min were accepted with three gunicorn workers)."""
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        backend = caches[DEFAULT_CACHE_ALIAS] if self.cache is default_cache else self.cache
        with _exclusive(backend, key) as locked:
            if not locked:
                self.history, self.now = [], self.timer()
                return self.throttle_failure()
            return super().allow_request(request, view)


class TokenRateThrottle(_SettingsRateThrottle):
    """Per client IP, whether or not the request carries credentials."""

    scope = "token"

    def get_ident(self, request: Request) -> str:
        # The login lockout's rule (TRUSTED_PROXY_COUNT), so a guesser cannot pick a fresh "IP" per request.
        return client_ip(request) or ""

    def get_cache_key(self, request: Request, view: APIView) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class IngestRateThrottle(_SettingsRateThrottle):
    """Per authenticated user (authentication runs before throttling, so there always is one)."""

    scope = "ingest"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        if not request.user or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class DeviceCodeRateThrottle(TokenRateThrottle):
    """Pairing codes asked for, per client IP."""

    scope = "device_code"


class DeviceTokenRateThrottle(TokenRateThrottle):
    """Polls for a device token, per client IP (RFC 8628's slow_down handles one device polling too fast)."""

    scope = "device_token"
