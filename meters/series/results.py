"""What a series holds: its buckets, window totals, power figures and (month view) capacity cards.

Frozen dataclasses built by ``build.build_series``; the dashboards and ``api.series`` only read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from meters.models import Meter
from meters.series.capacity import CapacityYear, MonthPeak


def _add(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a + b


@dataclass(frozen=True)
class Bucket:
    start: datetime  # UTC
    end: datetime  # UTC
    import_t1_wh: int | None
    import_t2_wh: int | None
    export_t1_wh: int | None
    export_t2_wh: int | None
    import_w: float | None  # average power = energy / duration
    export_w: float | None
    phase_w: tuple[float | None, float | None, float | None]  # mean of lN_import - lN_export samples
    gas_l: int | None  # litres (= dm³); the gas register has 3 decimals of m³
    import_cost_eur: Decimal | None
    export_credit_eur: Decimal | None
    gas_cost_eur: Decimal | None
    samples: int  # readings present in the bucket's slots
    slots: int  # quarter-hour slots in the bucket
    estimated: bool  # an electricity boundary value was interpolated
    gas_estimated: bool
    reset: bool  # a register went down inside the bucket
    so_far: bool = False  # the running bucket: energy from its start up to the latest reading
    so_far_until: datetime | None = None  # that latest reading (UTC), for "so far (until 00:15)"
    # Where the energies come from: "p1" (register deltas of the Pi's readings), "fluvius" (interval volumes of a
    # Mijn Fluvius import, meters.fluvius, where the Pi has no readings), None when the bucket has no energy.
    source: str | None = "p1"
    # Year view: days of the month already over that have no energy (before the first reading, after the last).
    missing_days: int = 0

    @property
    def import_wh(self) -> int | None:
        return _add(self.import_t1_wh, self.import_t2_wh)

    @property
    def export_wh(self) -> int | None:
        return _add(self.export_t1_wh, self.export_t2_wh)

    @property
    def hours(self) -> float:
        """Hours the bucket's energy covers: up to the latest reading for the running bucket."""
        return ((self.so_far_until or self.end) - self.start).total_seconds() / 3600


@dataclass(frozen=True)
class Totals:
    import_t1_wh: int
    import_t2_wh: int
    export_t1_wh: int
    export_t2_wh: int
    gas_l: int | None
    import_cost_eur: Decimal
    export_credit_eur: Decimal
    gas_cost_eur: Decimal | None
    known_hours: float  # duration covered by buckets with known import energy
    # False when a bucket with energy has no cost (a quarter without a day-ahead price): the sums above are then
    # of the priced buckets only, and say so (meters.billing.cost).
    cost_complete: bool = True

    @property
    def import_wh(self) -> int:
        return self.import_t1_wh + self.import_t2_wh

    @property
    def export_wh(self) -> int:
        return self.export_t1_wh + self.export_t2_wh

    @property
    def electricity_cost_eur(self) -> Decimal:
        return self.import_cost_eur - self.export_credit_eur


@dataclass(frozen=True)
class PowerStats:
    """Average power over the window's known buckets; maxima are the highest measured quarter-hour averages."""

    import_avg_w: float | None
    import_max_w: float | None
    import_max_at: datetime | None  # start of the measured quarter-hour with the maximum
    export_avg_w: float | None
    export_max_w: float | None
    export_max_at: datetime | None


@dataclass(frozen=True)
class Series:
    meter: Meter
    view: str
    day: date
    tz: str
    start: datetime  # local, aware
    end: datetime
    prev_day: date
    next_day: date
    buckets: tuple[Bucket, ...]
    totals: Totals
    power: PowerStats
    completeness_pct: float | None  # readings present / slots already started; None for a future window
    readings: int
    expected_readings: int
    has_gas: bool
    phases: int  # how many phases sent per-phase power
    capacity: MonthPeak | None  # month view only
    capacity_year: CapacityYear | None  # month view only
    # Year view only: each month's 12-month card (that month and the 11 before it), January first.
    capacity_months: tuple[CapacityYear, ...] | None = None

    @property
    def estimated_buckets(self) -> int:
        return sum(1 for b in self.buckets if b.estimated)

    @property
    def empty_buckets(self) -> int:
        return sum(1 for b in self.buckets if b.import_t1_wh is None)

    @property
    def reset_buckets(self) -> int:
        return sum(1 for b in self.buckets if b.reset)

    @property
    def is_empty(self) -> bool:
        return self.readings == 0 and self.empty_buckets == len(self.buckets)
