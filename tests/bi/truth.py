"""Ground truth for the BI views: a known energy per quarter-hour, stored as cumulative register readings.

Each quarter's import/export energy is chosen here (deterministic, varied by slot), the registers are its running sum,
and the readings go straight to the table with ``bulk_create``. Tests compare what the views compute against sums of
these known quarters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from meters.models import Meter, Reading
from meters.series import rollups

BRUSSELS = ZoneInfo("Europe/Brussels")
QUARTER = timedelta(minutes=15)
MILLI = Decimal("0.001")


def local(y: int, m: int, d: int, h: int = 0, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=BRUSSELS)


def is_night(slot: datetime) -> bool:
    """Belgian night tariff (tariff 2): 22:00-07:00 local and weekends."""
    t = slot.astimezone(BRUSSELS)
    return t.weekday() >= 5 or not 7 <= t.hour < 22


@dataclass(frozen=True)
class Quarter:
    import_wh: int
    export_wh: int
    night: bool

    @property
    def import_kwh(self) -> Decimal:
        return Decimal(self.import_wh) * MILLI


def varied_energy(slot: datetime) -> tuple[int, int]:
    """(import Wh, export Wh) of the quarter starting at ``slot``: varied, with export only around midday."""
    n = int(slot.timestamp()) // 900
    imp = 30 + (n * 37) % 223
    exp = (n * 13) % 91 if 10 <= slot.astimezone(BRUSSELS).hour < 16 else 0
    return imp, exp


@dataclass
class Truth:
    meter: Meter
    quarters: dict[datetime, Quarter] = field(default_factory=dict)  # UTC slot start -> bounded quarter

    def between(self, start: datetime, end: datetime) -> list[Quarter]:
        return [q for slot, q in self.quarters.items() if start <= slot < end]

    def import_kwh(self, start: datetime, end: datetime, *, night: bool | None = None) -> Decimal:
        wh = sum(q.import_wh for q in self.between(start, end) if night is None or q.night == night)
        return Decimal(wh) * MILLI

    def export_kwh(self, start: datetime, end: datetime) -> Decimal:
        return Decimal(sum(q.export_wh for q in self.between(start, end))) * MILLI


def build(
    meter: Meter,
    start: datetime,
    end: datetime,
    *,
    skip: Iterable[datetime] = (),
    energy: Callable[[datetime], tuple[int, int]] = varied_energy,
    reset_at: datetime | None = None,
    month_peak: Callable[[datetime], tuple[Decimal, datetime] | None] | None = None,
) -> Truth:
    """Readings at every slot from ``start`` to ``end`` (both included) except ``skip``.

    Only quarters whose both boundary readings exist, 15 minutes apart, and whose registers did not drop are kept in
    the truth: those are the quarters the views must report. ``reset_at``: from that slot on the registers restart
    near zero, as after a meter fault.
    """
    skipped = {s.astimezone(UTC) for s in skip}
    slot = start.astimezone(UTC)
    stop = end.astimezone(UTC)
    regs = [1_234_567, 2_345_678, 345_678, 45_678]  # Wh: import day, import night, export day, export night
    gas_l = 4_321_000
    truth = Truth(meter)
    readings = []
    planned: dict[datetime, Quarter] = {}
    while slot <= stop:
        if reset_at is not None and slot == reset_at.astimezone(UTC):
            regs = [11, 7, 3, 0]
        imp, exp = energy(slot)
        night = is_night(slot)
        if slot not in skipped:
            peak = month_peak(slot) if month_peak else None
            readings.append(
                Reading(
                    meter=meter,
                    timestamp=slot,
                    measured_at=slot + timedelta(seconds=2),
                    import_t1_kwh=Decimal(regs[0]) * MILLI,
                    import_t2_kwh=Decimal(regs[1]) * MILLI,
                    export_t1_kwh=Decimal(regs[2]) * MILLI,
                    export_t2_kwh=Decimal(regs[3]) * MILLI,
                    tariff=2 if night else 1,
                    power_import_kw=Decimal(imp * 4) * MILLI,
                    power_export_kw=Decimal(exp * 4) * MILLI,
                    l1_import_kw=Decimal(imp * 2) * MILLI,
                    l2_import_kw=Decimal(imp) * MILLI,
                    l3_import_kw=Decimal(imp) * MILLI,
                    l1_export_kw=Decimal(exp * 4) * MILLI,
                    l2_export_kw=Decimal(0),
                    l3_export_kw=Decimal(0),
                    l1_voltage_v=Decimal("231.4"),
                    l2_voltage_v=Decimal("229.8"),
                    l3_voltage_v=Decimal("230.6"),
                    month_peak_kw=peak[0] if peak else None,
                    month_peak_at=peak[1] if peak else None,
                    gas_m3=Decimal(gas_l) * MILLI,
                    gas_at=slot,
                )
            )
            planned[slot] = Quarter(imp, exp, night)
        regs[1 if night else 0] += imp
        regs[3 if night else 2] += exp
        gas_l += 5
        slot += QUARTER
    Reading.objects.bulk_create(readings, batch_size=1000)
    rollups.rebuild(meter.pk)  # what ingest maintains: the readings went straight to the table
    reset = reset_at.astimezone(UTC) if reset_at else None
    for slot, quarter in planned.items():
        nxt = slot + QUARTER
        if nxt in planned and nxt != reset:
            truth.quarters[slot] = quarter
    return truth
