"""Pairing a Pi with an account and the device tokens it uploads with (OAuth 2.0 Device Authorization Grant,
RFC 8628; docs/design.md, "Devices").

The Pi asks for a code (``start_pairing``), shows the user code, and polls (``issue_token``) while its owner types
the code on /device/ and approves it (``approve``). The token it then gets is an opaque random secret, stored only
as a SHA-256 hash, that never expires by itself: it uploads readings and telegrams for the approver's meters and
unknown serials (which become the approver's, as with an account's own upload), and nothing else
(``api.permissions``). Revoking keeps the row, so the next request hears "device revoked".

Raises ``PairingError`` (with the RFC error code), ``UnknownUserCode``, ``TooManyCodeAttempts``,
``DeviceRevoked`` and ``InvalidDeviceToken``.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from p1edge import wire

from meters.models import Device, DeviceAuthorization
from users.text import strip_bidi_controls

logger = logging.getLogger(__name__)

# RFC 8628 section 6.1: no vowels (no words), no look-alikes (0/O, 1/I/L, 5/S are not all here), upper case only.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
SLOW_DOWN_SECONDS = 5  # RFC 8628 section 3.5: each slow_down adds 5 seconds to the interval
# Wrong user codes typed on /device/: 20^8 codes, each alive ten minutes, and at most this many guesses an hour.
WRONG_CODES_PER_HOUR = 10


class PairingError(Exception):
    """The token request fails; ``error`` is the RFC 8628 / RFC 6749 code, ``str(exc)`` its description."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error


class UnknownUserCode(Exception):
    """No pending pairing has this user code (mistyped, expired, or already approved or denied)."""


class TooManyCodeAttempts(Exception):
    """The account typed ``WRONG_CODES_PER_HOUR`` wrong user codes in the past hour."""


class DeviceRevoked(Exception):
    pass


class InvalidDeviceToken(Exception):
    pass


@dataclass(frozen=True)
class DeviceCode:
    device_code: str
    user_code: str  # as shown, "WDJB-MJHT"
    expires_in: int  # seconds
    interval: int  # seconds between polls


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def format_user_code(code: str) -> str:
    """``WDJBMJHT`` as the user reads it: ``WDJB-MJHT``."""
    return f"{code[:4]}-{code[4:]}"


def normalise_user_code(text: str | None) -> str | None:
    """What the user typed as a stored user code (dashes, blanks and case do not matter), or None when it cannot be
    one (wrong length or a letter that is not in the alphabet)."""
    letters = "".join(ch for ch in (text or "").upper() if not ch.isspace() and ch != "-")
    if len(letters) != USER_CODE_LENGTH or any(ch not in USER_CODE_ALPHABET for ch in letters):
        return None
    return letters


def _clean_name(name: Any) -> str:
    text = name if isinstance(name, str) else ""
    return strip_bidi_controls(text).strip()[: Device._meta.get_field("name").max_length]


def start_pairing(name: Any, address: str, now: datetime | None = None) -> DeviceCode:
    """A new pairing request from a device called ``name`` (e.g. its hostname) at ``address``."""
    now = now or timezone.now()
    lifetime = settings.DEVICE_CODE_LIFETIME
    DeviceAuthorization.objects.filter(expires_at__lt=now - timedelta(days=1)).delete()  # keep the table small
    device_code = secrets.token_urlsafe(32)
    while True:
        user_code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
        if not DeviceAuthorization.objects.filter(user_code=user_code).exists():
            break
    DeviceAuthorization.objects.create(
        device_code_hash=_hash(device_code),
        user_code=user_code,
        name=_clean_name(name),
        address=address[:45],
        created_at=now,
        expires_at=now + lifetime,
        interval=settings.DEVICE_POLL_INTERVAL,
    )
    logger.info("devices: pairing requested from %s", address or "an unknown address")
    return DeviceCode(
        device_code=device_code,
        user_code=format_user_code(user_code),
        expires_in=int(lifetime.total_seconds()),
        interval=settings.DEVICE_POLL_INTERVAL,
    )


def _wrong_code_key(user: Any) -> str:
    return f"devices:wrong-user-code:{user.pk}"


def pending_pairing(user: Any, text: str | None, now: datetime | None = None) -> DeviceAuthorization:
    """The pending, unexpired pairing request with the user code ``text``, for ``user`` to approve or deny.

    A code that matches nothing counts against ``WRONG_CODES_PER_HOUR``. Raises ``UnknownUserCode`` or
    ``TooManyCodeAttempts``.
    """
    now = now or timezone.now()
    key = _wrong_code_key(user)
    if (cache.get(key) or 0) >= WRONG_CODES_PER_HOUR:
        raise TooManyCodeAttempts()
    code = normalise_user_code(text)
    found = (
        DeviceAuthorization.objects.filter(
            user_code=code, state=DeviceAuthorization.PENDING, expires_at__gt=now
        ).first()
        if code
        else None
    )
    if found is None:
        cache.add(key, 0, timeout=3600)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=3600)
        raise UnknownUserCode()
    return found


def approve(user: Any, text: str | None, now: datetime | None = None) -> DeviceAuthorization:
    """``user`` approves the pairing request: the device that polls next gets a token for ``user``'s account.
    Raises ``UnknownUserCode`` or ``TooManyCodeAttempts``."""
    return _decide(user, text, DeviceAuthorization.APPROVED, now)


def deny(user: Any, text: str | None, now: datetime | None = None) -> DeviceAuthorization:
    """``user`` refuses the pairing request: the device is told ``access_denied``."""
    return _decide(user, text, DeviceAuthorization.DENIED, now)


def _decide(user: Any, text: str | None, state: str, now: datetime | None) -> DeviceAuthorization:
    now = now or timezone.now()
    pairing = pending_pairing(user, text, now)
    updated = DeviceAuthorization.objects.filter(pk=pairing.pk, state=DeviceAuthorization.PENDING).update(
        state=state, user=user
    )
    if updated != 1:  # decided in another tab a moment ago
        raise UnknownUserCode()
    pairing.refresh_from_db()
    logger.info("devices: user %s %s pairing %s", user.pk, state, pairing.pk)
    return pairing


def issue_token(grant_type: Any, device_code: Any, now: datetime | None = None) -> tuple[str, Device]:
    """The device's poll (RFC 8628 section 3.4): its new token and device once approved.

    Raises ``PairingError`` with ``unsupported_grant_type``, ``invalid_request``, ``invalid_grant`` (unknown or
    spent device code), ``authorization_pending``, ``slow_down`` (polled sooner than ``interval``; the interval
    grows by 5 s), ``access_denied`` or ``expired_token``.
    """
    now = now or timezone.now()
    if grant_type != wire.DEVICE_GRANT_TYPE:
        raise PairingError("unsupported_grant_type", f"grant_type must be {wire.DEVICE_GRANT_TYPE}")
    if not isinstance(device_code, str) or not device_code:
        raise PairingError("invalid_request", "device_code is required")
    with transaction.atomic():
        # The poll's bookkeeping (last poll, a longer interval) must be saved even when it ends in an error, so
        # the error is raised after the transaction commits.
        outcome = _poll(device_code, now)
    if isinstance(outcome, PairingError):
        raise outcome
    token, device = outcome
    logger.info("devices: device %s paired with user %s", device.pk, device.owner_id)
    return token, device


def _poll(device_code: str, now: datetime) -> PairingError | tuple[str, Device]:
    pairing = DeviceAuthorization.objects.select_for_update().filter(device_code_hash=_hash(device_code)).first()
    if pairing is None or pairing.state == DeviceAuthorization.ISSUED:
        return PairingError("invalid_grant", "unknown or already used device_code")
    if now >= pairing.expires_at:
        return PairingError(wire.EXPIRED_TOKEN, "the code expired before it was approved; ask for a new one")
    if pairing.state == DeviceAuthorization.DENIED:
        return PairingError(wire.ACCESS_DENIED, "the pairing was refused on the website")
    too_soon = pairing.last_polled_at is not None and now < pairing.last_polled_at + timedelta(seconds=pairing.interval)
    pairing.last_polled_at = now
    if too_soon:
        pairing.interval += SLOW_DOWN_SECONDS
        pairing.save(update_fields=["last_polled_at", "interval"])
        return PairingError(wire.SLOW_DOWN, f"poll at most every {pairing.interval} seconds")
    if pairing.state == DeviceAuthorization.PENDING:
        pairing.save(update_fields=["last_polled_at"])
        return PairingError(wire.AUTHORIZATION_PENDING, "waiting for the owner to approve the code")
    owner = pairing.user
    assert owner is not None  # an approved pairing names its approver
    token = wire.DEVICE_TOKEN_PREFIX + secrets.token_urlsafe(32)
    device = Device.objects.create(
        owner=owner, name=pairing.name, token_hash=_hash(token), created_at=now, created_from=pairing.address
    )
    pairing.state = DeviceAuthorization.ISSUED
    pairing.device = device
    pairing.save(update_fields=["last_polled_at", "state", "device"])
    return token, device


def authenticate(token: str, address: str, now: datetime | None = None) -> Device:
    """The device holding ``token``; notes when and from where it was last seen (at most once a minute).
    Raises ``DeviceRevoked`` or ``InvalidDeviceToken`` (unknown token, or its owner's account is disabled)."""
    now = now or timezone.now()
    device = Device.objects.select_related("owner").filter(token_hash=_hash(token)).first()
    if device is None or not device.owner.is_active:
        raise InvalidDeviceToken()
    if device.is_revoked:
        raise DeviceRevoked()
    stale = device.last_seen_at is None or now - device.last_seen_at > timedelta(minutes=1)
    if stale or device.last_address != address:
        device.last_seen_at, device.last_address = now, address[:45]
        Device.objects.filter(pk=device.pk).update(last_seen_at=now, last_address=device.last_address)
    return device


def record_upload(device: Device, meter_ids: Iterable[int]) -> None:
    """Remember which meters ``device`` uploaded for (the Devices page lists them)."""
    ids = set(meter_ids)
    if ids:
        device.meters.add(*ids)


def rename_device(device: Device, name: Any) -> Device:
    device.name = _clean_name(name)
    device.save(update_fields=["name"])
    return device


def revoke_device(device: Device, now: datetime | None = None) -> Device:
    """Refuse every later request with ``device``'s token ("device revoked"). Revoking twice changes nothing."""
    if device.revoked_at is None:
        device.revoked_at = now or timezone.now()
        device.save(update_fields=["revoked_at"])
        logger.info("devices: user %s revoked device %s", device.owner_id, device.pk)
    return device
