"""Trends over a range of local days: the average day profile, the day/night split, the base load and its trend, the
highest quarter-hours and the coverage behind them (docs/design.md, "Trends").

Every figure comes from the series service's stored numbers (meters/series/rollups.py), never from the readings
again: the quarter-hour figures from the ``QuarterEnergy`` rows, the tariff split from the ``DayEnergy`` rows as the
month view turns them into day buckets (``build._day_bucket``), so the split over whole months equals the sum of the
month views' totals to the Wh.

* Only **measured** quarters count (neither ``estimated`` nor ``reset``: docs/architecture.md, "One rule per
  number"): an interpolated quarter spreads a gap's energy evenly and would flatten the profile, raise the base
  load of a night without readings and could never be a real peak. A gap therefore lowers the counts behind a
  profile position and the coverage, never a value.
* Days are local (``settings.TIME_ZONE`` unless a zone is given): ``first <= day < after``. The profile's 96
  positions are local wall-clock quarter-hours (00:00 .. 23:45): on the autumn DST day both 02:xx quarters count at
  their wall-clock position, the spring DST day simply has no 02:xx.
* The per-quarter input comes through one function, :func:`_quarters`, so another source of quarter-hour volumes
  (e.g. a Mijn Fluvius import) can be added in one place.
"""

from __future__ import annotations

import heapq
import logging
from bisect import bisect_left
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from operator import itemgetter
from zoneinfo import ZoneInfo

from django.db.models import F
from django.utils import timezone as dj_timezone
from django.utils.translation import gettext as _

from meters.models import DayEnergy, Meter, QuarterEnergy
from meters.series.build import _day_bucket, _totals, _with_fluvius
from meters.series.errors import InvalidRange
from meters.series.queries import Epoch, RangeQuery
from meters.series.windows import SLOT_SECONDS, _local_epoch, _utc, _zone, parse_day

logger = logging.getLogger(__name__)

POSITIONS = 96  # quarter-hours of a 24-hour wall-clock day
TOP_QUARTERS = 10
MAX_RANGE_DAYS = 3 * 366  # a longer range is refused: three years of quarters is already 105,000 rows
# A slope needs enough days to mean something: fewer base-load days, or a shorter span, gives no trend.
TREND_MIN_DAYS = 14
TREND_MIN_SPAN_DAYS = 28
_DAYS_PER_MONTH = 365.25 / 12
_HOUR = 3600
_QUARTERS_PER_HOUR = _HOUR // SLOT_SECONDS
_END_OF_DAYS = 2**62  # an epoch after every quarter


# --- results ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfilePoint:
    """One wall-clock quarter-hour of the average day: the mean power of the measured quarters at that position."""

    minute: int  # minutes after local midnight: 0, 15, ..., 1425
    import_w: float | None  # None when no measured quarter lies at this position
    export_w: float | None
    quarters: int  # measured quarters behind the means


@dataclass(frozen=True)
class DayProfile:
    weekday: tuple[ProfilePoint, ...]  # Monday to Friday, 96 positions
    weekend: tuple[ProfilePoint, ...]  # Saturday and Sunday


@dataclass(frozen=True)
class TariffSplit:
    """Energy per register over the range (Wh), the sum of the month view's day buckets, and the shares in %."""

    import_t1_wh: int  # day tariff (1.8.1)
    import_t2_wh: int  # night tariff (1.8.2)
    export_t1_wh: int
    export_t2_wh: int
    days_known: int  # days whose energy is known (the month view's rule: a past partial day is not)

    @property
    def import_wh(self) -> int:
        return self.import_t1_wh + self.import_t2_wh

    @property
    def export_wh(self) -> int:
        return self.export_t1_wh + self.export_t2_wh

    @property
    def import_day_pct(self) -> float | None:
        return _pct(self.import_t1_wh, self.import_wh)

    @property
    def import_night_pct(self) -> float | None:
        return _pct(self.import_t2_wh, self.import_wh)

    @property
    def export_day_pct(self) -> float | None:
        return _pct(self.export_t1_wh, self.export_wh)

    @property
    def export_night_pct(self) -> float | None:
        return _pct(self.export_t2_wh, self.export_wh)


@dataclass(frozen=True)
class BaseLoadDay:
    day: date
    watts: float  # the lowest average import power over a whole local clock hour of the day
    hour: datetime  # that hour's start, aware in the trends' zone (the earliest of equal hours)


@dataclass(frozen=True)
class BaseLoadMonth:
    month: date  # first day of the local month
    mean_w: float  # mean of the month's daily base loads
    days: int  # days of the month with a base load


@dataclass(frozen=True)
class BaseLoad:
    days: tuple[BaseLoadDay, ...]
    months: tuple[BaseLoadMonth, ...]
    # Least-squares slope of the daily base loads against time, in W per month (365.25 / 12 days); None with fewer
    # than TREND_MIN_DAYS base-load days or less than TREND_MIN_SPAN_DAYS between the first and the last.
    slope_w_per_month: float | None

    @property
    def latest_month(self) -> BaseLoadMonth | None:
        return self.months[-1] if self.months else None


@dataclass(frozen=True)
class TopQuarter:
    start: datetime  # aware in the trends' zone
    import_wh: int

    @property
    def import_w(self) -> int:
        return self.import_wh * 4


@dataclass(frozen=True)
class Coverage:
    days: int  # local days in the range
    days_with_data: int  # days with at least one measured quarter
    quarters_measured: int
    quarters_expected: int  # quarter-hours of the range that have ended by now

    @property
    def pct(self) -> float | None:
        return round(100 * self.quarters_measured / self.quarters_expected, 1) if self.quarters_expected else None

    @property
    def has_gaps(self) -> bool:
        return self.quarters_measured < self.quarters_expected


@dataclass(frozen=True)
class Trends:
    meter: Meter
    first: date
    after: date  # the first day after the range
    tz: str
    profile: DayProfile
    tariffs: TariffSplit
    base_load: BaseLoad
    top: tuple[TopQuarter, ...]  # the highest measured import quarters, highest first, ties earliest first
    coverage: Coverage

    @property
    def last(self) -> date:
        return self.after - timedelta(days=1)

    @property
    def is_empty(self) -> bool:
        return self.coverage.quarters_measured == 0 and self.tariffs.days_known == 0


def _pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


# --- the range ----------------------------------------------------------------------------------------------------


def default_range(today: date) -> tuple[date, date]:
    """The last 12 months: the day after the same date a year ago up to today included (365 or 366 local days, so
    no calendar day counts twice in the profile)."""
    try:
        a_year_ago = today.replace(year=today.year - 1)
    except ValueError:  # 29 February: the range starts on 1 March
        a_year_ago = today.replace(year=today.year - 1, day=28)
    return a_year_ago + timedelta(days=1), today + timedelta(days=1)


def parse_range(from_text: str | None, to_text: str | None, today: date) -> tuple[date, date]:
    """``?from=YYYY-MM-DD&to=YYYY-MM-DD`` as (first, after), both days included; the default is
    :func:`default_range`. Without ``from`` the range starts a year before ``to``; without ``to`` it ends today.
    Raises InvalidDate (a bad date) or InvalidRange (from after to, or longer than three years)."""
    last = parse_day(to_text) if to_text else today
    first = parse_day(from_text) if from_text else default_range(last)[0]
    if first > last:
        raise InvalidRange(
            _("The start date %(first)s is after the end date %(last)s")
            % {"first": first.isoformat(), "last": last.isoformat()}
        )
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise InvalidRange(_("Choose a range of at most three years"))
    return first, last + timedelta(days=1)


# --- the quarters -------------------------------------------------------------------------------------------------


_MEASURED = RangeQuery(
    lambda meter_id, start, end: (
        QuarterEnergy.objects.filter(meter_id=meter_id, slot__gte=start, slot__lt=end, estimated=False, reset=False)
        .order_by("slot")
        .annotate(
            ep=Epoch("slot"),
            imp=F("import_t1_wh") + F("import_t2_wh"),
            exp=F("export_t1_wh") + F("export_t2_wh"),
        )
        .values_list("ep", "imp", "exp")
    )
)


def _quarters(meter_id: int, start_epoch: int, end_epoch: int) -> list[tuple[int, int, int]]:
    """The measured quarters with start_epoch <= slot < end_epoch, in time order: (slot epoch, import Wh, export Wh).

    The one input of every quarter-hour figure of the trends (one query, plain tuples)."""
    # Every column is an integer in SQL already (the Wh columns, the epoch cast to BIGINT): no conversion per row.
    return _MEASURED.fetch(meter_id, start_epoch, end_epoch)


# --- the service --------------------------------------------------------------------------------------------------


def trends(meter: Meter, first: date, after: date, tz: str | None = None) -> Trends:
    """The trends of ``meter`` over the local days first <= day < after (see the module's docstring).

    Measured quarters only: estimated (interpolated across a gap) and reset quarters are left out of the profile,
    the base load, the highest quarters and the measured count. Raises InvalidTimeZone for an unknown ``tz``.
    """
    zone = _zone(tz)
    days = [first + timedelta(days=k) for k in range((after - first).days)]
    bounds = [_local_epoch(zone, d) for d in [*days, after]]
    quarters = _quarters(meter.pk, bounds[0], bounds[-1]) if days else []
    epochs = [q[0] for q in quarters]

    sums = {weekend: [[0, 0, 0] for _ in range(POSITIONS)] for weekend in (False, True)}  # import, export, count
    base_days: list[BaseLoadDay] = []
    with_data = 0
    i = 0
    for k, day in enumerate(days):
        b0, b1 = bounds[k], bounds[k + 1]
        j = bisect_left(epochs, b1, lo=i)
        inside = quarters[i:j]
        i = j
        if not inside:
            continue
        with_data += 1
        table = sums[day.weekday() >= 5]
        for _ep, imp, exp, pos in _positions(inside, b0, b1, zone):
            cell = table[pos]
            cell[0] += imp
            cell[1] += exp
            cell[2] += 1
        lowest = _base_load(inside, b0)
        if lowest is not None:
            watts, hour_ep = lowest
            base_days.append(BaseLoadDay(day, watts, _utc(hour_ep).astimezone(zone)))

    now = int(dj_timezone.now().timestamp())
    expected = max(0, (min(now, bounds[-1]) - bounds[0]) // SLOT_SECONDS) if days else 0
    # nlargest is sorted(..., reverse=True)[:n], which keeps equal quarters in time order: ties go to the earliest.
    top = heapq.nlargest(TOP_QUARTERS, quarters, key=itemgetter(1))
    result = Trends(
        meter=meter,
        first=first,
        after=after,
        tz=zone.key,
        profile=DayProfile(weekday=_profile(sums[False]), weekend=_profile(sums[True])),
        tariffs=_tariffs(meter, days, bounds, now, zone),
        base_load=BaseLoad(tuple(base_days), _monthly(base_days), _slope(base_days)),
        top=tuple(TopQuarter(_utc(ep).astimezone(zone), imp) for ep, imp, _exp in top),
        coverage=Coverage(len(days), with_data, len(quarters), expected),
    )
    logger.debug("trends: meter %s, %s to %s, %d measured quarters", meter.pk, first, after, len(quarters))
    return result


def _positions(inside: list[tuple[int, int, int]], b0: int, b1: int, zone: ZoneInfo) -> list[tuple[int, int, int, int]]:
    """The day's quarters with their wall-clock position (0..95). A 24-hour day is a plain offset from midnight;
    only the two DST days (23 h, 25 h) need the zone's wall clock."""
    if b1 - b0 == 24 * _HOUR:
        return [(ep, imp, exp, (ep - b0) // SLOT_SECONDS) for ep, imp, exp in inside]
    out = []
    for ep, imp, exp in inside:
        wall = _utc(ep).astimezone(zone)
        out.append((ep, imp, exp, wall.hour * 4 + wall.minute // 15))
    return out


def _base_load(inside: list[tuple[int, int, int]], b0: int) -> tuple[float, int] | None:
    """The lowest average import power (W) over a whole local clock hour of one day, and that hour's start epoch.

    An hour counts when all four of its quarters are measured and none exported: with solar panels feeding the
    house the import is not what it draws, and a sunny hour would read 0 W. Hours run from the day's local midnight
    (the zone's offsets and DST steps are whole hours, as Europe/Brussels's are), so the autumn day has 25 of them
    and the spring day 23. Ties: the earliest hour. None when no hour qualifies."""
    best: tuple[int, int] | None = None  # (Wh, hour start)
    hour, wh, quarters, exported = -1, 0, 0, 0
    for ep, imp, exp in [*inside, (_END_OF_DAYS, 0, 0)]:  # a sentinel closes the last hour
        start = b0 + (ep - b0) // _HOUR * _HOUR
        if start != hour:
            # Strictly lower only: the quarters come in time order, so the earliest of equal hours stays.
            if quarters == _QUARTERS_PER_HOUR and not exported and (best is None or wh < best[0]):
                best = (wh, hour)
            hour, wh, quarters, exported = start, 0, 0, 0
        wh += imp
        quarters += 1
        exported += exp
    # The energy of a whole hour in Wh is its average power in W.
    return None if best is None else (float(best[0]), best[1])


def _profile(cells: list[list[int]]) -> tuple[ProfilePoint, ...]:
    return tuple(
        ProfilePoint(
            minute=15 * pos,
            import_w=imp * 4 / n if n else None,  # mean Wh per quarter x 4 = mean W
            export_w=exp * 4 / n if n else None,
            quarters=n,
        )
        for pos, (imp, exp, n) in enumerate(cells)
    )


def _monthly(days: list[BaseLoadDay]) -> tuple[BaseLoadMonth, ...]:
    by_month: dict[date, list[float]] = {}
    for d in days:
        by_month.setdefault(d.day.replace(day=1), []).append(d.watts)
    return tuple(BaseLoadMonth(m, sum(ws) / len(ws), len(ws)) for m, ws in sorted(by_month.items()))


def _slope(days: list[BaseLoadDay]) -> float | None:
    """Least-squares slope of the daily base loads against the day, in W per month: it uses every day, so one
    odd month moves it little, and needs no whole months at the range's ends."""
    if len(days) < TREND_MIN_DAYS or (days[-1].day - days[0].day).days < TREND_MIN_SPAN_DAYS:
        return None
    xs = [d.day.toordinal() for d in days]
    ys = [d.watts for d in days]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    return sxy / sxx * _DAYS_PER_MONTH


def _tariffs(meter: Meter, days: list[date], bounds: list[int], now: int, zone: ZoneInfo) -> TariffSplit:
    """The range's energy per register as the month view counts it: each local day's DayEnergy row made into the
    month view's day bucket (``build._day_bucket``: a past partial day is unknown, the running one counts so far),
    imported volumes filled in (``build._with_fluvius``) and summed (``build._totals``). One query."""
    if not days:
        return TariffSplit(0, 0, 0, 0, 0)
    from users.models import Prices  # the buckets' costs are not used: zero prices keep them cheap

    free = Prices(Decimal(0), Decimal(0), Decimal(0), Decimal(0), Decimal(0))
    rows = {d.day: d for d in DayEnergy.objects.filter(meter=meter, day__gte=days[0], day__lt=days[-1] + timedelta(1))}
    buckets = [
        _day_bucket(rows.get(day), bounds[k], bounds[k + 1], bounds[k] <= now < bounds[k + 1], False, free)
        for k, day in enumerate(days)
    ]
    buckets = _with_fluvius(meter, buckets, zone, free)
    t = _totals(buckets, False)
    known = sum(1 for b in buckets if b.import_wh is not None)
    return TariffSplit(t.import_t1_wh, t.import_t2_wh, t.export_t1_wh, t.export_t2_wh, known)
