"""Ground truth for series tests: known energy per quarter-hour, turned into cumulative readings.

The energy of every quarter is chosen here (deterministic, varied per slot), the registers are its running sum, and
the readings are stored with ``Reading.objects.bulk_create`` (the ingest service is not involved). Tests then
compare the series service against sums of the known quarters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from meters.models import Meter, Reading
from meters.series import rollups

BRUSSELS = ZoneInfo("Europe/Brussels")
SLOT = 900


def local(y: int, m: int, d: int, h: int = 0, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=BRUSSELS)


def epoch(dt: datetime) -> int:
    return int(dt.timestamp())


def is_day_tariff(ep: int) -> bool:
    """Belgian day tariff: 07:00-22:00 local on weekdays; night otherwise."""
    t = datetime.fromtimestamp(ep, BRUSSELS)
    return t.weekday() < 5 and 7 <= t.hour < 22


def quarter_energy(ep: int) -> tuple[int, int, int, int]:
    """Known Wh of the quarter starting at ``ep``: (import day, import night, export day, export night)."""
    i = ep // SLOT
    imp = 40 + (i * 37) % 211  # 40..250 Wh per quarter: 160..1000 W average
    t = datetime.fromtimestamp(ep, BRUSSELS)
    exp = (i * 13) % 97 if 9 <= t.hour < 17 else 0
    if is_day_tariff(ep):
        return imp, 0, exp, 0
    return 0, imp, 0, exp


def gas_litres(ep: int) -> int:
    return (ep // SLOT) % 5


@dataclass
class Truth:
    meter: Meter
    energy: dict[int, tuple[int, int, int, int]] = field(default_factory=dict)
    stored: list[int] = field(default_factory=list)

    def wh(self, start: datetime | int, end: datetime | int) -> tuple[int, int, int, int]:
        """Known (import t1, import t2, export t1, export t2) Wh of the quarters in [start, end)."""
        a = start if isinstance(start, int) else epoch(start)
        b = end if isinstance(end, int) else epoch(end)
        sums = [0, 0, 0, 0]
        for ep, e in self.energy.items():
            if a <= ep < b:
                for k in range(4):
                    sums[k] += e[k]
        return tuple(sums)

    def import_wh(self, start, end) -> int:
        t = self.wh(start, end)
        return t[0] + t[1]


def build(
    meter: Meter,
    start: datetime,
    end: datetime,
    *,
    skip: set[int] = frozenset(),
    energy=quarter_energy,
    base_wh: tuple[int, int, int, int] = (1_234_567, 2_345_678, 345_678, 45_678),
    gas: bool = True,
    phases: int = 3,
    reset_at: int | None = None,
    reset_to: tuple[int, int, int, int] = (5, 7, 0, 0),
    month_peak_kw: Decimal | None = None,
    phase_kw=None,
) -> Truth:
    """Readings for every slot in [start, end] (end included) except ``skip`` (epochs).

    ``reset_at``: from that slot on the registers restart at ``reset_to`` (a replaced meter); the energy of the
    quarter before the drop is then lost for good, so the truth drops it too.
    """
    truth = Truth(meter)
    regs = list(base_wh)
    gas_l = 4_321_000
    readings = []
    ep = epoch(start)
    stop = epoch(end)
    while ep <= stop:
        if reset_at is not None and ep == reset_at:
            regs = list(reset_to)
            truth.energy[ep - SLOT] = (0, 0, 0, 0)
        if ep not in skip:
            ts = datetime.fromtimestamp(ep, UTC)
            per_phase = {}
            if phase_kw is not None:
                imports, exports = phase_kw(ep)
                for p in range(1, phases + 1):
                    per_phase[f"l{p}_import_kw"] = Decimal(imports[p - 1]).quantize(Decimal("0.001"))
                    per_phase[f"l{p}_export_kw"] = Decimal(exports[p - 1]).quantize(Decimal("0.001"))
            for p in range(1, 4):
                if phase_kw is None and p <= phases:
                    per_phase[f"l{p}_import_kw"] = Decimal(((ep // SLOT) * p) % 9) / 10
                    per_phase[f"l{p}_export_kw"] = Decimal("0.100") if p == 1 else Decimal(0)
            readings.append(
                Reading(
                    meter=meter,
                    timestamp=ts,
                    measured_at=ts + timedelta(seconds=1),
                    import_t1_kwh=Decimal(regs[0]) / 1000,
                    import_t2_kwh=Decimal(regs[1]) / 1000,
                    export_t1_kwh=Decimal(regs[2]) / 1000,
                    export_t2_kwh=Decimal(regs[3]) / 1000,
                    tariff=1 if is_day_tariff(ep) else 2,
                    power_import_kw=Decimal("0.500"),
                    power_export_kw=Decimal("0.000"),
                    gas_m3=Decimal(gas_l) / 1000 if gas else None,
                    month_peak_kw=month_peak_kw,
                    **per_phase,
                )
            )
            truth.stored.append(ep)
        e = energy(ep)
        truth.energy[ep] = e
        regs = [r + d for r, d in zip(regs, e, strict=True)]
        gas_l += gas_litres(ep)
        ep += SLOT
    # The last slot's quarter lies beyond the stored data: keep the truth to the quarters that are bounded.
    truth.energy.pop(stop, None)
    Reading.objects.bulk_create(readings, batch_size=2000)
    rollups.rebuild(meter.pk)  # what ingest maintains: the readings went straight to the table
    return truth
