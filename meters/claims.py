"""Meter claims: which account a meter belongs to, and how it gets there (the pages under /serialNumbers/).

A serial typed on the Meters page reserves nothing: it waits as a pending entry until the first upload by the
account's device makes the meter its own (``meters.ingest``); a meter that already has data is claimed only with
the day register shown on its display, within limits per meter, network and account. Also here: the serial rule
every entry point uses (``normalise_serial``), renaming, releasing and deleting a meter. The functions raise the
documented ``MeterError`` subclasses instead of returning error codes.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import dateformat, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext

from meters.access import owned_meters
from meters.models import (
    ClaimAttempt,
    FluviusDay,
    FluviusImport,
    FluviusInterval,
    FluviusPeak,
    Meter,
    PendingMeter,
    Reading,
    audit,
)
from users.text import strip_bidi_controls

logger = logging.getLogger(__name__)

# The shape of a stored serial (after ``normalise_serial``); see that function for why.
SERIAL_RE = re.compile(r"(?=[A-Z]*[0-9])[A-Z0-9]{5,32}")

# How many wrong register proofs count before claims are refused: settings.CLAIM_MAX_WRONG_PER_METER_PER_DAY (all
# accounts together), CLAIM_MAX_WRONG_PER_ADDRESS_PER_HOUR (per client network) and
# CLAIM_MAX_WRONG_PER_ACCOUNT_PER_HOUR; see ``claim_meter``.
CLAIM_TOLERANCE_BELOW_KWH = Decimal("1")
CLAIM_GROWTH_PER_DAY_KWH = Decimal("30")


class MeterError(Exception):
    """A meter action was refused; ``str(exc)`` is a message for the user (never names another account)."""


class InvalidSerial(MeterError):
    """The text is not shaped like a meter's equipment id (see ``normalise_serial``)."""


# Shown on the Meters page; says where a homeowner finds the number. The P1 reader logs "stored reading <serial>"
# for every reading it keeps (edge/p1edge/reader.py), which is where a device owner sees what the meter sends.
INVALID_SERIAL_MESSAGE = gettext_lazy(
    "This is not a meter serial number. Type the meter's equipment id, e.g. 1SAG1100000292: 5 to 32 letters "
    "and digits, with at least one digit. It is printed on the label on the front of your digital meter, and "
    "your P1 reader's log shows it with every reading it stores."
)
# Shown to API clients (field "serial" of an ingest error); machine-to-machine, so it stays English.
SERIAL_SHAPE = "must be the meter's equipment id (0-0:96.1.1): 5-32 letters and digits, at least one digit"


class MeterAlreadyYours(MeterError):
    pass


class MeterAlreadyPending(MeterError):
    """The user added this serial before and it still waits for its first reading."""


class TooManyPending(MeterError):
    """The user has ``PENDING_MAX_PER_ACCOUNT`` serials waiting for data already."""


class MeterOwnedElsewhere(MeterError):
    pass


class ProofRequired(MeterError):
    """The meter has data but no owner: the caller must ask for the day register (1.8.1) on its display."""


class WrongProof(MeterError):
    pass


class TooManyAttempts(MeterError):
    """A claim limit is reached. ``limit`` names it ("meter", "network" or "account"); ``retry_at`` (aware) is when
    a try counts again."""

    def __init__(self, message: str, limit: str, retry_at: datetime) -> None:
        super().__init__(message)
        self.limit = limit
        self.retry_at = retry_at


@dataclass(frozen=True)
class AddedMeter:
    meter: Meter | None  # None when the serial had no data: then ``pending`` holds the user's note of it
    has_data: bool
    first_meter: bool  # the user had no meter before this one
    claimed_with_proof: bool = False
    pending: PendingMeter | None = None

    @property
    def display_name(self) -> str:
        return (self.meter or self.pending).display_name  # type: ignore[union-attr]  # one of them is set


# States of a pending entry on the Meters page (``pending_meters``).
PENDING_WAITING = "waiting"  # no data yet: the first upload by this account's device makes the meter its own
PENDING_NEEDS_PROOF = "needs_proof"  # data arrived from elsewhere (the operator, an earlier owner): proof needed
PENDING_TAKEN = "taken"  # another account's device uploaded first, or it claimed the meter with the proof
PENDING_MAX_PER_ACCOUNT = 20  # a household has a few meters; a cap keeps scripts from filling the table


@dataclass(frozen=True)
class PendingEntry:
    code: uuid.UUID
    serial: str
    name: str
    state: str  # one of PENDING_WAITING, PENDING_NEEDS_PROOF, PENDING_TAKEN
    message: str  # for the user; never names another account

    @property
    def display_name(self) -> str:
        return self.name or self.serial


@dataclass(frozen=True)
class DeletedMeter:
    serial: str
    readings_deleted: int


def normalise_serial(serial: Any) -> str:
    """The serial as stored: surrounding blanks removed, upper case; ``InvalidSerial`` unless it has the shape of
    an equipment id.

    The rule: 5 to 32 ASCII letters and digits, at least one of them a digit. Why: the serial is the equipment
    id the meter sends in 0-0:96.1.1 (hex-encoded ASCII, decoded by the edge and by the telegram endpoint).
    Fluvius meters send 14 capitals and digits (Sagemcom ``1SAG1100000292``, ``1SAG3100716957``; Landis+Gyr
    and Siconia meters send their own letters-and-digits ids), so case carries no meaning and the same meter
    typed in lower case must not become a second meter. Every id has digits, so a word such as ``abc`` is a
    slip, not a meter. Blanks, dashes and other punctuation are refused rather than dropped: an id never has
    them, so they mean something else was typed. The upper bound is the stored column (``Meter.serial``). The
    lower bound is loose on purpose: the ingest path uses this rule too, and a refused upload loses a device's
    readings, while a mistyped serial on the Meters page only adds an empty meter that says it has no data.

    Used by the Meters page (``claim_meter``) and by every ingest path (``meters.ingest.ingest_readings``): one rule.
    """
    if not isinstance(serial, str):
        raise InvalidSerial(INVALID_SERIAL_MESSAGE)
    serial = serial.strip()
    # isascii first: str.upper() maps some non-ASCII letters to ASCII ones ("ß" -> "SS").
    if not serial.isascii():
        raise InvalidSerial(INVALID_SERIAL_MESSAGE)
    serial = serial.upper()
    if not SERIAL_RE.fullmatch(serial):
        raise InvalidSerial(INVALID_SERIAL_MESSAGE)
    return serial


def client_network(address: str | None) -> str:
    """The key under which claim and registration limits count a client: an IPv4 address as it is, an IPv6
    address as its /64 network, "" when there is no valid address.

    Why /64: an IPv6 household or server is given a whole /64 and picks any address in it, so counting single
    addresses would limit nobody. An IPv4-mapped IPv6 address counts as the IPv4 address it carries.
    """
    if not address:
        return ""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


@dataclass(frozen=True)
class _ClaimLimit:
    scope: str  # "meter", "network" or "account": which attempts count together
    maximum: int
    window: timedelta


def _claim_limits() -> tuple[_ClaimLimit, ...]:
    # Read at each call, so tests and operators change them through settings (energy_app/settings.py).
    return (
        _ClaimLimit("meter", settings.CLAIM_MAX_WRONG_PER_METER_PER_DAY, timedelta(days=1)),
        _ClaimLimit("network", settings.CLAIM_MAX_WRONG_PER_ADDRESS_PER_HOUR, timedelta(hours=1)),
        _ClaimLimit("account", settings.CLAIM_MAX_WRONG_PER_ACCOUNT_PER_HOUR, timedelta(hours=1)),
    )


def _wrong_attempts(limit: _ClaimLimit, user: Any, serial: str, network: str, now: datetime) -> QuerySet[ClaimAttempt]:
    """The attempts that count against ``limit`` at ``now``: wrong ones, and ones still being checked."""
    attempts = ClaimAttempt.objects.filter(succeeded=False, created_at__gt=now - limit.window)
    if limit.scope == "meter":
        return attempts.filter(serial=serial)
    if limit.scope == "network":
        return attempts.filter(address=network)
    return attempts.filter(user=user)


def retry_time_text(moment: datetime) -> str:
    """``moment`` in the site's time zone as "21 Nov 2026 13:05" (in English; "21/11/2026 13:05" in Dutch and
    French, "21.11.2026 13:05" in German), rounded up to the minute: the "try again after" of the claim and
    registration limits must not be too early."""
    if moment.second or moment.microsecond:
        moment = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
    # Translators: a format of Django's date filter ("d/m/Y H:i" gives 21/11/2026 13:05).
    moment_format = pgettext("date and time format of the date filter", "j M Y H:i")
    return dateformat.format(timezone.localtime(moment), moment_format)


def _limit_message(limit: _ClaimLimit, retry_at: datetime) -> str:
    values = {"maximum": limit.maximum, "when": retry_time_text(retry_at)}
    if limit.scope == "meter":
        return (
            _(
                "Too many wrong register entries for this meter (%(maximum)d in 24 hours, from all accounts "
                "together). To protect it, no claim is checked until then. Try again after %(when)s."
            )
            % values
        )
    if limit.scope == "network":
        return (
            _("Too many wrong register entries from your network (%(maximum)d in an hour). Try again after %(when)s.")
            % values
        )
    return _("Too many wrong attempts from your account (%(maximum)d in an hour). Try again after %(when)s.") % values


def _limit_reached(
    user: Any, serial: str, network: str, now: datetime, own: int | None = None
) -> TooManyAttempts | None:
    """The refusal for the first limit that leaves no room for one more attempt, else None.

    ``own`` is the id of an attempt already recorded for this request: it is not counted against itself. Without
    it this is the check before a value is asked for or recorded.
    """
    for limit in _claim_limits():
        if limit.scope == "network" and not network:
            continue  # no address known (a test client, a misconfigured proxy): the other two limits still hold
        attempts = _wrong_attempts(limit, user, serial, network, now)
        if own is not None:
            attempts = attempts.exclude(pk=own)
        count = attempts.count()
        if count < limit.maximum:
            continue
        # The try counts again once enough of the oldest attempts left the window for one more to fit.
        oldest = list(attempts.order_by("created_at").values_list("created_at", flat=True)[: count - limit.maximum + 1])
        retry_at = oldest[-1] + limit.window
        return TooManyAttempts(_limit_message(limit, retry_at), limit.scope, retry_at)
    return None


def _attempts_left(user: Any, serial: str, network: str, now: datetime) -> str:
    """The "N attempt(s) left ..." sentence for the limit closest to being reached."""
    closest: tuple[int, _ClaimLimit] | None = None
    for limit in _claim_limits():
        if limit.scope == "network" and not network:
            continue
        left = max(limit.maximum - _wrong_attempts(limit, user, serial, network, now).count(), 0)
        if closest is None or left < closest[0]:
            closest = (left, limit)
    left, limit = closest  # type: ignore[misc]  # the meter and account limits always apply
    # English keeps "attempt(s)" in both forms (as pages and scripts have always read it); the translations have
    # their real plural forms.
    if limit.scope == "meter":
        text = ngettext(
            "%(count)d attempt(s) left today for this meter.", "%(count)d attempt(s) left today for this meter.", left
        )
    elif limit.scope == "network":
        text = ngettext(
            "%(count)d attempt(s) left this hour from your network.",
            "%(count)d attempt(s) left this hour from your network.",
            left,
        )
    else:
        text = ngettext("%(count)d attempt(s) left this hour.", "%(count)d attempt(s) left this hour.", left)
    return text % {"count": left}


def _record_attempt(user: Any, serial: str, network: str, now: datetime) -> ClaimAttempt:
    """Record an attempt as wrong, committed before anyone counts it.

    This is what keeps the limits exact under parallel requests, on every database and without a lock: each
    request records first and then counts, and refuses (deleting its row) when the count is over a limit. Of N
    parallel requests, the k-th to commit counts at least k rows, so no more than the limit can see room.
    ``durable``: inside a caller's transaction the row would not be visible to the others, so that is an error.
    """
    with transaction.atomic(durable=True):
        return ClaimAttempt.objects.create(user=user, serial=serial, address=network, succeeded=False, created_at=now)


def wrong_claim_attempts(user: Any, now: datetime | None = None) -> int:
    """Wrong claim attempts by ``user`` in the past hour (the per-account limit's window)."""
    since = (now or timezone.now()) - timedelta(hours=1)
    return ClaimAttempt.objects.filter(user=user, succeeded=False, created_at__gt=since).count()


def claim_range(meter: Meter, now: datetime | None = None) -> tuple[Decimal, Decimal] | None:
    """Accepted day-register (1.8.1) values for claiming ``meter``: from the latest stored value minus 1 kWh to
    that value plus 30 kWh per day elapsed since it was read. ``None`` when the meter has no readings."""
    latest = meter.readings.order_by("-timestamp").values("import_t1_kwh", "timestamp").first()
    if latest is None:
        return None
    elapsed_days = max(Decimal(0), Decimal(((now or timezone.now()) - latest["timestamp"]).total_seconds()) / 86400)
    value = latest["import_t1_kwh"]
    return value - CLAIM_TOLERANCE_BELOW_KWH, value + CLAIM_GROWTH_PER_DAY_KWH * elapsed_days


def _meter_name(name: str | None) -> str:
    """A meter name as stored. Bidirectional controls are dropped: they would reorder the name, and the page text
    after it, on screen."""
    return strip_bidi_controls(name or "").strip()[: Meter._meta.get_field("name").max_length]


def _add_pending(user: Any, serial: str, name: str, first_meter: bool) -> AddedMeter:
    if PendingMeter.objects.filter(user=user).count() >= PENDING_MAX_PER_ACCOUNT:
        raise TooManyPending(
            ngettext(
                "You have %(count)d serial number waiting for its first reading. Remove it if you no longer need it "
                "before adding another.",
                "You have %(count)d serial numbers waiting for their first reading. Remove the ones you no longer "
                "need before adding another.",
                PENDING_MAX_PER_ACCOUNT,
            )
            % {"count": PENDING_MAX_PER_ACCOUNT}
        )
    pending, created = PendingMeter.objects.get_or_create(user=user, serial=serial, defaults={"name": name})
    if not created:
        raise MeterAlreadyPending(
            _("This serial number is already in your list, waiting for the first reading from your device.")
        )
    logger.info("meters: user %s is waiting for the first reading of %s", user.pk, serial)
    return AddedMeter(meter=None, has_data=False, first_meter=first_meter, pending=pending)


def claim_meter(
    user: Any, serial: str, name: str = "", day_register: Decimal | None = None, address: str | None = None
) -> AddedMeter:
    """Add the meter ``serial`` to ``user``'s account (the "add" form of /serialNumbers/).

    A serial without data (unknown, or an unclaimed meter that has no readings) becomes a *pending* entry of
    ``user`` that reserves nothing (``AddedMeter.meter`` is None): the meter becomes an account's through the first
    upload by that account's device (``meters.ingest.ingest_readings``), which has physical access to the
    meter. An unclaimed meter with data is claimed only when ``day_register`` lies in ``claim_range``.

    Proofs are limited per meter (all accounts together), per client network (``address``, the client's IP
    address; see ``client_network``) and per account, by the settings CLAIM_MAX_WRONG_PER_METER_PER_DAY,
    CLAIM_MAX_WRONG_PER_ADDRESS_PER_HOUR and CLAIM_MAX_WRONG_PER_ACCOUNT_PER_HOUR. Once a limit is reached every
    attempt is refused, even a right one, and is not recorded. Must not run inside a transaction (see
    ``_record_attempt``).

    Raises ``InvalidSerial``, ``MeterAlreadyYours``, ``MeterAlreadyPending``, ``TooManyPending``,
    ``MeterOwnedElsewhere``, ``ProofRequired`` (ask for the register), ``WrongProof`` or ``TooManyAttempts``.
    """
    serial = normalise_serial(serial)
    name = _meter_name(name)
    first_meter = not owned_meters(user).exists()
    meter = Meter.objects.filter(serial=serial).first()
    if meter is not None and meter.owner_id == user.pk:
        raise MeterAlreadyYours(_("This meter is already in your list."))
    if meter is not None and meter.owner_id is not None:
        raise MeterOwnedElsewhere(_("This meter is registered to another account, so it cannot be added here."))
    if meter is None or not meter.readings.exists():
        return _add_pending(user, serial, name, first_meter)

    network = client_network(address)
    now = timezone.now()
    refusal = _limit_reached(user, serial, network, now)
    if refusal is not None:
        raise refusal
    if day_register is None:
        raise ProofRequired(
            _(
                "This meter already sends data. To prove it is yours, enter the day register 1.8.1 (kWh) "
                "shown on the meter's display."
            )
        )
    # No transaction around the rest: the recorded attempt must be visible to parallel requests at once and must
    # stay recorded when WrongProof is raised.
    attempt = _record_attempt(user, serial, network, now)
    refusal = _limit_reached(user, serial, network, now, own=attempt.pk)
    if refusal is not None:
        attempt.delete()  # refused tries are not counted, so a paused claim resumes on time
        logger.warning(
            "meters: claim of %s by user %s from %s refused, %s limit reached", serial, user.pk, network, refusal.limit
        )
        raise refusal
    low, high = claim_range(meter, now)  # type: ignore[misc]  # it has readings: a range exists
    if not low <= day_register <= high:
        logger.warning("meters: wrong claim proof for %s by user %s from %s", serial, user.pk, network)
        raise WrongProof(
            _("That value does not match this meter's day register. %(attempts_left)s")
            % {"attempts_left": _attempts_left(user, serial, network, now)}
        )
    ClaimAttempt.objects.filter(pk=attempt.pk).update(succeeded=True)
    if Meter.objects.filter(pk=meter.pk, owner__isnull=True).update(owner=user, name=name or meter.name) != 1:
        raise MeterOwnedElsewhere(_("This meter is registered to another account, so it cannot be added here."))
    PendingMeter.objects.filter(user=user, serial=serial).delete()
    meter.refresh_from_db()
    logger.info("meters: user %s claimed meter %s with the register proof", user.pk, serial)
    return AddedMeter(meter=meter, has_data=True, first_meter=first_meter, claimed_with_proof=True)


def pending_meters(user: Any) -> list[PendingEntry]:
    """``user``'s pending entries with what became of each serial, oldest first; entries of meters that are
    ``user``'s by now are left out (an operator may have assigned one in the admin)."""
    entries = list(PendingMeter.objects.filter(user=user).order_by("created_at", "serial"))
    if not entries:
        return []
    meters = {
        row["serial"]: row
        for row in Meter.objects.filter(serial__in=[e.serial for e in entries])
        .annotate(has_data=Exists(Reading.objects.filter(meter=OuterRef("pk"))))
        .values("serial", "owner_id", "has_data")
    }
    result = []
    for entry in entries:
        meter = meters.get(entry.serial)
        if meter is None or (meter["owner_id"] is None and not meter["has_data"]):
            state, message = PENDING_WAITING, _("Waiting for the first reading from your device.")
        elif meter["owner_id"] == user.pk:
            continue
        elif meter["owner_id"] is not None:
            state, message = (
                PENDING_TAKEN,
                _(
                    "This meter is now registered to another account: its device uploaded first. It can be claimed "
                    "here with the register proof (1.8.1 on the meter's display) only once that account removes it."
                ),
            )
        else:
            state, message = (
                PENDING_NEEDS_PROOF,
                _(
                    "This meter now sends data, but not from a device of your account. To add it, enter the day "
                    "register 1.8.1 (kWh) shown on the meter's display."
                ),
            )
        result.append(PendingEntry(entry.code, entry.serial, entry.name, state, message))
    return result


def forget_pending_meter(user: Any, code: str | uuid.UUID) -> bool:
    """Remove ``user``'s pending entry with this public code; False when there is none (or the code is no UUID)."""
    try:
        code = uuid.UUID(str(code))
    except ValueError:
        return False
    deleted, _ = PendingMeter.objects.filter(user=user, code=code).delete()
    return bool(deleted)


def adopt_pending(user: Any, meters: Sequence[Meter]) -> None:
    """After ``user``'s device made ``meters`` its own: the names typed on the Meters page go to the meters and
    the user's pending entries for them go away. Other accounts' entries stay; their page says what happened."""
    entries = list(PendingMeter.objects.filter(user=user, serial__in=[m.serial for m in meters]))
    names = {entry.serial: entry.name for entry in entries if entry.name}
    for meter in meters:
        if not meter.name and meter.serial in names:
            meter.name = names[meter.serial]
            Meter.objects.filter(pk=meter.pk).update(name=meter.name)
    if entries:
        PendingMeter.objects.filter(pk__in=[entry.pk for entry in entries]).delete()


def rename_meter(meter: Meter, name: str) -> Meter:
    """Give ``meter`` a new display name (blank shows the serial). Call with a meter from ``meters.access``."""
    meter.name = _meter_name(name)
    meter.save(update_fields=["name", "updated_at"])
    return meter


def release_meter(meter: Meter) -> Meter:
    """Take ``meter`` out of its owner's account; its readings stay and it becomes unclaimed (claimable with
    proof of the register when it has data).

    What belonged to the owner goes with them: the shares they granted (their household no longer sees the meter,
    and whoever claims it next does not inherit them), their contracts (their prices; the next owner's days
    before a contract of their own use their profile prices) and the history they imported from Mijn Fluvius (their
    download from their own Fluvius account; the next owner imports their own)."""
    owner_id = meter.owner_id
    with transaction.atomic():
        shares, _ = meter.shares.all().delete()
        contracts, _ = meter.contracts.all().delete()
        imported = sum(
            model.objects.filter(meter=meter).delete()[0]
            for model in (FluviusInterval, FluviusDay, FluviusPeak, FluviusImport)
        )
        meter.owner = None
        meter.save(update_fields=["owner", "updated_at"])
    audit("meter_released", meter.pk, shares_removed=shares, contracts_removed=contracts, imported_removed=imported)
    logger.info("meters: user %s released meter %s", owner_id, meter.serial)
    return meter


def delete_meter_with_data(meter: Meter) -> DeletedMeter:
    """Delete ``meter`` and every reading of it (cannot be undone)."""
    with transaction.atomic():
        deleted, _ = Reading.objects.filter(meter=meter).delete()
        serial = meter.serial
        audit("meter_deleted", meter.pk, readings_deleted=deleted)  # before delete(), which clears the pk
        meter.delete()
    logger.info("meters: meter %s deleted with %d readings", serial, deleted)
    return DeletedMeter(serial=serial, readings_deleted=deleted)
