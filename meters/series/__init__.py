"""Series service: the numbers behind the day / week / month dashboards (docs/design.md, "Series and numbers").

Energy in a bucket is the register value at the bucket's end boundary minus the value at its start boundary, where
a boundary's value is the reading of the quarter-hour slot that starts there. All register arithmetic is done in
integer Wh (the registers have 3 decimals of kWh), so the buckets add up exactly to the window's delta.

* A missing boundary reading is interpolated linearly in time between the nearest readings on either side (rounded
  to the Wh, so sums stay exact) and the bucket is marked ``estimated``; with nothing on one side it stays ``None``.
* A register that goes down (meter reset or replaced) flags the bucket ``reset``; the drop is not counted and the
  new register's rise from its first value is.
* The running bucket (the one that contains "now") ends at the latest reading when its end boundary has not come
  yet: it holds the energy so far and is marked ``so_far``, so the running period's total is the latest register
  minus the register at the period's start, to the Wh.
* A quarter-hour is *measured* when readings exist at both of its boundaries and none of the four electricity
  registers goes down between them (:func:`is_measured_quarter`). Maxima and the capacity peak use measured
  quarters only (docs/architecture.md, "One rule per number").
* Buckets follow local wall time (``settings.TIME_ZONE``): a day has 92, 96 or 100 quarter-hours, a week's DST day
  has a 3 h or 5 h bucket, a month has one bucket per local day.

Raises :class:`SeriesError` subclasses for bad input (unknown view, unusable date or time zone).

Modules: ``windows`` the local calendar buckets (views, zones, boundaries, ``parse_day``); ``queries`` the SQL
(readings as integer tuples, past months' peaks); ``capacity`` the one capacity peak rule (measured quarter,
month peak, billed minimum, 12-month card, peak cache); ``build`` ``build_series`` and its steps; ``results`` the
result dataclasses; ``errors`` the exceptions; ``compare`` a series beside the previous period or the same
period a year before.
"""

from __future__ import annotations

from meters.series.build import build_series
from meters.series.capacity import (
    PEAK_MISMATCH_RATIO,
    CapacityYear,
    MonthPeak,
    capacity_minimum_kw,
    is_measured_quarter,
)
from meters.series.compare import MODES as COMPARE_MODES
from meters.series.compare import Difference, PeriodComparison, UnknownComparison, compare
from meters.series.errors import InvalidDate, InvalidRange, InvalidTimeZone, SeriesError, UnknownView
from meters.series.results import Bucket, PowerStats, Series, Totals
from meters.series.trends import Trends, parse_range, trends
from meters.series.windows import (
    SLOT_SECONDS,
    VIEWS,
    WEEK_BUCKET_HOURS,
    boundaries,
    parse_day,
    step,
    window_days,
    year_ago,
)

__all__ = [
    "COMPARE_MODES",
    "PEAK_MISMATCH_RATIO",
    "SLOT_SECONDS",
    "VIEWS",
    "WEEK_BUCKET_HOURS",
    "Bucket",
    "CapacityYear",
    "Difference",
    "InvalidDate",
    "InvalidRange",
    "InvalidTimeZone",
    "MonthPeak",
    "PeriodComparison",
    "PowerStats",
    "Series",
    "SeriesError",
    "Totals",
    "Trends",
    "UnknownComparison",
    "UnknownView",
    "boundaries",
    "build_series",
    "capacity_minimum_kw",
    "compare",
    "is_measured_quarter",
    "parse_day",
    "parse_range",
    "step",
    "trends",
    "window_days",
    "year_ago",
]
