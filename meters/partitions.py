"""Monthly partitions of the readings table on PostgreSQL (docs/scaling.md, "Partitions").

On PostgreSQL ``meters_reading`` is a table ``PARTITION BY RANGE ("timestamp")`` (migration 0010): one partition
per month, ``meters_reading_pYYYYMM``, and a DEFAULT partition ``meters_reading_default`` that takes a reading of a
month without a partition of its own, so an insert never fails for want of one. Retention drops a month's
partition (:func:`drop_partitions`) instead of deleting its rows one by one. The rollup tables
(``meters_quarterenergy``, ``meters_dayenergy``, ``meters_monthenergy``) are not partitioned and keep their rows
when a month of readings is dropped: day totals and peaks outlive the raw readings.

**A partition is a local month** of ``settings.TIME_ZONE`` (Europe/Brussels): ``meters_reading_p202603`` holds
[2026-03-01 00:00 local, 2026-04-01 00:00 local), i.e. 2026-02-28 23:00 to 2026-03-31 22:00 UTC. The bounds are
instants, so daylight saving time changes nothing (no local midnight is skipped or repeated in Belgium). Not UTC
months: the local month starts one or two hours before the UTC one, so dropping a UTC month would cut the first
hours out of the next local month, whose start boundary reading the month view, the capacity peak and the rollups
of that month need (docs/design.md, "Series and numbers"). Local months keep retention, the month view and
``MonthEnergy`` on the same calendar.

The primary key is ``(meter_id, "timestamp")``, named ``reading_unique_meter_slot`` like the unique constraint it
replaces (a partitioned table's unique keys must contain the partition key; meter_id first keeps the "readings of
one meter in a range" index and lets Citus distribute the table by meter). ``id`` keeps its identity sequence and
a plain index, so Django's ``pk`` lookups work.

``manage.py partition_readings`` runs :func:`ensure_partitions` daily. SQLite and SQL Server keep one plain table:
:func:`is_partitioned` is False there, :func:`ensure_partitions` reports that nothing was done, :func:`partitions`
is empty and :func:`drop_partitions` raises :class:`PartitioningUnsupported` (retention then deletes rows).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import OperationalError, connections, router, transaction
from django.utils import timezone

from meters.models import Reading

if TYPE_CHECKING:
    from django.apps.registry import Apps
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.backends.base.schema import BaseDatabaseSchemaEditor

logger = logging.getLogger(__name__)

MONTHS_AHEAD = 3  # partitions exist for the running month and this many after it
LOCK_TIMEOUT_SECONDS = 5.0
NATURAL_KEY = "reading_unique_meter_slot"  # the constraint's name in meters.models.Reading.Meta
ID_INDEX_SUFFIX = "_id_idx"
# Serialises partition maintenance (two overlapping daily runs): any constant bigint, this one spells "p1part".
_ADVISORY_LOCK = 0x703170617274
# SQLSTATEs of a lock not granted: lock_timeout, and a deadlock with an upload that PostgreSQL broke by aborting us.
_NOT_GRANTED = frozenset({"55P03", "40P01"})
_BOUNDS = re.compile(r"FOR VALUES FROM \((?P<start>[^)]*)\) TO \((?P<end>[^)]*)\)")


class PartitioningUnsupported(Exception):
    """The readings table is not partitioned: the database is not PostgreSQL (SQLite and SQL Server keep one table)
    or migration meters 0010 is not applied. Whole months cannot be dropped; delete the rows instead."""


class PartitionBusy(Exception):
    """A lock on the readings table was not granted within the lock timeout (a long query held it) or PostgreSQL
    broke a deadlock with an upload by aborting this run; nothing was changed. Run again later: the DEFAULT
    partition takes the readings meanwhile."""


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime | None  # inclusive, aware UTC; None for the DEFAULT partition (or a MINVALUE bound)
    end: datetime | None  # exclusive, aware UTC; None for the DEFAULT partition (or a MAXVALUE bound)
    rows_estimate: int | None  # pg_class.reltuples: None until the partition was first vacuumed or analysed
    is_default: bool = False

    @property
    def month(self) -> date | None:
        """The local month the partition holds exactly, or None (the DEFAULT partition, another range)."""
        if self.start is None or self.end is None:
            return None
        month = _month_of(self.start, _zone())
        return month if _month_bounds(month, _zone()) == (self.start, self.end) else None


@dataclass(frozen=True)
class NewPartition:
    name: str
    month: date  # the first day of the local month
    moved_rows: int  # rows of this month moved in from the DEFAULT partition


@dataclass(frozen=True)
class PartitionReport:
    partitioned: bool  # False: not PostgreSQL, or the table is a plain one; nothing was done
    created: tuple[NewPartition, ...] = ()

    @property
    def moved_rows(self) -> int:
        return sum(p.moved_rows for p in self.created)


# --------------------------------------------------------------------------------------------------------------
# Months and names
# --------------------------------------------------------------------------------------------------------------


def _zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def add_months(first: date, n: int) -> date:
    """The first day of the month ``n`` months after the month of ``first``."""
    index = first.year * 12 + first.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def _month_of(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date().replace(day=1)


def local_month(moment: datetime) -> date:
    """The first day of the local month (``settings.TIME_ZONE``) of the aware ``moment``: its partition's month."""
    return _month_of(moment, _zone())


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def _month_bounds(month: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a local month as UTC instants."""
    return _local_midnight(month, zone), _local_midnight(add_months(month, 1), zone)


def partition_name(month: date, table: str | None = None) -> str:
    """``meters_reading_p202603`` for March 2026 (a local month)."""
    return f"{table or Reading._meta.db_table}_p{month:%Y%m}"


def default_partition_name(table: str | None = None) -> str:
    return f"{table or Reading._meta.db_table}_default"


def _literal(moment: datetime) -> str:
    # Our own datetimes only (digits, "-", ":", "T", "+"): DDL takes no bind parameters on every driver setting.
    return f"'{moment.astimezone(UTC).isoformat()}'"


# --------------------------------------------------------------------------------------------------------------
# Catalogue
# --------------------------------------------------------------------------------------------------------------


def _alias(using: str | None) -> str:
    return using or router.db_for_write(Reading)


def _relkind(cursor: Any, table: str) -> str | None:
    cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [table])
    row = cursor.fetchone()
    return row[0] if row else None


def is_partitioned(*, using: str | None = None) -> bool:
    """Whether the readings table is a partitioned table (PostgreSQL after migration 0010)."""
    connection = connections[_alias(using)]
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        return _relkind(cursor, Reading._meta.db_table) == "p"


def _bound(text: str) -> datetime | None:
    text = text.strip()
    if text in ("MINVALUE", "MAXVALUE"):
        return None
    return datetime.fromisoformat(text.strip("'")).astimezone(UTC)


def _partitions(cursor: Any, table: str) -> list[Partition]:
    cursor.execute(
        """SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), c.reltuples
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = to_regclass(%s)""",
        [table],
    )
    found = []
    for name, bound, reltuples in cursor.fetchall():
        estimate = None if reltuples < 0 else int(reltuples)
        if bound == "DEFAULT":
            found.append(Partition(name, None, None, estimate, is_default=True))
            continue
        match = _BOUNDS.search(bound)
        if match is None:  # a list or hash partition someone added by hand: not ours to reason about
            logger.warning("partitions: %s has bounds %s, not a time range", name, bound)
            continue
        found.append(Partition(name, _bound(match["start"]), _bound(match["end"]), estimate))
    lowest = datetime.min.replace(tzinfo=UTC)
    return sorted(found, key=lambda p: (p.is_default, p.start or lowest, p.name))


def partitions(*, using: str | None = None) -> list[Partition]:
    """The partitions of the readings table, by start (the DEFAULT partition last); empty when not partitioned."""
    if not is_partitioned(using=using):
        return []
    with connections[_alias(using)].cursor() as cursor:
        return _partitions(cursor, Reading._meta.db_table)


def _columns(cursor: Any, table: str) -> list[str]:
    cursor.execute(
        """SELECT attname FROM pg_attribute
        WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped ORDER BY attnum""",
        [table],
    )
    return [row[0] for row in cursor.fetchall()]


# --------------------------------------------------------------------------------------------------------------
# Creating partitions ahead, moving rows out of the DEFAULT partition
# --------------------------------------------------------------------------------------------------------------


def _overlaps(start: datetime, end: datetime, existing: Iterable[Partition]) -> bool:
    lowest, highest = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
    return any((p.start or lowest) < end and start < (p.end or highest) for p in existing if not p.is_default)


def _default_months(cursor: Any, default: str, zone: ZoneInfo) -> set[date]:
    """The local months that have rows in the DEFAULT partition (PostgreSQL's copy of the tz database decides the
    month of each row here; the rows are moved by bounds computed with Python's, the one the series use)."""
    cursor.execute(
        f'SELECT DISTINCT date_trunc(%s, "timestamp" AT TIME ZONE %s)::date FROM "{default}"',  # noqa: S608
        ["month", zone.key],
    )
    return {row[0] for row in cursor.fetchall()}


def _missing_months(cursor: Any, table: str, zone: ZoneInfo, now: datetime, months_ahead: int) -> list[date]:
    """The running month and ``months_ahead`` after it, and every month with rows in the DEFAULT partition, that
    no partition covers. Past months get a partition only when they have rows: a month dropped by retention is not
    made again, and no run of empty tables is made between a stray old reading and today."""
    existing = _partitions(cursor, table)
    current = _month_of(now, zone)
    wanted = {add_months(current, n) for n in range(months_ahead + 1)}
    default = next((p for p in existing if p.is_default), None)
    if default is not None:
        wanted |= _default_months(cursor, default.name, zone)
    missing = []
    for month in sorted(wanted):
        start, end = _month_bounds(month, zone)
        if _overlaps(start, end, existing):
            # A month an existing partition covers (or partly covers: a range made by hand, a time zone whose
            # rules changed): its rows already have a place, or go to the DEFAULT partition.
            continue
        missing.append(month)
    return missing


def _create_month(
    cursor: Any, connection: BaseDatabaseWrapper, table: str, month: date, zone: ZoneInfo, default: str | None
) -> NewPartition:
    """One month as a standalone table, the DEFAULT partition's rows of that month moved in, then attached.

    ATTACH takes only a SHARE UPDATE EXCLUSIVE lock on the parent, so reads and uploads go on; ``CREATE TABLE ...
    PARTITION OF`` would take an ACCESS EXCLUSIVE one. PostgreSQL refuses a partition whose range has rows in the
    DEFAULT partition, hence the move first. The CHECK of the bounds spares ATTACH a scan of the new table.
    """
    q = connection.ops.quote_name
    name = partition_name(month, table)
    start, end = _month_bounds(month, zone)
    in_range = f"{q('timestamp')} >= {_literal(start)} AND {q('timestamp')} < {_literal(end)}"
    check = f"{name}_bounds"
    # The parent's columns, NOT NULLs and CHECKs (ATTACH demands them); no identity: ids come from the parent.
    cursor.execute(
        f"CREATE TABLE {q(name)} (LIKE {q(table)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)"
    )
    cursor.execute(f"ALTER TABLE {q(name)} ADD CONSTRAINT {q(check)} CHECK ({in_range})")
    moved = 0
    if default is not None:
        columns = ", ".join(q(c) for c in _columns(cursor, table))
        cursor.execute(
            f"WITH moved AS (DELETE FROM {q(default)} WHERE {in_range} RETURNING {columns}) "  # noqa: S608
            f"INSERT INTO {q(name)} ({columns}) SELECT {columns} FROM moved"
        )
        moved = max(cursor.rowcount, 0)
    cursor.execute(
        f"ALTER TABLE {q(table)} ATTACH PARTITION {q(name)} FOR VALUES FROM ({_literal(start)}) TO ({_literal(end)})"
    )
    cursor.execute(f"ALTER TABLE {q(name)} DROP CONSTRAINT {q(check)}")
    logger.info("partitions: created %s (%d row(s) moved from %s)", name, moved, default)
    return NewPartition(name=name, month=month, moved_rows=moved)


def _busy(exc: OperationalError) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) in _NOT_GRANTED


def _maintenance(cursor: Any, connection: BaseDatabaseWrapper, lock_timeout: float) -> str:
    """Start of a maintenance transaction: the lock timeout (restored by the caller), the pending deferred
    foreign-key checks run (PostgreSQL refuses DDL on a table with pending trigger events), one run at a time."""
    cursor.execute("SELECT current_setting('lock_timeout')")
    previous = cursor.fetchone()[0]
    cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{int(lock_timeout * 1000)}ms"])
    connection.check_constraints()
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK])
    return previous


def ensure_partitions(
    now: datetime,
    months_ahead: int = MONTHS_AHEAD,
    *,
    using: str | None = None,
    lock_timeout: float = LOCK_TIMEOUT_SECONDS,
) -> PartitionReport:
    """Create the missing month partitions: the local month of ``now`` (aware) and ``months_ahead`` after it, and
    every month that has rows in the DEFAULT partition, whose rows are moved into it in the same transaction.

    A second run finds nothing to do and takes no lock. Returns ``PartitionReport(partitioned=False)`` when the
    table is not partitioned (SQLite, SQL Server, PostgreSQL before migration 0010). Raises ``ValueError`` for a
    naive ``now`` or a negative ``months_ahead``, ``PartitionBusy`` when a lock is not granted within
    ``lock_timeout`` seconds (nothing is changed then).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    if months_ahead < 0:
        raise ValueError("months_ahead must be 0 or more")
    if not is_partitioned(using=using):
        return PartitionReport(partitioned=False)
    alias = _alias(using)
    connection = connections[alias]
    table, zone = Reading._meta.db_table, _zone()
    with connection.cursor() as cursor:
        if not _missing_months(cursor, table, zone, now, months_ahead):
            return PartitionReport(partitioned=True)
    try:
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            previous = _maintenance(cursor, connection, lock_timeout)
            missing = _missing_months(cursor, table, zone, now, months_ahead)  # again, under the lock
            default = next((p.name for p in _partitions(cursor, table) if p.is_default), None)
            if default is not None and missing:
                # No upload may slip a row of a month being created into the DEFAULT partition meanwhile: ATTACH
                # would then refuse. Uploads of months that have a partition are not held up.
                cursor.execute(f"LOCK TABLE {connection.ops.quote_name(default)} IN ACCESS EXCLUSIVE MODE")
            created = tuple(_create_month(cursor, connection, table, month, zone, default) for month in missing)
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])
    except OperationalError as exc:
        if _busy(exc):
            raise PartitionBusy(f"no lock on {table} within {lock_timeout:g} s; nothing was created") from exc
        raise
    return PartitionReport(partitioned=True, created=created)


def drop_partitions(before: date, *, using: str | None = None, lock_timeout: float = LOCK_TIMEOUT_SECONDS) -> list[str]:
    """Drop every month partition that ends on or before local midnight at the start of ``before``: whole months
    only, so a month that ``before`` falls inside keeps all its readings. The DEFAULT partition is never dropped.
    What retention calls; the rollup tables keep their rows. Returns the names dropped, oldest first.

    Raises ``PartitioningUnsupported`` when the table is not partitioned (SQLite, SQL Server: delete rows instead)
    and ``PartitionBusy`` when the lock is not granted within ``lock_timeout`` seconds (nothing is dropped then).
    Dropping takes an ACCESS EXCLUSIVE lock on the readings table for a moment: hence the short lock timeout.
    """
    if not is_partitioned(using=using):
        vendor = connections[_alias(using)].vendor
        raise PartitioningUnsupported(f"{Reading._meta.db_table} is not partitioned on this database ({vendor})")
    alias = _alias(using)
    connection = connections[alias]
    table = Reading._meta.db_table
    cutoff = _local_midnight(before, _zone())
    q = connection.ops.quote_name
    try:
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            previous = _maintenance(cursor, connection, lock_timeout)
            doomed = [
                p.name for p in _partitions(cursor, table) if not p.is_default and p.end is not None and p.end <= cutoff
            ]
            for name in doomed:
                cursor.execute(f"DROP TABLE {q(name)}")
                logger.info("partitions: dropped %s (readings before %s)", name, before.isoformat())
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])
    except OperationalError as exc:
        if _busy(exc):
            raise PartitionBusy(f"no lock on {table} within {lock_timeout:g} s; nothing was dropped") from exc
        raise
    return doomed


# --------------------------------------------------------------------------------------------------------------
# Migration 0010: a plain table to a partitioned one and back (RunPython functions: apps, schema_editor)
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Shape:
    """What a table carries besides its columns, read from the catalogue before it is dropped."""

    sequence: str | None  # the id column's sequence (identity or serial)
    identity: bool
    indexes: tuple[str, ...]  # CREATE INDEX statements of the plain (non-constraint) indexes
    constraints: tuple[tuple[str, str], ...]  # (name, definition) of the foreign keys and unique constraints


def _shape(cursor: Any, table: str, skip_indexes: Sequence[str] = ()) -> _Shape:
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    sequence = cursor.fetchone()[0]
    cursor.execute("SELECT attidentity FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = 'id'", [table])
    identity = cursor.fetchone()[0] != ""
    cursor.execute(
        """SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = to_regclass(%s)
          AND i.indexrelid NOT IN (SELECT conindid FROM pg_constraint WHERE conrelid = to_regclass(%s))
        ORDER BY c.relname""",
        [table, table],
    )
    # A partitioned parent's index reads "ON ONLY ...": recreated on a plain table it must recurse (it cannot).
    indexes = tuple(sql.replace(" ON ONLY ", " ON ", 1) for name, sql in cursor.fetchall() if name not in skip_indexes)
    cursor.execute(
        """SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE conrelid = to_regclass(%s) AND contype IN ('f', 'u') ORDER BY contype, conname""",
        [table],
    )
    return _Shape(sequence, identity, indexes, tuple(cursor.fetchall()))


def _rebuild(
    cursor: Any, connection: BaseDatabaseWrapper, table: str, partition_sql: str, make_children: Any
) -> tuple[_Shape, int]:
    """Copy ``table`` into a new table built by ``LIKE`` plus ``partition_sql``, then put the new one in its place.

    The id column keeps its identity (or serial) sequence at the same position; CHECK constraints and defaults
    come with ``LIKE``. Keys, indexes and foreign keys are the caller's, added after the copy (one index build
    each, faster than maintaining them row by row).
    """
    q = connection.ops.quote_name
    new = f"{table}_new"
    cursor.execute(f"LOCK TABLE {q(table)} IN ACCESS EXCLUSIVE MODE")
    shape = _shape(cursor, table, skip_indexes=(f"{table}{ID_INDEX_SUFFIX}",))
    cursor.execute(
        f"CREATE TABLE {q(new)} (LIKE {q(table)} INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS "
        f"INCLUDING STORAGE INCLUDING COMMENTS){partition_sql}"
    )
    make_children(new)
    columns = ", ".join(q(c) for c in _columns(cursor, table))
    cursor.execute(
        f"INSERT INTO {q(new)} ({columns}) OVERRIDING SYSTEM VALUE SELECT {columns} FROM {q(table)}"  # noqa: S608
    )
    rows = cursor.rowcount
    if shape.sequence and shape.identity:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [new])
        new_sequence = cursor.fetchone()[0]
        cursor.execute(f"SELECT last_value, is_called FROM {shape.sequence}")  # noqa: S608 - from the catalogue
        last_value, is_called = cursor.fetchone()
        cursor.execute("SELECT setval(%s, %s, %s)", [new_sequence, last_value, is_called])
    elif shape.sequence:
        # serial: the copied default names the old sequence, which must outlive the old table.
        cursor.execute(f"ALTER SEQUENCE {shape.sequence} OWNED BY {q(new)}.{q('id')}")
    # No CASCADE: the BI views are dropped before every migrate (meters.bi); anything else that depends on the
    # table should stop the migration rather than vanish.
    cursor.execute(f"DROP TABLE {q(table)}")
    cursor.execute(f"ALTER TABLE {q(new)} RENAME TO {q(table)}")
    if shape.sequence and shape.identity:
        # The old table's identity sequence went with it: its name is free for the new one.
        cursor.execute(f"ALTER SEQUENCE {new_sequence} RENAME TO {q(_unqualified(shape.sequence))}")
    return shape, rows


def _unqualified(name: str) -> str:
    """``meters_reading_id_seq`` from ``public.meters_reading_id_seq`` (or its quoted form)."""
    return name.rsplit(".", 1)[-1].strip('"')


def _restore(cursor: Any, connection: BaseDatabaseWrapper, table: str, shape: _Shape, skip: Sequence[str]) -> None:
    q = connection.ops.quote_name
    for sql in shape.indexes:
        cursor.execute(sql)
    for name, definition in shape.constraints:
        if name not in skip:
            cursor.execute(f"ALTER TABLE {q(table)} ADD CONSTRAINT {q(name)} {definition}")
    # A partitioned parent is never analysed by autovacuum, and the planner wants its statistics.
    cursor.execute(f"ANALYZE {q(table)}")


def _convert_to_partitioned(cursor: Any, connection: BaseDatabaseWrapper, table: str, now: datetime) -> None:
    q = connection.ops.quote_name
    zone = _zone()
    cursor.execute(f"SELECT min({q('timestamp')}), max({q('timestamp')}) FROM {q(table)}")  # noqa: S608
    earliest, latest = cursor.fetchone()
    current = _month_of(now, zone)
    first = min(_month_of(earliest, zone), current) if earliest else current
    last = max(add_months(current, MONTHS_AHEAD), _month_of(latest, zone) if latest else current)

    def make_children(parent: str) -> None:
        # Inside the migration's lock, so the simple form: nobody else can use the new table yet.
        month = first
        while month <= last:
            start, end = _month_bounds(month, zone)
            cursor.execute(
                f"CREATE TABLE {q(partition_name(month, table))} PARTITION OF {q(parent)} "
                f"FOR VALUES FROM ({_literal(start)}) TO ({_literal(end)})"
            )
            month = add_months(month, 1)
        cursor.execute(f"CREATE TABLE {q(default_partition_name(table))} PARTITION OF {q(parent)} DEFAULT")

    shape, rows = _rebuild(cursor, connection, table, f" PARTITION BY RANGE ({q('timestamp')})", make_children)
    cursor.execute(f"ALTER TABLE {q(table)} ADD CONSTRAINT {q(NATURAL_KEY)} PRIMARY KEY (meter_id, {q('timestamp')})")
    cursor.execute(f"CREATE INDEX {q(table + ID_INDEX_SUFFIX)} ON {q(table)} (id)")
    _restore(cursor, connection, table, shape, skip=(NATURAL_KEY,))
    logger.info("partitions: %s partitioned by month, %s to %s, %d row(s) copied", table, first, last, rows)


def _convert_to_plain(cursor: Any, connection: BaseDatabaseWrapper, table: str) -> None:
    q = connection.ops.quote_name
    shape, rows = _rebuild(cursor, connection, table, "", lambda parent: None)
    cursor.execute(f"ALTER TABLE {q(table)} ADD CONSTRAINT {q(table + '_pkey')} PRIMARY KEY (id)")
    cursor.execute(f"ALTER TABLE {q(table)} ADD CONSTRAINT {q(NATURAL_KEY)} UNIQUE (meter_id, {q('timestamp')})")
    _restore(cursor, connection, table, shape, skip=(NATURAL_KEY,))
    logger.info("partitions: %s is one table again, %d row(s) copied", table, rows)


def partition_table(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Forward step of migration 0010 on PostgreSQL: the readings become a table partitioned by local month, with
    months from the earliest reading to ``MONTHS_AHEAD`` after the running one and a DEFAULT partition. Every row
    is copied (the table is locked meanwhile); ids and the id sequence are kept. A no-op elsewhere and when the
    table is already partitioned."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    table = apps.get_model("meters", "Reading")._meta.db_table
    with connection.cursor() as cursor:
        if _relkind(cursor, table) == "p":
            return
        connection.check_constraints()
        _convert_to_partitioned(cursor, connection, table, timezone.now())


def unpartition_table(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Reverse step of migration 0010: one plain table again, with the primary key on id and the unique constraint
    ``reading_unique_meter_slot`` as migration 0001 made them. A no-op elsewhere and on a plain table."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    table = apps.get_model("meters", "Reading")._meta.db_table
    with connection.cursor() as cursor:
        if _relkind(cursor, table) != "p":
            return
        connection.check_constraints()
        _convert_to_plain(cursor, connection, table)
