"""A paired Pi's device token as DRF authentication (meters.devices): ``Authorization: Bearer p1d_...``.

Tokens with the device prefix are this class's; any other Bearer token is left to SimpleJWT, so a JWT is never
looked up as a device token and a device token never reaches the JWT decoder.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from p1edge import wire
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from meters import devices
from users.lockout import client_ip


class DeviceTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != b"bearer":
            return None
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError:
            return None
        if not token.startswith(wire.DEVICE_TOKEN_PREFIX):
            return None
        try:
            device = devices.authenticate(token, client_ip(request._request) or "")
        except devices.DeviceRevoked:
            raise AuthenticationFailed(wire.DEVICE_REVOKED) from None
        except devices.InvalidDeviceToken:
            raise AuthenticationFailed("invalid device token") from None
        return device.owner, device

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class DeviceTokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema names the device token (drf-spectacular finds extensions by subclassing)."""

    target_class = "api.authentication.DeviceTokenAuthentication"
    name = "deviceToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A paired device's token (p1d_...), from POST /api/v1/device/token; uploads only.",
        }
