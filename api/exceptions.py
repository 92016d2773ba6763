"""API-specific errors, rendered by DRF's exception handler as ``{"detail": ...}``."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import status
from rest_framework.exceptions import APIException


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The request is too large.")
    default_code = "payload_too_large"


class AccountLocked(APIException):
    """A token request for an account that django-axes locked (too many failed logins from this address).

    Rendered like SimpleJWT's token errors, ``{"detail": ..., "code": "account_locked"}``, with ``Retry-After``
    (DRF's handler sends it for any exception with a ``wait``) set to the seconds until the lock lifts.
    """

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_detail = _("This account is locked after too many failed logins. Try again later.")
    default_code = "account_locked"

    def __init__(self, detail: str | None = None, wait: int | None = None) -> None:
        super().__init__({"detail": detail or self.default_detail, "code": self.default_code})
        self.wait = wait
