"""Alerts (issue 16; docs/operations.md, "Alerts"): tell a meter's owner, by e-mail and a signed webhook, when

* **peak**: the running quarter-hour is heading for a new month peak, i.e. the peak guard's projection
  (``meters.live.peak_guard``) exceeds max(this month's peak, the owner's threshold, the billed minimum of 2.5 kW).
  Checked by ``check_peak`` for every snapshot ``meters.live.receive_snapshot`` keeps; at most one per meter and
  quarter;
* **offline**: the meter has not been heard of for the owner's N minutes (the later of its live snapshot's arrival
  and the end of its latest stored quarter-hour), and **back** once it is heard of again. Checked by
  ``run_alerts`` (``manage.py run_alerts``, every minute).

Every alert is an ``Alert`` row; the unique (meter, kind, key) makes "once" hold across workers. Each channel is
tried at once; one that fails is retried by ``run_alerts`` after 1, 2, 4, 8 and 16 minutes, then given up
(``failed``). Webhook bodies are signed: ``X-P1-Signature: sha256=HMAC-SHA256(secret, "<X-P1-Timestamp>.<body>")``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.mail import get_connection, send_mail
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Q, Subquery
from django.template.loader import render_to_string
from django.utils import formats, timezone, translation
from p1edge import wire

from meters import access, live
from meters.live import Snapshot
from meters.models import Alert, Meter, Reading
from meters.series.capacity import capacity_minimum_kw
from users.models import AlertSettings, Profile, alert_settings_for

logger = logging.getLogger(__name__)

BACKOFF_MINUTES = (1, 2, 4, 8, 16)  # waits after the 1st, 2nd, ... failed attempt
MAX_ATTEMPTS = len(BACKOFF_MINUTES) + 1  # the 6th failed attempt gives up
WEBHOOK_TIMEOUT_SECONDS = 5
# The peak alert is sent from the snapshot's request: an SMTP server that does not answer must not hold the worker
# (Django's EMAIL_TIMEOUT, when set, decides instead).
EMAIL_TIMEOUT_SECONDS = 10
USER_AGENT = "P1Energy-Alerts/1"
TIMESTAMP_HEADER = "X-P1-Timestamp"
SIGNATURE_HEADER = "X-P1-Signature"
RECENT_ALERTS = 20  # shown on the profile page
# An alert being delivered is not picked up by another run_alerts before this; if its sender died, it is after.
_LEASE = timedelta(minutes=2)
_RETRY_BATCH = 200
_METER_BATCH = 500  # meters whose snapshots are read in one cache round trip
_ERROR_LENGTH = 500  # Alert.last_error
_ZERO = Decimal(0)
_KW = Decimal("0.001")
_RETRYING, _SENT, _FAILED, _SKIPPED = (
    Alert.Status.RETRYING,
    Alert.Status.SENT,
    Alert.Status.FAILED,
    Alert.Status.SKIPPED,
)


@dataclass(frozen=True)
class RunSummary:
    """What one ``run_alerts`` pass did."""

    meters_checked: int  # meters whose owner has the offline alert on
    offline: int  # "offline" alerts created
    back: int  # "back" alerts created
    retried: int  # alerts whose retrying channels were tried again
    sent: int  # ... of which every channel is now sent or skipped
    failed: int  # ... of which a channel was given up

    def line(self) -> str:
        return (
            f"run_alerts: {self.meters_checked} meters checked, {self.offline} offline, {self.back} back, "
            f"{self.retried} retried ({self.sent} delivered, {self.failed} given up)"
        )


# --- the peak alert (hot path) --------------------------------------------------------------------------------------


def check_peak(meter: Meter, snapshot: Snapshot, now: datetime) -> None:
    """Raise the peak alert when ``snapshot`` shows its quarter heading for a new month peak (module docstring).

    Called by ``meters.live.receive_snapshot`` for every kept snapshot, up to a thousand a second: a snapshot that
    cannot raise it (most of them) is let go before any database or cache query. Never raises: the snapshot is
    kept whatever happens here, and a failure is logged.
    """
    try:
        alert = _peak_alert(meter, snapshot, now)
    except Exception:  # the caller's snapshot must not fail for an alert; the log has the traceback
        logger.exception("alerts: the peak check of meter %s failed", meter.pk)
        return
    if alert is not None:
        deliver(alert, now)


def _peak_alert(meter: Meter, snapshot: Snapshot, now: datetime) -> Alert | None:
    if meter.owner_id is None:
        return None
    projected = live.projection_from_snapshot(snapshot)
    if projected is not None and projected <= _floor_without_queries(snapshot):
        return None
    prefs = alert_settings_for(meter.owner_id)
    if not prefs.peak:
        return None
    threshold = prefs.peak_threshold_kw or _ZERO
    if projected is not None and projected <= threshold:
        return None
    quarter = wire.slot_start(snapshot.measured_at)
    marker = f"alerts:peak:{meter.pk}:{int(quarter.timestamp())}"
    if cache.get(marker) is not None:
        return None  # this quarter's alert exists: spare the guard's queries for the rest of the quarter
    guard = live.peak_guard(meter, snapshot, prefs.prices)
    bar = max(guard.month_peak_kw or _ZERO, threshold, capacity_minimum_kw())
    if guard.projected_kw <= bar:
        return None
    owned = Meter.objects.select_related("owner").get(pk=meter.pk)
    minutes_left = (guard.remaining_seconds + 59) // 60
    details = {
        "quarter_start": guard.quarter_start,
        "quarter_end": guard.quarter_end,
        "projected_kw": guard.projected_kw,
        "current_import_kw": guard.current_import_kw,
        "month_peak_kw": guard.month_peak_kw,
        "threshold_kw": _kw(bar),  # the alert's: also above the owner's own threshold
        "costs_above_kw": guard.threshold_kw,  # the month peak or the billed minimum: above it a quarter costs
        "minimum_kw": guard.minimum_kw,
        "allowed_power_kw": guard.allowed_power_kw,
        "extra_cost_eur": guard.extra_cost_eur,
        "cost_per_kw_eur": guard.cost_per_kw_eur,
        "minutes_left": minutes_left,
    }
    alert = _create(owned, Alert.Kind.PEAK, guard.quarter_start, details, prefs, now)
    cache.set(marker, 1, timeout=guard.remaining_seconds + 60)
    return alert


def _floor_without_queries(snapshot: Snapshot) -> Decimal:
    """A bar the alert's bar is never below: the billed minimum, or the meter's own month peak (1-0:1.6.0) when it
    belongs to the quarter's month."""
    own, _at = live.meter_month_peak(snapshot)
    return max(own or _ZERO, capacity_minimum_kw())


# --- offline and back ----------------------------------------------------------------------------------------------


def check_offline(now: datetime) -> tuple[int, int, int]:
    """Raise "offline" for each meter not heard of for its owner's N minutes, and "back" for each one heard of
    again since its "offline". Only meters whose owner has the offline alert on; a meter never heard of (no
    snapshot, no reading) gets nothing. Returns (meters checked, offline alerts, back alerts)."""
    latest_reading = Reading.objects.filter(meter=OuterRef("pk")).order_by("-timestamp").values("timestamp")[:1]
    state = Alert.objects.filter(meter=OuterRef("pk"), kind__in=[Alert.Kind.OFFLINE, Alert.Kind.BACK]).order_by(
        "-created_at", "-pk"
    )
    meters = list(
        Meter.objects.filter(owner__profile__alert_offline=True)
        .select_related("owner", "owner__profile")
        .annotate(
            last_reading_at=Subquery(latest_reading),
            state_kind=Subquery(state.values("kind")[:1]),
            state_key=Subquery(state.values("key")[:1]),
        )
        .order_by("pk")
    )
    offline = back = 0
    for batch in _batches(meters, _METER_BATCH):
        snapshots = live.latest_snapshots(m.pk for m in batch)
        for meter in batch:
            try:
                kind = _offline_state_change(meter, snapshots.get(meter.pk), now)
            except Exception:  # one meter's failure must not keep the others' alerts back
                logger.exception("alerts: the offline check of meter %s failed", meter.pk)
                continue
            offline += kind == Alert.Kind.OFFLINE
            back += kind == Alert.Kind.BACK
    return len(meters), offline, back


def _offline_state_change(meter: Any, snapshot: Snapshot | None, now: datetime) -> str | None:
    """Create and deliver the meter's "offline" or "back" alert if one is due; its kind, else None."""
    seen = live.last_seen(snapshot, meter.last_reading_at)  # the Now page's "last seen", one rule
    if seen is None:
        return None
    # Whole seconds: the key is compared with a later last-seen time, and a database may keep fewer digits.
    last_seen = seen.astimezone(UTC).replace(microsecond=0)
    profile: Profile = meter.owner.profile
    prefs = profile.alert_settings()
    if meter.state_kind == Alert.Kind.OFFLINE:
        since = meter.state_key
        if last_seen <= since:
            return None
        details = {"offline_since": since, "back_at": last_seen}
        alert = _create(meter, Alert.Kind.BACK, since, details, prefs, now)
    else:
        minutes = prefs.offline_minutes
        if now - last_seen <= timedelta(minutes=minutes):
            return None
        details = {"offline_since": last_seen, "minutes": minutes}
        alert = _create(meter, Alert.Kind.OFFLINE, last_seen, details, prefs, now)
    if alert is None:
        return None
    deliver(alert, now)
    return alert.kind


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- records -------------------------------------------------------------------------------------------------------


def _create(
    meter: Meter, kind: str, key: datetime, details: Mapping[str, Any], prefs: AlertSettings, now: datetime
) -> Alert | None:
    """The new alert with each channel ``retrying`` (to be tried at once) or ``skipped``; None when the meter has
    this alert (kind, key) already, maybe from another worker a moment ago."""
    owner = meter.owner
    assert owner is not None  # only owned meters are checked
    wants_email = prefs.email and bool(owner.email)
    alert = Alert(
        owner=owner,
        meter=meter,
        kind=kind,
        key=key,
        created_at=now,
        email_status=_RETRYING if wants_email else _SKIPPED,
        webhook_status=_RETRYING if prefs.webhook_url else _SKIPPED,
        next_attempt_at=now + _LEASE if wants_email or prefs.webhook_url else None,
    )
    alert.payload = _jsonable(
        {
            "kind": kind,
            "meter": {"code": str(meter.code), "serial": meter.serial, "name": meter.name},
            "created_at": now,
            "key": key,
            **details,
        }
    )
    try:
        with transaction.atomic():  # a savepoint: a duplicate leaves the caller's transaction usable
            alert.save()
    except IntegrityError:
        logger.debug("alerts: %s alert of meter %s for %s exists already", kind, meter.pk, key.isoformat())
        return None
    logger.info("alerts: %s alert %s for meter %s", kind, alert.pk, meter.pk)
    return alert


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _kw(value: Decimal) -> Decimal:
    return value.quantize(_KW, ROUND_HALF_UP)


def recent_alerts(user: Any, limit: int = RECENT_ALERTS) -> list[Alert]:
    """The latest alerts sent to ``user`` (none for an anonymous user): only the account they were sent to sees
    them, even after the meter went to another account."""
    return list(access.alerts_visible_to(user).select_related("meter").order_by("-created_at", "-pk")[:limit])


# --- delivery ------------------------------------------------------------------------------------------------------


def deliver(alert: Alert, now: datetime) -> Alert:
    """Try every channel of ``alert`` that is ``retrying``, record the outcome and return the updated alert.

    A channel that fails is retried ``BACKOFF_MINUTES`` later by ``retry_due``; after ``MAX_ATTEMPTS`` attempts it
    is ``failed``. The owner's current settings decide: a webhook removed meanwhile is ``skipped``. Never raises.
    """
    if _RETRYING not in (alert.email_status, alert.webhook_status):
        return alert  # both channels off: the alert is only recorded
    attempt = alert.attempts + 1
    errors: list[str] = []
    email_status, webhook_status = alert.email_status, alert.webhook_status
    try:
        profile = _profile_of(alert.owner_id)
        if email_status == _RETRYING:
            email_status, error = _try_email(alert, profile)
            errors += [f"e-mail: {error}"] if error else []
        if webhook_status == _RETRYING:
            webhook_status, error = _try_webhook(alert, profile, now)
            errors += [f"webhook: {error}"] if error else []
    except Exception as exc:  # e.g. the database went away: the alert stays due and is tried again
        logger.exception("alerts: delivering alert %s failed", alert.pk)
        errors.append(exc.__class__.__name__)
    statuses = [email_status, webhook_status]
    next_attempt_at = None
    if _RETRYING in statuses:
        if attempt >= MAX_ATTEMPTS:
            statuses = [_FAILED if s == _RETRYING else s for s in statuses]
            logger.warning("alerts: alert %s given up after %d attempts", alert.pk, attempt)
        else:
            next_attempt_at = now + timedelta(minutes=BACKOFF_MINUTES[attempt - 1])
    alert.email_status, alert.webhook_status = statuses
    alert.attempts = attempt
    alert.next_attempt_at = next_attempt_at
    alert.last_error = "; ".join(errors)[:_ERROR_LENGTH]
    try:
        Alert.objects.filter(pk=alert.pk).update(
            email_status=alert.email_status,
            webhook_status=alert.webhook_status,
            attempts=alert.attempts,
            next_attempt_at=alert.next_attempt_at,
            last_error=alert.last_error,
        )
    except Exception:  # the lease runs out and run_alerts tries again; better twice than never
        logger.exception("alerts: recording the delivery of alert %s failed", alert.pk)
    return alert


def _profile_of(user_id: int) -> Profile:
    profile = Profile.objects.select_related("user").filter(user_id=user_id).first()
    if profile is None:  # an account without a profile row has the defaults: e-mail on, no webhook
        profile = Profile(user=get_user_model()._default_manager.get(pk=user_id))
    return profile


def _try_email(alert: Alert, profile: Profile) -> tuple[str, str]:
    address = profile.user.email
    if not profile.alert_email or not address:
        return _SKIPPED, ""
    subject, body = email_text(alert, profile.language or settings.LANGUAGE_CODE, profile.user.get_username())
    try:
        connection = get_connection(timeout=settings.EMAIL_TIMEOUT or EMAIL_TIMEOUT_SECONDS)
        send_mail(subject, body, None, [address], fail_silently=False, connection=connection)
    except OSError as exc:  # SMTP (smtplib.SMTPException is one), DNS, TLS, sockets: worth another try later
        logger.warning("alerts: e-mail of alert %s failed: %s", alert.pk, exc.__class__.__name__)
        return _RETRYING, exc.__class__.__name__
    return _SENT, ""


def email_text(alert: Alert, language: str, name: str) -> tuple[str, str]:
    """The subject and plain-text body of ``alert`` for the user ``name`` in ``language`` (templates
    ``meters/email/subject.txt`` and ``meters/email/<kind>.txt``), times in the site's time zone."""
    with translation.override(language), timezone.override(ZoneInfo(settings.TIME_ZONE)):
        context = {**_email_context(alert), "name": name}
        subject = " ".join(render_to_string("meters/email/subject.txt", context).split())
        body = render_to_string(f"meters/email/{alert.kind}.txt", context)
    return subject, body


def _email_context(alert: Alert) -> dict[str, Any]:
    """The payload with numbers and times back in Python types, so that templates format them in the language
    (4,73 kW in Dutch) and the local time zone."""
    data = alert.payload
    meter = data.get("meter", {})
    context: dict[str, Any] = {
        "kind": alert.kind,
        "meter": meter.get("name") or meter.get("serial", ""),
        "serial": meter.get("serial", ""),
    }
    for name, value in data.items():
        if isinstance(value, str) and name.endswith(("_kw", "_eur")):
            context[name] = Decimal(value)
        elif isinstance(value, str) and name.endswith(("_at", "_start", "_end", "_since")):
            context[name] = datetime.fromisoformat(value)
        elif name not in context:
            context[name] = value
    created = context.get("created_at")
    for name in ("offline_since", "back_at"):
        if isinstance(context.get(name), datetime) and isinstance(created, datetime):
            context[f"{name}_text"] = _moment_text(context[name], created)
    return context


def _moment_text(moment: datetime, now: datetime) -> str:
    """14:05 on the day of ``now`` (local time), else the date too."""
    local, today = timezone.localtime(moment), timezone.localtime(now)
    time_text = formats.time_format(local, "H:i")
    if local.date() == today.date():
        return time_text
    return f"{formats.date_format(local, 'SHORT_DATE_FORMAT')} {time_text}"


def webhook_body(alert: Alert) -> bytes:
    """The exact bytes posted (and signed): the stored payload as compact UTF-8 JSON, keys sorted, so a retry sends
    the same bytes after the payload went through the database (PostgreSQL's jsonb keeps no key order)."""
    return json.dumps(alert.payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-P1-Signature`` value: ``sha256=`` and the hex HMAC-SHA256 of ``<timestamp>.<body>`` keyed with the
    account's webhook secret (docs/operations.md shows how a receiver checks it)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _try_webhook(alert: Alert, profile: Profile, now: datetime) -> tuple[str, str]:
    url = profile.alert_webhook_url
    if not url:
        return _SKIPPED, ""
    body = webhook_body(alert)
    timestamp = str(int(now.timestamp()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(profile.alert_webhook_secret, timestamp, body),
    }
    host = urlsplit(url).hostname or "?"  # the URL itself may hold a token: only its host goes to the log
    try:
        # No redirects: a 3xx could lead the signed body elsewhere, or to plain http. Streamed: the answer's
        # body is never read, however large.
        with requests.post(
            url, data=body, headers=headers, timeout=WEBHOOK_TIMEOUT_SECONDS, allow_redirects=False, stream=True
        ) as response:
            status = response.status_code
    except requests.Timeout:
        error = f"no answer within {WEBHOOK_TIMEOUT_SECONDS} s"
    except requests.ConnectionError:
        error = "could not connect"
    except requests.RequestException as exc:
        error = exc.__class__.__name__
    else:
        if 200 <= status < 300:
            return _SENT, ""
        error = f"HTTP {status}"
    logger.warning("alerts: webhook of alert %s to %s failed: %s", alert.pk, host, error)
    return _RETRYING, error


def retry_due(now: datetime) -> tuple[int, int, int]:
    """Try again every alert with a ``retrying`` channel whose next attempt has come. Each alert is first claimed
    with a conditional UPDATE, so two runs at once do not both deliver it. Returns (retried, delivered, given up).
    """
    due = (
        Alert.objects.filter(next_attempt_at__lte=now)
        .filter(Q(email_status=_RETRYING) | Q(webhook_status=_RETRYING))
        .order_by("next_attempt_at", "pk")[:_RETRY_BATCH]
    )
    retried = delivered = given_up = 0
    for alert in due:
        claimed = Alert.objects.filter(
            pk=alert.pk, attempts=alert.attempts, next_attempt_at=alert.next_attempt_at
        ).update(next_attempt_at=now + _LEASE)
        if not claimed:
            continue  # another run took it
        deliver(alert, now)
        retried += 1
        statuses = (alert.email_status, alert.webhook_status)
        given_up += _FAILED in statuses
        delivered += _RETRYING not in statuses and _FAILED not in statuses
    return retried, delivered, given_up


def run_alerts(now: datetime | None = None) -> RunSummary:
    """One pass of ``manage.py run_alerts``: offline and back alerts, then the retries that are due."""
    now = now or timezone.now()
    checked, offline, back = check_offline(now)
    retried, delivered, given_up = retry_due(now)
    return RunSummary(checked, offline, back, retried, delivered, given_up)
