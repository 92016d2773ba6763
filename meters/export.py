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

Raises :class:`ExportError` for bad query input.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings

from meters.models import READING_FIELDS, Meter, Reading

logger = logging.getLogger(__name__)

FORMATS = ("csv", "excel")
FIRST_YEAR, LAST_YEAR = 2000, 2100  # the same range the dashboards accept (meters.series.parse_day)
QUARTER = timedelta(minutes=15)
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


@dataclass(frozen=True)
class ExportRequest:
    start: date | None  # first local day, inclusive; None = from the first reading
    end: date | None  # last local day, inclusive; None = up to the latest reading
    format: str  # one of FORMATS


def parse_request(start: str | None, end: str | None, fmt: str | None) -> ExportRequest:
    """The ``from`` / ``to`` (``YYYY-MM-DD``, optional) and ``format`` query values. Raises ExportError."""
    first, last = _parse_day("from", start), _parse_day("to", end)
    if first and last and first > last:
        raise ExportError(f"'from' ({first}) must not be after 'to' ({last}).")
    chosen = (fmt or "csv").strip().lower()
    if chosen not in FORMATS:
        raise ExportError(
            f"'format' must be 'csv' (comma-separated, decimal point) or 'excel' (semicolon-separated, decimal "
            f"comma), got {fmt!r}."
        )
    return ExportRequest(first, last, chosen)


def _parse_day(name: str, text: str | None) -> date | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise ExportError(f"'{name}' must be a date in the form YYYY-MM-DD, got {text!r}.") from None
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        # Far dates overflow datetime arithmetic at the day boundaries (a 500 or a stream cut off mid-way).
        raise ExportError(
            f"'{name}' must be a date in the form YYYY-MM-DD between {FIRST_YEAR}-01-01 and {LAST_YEAR}-12-31, "
            f"got {text!r}."
        )
    return value


def filename(meter: Meter, request: ExportRequest) -> str:
    suffix = "_excel" if request.format == "excel" else ""
    return f"{meter.serial}_{request.start or 'first'}_{request.end or 'last'}{suffix}.csv"


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def rows(meter: Meter, start: date | None = None, end: date | None = None, tz: str | None = None) -> Iterator[list]:
    """The export rows (``HEADER`` order, Python values; energies as Decimal kWh or None) of whole local days.

    Streams the readings in chunks with a one-row lookahead: a quarter's energy needs the next slot's registers.
    """
    zone = ZoneInfo(tz or settings.TIME_ZONE)
    readings = Reading.objects.filter(meter=meter).order_by("timestamp")
    if start:
        readings = readings.filter(timestamp__gte=_midnight(start, zone))
    after = None
    if end:
        after = _midnight(end + timedelta(days=1), zone)  # 'to' is inclusive: the whole local day
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


def _quarter_energy(current: tuple, following: tuple | None) -> tuple[Decimal | None, ...]:
    # The measured-quarter rule of docs/architecture.md (meters.series.is_measured_quarter): the next slot, and
    # none of the four registers goes down; otherwise the quarter's energy is unknown, never made up.
    if following is None or following[0] - current[0] != QUARTER:
        return (None,) * 4
    wh = [_wh(following[col]) - _wh(current[col]) for col in _REGISTER_COLUMNS]
    if min(wh) < 0:
        return (None,) * 4
    return tuple(Decimal(value).scaleb(-3) for value in wh)


def _wh(kwh: Decimal) -> int:
    return int(kwh.scaleb(3).to_integral_value())


class _Echo:
    """csv.writer target that hands each formatted line back instead of buffering it."""

    def write(self, value: str) -> str:
        return value


def _text(value, decimal_comma: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        text = format(value, "f")  # never exponent notation ("0E-3")
        return text.replace(".", ",") if decimal_comma else text
    return str(value)


def lines(meter: Meter, request: ExportRequest, tz: str | None = None) -> Iterator[str]:
    """The CSV text of :func:`rows`, one line per item, for a StreamingHttpResponse."""
    excel = request.format == "excel"
    writer = csv.writer(_Echo(), delimiter=";" if excel else ",")
    header = writer.writerow(HEADER)
    yield "\ufeff" + header if excel else header
    for row in rows(meter, request.start, request.end, tz):
        yield writer.writerow([_text(value, excel) for value in row])
