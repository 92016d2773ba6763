"""Day-ahead prices from a file: the ENTSO-E transparency export or a plain ``start,price_eur_mwh`` CSV.

Both become one :class:`PriceRow` per quarter-hour (``SpotPrice.slot``: the UTC quarter start), which is what
``meters.billing.cost`` prices with: the quarter's own price, or the hour's (the mean of its four quarters).

* The ENTSO-E export (``docs/operations.md``, "Day-ahead prices"): every field quoted, Brussels wall time
  (``MTU (CET/CEST)``), 15- or 60-minute MTUs (an hour becomes its four quarters; before Oct 2025 the export
  already repeats the hour's price in four quarter rows). In the repeated hour of the autumn change the times carry
  ``(CEST)`` or ``(CET)``; the spring day simply has no 02:xx rows. A price of ``""``, ``-`` or ``n/e`` is "not
  published": nothing is stored for that MTU, and a cost that needs it is *incomplete*.
* The plain CSV: ``start,price_eur_mwh``, one quarter per row; ``start`` in ISO 8601 with an offset, or without one
  in Brussels local time.

The file is read line by line and checked whole before anything is stored (:func:`import_prices`): one bad row,
and the file stores nothing; :class:`PriceFileError` lists the bad rows by line and column.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from meters.models import SpotPrice

logger = logging.getLogger(__name__)

BRUSSELS = ZoneInfo("Europe/Brussels")
QUARTER = timedelta(minutes=15)

# The ENTSO-E export's columns this reads; others (Sequence, intraday) are ignored wherever they are.
ENTSOE_MTU = "MTU (CET/CEST)"
ENTSOE_MTU_UTC = "MTU (UTC)"  # the same export with "UTC" chosen as its time zone
ENTSOE_AREA = "Area"
ENTSOE_PRICE = "Day-ahead Price (EUR/MWh)"
ENTSOE_HEADER = '"MTU (CET/CEST)","Area","Sequence","Day-ahead Price (EUR/MWh)",...'
BELGIAN_ZONE = "BZN|BE"
PLAIN_START = "start"
PLAIN_PRICE = "price_eur_mwh"
PLAIN_HEADER = "start,price_eur_mwh"

# Past this many, a file is clearly not a price file: the rest are counted, not kept (a year is 35,040 rows).
MAX_ERRORS = 1000
# Rows per upsert statement and per "which of these exist already" query.
BATCH_SIZE = 1000

_NO_PRICE = frozenset({"", "-", "n/e", "n/a"})
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_MILLI = Decimal("0.001")
_PRICE_LIMIT = Decimal(10) ** 7  # max_digits=10, decimal_places=3
_TIME = r"(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*\((CET|CEST)\))?"
_MTU = re.compile(rf"\s*{_TIME}\s*-\s*{_TIME}\s*")
_DURATIONS = (QUARTER, 4 * QUARTER)
_SHOWN_ERRORS = 3
_SHOWN_VALUE = 60  # an annotated MTU is 55 characters

# Checks one data row (line number, stripped cells) and hands its quarters to _Parser.add.
_RowReader = Callable[[int, list[str]], None]


@dataclass(frozen=True)
class PriceRow:
    slot: datetime  # UTC quarter start
    price: Decimal  # EUR/MWh, 3 decimals, may be negative


@dataclass(frozen=True)
class PriceError:
    line: int  # from 1, the header included
    column: str | None  # the header's name of the column; None: the row or file as a whole
    message: str

    def __str__(self) -> str:
        if self.column is None:
            return _("line %(line)d: %(message)s") % {"line": self.line, "message": self.message}
        return _("line %(line)d, column '%(column)s': %(message)s") % {
            "line": self.line,
            "column": self.column,
            "message": self.message,
        }

    def as_dict(self) -> dict[str, int | str | None]:
        return {"line": self.line, "column": self.column, "message": self.message}


class PriceFileError(Exception):
    """The file was refused as a whole; ``errors`` lists its bad rows (at most ``MAX_ERRORS``; ``total`` counts
    them all)."""

    def __init__(self, errors: Sequence[PriceError], total: int | None = None) -> None:
        self.errors = list(errors)
        self.total = max(total or 0, len(self.errors))
        super().__init__(self.summary())

    def summary(self) -> str:
        shown = "; ".join(str(error) for error in self.errors[:_SHOWN_ERRORS])
        more = self.total - min(len(self.errors), _SHOWN_ERRORS)
        if more:
            return _("%(errors)s (and %(count)d more)") % {"errors": shown, "count": more}
        return shown


@dataclass(frozen=True)
class PriceImport:
    rows: int  # quarters stored
    created: int
    updated: int  # quarters that had a price already (re-imported: price and imported_at rewritten)
    first: datetime | None  # UTC start of the first quarter; None for a file without prices
    last: datetime | None  # UTC start of the last quarter


class _RowError(Exception):
    def __init__(self, column: str | None, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


def _shown(value: str) -> str:
    return value if len(value) <= _SHOWN_VALUE else value[: _SHOWN_VALUE - 1] + "…"


def _price(text: str, column: str) -> Decimal:
    if not _NUMBER.fullmatch(text):
        raise _RowError(column, _("'%(value)s' is not a number") % {"value": _shown(text)})
    try:
        # A plain file may carry more decimals than the column keeps; 0.001 EUR/MWh is 0.0001 c/kWh.
        value = Decimal(text).quantize(_MILLI, rounding=ROUND_HALF_EVEN)
    except InvalidOperation:
        raise _RowError(column, _("'%(value)s' is not a number") % {"value": _shown(text)}) from None
    if abs(value) >= _PRICE_LIMIT:
        raise _RowError(column, _("%(value)s EUR/MWh is out of range") % {"value": _shown(text)})
    return value


def _instants(naive: datetime, zone: tzinfo, abbreviation: str | None) -> list[datetime]:
    """The UTC instants a wall time names: none in the spring gap, two in the repeated autumn hour (one if the
    abbreviation, CET or CEST, picks it)."""
    found: list[datetime] = []
    for fold in (0, 1):
        local = naive.replace(tzinfo=zone, fold=fold)
        instant = local.astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) != naive:
            continue  # skipped by the clocks going forward
        if abbreviation is not None and local.tzname() != abbreviation:
            continue
        if instant not in found:
            found.append(instant)
    return found


class _Parser:
    """One file's state: where each quarter was seen (duplicates), which repeated wall times came already (the
    first run of the autumn hour is CEST), the rows and the errors."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone: tzinfo = zone
        self.rows: list[PriceRow] = []
        self.errors: list[PriceError] = []
        self.error_count = 0
        self._seen: dict[datetime, int] = {}
        self._repeated: set[datetime] = set()

    def error(self, line: int, column: str | None, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(PriceError(line, column, message))

    def run(self, lines: Iterable[str | bytes]) -> list[PriceRow]:
        numbered = self._decoded(lines)
        header = next(numbered, None)
        if header is None:
            raise PriceFileError([PriceError(1, None, _("The file is empty."))])
        reader = self._header(header[1])
        if reader is None:
            raise PriceFileError(
                [
                    PriceError(
                        1,
                        None,
                        _("Unknown header %(header)s: expected the ENTSO-E export (%(entsoe)s) or %(plain)s.")
                        % {"header": _shown(header[1].strip()), "entsoe": ENTSOE_HEADER, "plain": PLAIN_HEADER},
                    )
                ]
            )
        for number, text in numbered:
            if not text.strip():
                continue
            try:
                cells = next(csv.reader([text], strict=True))
            except csv.Error as exc:
                self.error(number, None, _("unreadable CSV: %(error)s") % {"error": exc})
                continue
            reader(number, [cell.strip() for cell in cells])
        if self.error_count:
            raise PriceFileError(self.errors, self.error_count)
        return self.rows

    def _decoded(self, lines: Iterable[str | bytes]) -> Iterator[tuple[int, str]]:
        """(line number, text without its line end); bytes are UTF-8, and a line that is not is an error."""
        for number, line in enumerate(lines, start=1):
            if isinstance(line, bytes):
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError as exc:
                    message = _("the file is not UTF-8 text (byte 0x%(byte)02x at position %(position)d)") % {
                        "byte": line[exc.start],
                        "position": exc.start + 1,
                    }
                    if number == 1:
                        raise PriceFileError([PriceError(1, None, message)]) from None
                    self.error(number, None, message)
                    continue
            else:
                text = line
            if number == 1:
                text = text.removeprefix("\ufeff")
            yield number, text.rstrip("\r\n")

    def _header(self, text: str) -> _RowReader | None:
        try:
            cells = [cell.strip() for cell in next(csv.reader([text], strict=True))]
        except (csv.Error, StopIteration):
            return None
        if [cell.lower() for cell in cells] == [PLAIN_START, PLAIN_PRICE]:
            return self._plain_row
        mtu = ENTSOE_MTU if ENTSOE_MTU in cells else ENTSOE_MTU_UTC if ENTSOE_MTU_UTC in cells else None
        if mtu is None or ENTSOE_AREA not in cells or ENTSOE_PRICE not in cells:
            return None
        return _EntsoeRows(self, mtu, cells.index(mtu), cells.index(ENTSOE_AREA), cells.index(ENTSOE_PRICE))

    # --- rows -----------------------------------------------------------------------------------------------------

    def _plain_row(self, line: int, cells: list[str]) -> None:
        if len(cells) != 2:
            self.error(line, None, _("expected 2 fields, found %(count)d") % {"count": len(cells)})
            return
        start_text, price_text = cells
        slot = price = None
        try:
            slot = self._plain_start(start_text)
        except _RowError as exc:
            self.error(line, exc.column, exc.message)
        try:
            price = _price(price_text, PLAIN_PRICE)
        except _RowError as exc:
            self.error(line, exc.column, exc.message)
        if slot is not None:
            self.add(line, PLAIN_START, [slot], price)

    def _plain_start(self, text: str) -> datetime:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise _RowError(
                PLAIN_START,
                _("'%(value)s' is not an ISO 8601 date-time such as 2026-01-01T00:15:00+01:00")
                % {"value": _shown(text)},
            ) from None
        if moment.tzinfo is not None:
            slot = moment.astimezone(UTC)
        else:
            instants = _instants(moment, self.zone, None)
            if not instants:
                raise _RowError(
                    PLAIN_START,
                    _("%(value)s does not exist in Brussels time (the clocks go forward)") % {"value": _shown(text)},
                )
            slot = self.resolve(moment, instants)
        if slot.minute % 15 or slot.second or slot.microsecond:
            raise _RowError(PLAIN_START, _("%(value)s is not the start of a quarter-hour") % {"value": _shown(text)})
        return slot

    def resolve(self, naive: datetime, instants: list[datetime]) -> datetime:
        """One instant of a wall time: in the repeated autumn hour, without CET/CEST to tell, the first time it
        comes in the file is the summer one (files are in time order)."""
        if len(instants) == 1:
            return instants[0]
        if naive in self._repeated:
            return instants[-1]
        self._repeated.add(naive)
        return instants[0]

    def add(self, line: int, column: str, slots: list[datetime], price: Decimal | None) -> None:
        """Quarters of one row; ``price`` None: not published (stores nothing), or already reported."""
        for slot in slots:
            earlier = self._seen.get(slot)
            if earlier is not None:
                self.error(
                    line,
                    column,
                    _("the quarter-hour starting %(start)s is already on line %(line)d")
                    % {"start": slot.astimezone(self.zone).isoformat(), "line": earlier},
                )
                return
        for slot in slots:
            self._seen[slot] = line
        if price is not None and not self.error_count:
            self.rows.extend(PriceRow(slot, price) for slot in slots)


class _EntsoeRows:
    def __init__(self, parser: _Parser, mtu_column: str, mtu: int, area: int, price: int) -> None:
        self.parser = parser
        self.mtu_column = mtu_column
        self.zone: tzinfo = UTC if mtu_column == ENTSOE_MTU_UTC else parser.zone
        self.mtu, self.area, self.price = mtu, area, price
        self.width = max(mtu, area, price) + 1

    def __call__(self, line: int, cells: list[str]) -> None:
        parser = self.parser
        if len(cells) < self.width:
            parser.error(
                line,
                None,
                _("expected at least %(expected)d fields, found %(count)d")
                % {"expected": self.width, "count": len(cells)},
            )
            return
        area = cells[self.area]
        if area != BELGIAN_ZONE:
            parser.error(
                line,
                ENTSOE_AREA,
                _("'%(value)s' is not the Belgian bidding zone %(zone)s")
                % {"value": _shown(area), "zone": BELGIAN_ZONE},
            )
        price = None
        text = cells[self.price]
        if text.lower() not in _NO_PRICE:
            try:
                price = _price(text, ENTSOE_PRICE)
            except _RowError as exc:
                parser.error(line, exc.column, exc.message)
        try:
            slots = self._slots(cells[self.mtu])
        except _RowError as exc:
            parser.error(line, exc.column, exc.message)
            return
        parser.add(line, self.mtu_column, slots, price)

    def _slots(self, text: str) -> list[datetime]:
        match = _MTU.fullmatch(text)
        if match is None:
            raise _RowError(
                self.mtu_column,
                _("'%(value)s' is not a period such as 28/12/2025 00:00:00 - 28/12/2025 00:15:00")
                % {"value": _shown(text)},
            )
        groups = match.groups()
        try:
            start, end = _wall_time(groups[:7]), _wall_time(groups[7:])
        except ValueError:
            raise _RowError(self.mtu_column, _("'%(value)s' is not a valid date") % {"value": _shown(text)}) from None
        starts = _instants(start[0], self.zone, start[1])
        ends = _instants(end[0], self.zone, end[1])
        for moment, instants in ((start, starts), (end, ends)):
            if not instants:
                raise _RowError(self.mtu_column, self._no_instant(moment[0], moment[1]))
        # The pair that makes a 15- or 60-minute MTU: a CET/CEST on one end settles the other.
        fitting = [s for s in starts if any(e - s in _DURATIONS for e in ends)]
        if not fitting:
            raise _RowError(
                self.mtu_column,
                _("'%(value)s' is not a 15- or 60-minute period") % {"value": _shown(text)},
            )
        first = self.parser.resolve(start[0], fitting)
        if first.minute % 15 or first.second:
            raise _RowError(
                self.mtu_column, _("'%(value)s' does not start on a quarter-hour") % {"value": _shown(text)}
            )
        length = next(e - first for e in ends if e - first in _DURATIONS)
        return [first + QUARTER * n for n in range(length // QUARTER)]

    def _no_instant(self, naive: datetime, abbreviation: str | None) -> str:
        shown = naive.strftime("%d/%m/%Y %H:%M:%S")
        if abbreviation is not None and _instants(naive, self.zone, None):
            return _("%(time)s is not %(zone)s time") % {"time": shown, "zone": abbreviation}
        return _("%(time)s does not exist in Brussels time (the clocks go forward)") % {"time": shown}


def _wall_time(groups: Sequence[str | None]) -> tuple[datetime, str | None]:
    day, month, year, hour, minute, second, abbreviation = groups
    naive = datetime(int(year or 0), int(month or 0), int(day or 0), int(hour or 0), int(minute or 0), int(second or 0))
    return naive, abbreviation


def _lines(source: str | Iterable[str] | Iterable[bytes]) -> Iterable[str | bytes]:
    if isinstance(source, str):
        # Universal newlines: CRLF and a lone CR end lines too; StringIO yields them without copying the text.
        return io.StringIO(source, newline=None)
    return source


def parse_prices(lines: Iterable[str] | Iterable[bytes], zone: ZoneInfo = BRUSSELS) -> list[PriceRow]:
    """Every priced quarter of a price file, in file order; ``PriceFileError`` listing every bad row otherwise.

    ``lines``: the file's lines (with or without line ends), as text or as UTF-8 bytes (then a line that does not
    decode is reported like any bad row), or the whole text as one ``str``. ``zone``: the wall time of the
    ENTSO-E ``MTU (CET/CEST)`` column and of plain starts without an offset.
    """
    return _Parser(zone).run(_lines(lines))


def import_prices(source: str | Iterable[str] | Iterable[bytes], zone: ZoneInfo = BRUSSELS) -> PriceImport:
    """Parse the whole file (:func:`parse_prices`), then store its quarters in one transaction: new ones created,
    known ones overwritten. A bad file raises ``PriceFileError`` and stores nothing."""
    try:
        rows = parse_prices(source, zone)
    except PriceFileError as exc:
        logger.warning("Refused a day-ahead price file with %d error(s): %s", exc.total, exc.summary())
        raise
    rows.sort(key=lambda row: row.slot)
    created, updated = _store(rows)
    result = PriceImport(
        rows=len(rows),
        created=created,
        updated=updated,
        first=rows[0].slot if rows else None,
        last=rows[-1].slot if rows else None,
    )
    logger.info(
        "Imported %d day-ahead prices from %s to %s: %d new, %d updated",
        result.rows,
        result.first.isoformat() if result.first else "-",
        result.last.isoformat() if result.last else "-",
        result.created,
        result.updated,
    )
    return result


def _store(rows: Sequence[PriceRow]) -> tuple[int, int]:
    """Upsert ``rows`` (sorted by slot); (created, updated)."""
    now = timezone.now()
    upsert = connection.features.supports_update_conflicts_with_target
    created = updated = 0
    with transaction.atomic():
        for start in range(0, len(rows), BATCH_SIZE):
            batch = rows[start : start + BATCH_SIZE]
            # The upsert does not say which rows it inserted: the counts come from what was there before.
            known = set(
                SpotPrice.objects.filter(slot__gte=batch[0].slot, slot__lte=batch[-1].slot).values_list(
                    "slot", flat=True
                )
            )
            prices = [SpotPrice(slot=row.slot, price_eur_mwh=row.price, imported_at=now) for row in batch]
            existing = sum(1 for row in batch if row.slot in known)
            updated += existing
            created += len(batch) - existing
            if upsert:
                SpotPrice.objects.bulk_create(
                    prices,
                    update_conflicts=True,
                    unique_fields=["slot"],
                    update_fields=["price_eur_mwh", "imported_at"],
                )
            else:
                # SQL Server (mssql-django) has no ON CONFLICT: update the known quarters, insert the others.
                SpotPrice.objects.bulk_update(
                    [price for price in prices if price.slot in known], ["price_eur_mwh", "imported_at"]
                )
                SpotPrice.objects.bulk_create([price for price in prices if price.slot not in known])
    return created, updated
