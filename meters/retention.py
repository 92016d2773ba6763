"""Retention of the raw quarter-hours (``settings.RETENTION_RAW_DAYS``; docs/operations.md, "Retention").

The operator chooses how many days of raw data the server keeps: the readings and the quarter rollups
(``QuarterEnergy``) of a slot before the **cutoff**, the local midnight (``settings.TIME_ZONE``) that many days
before today's, go; the day totals (``DayEnergy``) and the monthly peaks and sums (``MonthEnergy``) are kept for
ever, exactly as they were. Imported Mijn Fluvius quarter-hours (``FluviusInterval``) before the cutoff go too;
their day totals and monthly peaks stay. Unset, empty or ``forever`` (the default) keeps everything.

:func:`apply_retention` enforces it (``manage.py apply_retention``, daily). Rows are deleted per meter in small
batches, each its own short transaction over one (meter_id, timestamp) key range, so an upload never waits for more
than one batch; on PostgreSQL the whole local-month partitions of the readings that end by the cutoff are dropped
instead (``meters.partitions.drop_partitions``). What keeps the kept numbers exact afterwards:

* ``meters.ingest`` refuses a reading older than the cutoff (:func:`too_old_message`): a late upload must not
  recompute a dropped day from the few readings left of it.
* ``meters.series.rollups`` never rewrites a day or month before the cutoff (``refresh`` and ``rebuild`` start at
  the cutoff), and recomputes the first kept day from the reading at the cutoff, which is kept (slot < cutoff goes).
* Where a meter has no reading at the cutoff itself (a gap over midnight), the first kept day's start is
  interpolated from the last reading before the cutoff (and, while gas pauses, from the last one with gas): those
  one or two readings per meter are kept too (:func:`_neighbours`), so a later refresh or rebuild of that day gives
  what was stored. They go the next day, when the cutoff has moved on.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import router, transaction
from django.db.models import Model
from django.utils import timezone
from django.utils.translation import ngettext

from meters import partitions
from meters.models import FluviusInterval, Meter, MonthEnergy, QuarterEnergy, Reading, audit

logger = logging.getLogger(__name__)

BATCH_ROWS = 10_000  # rows per delete: tens of milliseconds, so an upload of the same meter waits no longer


@dataclass(frozen=True)
class RetentionReport:
    """What one :func:`apply_retention` did (or, with ``dry_run``, would do)."""

    cutoff: datetime | None  # aware UTC; None: raw data is kept forever, nothing was done
    readings_deleted: int  # rows deleted in batches plus the rows of the partitions dropped
    quarters_deleted: int
    partitions_dropped: tuple[str, ...]
    batches: int  # delete transactions run
    seconds: float
    dry_run: bool = False
    neighbours_kept: int = 0  # readings before the cutoff kept for the first kept day's start (module docstring)
    # Mijn Fluvius quarter-hours (and gas hours) imported for before the cutoff: raw data too. Their day totals
    # (FluviusDay) and monthly peaks stay, as the Pi's day and month rollups do.
    intervals_deleted: int = 0


def keep_days() -> int | None:
    """``settings.RETENTION_RAW_DAYS``: the days of raw quarter-hours kept, None for forever."""
    return getattr(settings, "RETENTION_RAW_DAYS", None)


def _zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def cutoff(now: datetime) -> datetime | None:
    """The local midnight before which raw quarter-hours go, as an aware UTC datetime; None to keep them forever.

    ``RETENTION_RAW_DAYS`` days before the local midnight that began the day of ``now`` (aware): with 90 days, on
    15 June (any hour) the cutoff is 17 March 00:00 local, so 90 whole days and today are kept. A local midnight,
    not a UTC one, so the cut falls between two of the local days that DayEnergy and the month view count.
    """
    days = keep_days()
    if days is None:
        return None
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    zone = _zone()
    first = now.astimezone(zone).date() - timedelta(days=days)
    return datetime(first.year, first.month, first.day, tzinfo=zone).astimezone(UTC)


def too_old_message(cut: datetime) -> str:
    """Ingest's per-item message for a reading older than ``cut`` (field ``timestamp``)."""
    days = keep_days() or 0
    return ngettext(
        "is older than the %(days)d day this server keeps quarter-hours: it accepts none before %(cutoff)s",
        "is older than the %(days)d days this server keeps quarter-hours: it accepts none before %(cutoff)s",
        days,
    ) % {"days": days, "cutoff": cut.astimezone(_zone()).isoformat()}


# --- what stays before the cutoff ---------------------------------------------------------------------------------


def _neighbours(meter_id: int, cut: datetime, using: str) -> set[datetime]:
    """The readings before ``cut`` that the first kept day of the meter still needs (module docstring): the last
    one when there is no reading at the cutoff, the last one with gas when the cutoff has no gas value. Only for a
    meter with readings after the cutoff; a meter that stopped earlier has no kept day to compute."""
    readings = Reading.objects.using(using).filter(meter_id=meter_id)
    if not readings.filter(timestamp__gt=cut).exists():
        return set()
    at_cut = list(readings.filter(timestamp=cut).values_list("gas_m3", flat=True)[:1])
    before = readings.filter(timestamp__lt=cut).order_by("-timestamp")
    keep: set[datetime] = set()
    if not at_cut:
        keep.update(before.values_list("timestamp", flat=True)[:1])
    if not at_cut or at_cut[0] is None:
        has_gas = (
            readings.filter(timestamp__gte=cut, gas_m3__isnull=False).exists()
            or MonthEnergy.objects.using(using).filter(meter_id=meter_id, has_gas=True).exists()
        )
        if has_gas:
            keep.update(before.filter(gas_m3__isnull=False).values_list("timestamp", flat=True)[:1])
    return keep


# --- deleting -------------------------------------------------------------------------------------------------


def _delete_in_batches(
    model: type[Model],
    field: str,
    meter_id: int,
    cut: datetime,
    keep: set[datetime],
    batch: int,
    using: str,
    since: datetime | None = None,
) -> tuple[int, int]:
    """Delete the meter's rows of ``model`` with ``since`` <= ``field`` < ``cut``, except ``keep``, ``batch`` rows
    per transaction; (rows deleted, batches)."""
    old = model._default_manager.using(using).filter(meter_id=meter_id, **{f"{field}__lt": cut})
    deleted = batches = 0
    start = since
    while True:
        with transaction.atomic(using=using):
            span = old if start is None else old.filter(**{f"{field}__gte": start})
            # The first slot of the next batch, through the (meter_id, slot) key: an index range, no sort.
            after = list(span.order_by(field).values_list(field, flat=True)[batch : batch + 1])
            chunk = span.filter(**{f"{field}__lt": after[0]}) if after else span
            if keep:
                chunk = chunk.exclude(**{f"{field}__in": keep})
            # Nothing references readings or quarter rollups and no signal listens: Django deletes in one statement.
            count, _ = chunk.delete()
        deleted += count
        batches += 1
        if not after:
            return deleted, batches
        start = after[0]


def _count_old(model: type[Model], field: str, meter_id: int, cut: datetime, keep: set[datetime], using: str) -> int:
    old = model._default_manager.using(using).filter(meter_id=meter_id, **{f"{field}__lt": cut})
    return (old.exclude(**{f"{field}__in": keep}) if keep else old).count()


def _droppable(cut: datetime, keep: dict[int, set[datetime]]) -> date:
    """The month partitions ending by local midnight of this day can be dropped whole: the cutoff's day, or the
    first of the earliest month that holds a reading kept before the cutoff (:func:`_neighbours`)."""
    zone = _zone()
    before = cut.astimezone(zone).date()
    for slots in keep.values():
        for slot in slots:
            before = min(before, slot.astimezone(zone).date().replace(day=1))
    return before


def _drop_partitions(
    cut: datetime, keep: dict[int, set[datetime]], using: str, dry_run: bool
) -> tuple[tuple[str, ...], int, datetime | None]:
    """Drop the whole local months before the cutoff on PostgreSQL: (names, their readings, the lower bound of the
    row deletes when the drop had to wait: those months are left for the next run)."""
    if not partitions.is_partitioned(using=using):
        return (), 0, None
    before = _droppable(cut, keep)
    zone = _zone()
    limit = datetime(before.year, before.month, before.day, tzinfo=zone).astimezone(UTC)
    doomed = [
        p for p in partitions.partitions(using=using) if not p.is_default and p.end is not None and p.end <= limit
    ]
    if dry_run:  # the caller counts every reading before the cutoff instead
        return tuple(p.name for p in doomed), 0, None
    # Counted before the drop, for the report and the audit: an index-only scan of a month, once a month.
    rows = {
        p.name: Reading.objects.using(using)
        .filter(timestamp__lt=p.end, **({} if p.start is None else {"timestamp__gte": p.start}))
        .count()
        for p in doomed
    }
    try:
        dropped = partitions.drop_partitions(before, using=using)
    except partitions.PartitionBusy as exc:
        # Deleting a month of every meter row by row instead would take hours; the next daily run drops it.
        logger.warning("retention: %s; the months before %s stay until the next run", exc, before.isoformat())
        return (), 0, limit
    return tuple(dropped), sum(rows.get(name, 0) for name in dropped), None


def apply_retention(
    now: datetime | None = None, batch: int = BATCH_ROWS, *, dry_run: bool = False, using: str | None = None
) -> RetentionReport:
    """Delete the raw quarter-hours before :func:`cutoff` (readings and QuarterEnergy), keep every day and month.

    ``dry_run`` counts what would go and changes nothing. A second run on the same day finds nothing more. Each run
    that deletes is recorded as an ``AuditEvent`` of kind ``retention`` (counts only). Raises ``ValueError`` for a
    ``batch`` below 1 or a naive ``now``.
    """
    if batch < 1:
        raise ValueError("batch must be 1 or more")
    started = time.monotonic()
    cut = cutoff(now or timezone.now())
    if cut is None:
        return RetentionReport(None, 0, 0, (), 0, 0.0, dry_run)
    using = using or router.db_for_write(Reading)
    # The rollups are deliberately not recomputed: rollups.delete_readings would rebuild the dropped days from the
    # readings left (none, or a few), turning exact day totals and peaks into gaps. DayEnergy and MonthEnergy are
    # not touched here at all; refresh and rebuild leave the days before the cutoff alone (meters.series.rollups).
    meter_ids = list(Meter.objects.using(using).order_by("pk").values_list("pk", flat=True))
    keep = {m: slots for m in meter_ids if (slots := _neighbours(m, cut, using))}
    dropped, readings, wait_from = _drop_partitions(cut, keep, using, dry_run)
    quarters = batches = intervals = 0
    for meter_id in meter_ids:
        slots = keep.get(meter_id, set())
        if dry_run:
            readings += _count_old(Reading, "timestamp", meter_id, cut, slots, using)
            quarters += _count_old(QuarterEnergy, "slot", meter_id, cut, set(), using)
            intervals += _count_old(FluviusInterval, "start", meter_id, cut, set(), using)
            continue
        # After a drop this also clears what the DEFAULT partition held of those months. When the drop had to
        # wait (``wait_from``), the months before it are left for the next run rather than deleted row by row.
        old = Reading.objects.using(using).filter(meter_id=meter_id, timestamp__lt=cut)
        if wait_from is not None:
            old = old.filter(timestamp__gte=wait_from)
        if old.exclude(timestamp__in=slots).exists():
            n, b = _delete_in_batches(Reading, "timestamp", meter_id, cut, slots, batch, using, wait_from)
            readings, batches = readings + n, batches + b
        if QuarterEnergy.objects.using(using).filter(meter_id=meter_id, slot__lt=cut).exists():
            n, b = _delete_in_batches(QuarterEnergy, "slot", meter_id, cut, set(), batch, using)
            quarters, batches = quarters + n, batches + b
        if FluviusInterval.objects.using(using).filter(meter_id=meter_id, start__lt=cut).exists():
            n, b = _delete_in_batches(FluviusInterval, "start", meter_id, cut, set(), batch, using)
            intervals, batches = intervals + n, batches + b
    report = RetentionReport(
        cutoff=cut,
        readings_deleted=readings,
        quarters_deleted=quarters,
        partitions_dropped=dropped,
        batches=batches,
        seconds=round(time.monotonic() - started, 3),
        dry_run=dry_run,
        neighbours_kept=sum(len(s) for s in keep.values()),
        intervals_deleted=intervals,
    )
    if not dry_run:
        audit(
            "retention",
            "",
            cutoff=cut.isoformat(),
            days=keep_days(),
            readings_deleted=report.readings_deleted,
            quarters_deleted=report.quarters_deleted,
            imported_intervals_deleted=report.intervals_deleted,
            partitions_dropped=list(report.partitions_dropped),
            batches=report.batches,
            seconds=report.seconds,
        )
    logger.info(
        "retention: %s before %s: %d reading(s), %d quarter(s), %d partition(s), %d batch(es), %.1f s",
        "would delete" if dry_run else "deleted",
        cut.isoformat(),
        report.readings_deleted,
        report.quarters_deleted,
        len(report.partitions_dropped),
        report.batches,
        report.seconds,
    )
    return report
