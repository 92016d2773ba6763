"""Comparing a series with another period of the same meter (docs/design.md, "Year view and comparisons").

The other period is the previous one (``step``) or the same period a year before (``windows.year_ago``), built by
the same ``build_series``. Its buckets are lined up with the shown ones by position in the period, read on the
local wall clock: the time of day (day view), the weekday and hour (week), the day of the month (month) and the
month (year). A position the other period does not have (the repeated hour of an autumn day, a 29 February, the
31st after a 30-day month) has no counterpart, and a position without data has none either.

The difference is taken over the *matched* positions only: both periods have energy there and neither is the
running bucket. So "this month so far" is set against the same days of the other month, never against zeros
of days that are missing or have not come yet; both periods' completeness is reported beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

from meters.series.build import build_series
from meters.series.errors import SeriesError
from meters.series.results import Bucket, Series
from meters.series.windows import step, year_ago

if TYPE_CHECKING:
    from users.models import Prices

MODES = ("previous", "year")


class UnknownComparison(SeriesError):
    pass


@dataclass(frozen=True)
class Difference:
    """One quantity over the matched positions: this period, the other one, and the change."""

    this_wh: int
    other_wh: int

    @property
    def change_wh(self) -> int:
        return self.this_wh - self.other_wh

    @property
    def change_pct(self) -> Decimal | None:
        """The change in % of the other period's value; None when that is zero (no ratio to speak of)."""
        if not self.other_wh:
            return None
        return Decimal(100 * self.change_wh) / Decimal(self.other_wh)


@dataclass(frozen=True)
class PeriodComparison:
    mode: str  # "previous" or "year"
    other: Series  # the other period, whole
    aligned: tuple[Bucket | None, ...]  # the other period's bucket at each position of the shown series
    matched: tuple[bool, ...]  # positions known in both and running in neither
    imports: Difference
    exports: Difference
    gas: Difference | None  # when both periods have gas

    positions_known: int  # positions of the shown period with data (the running one left out)

    @property
    def positions_matched(self) -> int:
        return sum(self.matched)

    @property
    def complete(self) -> bool:
        """The other period has data at every position the shown one has: the difference covers all of it."""
        return self.positions_matched == self.positions_known


def check_mode(mode: str) -> None:
    """Raises UnknownComparison unless ``mode`` is one of MODES."""
    if mode not in MODES:
        raise UnknownComparison(
            _("Unknown comparison %(mode)s: use one of %(modes)s") % {"mode": repr(mode), "modes": ", ".join(MODES)}
        )


def _position(view: str, zone: ZoneInfo) -> Callable[[Bucket], tuple[int, ...]]:
    """The key that lines buckets up across periods: where the bucket starts on the local wall clock."""

    def key(b: Bucket) -> tuple[int, ...]:
        t: datetime = b.start.astimezone(zone)
        if view == "day":
            return (t.hour, t.minute, t.fold)
        if view == "week":
            return (t.weekday(), t.hour, t.fold)
        if view == "month":
            return (t.day,)
        return (t.month,)

    return key


def _known(b: Bucket | None) -> bool:
    return b is not None and b.import_wh is not None and not b.so_far


def compare(series: Series, mode: str, *, prices: Prices) -> PeriodComparison:
    """``series`` beside the previous period (``mode="previous"``) or the same period a year before (``"year"``).

    Raises UnknownComparison for another mode."""
    check_mode(mode)
    day = step(series.view, series.day, -1) if mode == "previous" else year_ago(series.view, series.day)
    other = build_series(series.meter, series.view, day, series.tz, prices=prices)
    key = _position(series.view, ZoneInfo(series.tz))
    by_position = {key(b): b for b in other.buckets}
    aligned = tuple(by_position.get(key(b)) for b in series.buckets)
    matched = tuple(_known(b) and _known(o) for b, o in zip(series.buckets, aligned, strict=True))
    pairs = [(b, o) for b, o, m in zip(series.buckets, aligned, matched, strict=True) if m and o is not None]

    def difference(energy: Callable[[Bucket], int | None]) -> Difference:
        return Difference(sum(energy(b) or 0 for b, _o in pairs), sum(energy(o) or 0 for _b, o in pairs))

    both_gas = series.has_gas and other.has_gas
    return PeriodComparison(
        mode=mode,
        other=other,
        aligned=aligned,
        matched=matched,
        imports=difference(lambda b: b.import_wh),
        exports=difference(lambda b: b.export_wh),
        gas=difference(lambda b: b.gas_l) if both_gas else None,
        positions_known=sum(1 for b in series.buckets if _known(b)),
    )
