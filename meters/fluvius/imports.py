"""Storing a Mijn Fluvius export (docs/design.md, "Mijn Fluvius import"): :func:`import_file`.

The file is read as a stream (``meters.fluvius.parse``) and stored in batches of :data:`BATCH_SIZE` rows inside one
transaction, so memory stays bounded whatever the file's size and a refused file stores nothing. Idempotent: a
value is keyed by (meter, interval start, register), (meter, day, register) or (meter, month); re-importing the
same or an overlapping file rewrites only values that changed (a *Geschat* value later *Gevalideerd*) and counts
the others ``unchanged``. Every import, stored or refused, is logged as a ``FluviusImport`` with its report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import IO, Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import Model
from django.utils.translation import ngettext

from meters.bulk import insert_rows
from meters.fluvius import parse
from meters.fluvius.reconcile import DayDifference, Reconciliation, reconcile
from meters.models import (
    FluviusDay,
    FluviusImport,
    FluviusInterval,
    FluviusPeak,
    FluviusRegister,
    FluviusStatus,
    Meter,
)

logger = logging.getLogger(__name__)

BATCH_SIZE = 5000  # rows per "which of these exist" query and per insert
MAX_ERRORS = 1000  # errors kept (and shown); past this they are only counted
PROGRESS_EVERY = 50_000  # rows between two progress calls
MAX_DIFFERENCES = 400  # flagged register-days kept in a report
_DELETE_CHUNK = 500  # values per IN list (SQLite allows 32,766 parameters, its expression depth 1,000)

Progress = Callable[[int], None]


@dataclass(frozen=True)
class ImportReport:
    """What an import read, stored and found. ``kinds``: data rows per kind (quarter, day, peak, gas)."""

    file_name: str
    kinds: Mapping[str, int]
    rows: int  # data rows read
    created: int
    updated: int  # values that were stored already with another volume or status
    unchanged: int  # values stored already exactly so (a re-import)
    skipped: int  # bad rows left out (``skip_errors``)
    ignored: int  # rows understood and not kept: the gas hours in kWh
    errors: tuple[parse.RowError, ...]  # at most MAX_ERRORS
    error_count: int
    first: datetime | None  # UTC start of the earliest value (a day's or month's local midnight)
    last: datetime | None  # UTC start of the latest value
    refused: bool = False
    differences: tuple[DayDifference, ...] = ()  # the flagged register-days (at most MAX_DIFFERENCES)
    days_compared: int = 0  # local days with energies from both the Pi and Fluvius
    import_id: int | None = None
    meter_serial: str = ""

    @property
    def stored(self) -> int:
        return self.created + self.updated

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON (the API's answer and the log's ``report``)."""
        return {
            "file": self.file_name,
            "refused": self.refused,
            "kinds": dict(self.kinds),
            "rows": self.rows,
            "stored": self.stored,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "ignored": self.ignored,
            "error_count": self.error_count,
            "errors": [e.as_dict() for e in self.errors],
            "first": None if self.first is None else self.first.isoformat(),
            "last": None if self.last is None else self.last.isoformat(),
            "reconciliation": {
                "days_compared": self.days_compared,
                "flagged": len(self.differences),
                "days": [d.as_dict() for d in self.differences],
            },
        }


class ImportRefused(Exception):
    """Nothing was stored: the file belongs to another meter, is no Mijn Fluvius export, or has bad rows and
    ``skip_errors`` was not asked. ``report`` holds the errors by line and column."""

    def __init__(self, message: str, report: ImportReport) -> None:
        super().__init__(message)
        self.report = report


class _Rollback(Exception):
    pass


@dataclass
class _Table:
    """One target table's pending rows, flushed as an upsert of a batch."""

    model: type[Model]
    key_fields: tuple[str, ...]
    value_fields: tuple[str, ...]
    pending: dict[tuple, tuple] = field(default_factory=dict)


@dataclass
class _Counts:
    kinds: dict[str, int] = field(default_factory=lambda: dict.fromkeys(parse.KINDS, 0))
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    ignored: int = 0
    errors: list[parse.RowError] = field(default_factory=list)
    error_count: int = 0
    first: datetime | None = None
    last: datetime | None = None

    def span(self, moment: datetime) -> None:
        if self.first is None or moment < self.first:
            self.first = moment
        if self.last is None or moment > self.last:
            self.last = moment

    def error(self, error: parse.RowError) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(error)


def _local_midnight(day: date, zone: ZoneInfo = parse.BRUSSELS) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


class _Store:
    def __init__(self, meter_id: int, using: str, counts: _Counts) -> None:
        self.meter_id = meter_id
        self.using = using
        self.counts = counts
        self.tables = {
            "interval": _Table(FluviusInterval, ("start", "register"), ("minutes", "value", "status")),
            "day": _Table(FluviusDay, ("day", "register"), ("value", "status", "quarters")),
            "peak": _Table(FluviusPeak, ("month",), ("peak_w", "status")),
        }
        # The intervals' sums per (local day, register): [Wh or litres, intervals, any estimated]. Bounded by the
        # file's days, not its rows.
        self.day_sums: dict[tuple[date, str], list[Any]] = {}
        self.zone = ZoneInfo(settings.TIME_ZONE)
        self.brussels = self.zone.key == parse.BRUSSELS.key  # the file's days are the site's days
        self._last_start: datetime | None = None
        self._last_day = date.min

    def _local_day(self, start: datetime) -> date:
        if start != self._last_start:  # the four registers of a quarter share its day
            self._last_start, self._last_day = start, start.astimezone(self.zone).date()
        return self._last_day

    def add(self, record: parse.Record) -> None:
        if isinstance(record, parse.Interval):
            table = self.tables["interval"]
            table.pending[(record.start, record.register)] = (record.minutes, record.value, record.status)
            self.counts.span(record.start)
            day = record.day if self.brussels else self._local_day(record.start)
            acc = self.day_sums.get((day, record.register))
            if acc is None:
                acc = self.day_sums[(day, record.register)] = [0, 0, False]
            acc[0] += record.value
            acc[1] += 1
            acc[2] = acc[2] or record.status == FluviusStatus.ESTIMATED
        elif isinstance(record, parse.DayTotal):
            table = self.tables["day"]
            table.pending[(record.day, record.register)] = (record.value, record.status, 0)
            self.counts.span(_local_midnight(record.day))
        elif isinstance(record, parse.Peak):
            table = self.tables["peak"]
            table.pending[(record.month,)] = (record.peak_w, record.status)
            self.counts.span(_local_midnight(record.month))
        else:
            return
        if len(table.pending) >= BATCH_SIZE:
            self.flush(table)

    def _delete(self, table: _Table, keys: Sequence[tuple]) -> None:
        """Delete the rows of ``keys``: per register (when the key has one), by ``IN`` lists of at most
        :data:`_DELETE_CHUNK` values; a list of composite keys would nest too deep for SQLite."""
        by_register: dict[str | None, list[Any]] = {}
        for key in keys:
            by_register.setdefault(key[1] if len(key) == 2 else None, []).append(key[0])
        first_key = table.key_fields[0]
        for register, values in by_register.items():
            for i in range(0, len(values), _DELETE_CHUNK):
                query = table.model._default_manager.using(self.using).filter(
                    meter_id=self.meter_id, **{f"{first_key}__in": values[i : i + _DELETE_CHUNK]}
                )
                if register is not None:
                    query = query.filter(register=register)
                query.delete()

    def flush_all(self) -> None:
        for table in self.tables.values():
            self.flush(table)
        self.write_day_sums()

    def _intervals_in_day(self, day: date) -> int:
        """92, 96 or 100: in UTC, since aware datetimes of one zone subtract as wall times."""
        span = _local_midnight(day + timedelta(days=1), self.zone) - _local_midnight(day, self.zone)
        return int(span.total_seconds()) // 900

    def write_day_sums(self) -> None:
        """Store the day total of every (local day, register) whose intervals are all imported now: from this file's
        sums when it holds the whole day, else (the file's first and last day, a day with skipped rows) summed from
        what is stored. Written after the intervals, so both agree; not counted in the report."""
        rows: dict[tuple[date, str], tuple[int, str, int]] = {}
        for (day, register), (value, count, estimated) in self.day_sums.items():
            expected = self._intervals_in_day(day) // (4 if register == FluviusRegister.GAS else 1)
            if count != expected:
                stored = FluviusInterval.objects.using(self.using).filter(
                    meter_id=self.meter_id, register=register, start__gte=_local_midnight(day, self.zone),
                    start__lt=_local_midnight(day + timedelta(days=1), self.zone),
                ).values_list("value", "status")  # fmt: skip
                found = list(stored)
                if len(found) != expected:
                    continue
                value = sum(v for v, _ in found)
                estimated = any(st == FluviusStatus.ESTIMATED for _, st in found)
                count = expected
            rows[(day, register)] = (value, FluviusStatus.ESTIMATED if estimated else FluviusStatus.VALIDATED, count)
        self.day_sums = {}
        keys = list(rows)
        self._delete(self.tables["day"], keys)
        for i in range(0, len(keys), BATCH_SIZE):
            chunk = keys[i : i + BATCH_SIZE]
            insert_rows(
                connections[self.using], FluviusDay, ("meter_id", "day", "register", "value", "status", "quarters"),
                [[self.meter_id, *k, *(str(v) if isinstance(v, FluviusStatus) else v for v in rows[k])] for k in chunk],
            )  # fmt: skip

    def flush(self, table: _Table) -> None:
        """Upsert the table's pending rows: new ones inserted in one statement, changed ones replaced."""
        if not table.pending:
            return
        pending, table.pending = table.pending, {}
        first_key = table.key_fields[0]
        lows = [k[0] for k in pending]
        query = table.model._default_manager.using(self.using).filter(
            meter_id=self.meter_id, **{f"{first_key}__gte": min(lows), f"{first_key}__lte": max(lows)}
        )
        if len(table.key_fields) == 2:
            query = query.filter(register__in={k[1] for k in pending})
        stored = {
            tuple(row[: len(table.key_fields)]): tuple(row[len(table.key_fields) :])
            for row in query.values_list(*table.key_fields, *table.value_fields).iterator(chunk_size=BATCH_SIZE)
        }
        new: list[list[Any]] = []
        changed: list[tuple] = []
        # The four registers of a quarter share its start: adapt each for the database once (insert_rows leaves
        # values that are no datetime alone); on SQLite that is most of the insert's Python time.
        connection = connections[self.using]
        adapt = (
            connection.ops.adapt_datetimefield_value
            if table.model is FluviusInterval
            else connection.ops.adapt_datefield_value
        )
        adapted: dict[Any, Any] = {}
        for key, values in pending.items():
            old = stored.get(key)
            if old == values:
                self.counts.unchanged += 1
                continue
            if old is not None:
                changed.append(key)
            first = key[0]
            db_first = adapted.get(first)
            if db_first is None:
                db_first = adapted[first] = adapt(first)
            new.append([self.meter_id, db_first, *key[1:], *values])
        if changed:
            self._delete(table, changed)
        insert_rows(connection, table.model, ("meter_id", *table.key_fields, *table.value_fields), new)
        self.counts.created += len(new) - len(changed)
        self.counts.updated += len(changed)


def import_file(
    meter: Meter,
    fileobj: IO[bytes],
    *,
    skip_errors: bool = False,
    progress: Progress | None = None,
    user: Any = None,
    file_name: str = "",
) -> ImportReport:
    """Store the quarter-hours, day totals, monthly peaks and gas hours of one Mijn Fluvius export for ``meter``.

    One transaction: with bad rows nothing is stored unless ``skip_errors``, which stores the good rows and counts
    the bad ones ``skipped``. ``progress(rows)`` is called every :data:`PROGRESS_EVERY` data rows. The report
    names the days on which the Pi's and Fluvius' energies disagree (``meters.fluvius.reconcile``). Raises
    :class:`ImportRefused` (another meter's file, not an export, bad rows); either way the import is logged.
    """
    counts = _Counts()
    using = router.db_for_write(FluviusInterval)
    refusal: str | None = None
    try:
        with transaction.atomic(using=using):
            # One import per meter at a time: two of overlapping files would both insert the same new keys.
            Meter.objects.using(using).select_for_update().filter(pk=meter.pk).first()
            store = _Store(meter.pk, using, counts)
            storing = True
            for item in parse.read(fileobj, serial=meter.serial):
                if isinstance(item, parse.RowError):
                    counts.rows += 1
                    counts.error(item)
                    storing = storing and skip_errors
                    continue
                counts.rows += 1
                if isinstance(item, parse.Ignored):
                    counts.ignored += 1
                else:
                    counts.kinds[item.kind] += 1
                    if storing:
                        store.add(item)
                if progress is not None and counts.rows % PROGRESS_EVERY == 0:
                    progress(counts.rows)
            if counts.error_count and not skip_errors:
                refusal = ngettext(
                    "%(count)d bad row; nothing was stored. Fix the file or skip the bad rows.",
                    "%(count)d bad rows; nothing was stored. Fix the file or skip the bad rows.",
                    counts.error_count,
                ) % {"count": counts.error_count}
                raise _Rollback
            store.flush_all()
    except _Rollback:
        pass
    except parse.FluviusFileError as exc:
        refusal = str(exc)
        counts.error(exc.error)
    if refusal is not None:
        report = _report(meter, counts, file_name, skip_errors, refused=True)
        logged = _log(meter, report, user)
        logger.info("Fluvius import for meter %s refused: %s", meter.pk, refusal)
        raise ImportRefused(refusal, _with_id(report, logged))
    found = _differences(meter, counts)
    report = _report(meter, counts, file_name, skip_errors, refused=False, found=found)
    logged = _log(meter, report, user)
    logger.info(
        "Fluvius import for meter %s: %d rows, %d created, %d updated, %d unchanged, %d skipped",
        meter.pk, counts.rows, counts.created, counts.updated, counts.unchanged, report.skipped,
    )  # fmt: skip
    return _with_id(report, logged)


def _differences(meter: Meter, counts: _Counts) -> Reconciliation:
    if counts.first is None or counts.last is None or not (counts.kinds[parse.QUARTER] or counts.kinds[parse.DAY]):
        return Reconciliation(0, ())  # peaks or gas alone have no electricity days to compare
    first = counts.first.astimezone(parse.BRUSSELS).date()
    after = counts.last.astimezone(parse.BRUSSELS).date() + timedelta(days=1)
    found = reconcile(meter, first, after)
    return Reconciliation(found.days_compared, found.differences[:MAX_DIFFERENCES])


def _report(
    meter: Meter,
    counts: _Counts,
    file_name: str,
    skip_errors: bool,
    *,
    refused: bool,
    found: Reconciliation | None = None,
) -> ImportReport:
    return ImportReport(
        file_name=file_name,
        kinds={k: v for k, v in counts.kinds.items() if v},
        rows=counts.rows,
        created=0 if refused else counts.created,
        updated=0 if refused else counts.updated,
        unchanged=0 if refused else counts.unchanged,
        skipped=counts.error_count if skip_errors and not refused else 0,
        ignored=counts.ignored,
        errors=tuple(counts.errors),
        error_count=counts.error_count,
        first=counts.first,
        last=counts.last,
        refused=refused,
        differences=() if found is None else found.differences,
        days_compared=0 if found is None else found.days_compared,
        meter_serial=meter.serial,
    )


def _log(meter: Meter, report: ImportReport, user: Any) -> FluviusImport:
    return FluviusImport.objects.create(
        meter=meter,
        user=user if getattr(user, "is_authenticated", False) else None,
        file_name=report.file_name[:255],
        kinds=",".join(report.kinds),
        refused=report.refused,
        rows=report.rows,
        stored=report.stored,
        unchanged=report.unchanged,
        skipped=report.skipped,
        errors=report.error_count,
        first=report.first,
        last=report.last,
        report=report.as_dict(),
    )


def _with_id(report: ImportReport, logged: FluviusImport) -> ImportReport:
    return replace(report, import_id=logged.pk)
