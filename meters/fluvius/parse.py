"""Reading a Mijn Fluvius export (docs/design.md, "Mijn Fluvius import"; the formats: FLUVIUS-EXPORTS facts).

Pure and streaming: :func:`read` takes a binary file object, decodes it as UTF-8 (with or without a BOM), checks the
header row against the known variants (Dutch until 2024, from 2025, the newer "Van (datum)", English; gas files add
the caloric value column) and yields one typed record per data row, or a :class:`RowError` naming the row's line
and column. What a row is comes from its columns, never from the file name:

* a quarter-hour of electricity (register ``Afname Dag`` ... ``Injectie Nacht``, kWh, 15 minutes) -> :class:`Interval`;
* an hour of gas (register ``Afname`` / ``Offtake`` in m³; the same hour's kWh row is :class:`Ignored`) ->
  :class:`Interval` with ``minutes=60``;
* a day total (``00:00:00`` to the next day's ``00:00:00``) -> :class:`DayTotal`;
* a month's peak (register ``Piekvermogen``, kW, the 1st to the next 1st) -> :class:`Peak`.

Times are Brussels wall time without an offset. In the autumn change the 02:00-02:59 quarters appear twice: the
first row of a register at such a time is summer time, the second winter time (the row order is all that tells
them apart), and the last summer 02:45 ends at ``02:00:00``. A time that does not exist (the spring change's
02:xx) is an error. Volumes have a decimal comma and 3 decimals; an empty volume with "Geen verbruik" is 0.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import IO, Final, NamedTuple
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

from meters.models import FluviusRegister, FluviusStatus

BRUSSELS: Final = ZoneInfo("Europe/Brussels")

QUARTER, GAS, DAY, PEAK = "quarter", "gas", "day", "peak"
KINDS: Final = (QUARTER, DAY, PEAK, GAS)

# The header rows seen in exports 2021-2026 (shown in the message for a file that is none of them).
KNOWN_HEADERS: Final = (
    "Van Datum;Van Tijdstip;Tot Datum;Tot Tijdstip;EAN;Meter;Metertype;Register;Volume;Eenheid;Validatiestatus",
    "Van datum;Van tijdstip;Tot datum;Tot tijdstip;EAN-code;Meter;Metertype;Register;Volume;Eenheid;Validatiestatus;"
    "Omschrijving",
    "Van (datum);Van (tijdstip);Tot (datum);Tot (tijdstip);EAN-code;Meter;Metertype;Register;Volume;Eenheid;"
    "Validatiestatus;Omschrijving",
    "From (date);From (time);Until (date);Until (time);EAN code;Meter;Meter type;Register;Volume;Unit;"
    "Validation status;Description",
)

# Column name (lower case) -> its role. Each variant names every role once.
_ROLES: Final = {
    "van datum": "from_date", "van (datum)": "from_date", "from (date)": "from_date",
    "van tijdstip": "from_time", "van (tijdstip)": "from_time", "from (time)": "from_time",
    "tot datum": "to_date", "tot (datum)": "to_date", "until (date)": "to_date",
    "tot tijdstip": "to_time", "tot (tijdstip)": "to_time", "until (time)": "to_time",
    "ean": "ean", "ean-code": "ean", "ean code": "ean",
    "meter": "meter",
    "metertype": "meter_type", "meter type": "meter_type",
    "register": "register",
    "volume": "volume",
    "eenheid": "unit", "unit": "unit",
    "validatiestatus": "status", "validation status": "status",
    "omschrijving": "description", "description": "description",
    "calorische bovenwaarde": "caloric", "caloric upper value": "caloric",
}  # fmt: skip
_REQUIRED: Final = ("from_date", "from_time", "to_date", "to_time", "meter", "register", "volume", "unit", "status")

_ELECTRICITY: Final = {
    "afname dag": FluviusRegister.IMPORT_T1, "offtake day": FluviusRegister.IMPORT_T1,
    "afname nacht": FluviusRegister.IMPORT_T2, "offtake night": FluviusRegister.IMPORT_T2,
    "injectie dag": FluviusRegister.EXPORT_T1, "injection day": FluviusRegister.EXPORT_T1,
    "injectie nacht": FluviusRegister.EXPORT_T2, "injection night": FluviusRegister.EXPORT_T2,
}  # fmt: skip
_ELECTRICITY_VALUES: Final = {k: str(v.value) for k, v in _ELECTRICITY.items()}
_GAS: Final = str(FluviusRegister.GAS.value)
_GAS_REGISTERS: Final = frozenset({"afname", "offtake"})
_PEAK_REGISTERS: Final = frozenset({"piekvermogen", "peak power", "capaciteitspiek"})
_STATUSES: Final = {
    "gevalideerd": FluviusStatus.VALIDATED, "validated": FluviusStatus.VALIDATED,
    "uitgelezen": FluviusStatus.READ, "read": FluviusStatus.READ,
    "geschat": FluviusStatus.ESTIMATED, "estimated": FluviusStatus.ESTIMATED,
    "geen verbruik": FluviusStatus.NO_CONSUMPTION, "no consumption": FluviusStatus.NO_CONSUMPTION,
}  # fmt: skip
_STATUS_VALUES: Final = {k: str(v.value) for k, v in _STATUSES.items()}
_NONE: Final = str(FluviusStatus.NO_CONSUMPTION.value)
_MIDNIGHT: Final = (0, 0, 0)
_ONE_DAY: Final = timedelta(days=1)
_KWH, _M3, _KW = frozenset({"kwh"}), frozenset({"m³", "m3"}), frozenset({"kw"})

_VOLUME = re.compile(r"(\d{1,12})(?:[,.](\d{1,6}))?")
_DATE = re.compile(r"(\d{2})([-/])(\d{2})\2(\d{4})")
_TIME = re.compile(r"(\d{2}):(\d{2})(?::(\d{2}))?")
_SHOWN_VALUE = 40
_READ_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class RowError:
    line: int  # from 1, the header row is line 1
    column: str | None  # the file's own name of the column; None: the row as a whole
    message: str

    def __str__(self) -> str:
        if self.column is None:
            return _("line %(line)d: %(message)s") % {"line": self.line, "message": self.message}
        return _("line %(line)d, column %(column)s: %(message)s") % {
            "line": self.line,
            "column": self.column,
            "message": self.message,
        }

    def as_dict(self) -> dict[str, int | str | None]:
        return {"line": self.line, "column": self.column, "detail": self.message}


class Interval(NamedTuple):
    """A quarter-hour of electricity (Wh) or an hour of gas (litres). A named tuple, not a dataclass: a file has
    hundreds of thousands of them, and a tuple is built in a third of the time."""

    line: int
    start: datetime  # UTC
    day: date  # the local (Brussels) day it starts on: the file's "Van datum"
    minutes: int  # 15, or 60 for gas
    register: str  # FluviusRegister
    value: int
    status: str  # FluviusStatus

    @property
    def kind(self) -> str:
        return GAS if self.register == FluviusRegister.GAS else QUARTER


@dataclass(frozen=True, slots=True)
class DayTotal:
    line: int
    day: date  # the local day
    register: str
    value: int  # Wh; litres for gas
    status: str
    kind = DAY


@dataclass(frozen=True, slots=True)
class Peak:
    line: int
    month: date  # its first day
    peak_w: int
    status: str
    kind = PEAK


@dataclass(frozen=True, slots=True)
class Ignored:
    """A row that is understood and not kept: the gas hour in kWh (its m³ row is kept)."""

    line: int


Record = Interval | DayTotal | Peak | Ignored


class FluviusFileError(Exception):
    """The file as a whole cannot be read: no header, an unknown header, not UTF-8 text, another meter's file."""

    def __init__(self, message: str, line: int = 1, column: str | None = None) -> None:
        super().__init__(message)
        self.error = RowError(line, column, message)


class WrongMeter(FluviusFileError):
    """The file's ``Meter`` column names another meter than the one it is imported for."""

    def __init__(self, line: int, column: str, found: str, expected: str) -> None:
        super().__init__(
            _("this file is for meter %(found)s, not for meter %(expected)s; nothing was imported")
            % {"found": found, "expected": expected},
            line,
            column,
        )
        self.found = found
        self.expected = expected


class _Bad(Exception):
    def __init__(self, column: str | None, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


def _shown(value: str) -> str:
    return value if len(value) <= _SHOWN_VALUE else value[: _SHOWN_VALUE - 1] + "…"


def _lines(fileobj: IO[bytes]) -> Iterator[str]:
    """The file's text lines (line ends kept, as csv wants them), decoded chunk by chunk: the BOM dropped, a
    byte that is not UTF-8 reported with its line."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    pending = ""
    number = 0
    while True:
        chunk = fileobj.read(_READ_CHUNK)
        try:
            text = decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError:
            raise FluviusFileError(
                _("the file is not UTF-8 text (as Mijn Fluvius writes it); export it again without editing it"),
                number + pending.count("\n") + 1,
            ) from None
        if not chunk:
            if pending:
                yield pending
            return
        parts = (pending + text).splitlines(keepends=True)
        pending = parts.pop() if parts and not parts[-1].endswith(("\n", "\r")) else ""
        number += len(parts)
        yield from parts


def _header(cells: list[str]) -> dict[str, int]:
    names = [c.strip().lstrip("\ufeff").lower() for c in cells]
    roles: dict[str, int] = {}
    for i, name in enumerate(names):
        role = _ROLES.get(name)
        if role is None or role in roles:
            roles = {}
            break
        roles[role] = i
    if not roles or any(r not in roles for r in _REQUIRED):
        shown = _shown(";".join(c.strip() for c in cells))
        raise FluviusFileError(
            _(
                "not a Mijn Fluvius export: the header row is '%(found)s'; expected one of: %(expected)s (gas files "
                "add 'Calorische Bovenwaarde' / 'Caloric upper value')"
            )
            % {"found": shown, "expected": " | ".join(KNOWN_HEADERS)}
        )
    return roles


def _date(text: str, column: str) -> date:
    m = _DATE.fullmatch(text)
    if m is not None:
        try:
            return date(int(m[4]), int(m[3]), int(m[1]))
        except ValueError:
            pass
    raise _Bad(column, _("'%(value)s' is not a date DD-MM-YYYY or DD/MM/YYYY") % {"value": _shown(text)})


def _time(text: str, column: str) -> tuple[int, int, int]:
    m = _TIME.fullmatch(text)
    if m is not None:
        h, mi, s = int(m[1]), int(m[2]), int(m[3] or 0)
        if h < 24 and mi < 60 and s < 60:
            return h, mi, s
    raise _Bad(column, _("'%(value)s' is not a time HH:MM:SS") % {"value": _shown(text)})


def _milli(text: str, column: str) -> int:
    """A volume with a decimal comma as an integer number of thousandths (Wh of kWh, litres of m³, W of kW)."""
    m = _VOLUME.fullmatch(text)
    if m is None:
        raise _Bad(column, _("'%(value)s' is not a number") % {"value": _shown(text)})
    frac = m[2] or ""
    value = int(m[1]) * 1000 + int((frac + "000")[:3])
    if len(frac) > 3 and int(frac[3:]) * 2 >= 10 ** (len(frac) - 3):
        value += 1  # more decimals than the registers keep: rounded to the thousandth, half up
    return value


class _Clock:
    """Brussels wall time -> UTC, the autumn's repeated hour told apart by row order, per register and unit."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, str, datetime]] = set()
        self._last: tuple[date, tuple[int, int, int]] | None = None
        self._last_result: tuple[datetime, datetime, bool] | None = None
        self._offsets: dict[date, timedelta | None] = {}

    def steady_offset(self, day: date) -> timedelta | None:
        """The day's UTC offset when the clocks do not change on it (every day but two a year), else None."""
        if day not in self._offsets:
            start = datetime(day.year, day.month, day.day, tzinfo=BRUSSELS).utcoffset()
            end = datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=BRUSSELS).utcoffset()
            self._offsets[day] = start if start == end else None
        return self._offsets[day]

    def _convert(self, day: date, hms: tuple[int, int, int]) -> tuple[datetime, datetime, bool]:
        # The four registers of a quarter share its time: convert each distinct time once.
        if self._last == (day, hms) and self._last_result is not None:
            return self._last_result
        offset = self.steady_offset(day)
        if offset is not None:
            # No change of the clocks that day: plain arithmetic, nothing repeated or missing.
            utc = datetime(day.year, day.month, day.day, *hms, tzinfo=UTC) - offset
            self._last, self._last_result = (day, hms), (utc, utc, False)
            return self._last_result
        naive = datetime(day.year, day.month, day.day, *hms)
        first = naive.replace(tzinfo=BRUSSELS)
        utc = first.astimezone(UTC)
        if utc.astimezone(BRUSSELS).replace(tzinfo=None) != naive:
            raise _Bad(None, _("%(time)s does not exist in Brussels (the clocks went forward)") % {"time": naive})
        second = naive.replace(tzinfo=BRUSSELS, fold=1).astimezone(UTC)
        result = (utc, second, second != utc)
        self._last, self._last_result = (day, hms), result
        return result

    def utc(self, day: date, hms: tuple[int, int, int], key: tuple[str, str]) -> datetime:
        utc, winter, repeated = self._convert(day, hms)
        if not repeated:
            return utc
        seen = (*key, utc)
        if seen in self._seen:
            return winter  # the second run of the repeated hour: winter time
        self._seen.add(seen)
        return utc


def _wall(moment: datetime) -> tuple[date, tuple[int, int, int]]:
    local = moment.astimezone(BRUSSELS)
    return local.date(), (local.hour, local.minute, local.second)


def _next_month(d: date) -> date:
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


class _Parser:
    """The data rows of one file, by the header's column positions. The hot path of a 420,000-row file: the time
    cells repeat for the four registers of a quarter, so each distinct set is parsed and converted once."""

    def __init__(self, roles: dict[str, int], names: list[str]) -> None:
        self.roles, self.names = roles, names
        self.width = max(roles.values()) + 1
        self.i_from_date, self.i_from_time = roles["from_date"], roles["from_time"]
        self.i_to_date, self.i_to_time = roles["to_date"], roles["to_time"]
        self.i_meter, self.i_register, self.i_volume = roles["meter"], roles["register"], roles["volume"]
        self.i_unit, self.i_status = roles["unit"], roles["status"]
        self.clock = _Clock()
        self._times_key: tuple[str, str, str, str] | None = None
        self._times: tuple[date, tuple[int, int, int], date, tuple[int, int, int]] | None = None
        self._end_key: tuple[datetime, int] | None = None
        self._end: tuple[date, tuple[int, int, int]] | None = None

    def name(self, role: str) -> str:
        return self.names[self.roles[role]]

    def _parse_times(
        self, key: tuple[str, str, str, str]
    ) -> tuple[date, tuple[int, int, int], date, tuple[int, int, int]]:
        if key == self._times_key and self._times is not None:
            return self._times
        fd, ft, td, tt = (cell.strip() for cell in key)
        times = (
            _date(fd, self.name("from_date")),
            _time(ft, self.name("from_time")),
            _date(td, self.name("to_date")),
            _time(tt, self.name("to_time")),
        )
        self._times_key, self._times = key, times
        return times

    def _end_wall(self, start: datetime, minutes: int) -> tuple[date, tuple[int, int, int]]:
        if self._end_key != (start, minutes) or self._end is None:
            end = start + timedelta(minutes=minutes)
            offset = self.clock.steady_offset((end - timedelta(seconds=1)).date())
            # The clocks change at 02:00 or 03:00, never at midnight: within a steady day the wall clock is UTC plus
            # that day's offset (checked on the UTC date of the interval's last second, a day at most off).
            if (
                offset is not None
                and self.clock.steady_offset((end + offset - timedelta(seconds=1)).date()) is not None
            ):
                local = end + offset
                self._end = local.date(), (local.hour, local.minute, local.second)
            else:
                self._end = _wall(end)
            self._end_key = (start, minutes)
        return self._end

    def record(self, cells: list[str], line: int) -> Record:
        register_text = cells[self.i_register].strip()
        register_name = register_text.lower()
        unit = cells[self.i_unit].strip().lower()
        status_text = cells[self.i_status].strip()
        status = _STATUS_VALUES.get(status_text.lower())
        if status is None:
            raise _Bad(
                self.name("status"),
                _("unknown validation status '%(value)s' (expected Gevalideerd, Geschat, Geen verbruik, Uitgelezen, "
                  "Read or No consumption)") % {"value": _shown(status_text)},
            )  # fmt: skip
        volume_text = cells[self.i_volume].strip()
        if volume_text:
            value = _milli(volume_text, self.names[self.i_volume])
        elif status == _NONE:
            value = 0  # "no consumption": 0 was measured, not unknown
        else:
            raise _Bad(self.names[self.i_volume], _("empty, while the status is not 'no consumption'"))
        from_day, from_hms, to_day, to_hms = self._parse_times(
            (cells[self.i_from_date], cells[self.i_from_time], cells[self.i_to_date], cells[self.i_to_time])
        )

        register = _ELECTRICITY_VALUES.get(register_name)
        if register is not None:
            if unit not in _KWH:
                raise _Bad(self.name("unit"), _("'%(value)s': electricity is in kWh") % {"value": _shown(unit)})
            minutes = 15
        elif register_name in _GAS_REGISTERS:
            if unit in _KWH:
                return Ignored(line)  # the gas hour in kWh: its m³ row is the one kept
            if unit not in _M3:
                raise _Bad(self.name("unit"), _("'%(value)s': gas is in m³") % {"value": _shown(unit)})
            register = _GAS
            minutes = 60
        elif register_name in _PEAK_REGISTERS:
            if unit not in _KW:
                raise _Bad(self.name("unit"), _("'%(value)s': a peak is in kW") % {"value": _shown(unit)})
            if from_day.day != 1 or from_hms != _MIDNIGHT or to_day != _next_month(from_day) or to_hms != _MIDNIGHT:
                raise _Bad(
                    self.name("to_date"), _("a monthly peak runs from the 1st of a month to the 1st of the next")
                )
            return Peak(line, from_day, value, status)
        else:
            raise _Bad(self.name("register"), _("unknown register '%(value)s'") % {"value": _shown(register_text)})

        if from_hms == _MIDNIGHT and to_hms == _MIDNIGHT and to_day == from_day + _ONE_DAY:
            return DayTotal(line, from_day, register, value, status)
        try:
            start = self.clock.utc(from_day, from_hms, (register, unit))
        except _Bad as bad:
            raise _Bad(self.name("from_time"), bad.message) from None
        if (to_day, to_hms) != self._end_wall(start, minutes):
            raise _Bad(
                self.name("to_time"),
                _("the interval must last %(minutes)d minutes (or a whole day)") % {"minutes": minutes},
            )
        return Interval(line, start, from_day, minutes, register, value, status)


def read(fileobj: IO[bytes], *, serial: str | None = None) -> Iterator[Record | RowError]:
    """The records and row errors of a Mijn Fluvius export, in file order.

    ``serial``: the meter the file must belong to; the first row whose ``Meter`` column names another one raises
    :class:`WrongMeter`. Raises :class:`FluviusFileError` for an empty file, an unknown header or bytes that are
    not UTF-8 text. Row problems are yielded as :class:`RowError` and reading goes on.
    """
    if isinstance(fileobj, io.TextIOBase):
        raise TypeError("read() takes a binary file object")
    rows = csv.reader(_lines(fileobj), delimiter=";")
    parser: _Parser | None = None
    expected = serial.strip().upper() if serial else None
    try:
        for cells in rows:
            if parser is None:
                if any(c.strip() for c in cells):  # blank lines before the header are left out
                    parser = _Parser(_header(cells), [c.strip().lstrip("\ufeff") for c in cells])
                continue
            line = rows.line_num
            if len(cells) < parser.width:
                if any(c.strip() for c in cells):
                    yield RowError(
                        line,
                        None,
                        _("%(found)d columns where the header has %(expected)d")
                        % {"found": len(cells), "expected": parser.width},
                    )
                continue
            if expected is not None:
                found = cells[parser.i_meter].strip()
                if found != expected and found.upper() != expected:
                    raise WrongMeter(line, parser.name("meter"), found.upper(), expected)
            try:
                yield parser.record(cells, line)
            except _Bad as bad:
                yield RowError(line, bad.column, bad.message)
    except csv.Error as exc:
        raise FluviusFileError(_("the file is not a ';'-separated export: %(error)s") % {"error": exc}) from None
    if parser is None:
        raise FluviusFileError(_("the file is empty: a Mijn Fluvius export starts with its header row"))
