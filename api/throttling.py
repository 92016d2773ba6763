"""Rate limits: token endpoints per client IP (password guessing), ingest per user (runaway devices).

Rates come from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (env THROTTLE_TOKEN_RATE / THROTTLE_INGEST_RATE)
and are read at request time, so a changed setting applies without a restart of the import machinery.
A refused request gets 429 with ``Retry-After`` from DRF's exception handler.
"""

from __future__ import annotations

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class _SettingsRateThrottle(SimpleRateThrottle):
    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class TokenRateThrottle(_SettingsRateThrottle):
    """Per client IP, whether or not the request carries credentials."""

    scope = "token"

    def get_ident(self, request) -> str:
        # DRF trusts X-Forwarded-For unless NUM_PROXIES is set, which would let a password guesser pick a
        # fresh "IP" per request; without a configured proxy count only the socket address counts.
        if api_settings.NUM_PROXIES is None:
            return request.META.get("REMOTE_ADDR", "")
        return super().get_ident(request)

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class IngestRateThrottle(_SettingsRateThrottle):
    """Per authenticated user (authentication runs before throttling, so there always is one)."""

    scope = "ingest"

    def get_cache_key(self, request, view) -> str | None:
        if not request.user or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}
