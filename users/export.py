"""'Download all my data': one ZIP of everything an account holds, streamed (docs/your-data.md lists every file).

The archive is written by ``zipfile`` into a sink that cannot seek, so each member's sizes follow its data (a data
descriptor) and nothing is ever rewritten; the sink is emptied into the response after every chunk. Memory stays
bounded whatever the size: a meter with a million readings streams like one with ten, so every export is served at
once and no background job, stored file or e-mailed link is needed.

The readings CSV is ``meters.exports``' own (one format, the one the dashboard's download gives). Meters shared
*with* the account are listed without their readings: those are the owner's data. Secrets (password hash, the alert
webhook's signing secret, API token versions, device token hashes, share invitation tokens) are never exported.
"""

from __future__ import annotations

import json
import logging
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db.models import Count
from django.http import StreamingHttpResponse
from django.utils import timezone, translation
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _

from meters import exports
from meters.access import alerts_visible_to, owned_devices, owned_meters
from meters.models import (
    Contract,
    FluviusDay,
    FluviusInterval,
    FluviusPeak,
    FluviusRegister,
    MeterShare,
    PendingMeter,
    Reading,
    audit,
)
from users.models import Profile

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1  # in account.json: raised when a file or field changes meaning
CONTENT_TYPE = "application/zip"
README, ACCOUNT, METERS, ALERTS, DEVICES, SHARED = (
    "README.txt",
    "account.json",
    "meters.json",
    "alerts.json",
    "devices.json",
    "shared_with_me.json",
)
_CHUNK_BYTES = 64 * 1024  # text gathered before it goes to the compressor, and bytes gathered before a yield
# Contract columns that say whose contract it is, not what it charges: left out of "all its fields".
_CONTRACT_SKIP = frozenset({"id", "meter"})
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class MeterFile:
    """One owned meter of the export and its readings file."""

    meter_id: int
    serial: str
    path: str  # readings/<serial>.csv
    readings: int  # counted when the export started; uploads arriving meanwhile may add rows
    imported: int = 0  # values imported from Mijn Fluvius (quarter-hours, day totals, monthly peaks)
    imported_path: str = ""  # mijn-fluvius/<serial>.csv, when there are some


@dataclass(frozen=True)
class ExportManifest:
    """What an export holds, counted when it starts (the audit log's numbers and the tests')."""

    meters: tuple[MeterFile, ...]
    shared_with_me: int
    alerts: int
    devices: int

    @property
    def readings(self) -> int:
        return sum(meter.readings for meter in self.meters)

    @property
    def files(self) -> tuple[str, ...]:
        imported = (meter.imported_path for meter in self.meters if meter.imported)
        return (README, ACCOUNT, METERS, ALERTS, DEVICES, SHARED, *(meter.path for meter in self.meters), *imported)


@dataclass(frozen=True)
class Export:
    """A started export: what it holds, its download name and its bytes (iterate once)."""

    manifest: ExportManifest
    filename: str
    chunks: Iterator[bytes]


def export_manifest(user: Any) -> ExportManifest:
    """Count what ``user``'s export will hold; fixes the owned meters and their readings files."""
    meters = list(owned_meters(user).order_by("serial").values_list("pk", "serial"))
    counts = dict(
        Reading.objects.filter(meter_id__in=[pk for pk, _serial in meters])
        .values_list("meter_id")
        .annotate(n=Count("*"))
        .values_list("meter_id", "n")
    )
    imported: dict[int, int] = {}
    for model in (FluviusInterval, FluviusDay, FluviusPeak):
        for meter_id, n in (
            model.objects.filter(meter_id__in=[pk for pk, _serial in meters])
            .values_list("meter_id")
            .annotate(n=Count("*"))
            .values_list("meter_id", "n")
        ):
            imported[meter_id] = imported.get(meter_id, 0) + n
    return ExportManifest(
        meters=tuple(
            MeterFile(
                pk, serial, path, counts.get(pk, 0), imported.get(pk, 0), path.replace("readings/", "mijn-fluvius/", 1)
            )
            for (pk, serial), path in zip(meters, _readings_paths([serial for _pk, serial in meters]), strict=True)
        ),
        shared_with_me=MeterShare.objects.filter(user=user).count(),
        alerts=alerts_visible_to(user).count(),
        devices=owned_devices(user).count(),
    )


def _readings_paths(serials: list[str]) -> list[str]:
    """``readings/<serial>.csv``; a serial with characters no file name should hold (stored before the serial rule)
    gets them replaced, and a name taken twice gets a number."""
    paths: list[str] = []
    for serial in serials:
        stem = _UNSAFE_NAME.sub("_", serial) or "meter"
        path, number = f"readings/{stem}.csv", 1
        while path in paths:
            number += 1
            path = f"readings/{stem}-{number}.csv"
        paths.append(path)
    return paths


def export_filename(user: Any, day: date) -> str:
    return f"p1energy-{user.get_username()}-{day.isoformat()}.zip"


def start_export(user: Any) -> Export:
    """Begin ``user``'s export and record it in the audit log (counts only). The page and the API call this."""
    manifest = export_manifest(user)
    audit("export", user.pk, meters=len(manifest.meters), readings=manifest.readings)
    logger.info("export: user %s, %d meters, %d readings", user.pk, len(manifest.meters), manifest.readings)
    return Export(manifest, export_filename(user, timezone.localdate()), export_zip(user, manifest))


def streaming_response(export: Export) -> StreamingHttpResponse:
    response = StreamingHttpResponse(export.chunks, content_type=CONTENT_TYPE)
    # RFC 6266 with a filename* fallback: usernames may hold letters beyond ASCII.
    response["Content-Disposition"] = content_disposition_header(True, export.filename) or "attachment"
    return response


def export_zip(user: Any, manifest: ExportManifest | None = None) -> Iterator[bytes]:
    """The ZIP of ``user``'s data as a stream of bytes. Language and time are taken now: the stream is read after
    the view has returned, when the request's language may no longer be active."""
    if manifest is None:
        manifest = export_manifest(user)
    return _stream(user, manifest, translation.get_language(), timezone.now())


class _Sink:
    """The archive's output. Without ``tell`` or ``seek`` zipfile never goes back, so the bytes may leave at once."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.size = 0

    def write(self, data: bytes, /) -> int:
        self._parts.append(bytes(data))
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def drain(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        self.size = 0
        return data


def _stream(user: Any, manifest: ExportManifest, language: str | None, now: datetime) -> Iterator[bytes]:
    # No empty chunk ever leaves: some servers read one as the end of a chunked response.
    return (chunk for chunk in _archive(user, manifest, language, now) if chunk)


def _archive(user: Any, manifest: ExportManifest, language: str | None, now: datetime) -> Iterator[bytes]:
    sink = _Sink()
    stamp = timezone.localtime(now).timetuple()[:6]
    with translation.override(language), zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, texts in _members(user, manifest, now):
            info = zipfile.ZipInfo(path, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16  # rw-r--r-- when unpacked on Linux or macOS
            with archive.open(info, "w") as member:
                for block in _blocks(texts):
                    member.write(block)
                    if sink.size >= _CHUNK_BYTES:
                        yield sink.drain()
            yield sink.drain()
    yield sink.drain()  # the central directory, written when the archive closes


def _blocks(texts: Iterable[str]) -> Iterator[bytes]:
    """UTF-8 blocks of about ``_CHUNK_BYTES``: a CSV line at a time would cost one compressor call per reading."""
    pending: list[str] = []
    size = 0
    for text in texts:
        pending.append(text)
        size += len(text)
        if size >= _CHUNK_BYTES:
            yield "".join(pending).encode()
            pending.clear()
            size = 0
    if pending:
        yield "".join(pending).encode()


def _members(user: Any, manifest: ExportManifest, now: datetime) -> Iterator[tuple[str, Iterable[str]]]:
    yield README, [_readme(user, manifest, now)]
    yield ACCOUNT, [_dumps(_account(user)), "\n"]
    yield METERS, _json_list(_meters(user, manifest))
    yield ALERTS, _json_list(_alerts(user))
    yield DEVICES, _json_list(_devices(user))
    yield SHARED, _json_list(_shared_with(user))
    everything = exports.parse_request(None, None, "csv")
    for entry in manifest.meters:
        meter = owned_meters(user).filter(pk=entry.meter_id).first()
        # A meter deleted or released while the export ran: an empty file with the header, not another's data.
        yield entry.path, exports.lines(meter, everything) if meter else [",".join(exports.HEADER) + "\r\n"]
        if entry.imported:
            yield entry.imported_path, _imported_lines(meter.pk if meter else None)


IMPORTED_HEADER = ("kind", "start", "minutes", "register", "value", "unit", "status")


def _imported_lines(meter_id: int | None) -> Iterator[str]:
    """What was imported from Mijn Fluvius for one meter, as stored: interval volumes (start in UTC), day totals
    and monthly peaks, each with the file's validation status. Energies in Wh, gas in litres, peaks in W."""
    yield ",".join(IMPORTED_HEADER) + "\r\n"
    if meter_id is None:
        return

    def unit(register: str) -> str:
        return "l" if register == FluviusRegister.GAS else "Wh"

    for i in FluviusInterval.objects.filter(meter_id=meter_id).order_by("start", "register").iterator(2000):
        yield f"interval,{i.start.isoformat()},{i.minutes},{i.register},{i.value},{unit(i.register)},{i.status}\r\n"
    for d in FluviusDay.objects.filter(meter_id=meter_id).order_by("day", "register").iterator(2000):
        yield f"day,{d.day.isoformat()},,{d.register},{d.value},{unit(d.register)},{d.status}\r\n"
    for p in FluviusPeak.objects.filter(meter_id=meter_id).order_by("month").iterator(2000):
        yield f"month_peak,{p.month.isoformat()},,,{p.peak_w},W,{p.status}\r\n"


# --- JSON ---------------------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """JSON for the model's values: decimals as strings (exact: 0.1234567 EUR stays so), times ISO 8601 in UTC."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not exported")


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_plain, ensure_ascii=False, indent=2)


def _json_list(items: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """A JSON array written an item at a time (a long alert history never sits in memory as one string)."""
    yield "["
    separator = "\n"
    for item in items:
        yield separator + "  " + _dumps(item).replace("\n", "\n  ")
        separator = ",\n"
    yield "\n]\n" if separator != "\n" else "]\n"


def _account(user: Any) -> dict[str, Any]:
    # Read without creating a profile: an export changes nothing. Never alert_webhook_secret or token_version.
    profile = Profile.objects.filter(user=user).first() or Profile()
    in_use = profile.prices()
    return {
        "format_version": FORMAT_VERSION,
        "username": user.get_username(),
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "date_joined": user.date_joined,
        "last_login": user.last_login,
        "language": profile.language,
        "theme": profile.theme,
        "prices": {
            "import_day_eur_kwh": profile.price_import_day,
            "import_night_eur_kwh": profile.price_import_night,
            "export_eur_kwh": profile.price_export,
            "capacity_eur_kw_year": profile.price_capacity,
            "gas_eur_m3": profile.price_gas,
        },
        "prices_in_use": {
            "import_day_eur_kwh": in_use.import_day_eur_kwh,
            "import_night_eur_kwh": in_use.import_night_eur_kwh,
            "export_eur_kwh": in_use.export_eur_kwh,
            "capacity_eur_kw_year": in_use.capacity_eur_kw_year,
            "gas_eur_m3": in_use.gas_eur_m3,
        },
        "alert_settings": {
            "peak": profile.alert_peak,
            "peak_threshold_kw": profile.alert_peak_threshold_kw,
            "offline": profile.alert_offline,
            "offline_minutes": profile.alert_offline_minutes,
            "email": profile.alert_email,
            "webhook_url": profile.alert_webhook_url,
        },
        "serials_waiting_for_data": [
            {"serial": serial, "name": name, "added_at": added}
            for serial, name, added in PendingMeter.objects.filter(user=user)
            .order_by("created_at", "serial")
            .values_list("serial", "name", "created_at")
        ],
    }


def _contract(contract: Contract) -> dict[str, Any]:
    return {
        field.name: getattr(contract, field.attname)
        for field in Contract._meta.concrete_fields
        if field.name not in _CONTRACT_SKIP
    }


def _meters(user: Any, manifest: ExportManifest) -> Iterator[dict[str, Any]]:
    meters = (
        owned_meters(user)
        .prefetch_related("contracts", "shares", "fluvius_imports")
        .in_bulk([m.meter_id for m in manifest.meters])
    )
    for entry in manifest.meters:
        meter = meters.get(entry.meter_id)
        if meter is None:
            continue  # deleted or released since the export started
        yield {
            "serial": meter.serial,
            "name": meter.name,
            "code": meter.code,
            "created_at": meter.created_at,
            "readings": entry.readings,
            "readings_file": entry.path,
            # The models' orderings: contracts by valid_from, shares by invitation time.
            "contracts": [_contract(contract) for contract in meter.contracts.all()],
            "shares": [
                {
                    "email": share.email,
                    "role": share.role,
                    "accepted": share.accepted_at is not None,
                    "invited_at": share.invited_at,
                    "accepted_at": share.accepted_at,
                }
                for share in meter.shares.all()
            ],
            "imported_from_mijn_fluvius": {
                "values": entry.imported,
                "file": entry.imported_path if entry.imported else None,
                "imports": [
                    {
                        "file_name": i.file_name,
                        "imported_at": i.created_at,
                        "kinds": i.kinds,
                        "refused": i.refused,
                        "rows": i.rows,
                        "stored": i.stored,
                        "unchanged": i.unchanged,
                        "skipped": i.skipped,
                        "errors": i.errors,
                        "first": i.first,
                        "last": i.last,
                    }
                    for i in sorted(meter.fluvius_imports.all(), key=lambda i: i.created_at)
                ],
            },
        }


def _alerts(user: Any) -> Iterator[dict[str, Any]]:
    alerts = alerts_visible_to(user).select_related("meter").order_by("created_at", "pk")
    for alert in alerts.iterator(chunk_size=500):
        yield {
            "meter_serial": alert.meter.serial,
            "kind": alert.kind,
            "key": alert.key,
            "created_at": alert.created_at,
            "email_status": alert.email_status,
            "webhook_status": alert.webhook_status,
            "attempts": alert.attempts,
            "next_attempt_at": alert.next_attempt_at,
            "last_error": alert.last_error,
            "payload": alert.payload,
        }


def _devices(user: Any) -> Iterator[dict[str, Any]]:
    # Never token_hash: it is what the Pi's token is checked against.
    for device in owned_devices(user).prefetch_related("meters").order_by("created_at", "pk"):
        yield {
            "name": device.name,
            "paired_at": device.created_at,
            "paired_from": device.created_from,
            "last_seen_at": device.last_seen_at,
            "last_address": device.last_address,
            "revoked_at": device.revoked_at,
            "meters": sorted(meter.serial for meter in device.meters.all()),
        }


def _shared_with(user: Any) -> Iterator[dict[str, Any]]:
    # The user's side of each share only: no readings and nothing about the owner (their data, not the user's).
    for share in MeterShare.objects.filter(user=user).select_related("meter").order_by("invited_at", "pk"):
        yield {
            "serial": share.meter.serial,
            "name": share.meter.name,
            "code": share.meter.code,
            "role": share.role,
            "invited_at": share.invited_at,
            "accepted_at": share.accepted_at,
        }


# --- README -------------------------------------------------------------------------------------------------------


def _readme(user: Any, manifest: ExportManifest, now: datetime) -> str:
    made = timezone.localtime(now).isoformat(timespec="seconds")
    files = [
        (README, _("This file.")),
        (
            ACCOUNT,
            _(
                "Your account: username, e-mail address, name, when it was created and last logged in, language, "
                "colour scheme, your prices (empty: the site default; prices_in_use shows the prices used), your "
                "alert settings and the serial numbers waiting for their first reading."
            ),
        ),
        (
            METERS,
            _(
                "Your meters: serial number, name, code, when it was added, how many readings it has and the file "
                "that holds them, its contracts with all their fields and the people it is shared with (role, "
                "e-mail address, accepted or not)."
            ),
        ),
        (ALERTS, _("Every alert sent to you: meter, kind, when, what was sent and how each channel took it.")),
        (
            DEVICES,
            _("Your devices: name, when and from which address it was paired, when it was last seen, its meters."),
        ),
        (
            SHARED,
            _(
                "Meters other people share with you, with your role. Their readings are not included: they are the "
                "owner's data."
            ),
        ),
    ]
    if manifest.meters:
        files.append(
            (
                "readings/<serial>.csv",
                _(
                    "Every reading of one of your meters, one row per quarter-hour: the same file as the export on "
                    "the dashboard, for the whole history."
                ),
            )
        )
    if any(meter.imported for meter in manifest.meters):
        files.append(
            (
                "mijn-fluvius/<serial>.csv",
                _(
                    "What you imported from Mijn Fluvius for one of your meters, as stored: the energy of each "
                    "interval (start in UTC), the day totals and the monthly peaks, each with its validation status. "
                    "Energy in Wh, gas in litres, peaks in W."
                ),
            )
        )
    lines = [
        _("P1 Energy: all data of the account %(username)s, made at %(time)s.")
        % {"username": user.get_username(), "time": made},
        "",
        *(f"{name}\n    {text}" for name, text in files),
        "",
        _(
            "Units: energy in kWh, power in kW, voltage in V, current in A, gas and water in m³, prices in EUR. "
            "Numbers use a decimal point; in the JSON files, numbers with decimals are strings, so that no digit "
            "is lost."
        ),
        _(
            "Times: local_time in the readings files is the time in %(zone)s with its offset from UTC; every "
            "other time is in UTC (ISO 8601)."
        )
        % {"zone": settings.TIME_ZONE},
        _("Text is UTF-8. The CSV files are comma-separated with a header row."),
        "",
    ]
    return "\n".join(lines).replace("\n", "\r\n")  # CRLF: Notepad shows the lines too
