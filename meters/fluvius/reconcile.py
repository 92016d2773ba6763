"""Where the Pi and Mijn Fluvius disagree (docs/design.md, "Mijn Fluvius import", reconciliation).

For each local day that both sources cover, the Pi's energy per register (the day rollup, ``DayEnergy``: register at
the next midnight minus at this one) is compared with Fluvius' (the sum of the day's quarter-hours when all of them
were imported, else the day total of a ``dagtotalen`` file). A register-day is flagged when the two differ by more
than :data:`MIN_DIFFERENCE_WH` **and** by more than :data:`MAX_RATIO` of the larger value: the 0.1 kWh floor keeps
rounding and the few seconds between a quarter's start and the telegram the Pi kept from flagging small registers
(a night's export of 40 Wh), the 1 % keeps a 0.1 kWh difference on a 30 kWh day from being news.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

from django.conf import settings

from meters.models import DayEnergy, FluviusDay, FluviusRegister, FluviusStatus, Meter

MIN_DIFFERENCE_WH: Final = 100
MAX_RATIO: Final = Decimal("0.01")
ELECTRICITY: Final = (
    FluviusRegister.IMPORT_T1,
    FluviusRegister.IMPORT_T2,
    FluviusRegister.EXPORT_T1,
    FluviusRegister.EXPORT_T2,
)
_P1_FIELDS: Final = {r: f"{r}_wh" for r in ELECTRICITY}


@dataclass(frozen=True)
class DayDifference:
    """One local day and register on which the Pi (``p1_wh``) and Mijn Fluvius (``fluvius_wh``) disagree."""

    day: date
    register: str  # FluviusRegister: import_t1, import_t2, export_t1, export_t2
    p1_wh: int
    fluvius_wh: int
    estimated: bool  # either side was estimated (an interpolated boundary, a "Geschat" volume)

    @property
    def difference_wh(self) -> int:
        """The Pi minus Fluvius."""
        return self.p1_wh - self.fluvius_wh

    @property
    def percent(self) -> float | None:
        """The difference relative to Fluvius' value, in %; None when Fluvius measured 0."""
        return None if not self.fluvius_wh else 100 * self.difference_wh / self.fluvius_wh

    @property
    def p1_kwh(self) -> float:
        return self.p1_wh / 1000

    @property
    def fluvius_kwh(self) -> float:
        return self.fluvius_wh / 1000

    @property
    def register_label(self) -> str:
        return str(FluviusRegister(self.register).label)

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "register": self.register,
            "p1_kwh": self.p1_wh / 1000,
            "fluvius_kwh": self.fluvius_wh / 1000,
            "difference_kwh": self.difference_wh / 1000,
            "percent": None if self.percent is None else round(self.percent, 1),
            "estimated": self.estimated,
        }


@dataclass(frozen=True)
class Reconciliation:
    days_compared: int  # local days with energies from both sources
    differences: tuple[DayDifference, ...]  # the flagged register-days, by day and register


def flagged(p1_wh: int, fluvius_wh: int) -> bool:
    """The rule: more than 100 Wh apart and more than 1 % of the larger value."""
    diff = abs(p1_wh - fluvius_wh)
    return diff > MIN_DIFFERENCE_WH and diff > MAX_RATIO * max(p1_wh, fluvius_wh)


def _zone() -> ZoneInfo:
    """The zone of the day rollups' local days."""
    return ZoneInfo(settings.TIME_ZONE)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=_zone()).astimezone(UTC)


def _fluvius_days(meter: Meter, days: list[date]) -> dict[tuple[date, str], tuple[int, bool]]:
    """Fluvius' energy per (day, register) on ``days``: the day rows (a day totals file, or all the day's quarters
    summed by the import), one query."""
    found: dict[tuple[date, str], tuple[int, bool]] = {}
    rows = FluviusDay.objects.filter(meter=meter, day__in=days, register__in=ELECTRICITY).values_list(
        "day", "register", "value", "status", "quarters"
    )
    for day, register, value, status, quarters in rows:
        if quarters in (0, _quarters(day)):
            found[(day, register)] = (value, status == FluviusStatus.ESTIMATED)
    return found


def _quarters(day: date) -> int:
    return int((_midnight(day + timedelta(days=1)) - _midnight(day)).total_seconds()) // 900


def reconcile(meter: Meter, first: date, after: date) -> Reconciliation:
    """Compare the Pi's and Fluvius' energy on the local days ``first`` <= day < ``after`` (two queries)."""
    p1_days = list(
        DayEnergy.objects.filter(meter=meter, day__gte=first, day__lt=after, partial=False)
        .exclude(import_t1_wh=None)
        .order_by("day")
        .values("day", "start_estimated", "end_estimated", *_P1_FIELDS.values())
    )
    if not p1_days:
        return Reconciliation(0, ())
    fluvius = _fluvius_days(meter, [d["day"] for d in p1_days])
    compared = 0
    found: list[DayDifference] = []
    for row in p1_days:
        any_compared = False
        for register, name in _P1_FIELDS.items():
            theirs = fluvius.get((row["day"], register))
            ours = row[name]
            if theirs is None or ours is None:
                continue
            any_compared = True
            if flagged(ours, theirs[0]):
                estimated = theirs[1] or row["start_estimated"] or row["end_estimated"]
                found.append(DayDifference(row["day"], register, ours, theirs[0], estimated))
        compared += any_compared
    return Reconciliation(compared, tuple(found))


def differences(meter: Meter, first: date, after: date) -> list[DayDifference]:
    """The flagged register-days of the local days ``first`` <= day < ``after``, by day then register (for the day
    view: ``differences(meter, day, day + timedelta(days=1))``)."""
    return list(reconcile(meter, first, after).differences)
