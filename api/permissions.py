"""What a device token may do: upload readings and telegrams, nothing else (meters.devices)."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from meters.models import Device


def is_device(request: Request) -> bool:
    return isinstance(request.auth, Device)


class NotADevice(BasePermission):
    """In every view's default permissions: a device token gets 403 wherever it was not explicitly allowed."""

    message = (
        "A device token may only upload readings and live snapshots "
        "(/api/v1/readings, /api/v1/telegrams, /api/v1/live)."
    )

    def has_permission(self, request: Request, view: Any) -> bool:
        return not is_device(request)
