"""``manage.py load_demo``: the demo account, its meter and realistic quarter-hour readings (idempotent).

The household is simulated per quarter-hour slot from random generators seeded by the serial and the slot (or
the local day), so a slot always gets the same consumption whenever the command runs: re-running adds only the
missing slots (running it a day later fills up to now) and registers stay continuous. Readings go through
``meters.services.ingest_readings`` like any upload.

Model: a three-phase home with a 4 kWp three-phase PV inverter and gas heating. Load follows the hour of the
day (weekdays away from 8:30 to 17:00), the weekend and the season (more lighting in winter), plus appliance
runs. PV follows the sun (slot times are UTC; solar noon ~11:45 UTC in Brussels) and the day's cloudiness,
sunnier and longer in summer. Night tariff 2 from 22:00 to 07:00 local time and all weekend. ``avg_demand_kw``
(1-0:1.4.0) is the average import of the quarter that just ended and ``month_peak_kw`` (1-0:1.6.0) the highest
quarter-hour average import of the running local month so far, both exactly derivable from the import
registers; ``month_peak_at`` is the start of that quarter (UTC).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from meters.models import Meter, Reading
from meters.services import SLOT, ingest_readings, slot_start

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password-123"  # noqa: S105 - published on purpose (local demo account; see --allow-public-password)
DEMO_SERIAL = "1SAG3100000001"
DEMO_METER_NAME = "Home"
BATCH = 1000
PV_KWP = 4.0
GAS_KWH_PER_M3 = 10.55
SOLAR_NOON_UTC = 11.75


@dataclass(frozen=True)
class _Quarter:
    """What happens during one quarter-hour (averages), plus the instantaneous values at its start."""

    tariff: int
    import_wh: int
    export_wh: int
    gas_l: int
    phase_import_kw: tuple[float, float, float]
    phase_export_kw: tuple[float, float, float]
    voltage: tuple[float, float, float]
    jitter: float  # instantaneous power at the telegram / quarter average


@dataclass
class _State:
    """Meter registers at the start of a slot (Wh and litres keep the sums exact)."""

    import_wh: list[int] = field(default_factory=lambda: [18_734_512, 9_251_086])
    export_wh: list[int] = field(default_factory=lambda: [4_102_338, 812_477])
    gas_l: int = 5_321_407
    prev_import_wh: int | None = None
    peak_month: tuple[int, int] | None = None
    peak_wh: int | None = None
    peak_at: datetime | None = None


class DemoHouse:
    def __init__(self, serial: str) -> None:
        self.serial = serial
        self.zone = ZoneInfo(settings.TIME_ZONE)
        self._days: dict[date, dict[str, Any]] = {}

    def _day(self, day: date) -> dict[str, Any]:
        params = self._days.get(day)
        if params is None:
            rng = random.Random(f"{self.serial}|day|{day.isoformat()}")
            season = math.cos(2 * math.pi * (day.timetuple().tm_yday - 15) / 365.25)  # +1 mid-January
            sky = rng.random()
            p_sunny, p_partly = 0.30 - 0.20 * season, 0.35
            if sky < p_sunny:
                clearness, variable = rng.uniform(0.85, 1.0), False
            elif sky < p_sunny + p_partly:
                clearness, variable = rng.uniform(0.4, 0.7), True
            else:
                clearness, variable = rng.uniform(0.07, 0.2), False
            events = []
            for _ in range(rng.choice((1, 2, 2, 3, 4))):
                start = rng.uniform(7.0, 21.5)
                duration = rng.choice((0.5, 0.75, 1.0, 1.5))
                events.append((start, start + duration, rng.uniform(1.2, 2.6), rng.randrange(3)))
            params = self._days[day] = {
                "season": season,
                "clearness": clearness,
                "variable": variable,
                "events": events,
                "temp": 10.5 - 7.5 * season + rng.gauss(0, 2.5),
                "volt": tuple(rng.gauss(0, 1.5) for _ in range(3)),
            }
        return params

    def quarter(self, slot: datetime) -> _Quarter:
        local = slot.astimezone(self.zone)
        day = self._day(local.date())
        rng = random.Random(f"{self.serial}|{slot:%Y%m%d%H%M}")
        season = day["season"]
        hour = local.hour + local.minute / 60 + 0.125
        weekend = local.weekday() >= 5

        if weekend:
            profile = 0.08 if hour < 7.5 else 0.45 if hour < 17 else 0.85 if hour < 23 else 0.12
        else:
            profile = 0.06 if hour < 6.5 else 0.55 if hour < 8.5 else 0.12 if hour < 17 else 0.9 if hour < 23 else 0.1
        day_length = 12.0 - 4.2 * season
        sunrise_local = SOLAR_NOON_UTC - day_length / 2 + local.utcoffset().total_seconds() / 3600
        dark = hour < sunrise_local or hour > sunrise_local + day_length
        lighting = 0.25 * (1 + season) / 2 if dark and 6.5 <= hour < 23.5 else 0.0
        base = 0.17 + 0.04 * season
        shares = [0.45 + rng.uniform(-0.05, 0.05), 0.30 + rng.uniform(-0.05, 0.05)]
        shares.append(1 - sum(shares))
        household = (base + profile + lighting) * rng.uniform(0.8, 1.25)
        loads = [household * s for s in shares]
        for start, end, power, phase in day["events"]:
            if start <= hour < end:
                loads[phase] += power
        if weekend or hour >= 22 or hour < 7:
            tariff = 2
        else:
            tariff = 1

        utc_hour = slot.hour + slot.minute / 60 + 0.125
        x = (utc_hour - (SOLAR_NOON_UTC - day_length / 2)) / day_length
        pv = 0.0
        if 0 < x < 1:
            amplitude = 0.65 - 0.35 * season
            cloud = day["clearness"] * (min(1.0, rng.uniform(0.5, 1.25)) if day["variable"] else 1.0)
            pv = PV_KWP * 0.85 * amplitude * cloud * math.sin(math.pi * x) ** 1.3
        net = [load - pv / 3 for load in loads]
        total = sum(net)
        import_wh = round(max(total, 0.0) * 250)
        export_wh = round(max(-total, 0.0) * 250)

        outdoor = day["temp"] + 4 * math.sin(2 * math.pi * (hour - 9) / 24)
        heating = max(0.0, 17 - outdoor) * 0.35 if 6 <= hour < 22.5 else max(0.0, 13 - outdoor) * 0.25
        if (7 <= hour < 8 or 19 <= hour < 21) and rng.random() < 0.5:
            heating += 3.0  # hot water
        gas_l = round(heating * 0.25 / GAS_KWH_PER_M3 * 1000)

        phase_import = tuple(round(max(n, 0.0), 3) for n in net)
        phase_export = tuple(round(max(-n, 0.0), 3) for n in net)
        voltage = tuple(
            round(230.5 + day["volt"][i] - 1.2 * phase_import[i] + 1.6 * phase_export[i] + rng.gauss(0, 0.6), 1)
            for i in range(3)
        )
        return _Quarter(
            tariff=tariff,
            import_wh=import_wh,
            export_wh=export_wh,
            gas_l=gas_l,
            phase_import_kw=phase_import,  # type: ignore[arg-type]
            phase_export_kw=phase_export,  # type: ignore[arg-type]
            voltage=voltage,  # type: ignore[arg-type]
            jitter=rng.uniform(0.75, 1.25),
        )

    def local_month(self, slot: datetime) -> tuple[int, int]:
        local = slot.astimezone(self.zone)
        return local.year, local.month

    def advance(self, state: _State, slot: datetime, q: _Quarter) -> None:
        """Add the energy of the quarter starting at ``slot``; update the running month peak."""
        state.import_wh[q.tariff - 1] += q.import_wh
        state.export_wh[q.tariff - 1] += q.export_wh
        state.gas_l += q.gas_l
        state.prev_import_wh = q.import_wh
        month = self.local_month(slot)
        if state.peak_month != month or state.peak_wh is None or q.import_wh > state.peak_wh:
            state.peak_month, state.peak_wh, state.peak_at = month, q.import_wh, slot

    def reading(self, state: _State, slot: datetime, q: _Quarter) -> dict[str, Any]:
        """The reading at the start of ``slot`` (registers before its quarter)."""
        rng = random.Random(f"{self.serial}|t|{slot:%Y%m%d%H%M}")
        j = q.jitter
        phase_import = [round(v * j, 3) for v in q.phase_import_kw]
        phase_export = [round(v * j, 3) for v in q.phase_export_kw]
        net = sum(phase_import) - sum(phase_export)
        same_month = state.peak_month == self.local_month(slot)
        item: dict[str, Any] = {
            "serial": self.serial,
            "timestamp": slot,
            "measured_at": slot + timedelta(seconds=rng.uniform(0.2, 1.8)),
            "import_t1_kwh": _kwh(state.import_wh[0]),
            "import_t2_kwh": _kwh(state.import_wh[1]),
            "export_t1_kwh": _kwh(state.export_wh[0]),
            "export_t2_kwh": _kwh(state.export_wh[1]),
            "tariff": q.tariff,
            "power_import_kw": round(max(net, 0.0), 3),
            "power_export_kw": round(max(-net, 0.0), 3),
            "breaker_state": 1,
            "avg_demand_kw": None if state.prev_import_wh is None else _kwh(state.prev_import_wh * 4),
            "month_peak_kw": _kwh(state.peak_wh * 4) if same_month and state.peak_wh is not None else None,
            "month_peak_at": state.peak_at if same_month else None,
            "gas_m3": _kwh(state.gas_l),
            "gas_at": slot,
        }
        for i in range(3):
            n = i + 1
            item[f"l{n}_import_kw"] = phase_import[i]
            item[f"l{n}_export_kw"] = phase_export[i]
            item[f"l{n}_voltage_v"] = q.voltage[i]
            item[f"l{n}_current_a"] = round((phase_import[i] + phase_export[i]) * 1000 / q.voltage[i], 2)
        return item


def _kwh(thousandths: int) -> Decimal:
    return Decimal(thousandths).scaleb(-3)


def _slots(start: datetime, end: datetime) -> Iterator[datetime]:
    slot = start
    while slot < end:
        yield slot
        slot += SLOT


def _state_from(reading: Reading) -> _State:
    def thousandths(value: Decimal | None) -> int:
        return int((value or Decimal(0)) * 1000)

    return _State(
        import_wh=[thousandths(reading.import_t1_kwh), thousandths(reading.import_t2_kwh)],
        export_wh=[thousandths(reading.export_t1_kwh), thousandths(reading.export_t2_kwh)],
        gas_l=thousandths(reading.gas_m3),
        peak_month=None,
        peak_wh=None if reading.month_peak_kw is None else thousandths(reading.month_peak_kw) // 4,
        peak_at=reading.month_peak_at,
    )


class Command(BaseCommand):
    help = "Create the demo account (demo / demo-password-123), its meter and realistic readings up to now."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--days", type=int, default=400, help="days of readings ending now (default 400)")
        parser.add_argument(
            "--allow-public-password",
            action="store_true",
            help="create the demo account although DEBUG is off (its password is published)",
        )

    def handle(self, *args, days: int, allow_public_password: bool, verbosity: int = 1, **options) -> None:
        if days < 1:
            raise CommandError("--days must be at least 1")
        user_model = get_user_model()
        user = user_model.objects.filter(username=DEMO_USERNAME).first()
        if user is None:
            if not settings.DEBUG and not allow_public_password:
                raise CommandError(
                    "load_demo creates the account demo / demo-password-123, whose password is public. Run it with "
                    "DEBUG=1 (as `make run` does) or pass --allow-public-password."
                )
            user = user_model.objects.create_user(DEMO_USERNAME, "demo@example.invalid", DEMO_PASSWORD)
        meter, _ = Meter.objects.get_or_create(serial=DEMO_SERIAL, defaults={"name": DEMO_METER_NAME, "owner": user})
        if meter.owner_id is None:
            meter.owner = user
            meter.save(update_fields=["owner", "updated_at"])
        elif meter.owner_id != user.pk:
            raise CommandError(f"Meter {DEMO_SERIAL} belongs to another account; not touching it.")

        house = DemoHouse(DEMO_SERIAL)
        end = slot_start(timezone.now()) + SLOT  # through the current quarter
        start = end - timedelta(days=days)
        items = list(self._missing(house, meter, start, end))
        created = duplicates = 0
        with tqdm(total=len(items), unit="reading", desc="demo readings", disable=verbosity < 1) as progress:
            for offset in range(0, len(items), BATCH):
                result = ingest_readings(user, items[offset : offset + BATCH])
                created += result.created
                duplicates += result.duplicates
                progress.update(len(items[offset : offset + BATCH]))
        if verbosity:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo meter {DEMO_SERIAL}: {created} readings added ({duplicates} already there). "
                    f"Log in as {DEMO_USERNAME} / {DEMO_PASSWORD}."
                )
            )

    def _missing(self, house: DemoHouse, meter: Meter, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        readings = meter.readings.order_by("timestamp")
        first, last = readings.first(), readings.last()
        if first is None:
            yield from self._run(house, _State(), start, end)
            return
        if start < first.timestamp:
            # Fill backwards so the generated readings end exactly at the registers already stored.
            quarters = [house.quarter(slot) for slot in _slots(start, first.timestamp)]
            state = _state_from(first)
            for q in quarters:
                state.import_wh[q.tariff - 1] -= q.import_wh
                state.export_wh[q.tariff - 1] -= q.export_wh
                state.gas_l -= q.gas_l
            if min(*state.import_wh, *state.export_wh, state.gas_l) >= 0:
                state.peak_wh = state.peak_at = state.peak_month = None
                yield from self._run(house, state, start, first.timestamp)
        state = _state_from(last)
        state.peak_month = house.local_month(last.timestamp) if last.month_peak_kw is not None else None
        house.advance(state, last.timestamp, house.quarter(last.timestamp))
        yield from self._run(house, state, max(start, last.timestamp + SLOT), end)

    @staticmethod
    def _run(house: DemoHouse, state: _State, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        for slot in _slots(start, end):
            q = house.quarter(slot)
            yield house.reading(state, slot, q)
            house.advance(state, slot, q)
