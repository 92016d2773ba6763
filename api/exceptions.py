"""API-specific errors, rendered by DRF's exception handler as ``{"detail": ...}``."""

from __future__ import annotations

from rest_framework import status
from rest_framework.exceptions import APIException


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request is too large."
    default_code = "payload_too_large"
