"""CSV export of a meter's readings: one row per stored quarter-hour slot, streamed.

Columns (see ``HEADER``): the slot start in local time (``settings.TIME_ZONE``, ISO 8601 with its offset, so the
repeated hour of the autumn DST change stays unambiguous) and in UTC; the meter clock time and every reading field
as stored (``READING_FIELDS``; other datetimes in UTC, anything not sent left empty); then the energy of the slot's
quarter-hour in kWh for import day / import night / export day / export night.

The energy of a quarter is the next slot's register minus this slot's register, computed exactly in integer Wh. It
is left empty when the next slot's reading is missing, or when any register of the next reading is lower (a meter
reset or replacement: the four registers no longer belong to one continuous count), never estimated here.

Two formats: ``csv`` (``,`` and decimal points, the default) and ``excel`` (``;``, decimal commas and a UTF-8
BOM: what Excel with Belgian regional settings opens into columns and numbers without an import wizard).

Raises :class:`ExportError` (and its :class:`RangeError`) for bad query input.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from meters.models import READING_FIELDS, Meter, Reading
from meters.series.capacity import quarter_deltas_wh

FORMATS = ("csv", "excel")
FIRST_YEAR, LAST_YEAR = 2000, 2100  # the same range the dashboards accept (meters.series.parse_day)
CHUNK_SIZE = 2000
# Each energy column and the register it is the quarter's difference of (1.8.1, 1.8.2, 2.8.1, 2.8.2).
ENERGY_REGISTERS = {
    "quarter_import_day_kwh": "import_t1_kwh",
    "quarter_import_night_kwh": "import_t2_kwh",
    "quarter_export_day_kwh": "export_t1_kwh",
    "quarter_export_night_kwh": "export_t2_kwh",
}
HEADER = ("local_time", "utc_time", "measured_at", *READING_FIELDS, *ENERGY_REGISTERS)

_QUERY_FIELDS = ("timestamp", "measured_at", *READING_FIELDS)
_REGISTER_COLUMNS = tuple(_QUERY_FIELDS.index(name) for name in ENERGY_REGISTERS.values())


class ExportError(ValueError):
    """Bad export parameters; the message names the parameter and what it accepts, and is meant for the user."""


class RangeError(ExportError):
    """A ``from`` / ``to`` value that is no date or date-time, lies outside the years this server shows, or a
    ``from`` after ``to``."""


@dataclass(frozen=True)
class TimeRange:
    """A period of readings by slot start: ``start`` inclusive, ``end`` exclusive, aware UTC; None = open."""

    start: datetime | None
    end: datetime | None
    zone: ZoneInfo

    @property
    def first_day(self) -> date | None:
        return None if self.start is None else self.start.astimezone(self.zone).date()

    @property
    def last_day(self) -> date | None:
        return None if self.end is None else (self.end - timedelta(microseconds=1)).astimezone(self.zone).date()


def parse_range(start: str | None, end: str | None, tz: str | None = None) -> TimeRange:
    """The ``from`` / ``to`` query values of the CSV export and of ``/api/v1/meters/<code>/readings/``: one meaning.

    Each is optional, and either a local date ``YYYY-MM-DD`` or an ISO 8601 date-time (naive = local time,
    ``settings.TIME_ZONE``). The period runs from ``from`` up to, not including, ``to``, where a date names its whole
    local day: ``from=2024-05-06&to=2024-05-06`` is that one day (92, 96 or 100 quarter-hours), and
    ``to=2024-05-06T00:00:00+02:00`` ends just before it. Years 2000 to 2100. Raises :class:`RangeError`.
    """
    zone = ZoneInfo(tz or settings.TIME_ZONE)
    first = _bound("from", start, zone, whole_day_end=False)
    after = _bound("to", end, zone, whole_day_end=True)
    if first is not None and after is not None and first > after:
        raise RangeError(_("'from' (%(start)s) must not be after 'to' (%(end)s).") % {"start": start, "end": end})
    return TimeRange(first, after, zone)


_RANGE_FORM = gettext_lazy("a date (YYYY-MM-DD) or an ISO 8601 date-time such as 2024-03-01T00:00:00+01:00")


def _bound(name: str, text: str | None, zone: ZoneInfo, whole_day_end: bool) -> datetime | None:
    raw = (text or "").strip()
    if not raw:
        return None
    outside = RangeError(
        _("'%(name)s' must be %(form)s between %(first)s and %(last)s, got %(value)s.")
        % {
            "name": name,
            "form": _RANGE_FORM,
            "first": f"{FIRST_YEAR}-01-01",
            "last": f"{LAST_YEAR}-12-31",
            "value": repr(raw),
        }
    )
    if len(raw) == 10:
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise RangeError(
                _("'%(name)s' must be %(form)s, got %(value)s.")
                % {"name": name, "form": _RANGE_FORM, "value": repr(raw)}
            ) from None
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            # Far dates overflow datetime arithmetic at the day boundaries (a 500 or a stream cut off mid-way).
            raise outside
        return _midnight(day + timedelta(days=1) if whole_day_end else day, zone)
    # An unencoded "+01:00" in a query string arrives as " 01:00".
    for candidate in (raw, raw.replace(" ", "+")):
        try:
            moment = _aware_utc(candidate, zone)
        except OverflowError:
            raise outside from None
        if moment is not None:
            if not FIRST_YEAR <= moment.astimezone(zone).year <= LAST_YEAR:
                raise outside
            return moment
    raise RangeError(
        _("'%(name)s' must be %(form)s, got %(value)s.") % {"name": name, "form": _RANGE_FORM, "value": repr(raw)}
    )


def _aware_utc(text: str, zone: ZoneInfo) -> datetime | None:
    """``text`` (ISO 8601; naive = ``zone``) as aware UTC, None when it is no date-time; ``OverflowError`` when its
    UTC time is outside the years 1-9999 (0001-01-01T00:00:00+01:00). Converting before the ORM sees the value
    keeps PostgreSQL from refusing offsets beyond +-15:59, which Python accepts up to +-23:59."""
    try:
        value = parse_datetime(text)
    except ValueError:  # the right shape but no such date (2024-02-30) or hour
        return None
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone, fold=0)
    return value.astimezone(UTC)


def utc_datetime(text: str) -> datetime | None:
    """``text`` as an aware UTC datetime in the years this server shows, else None (an API cursor's position)."""
    try:
        moment = _aware_utc(text, ZoneInfo(settings.TIME_ZONE))
    except OverflowError:
        return None
    if moment is None or not FIRST_YEAR <= moment.year <= LAST_YEAR:
        return None
    return moment


@dataclass(frozen=True)
class ExportRequest:
    period: TimeRange
    format: str  # one of FORMATS


def parse_request(start: str | None, end: str | None, fmt: str | None) -> ExportRequest:
    """The ``from`` / ``to`` (see :func:`parse_range`) and ``format`` query values. Raises ExportError."""
    period = parse_range(start, end)
    chosen = (fmt or "csv").strip().lower()
    if chosen not in FORMATS:
        raise ExportError(
            _(
                "'format' must be 'csv' (comma-separated, decimal point) or 'excel' (semicolon-separated, decimal "
                "comma), got %(value)s."
            )
            % {"value": repr(fmt)}
        )
    return ExportRequest(period, chosen)


def filename(meter: Meter, request: ExportRequest) -> str:
    suffix = "_excel" if request.format == "excel" else ""
    first, last = request.period.first_day, request.period.last_day
    return f"{meter.serial}_{first or 'first'}_{last or 'last'}{suffix}.csv"


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def rows(meter: Meter, period: TimeRange) -> Iterator[list[Any]]:
    """The export rows (``HEADER`` order, Python values; energies as Decimal kWh or None) of ``period``.

    Streams the readings in chunks with a one-row lookahead: a quarter's energy needs the next slot's registers.
    """
    zone = period.zone
    readings = Reading.objects.filter(meter=meter).order_by("timestamp")
    if period.start:
        readings = readings.filter(timestamp__gte=period.start)
    after = period.end
    if after:
        # The slot at the boundary is fetched only for its registers: it closes the last quarter of the range.
        readings = readings.filter(timestamp__lte=after)
    stream = readings.values_list(*_QUERY_FIELDS).iterator(chunk_size=CHUNK_SIZE)

    current = next(stream, None)
    while current is not None and (after is None or current[0] < after):
        following = next(stream, None)
        timestamp = current[0]
        yield [
            timestamp.astimezone(zone),
            timestamp.astimezone(UTC),
            *current[1:],
            *_quarter_energy(current, following),
        ]
        current = following


def _quarter_energy(current: tuple[Any, ...], following: tuple[Any, ...] | None) -> tuple[Decimal | None, ...]:
    """The energy of the quarter starting at ``current`` by the measured-quarter rule, or four Nones."""
    if following is None:
        return (None,) * 4
    wh = quarter_deltas_wh(
        int((following[0] - current[0]).total_seconds()),
        [_wh(current[col]) for col in _REGISTER_COLUMNS],
        [_wh(following[col]) for col in _REGISTER_COLUMNS],
    )
    if wh is None:
        return (None,) * 4
    return tuple(Decimal(value).scaleb(-3) for value in wh)


def _wh(kwh: Decimal | None) -> int | None:
    return None if kwh is None else int(kwh.scaleb(3).to_integral_value())


class _Echo:
    """csv.writer target that hands each formatted line back instead of buffering it."""

    def write(self, value: str) -> str:
        return value


def _text(value: Any, decimal_comma: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        text = format(value, "f")  # never exponent notation ("0E-3")
        return text.replace(".", ",") if decimal_comma else text
    return str(value)


def lines(meter: Meter, request: ExportRequest) -> Iterator[str]:
    """The CSV text of :func:`rows`, one line per item, for a StreamingHttpResponse."""
    excel = request.format == "excel"
    writer = csv.writer(_Echo(), delimiter=";" if excel else ",")
    header = writer.writerow(HEADER)
    yield "\ufeff" + header if excel else header
    for row in rows(meter, request.period):
        yield writer.writerow([_text(value, excel) for value in row])
