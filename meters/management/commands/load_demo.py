"""``manage.py load_demo``: the demo account, its meter and realistic quarter-hour readings (idempotent).

The household is simulated per quarter-hour slot from random generators seeded by the serial and the slot (or
the local day, or the month), so a slot always gets the same consumption whenever the command runs: re-running
adds only the missing slots (running it a day later fills up to now) and registers stay continuous. Readings go
through ``meters.ingest.ingest_readings`` like any upload.

Model: a three-phase home with a 4 kWp south-facing PV array (35° tilt, three-phase inverter) and gas heating.

* Load: a standby base (more in winter: the boiler's pump), a morning peak (kettle, coffee, shower around 07:00 on
  weekdays, later and longer at weekends), nobody home on weekday daytimes, an evening peak (cooking around
  18:30), lighting after dark, and appliance runs (dishwasher after dinner, washing machine, dryer, oven).
* Solar: the sun's position at 50.85° N, 4.35° E for every quarter (so day length, strength and the DST shift
  come out right: ~16 h and ~3.4 kW at a clear June noon, ~8 h and ~1.5 kW in December) times the day's
  cloudiness, which is sunnier in summer. Export is what the house does not use itself: near nothing in December.
* Every January a cold snap of about a week (seeded per year): it is ~9 °C colder, the boiler burns more gas and
  two electric heaters run mornings and evenings, so January's capacity peak clearly stands out.
* Upload gaps: each month the Pi is off once for 2-8 hours (unplugged, power cut) plus a few short blips; the
  meter keeps counting, so registers continue across the gap, but those slots are never sent, and the dashboards
  show estimated bars around them.

Night tariff 2 from 22:00 to 07:00 local time and all weekend. ``avg_demand_kw`` (1-0:1.4.0) is the average import
of the quarter that just ended and ``month_peak_kw`` (1-0:1.6.0) the highest quarter-hour average import of the
running local month so far (including quarters lost in an upload gap: the meter saw them), both exactly derivable
from the import registers; ``month_peak_at`` is the start of that quarter (UTC).
"""

from __future__ import annotations

import calendar
import functools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from p1edge import wire
from tqdm import tqdm

from meters.ingest import ingest_readings, slot_start
from meters.models import Contract, EnergyKind, Meter, Reading, Region, SpotPrice

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password-123"  # noqa: S105 - published on purpose (local demo account; see --allow-public-password)
DEMO_SERIAL = "1SAG3100000001"
DEMO_METER_NAME = "Home"
BATCH = 1000
SLOT = timedelta(seconds=wire.SLOT_SECONDS)
GAS_KWH_PER_M3 = 10.55

LATITUDE, LONGITUDE = 50.85, 4.35  # Brussels
PV_KWP = 4.0
PV_TILT = 35.0  # degrees, facing south
PV_PERFORMANCE = 0.85  # inverter, wiring and heat losses
INVERTER_KW = 3.7
SOLAR_CONSTANT_KW_M2 = 1.353

COLD_SNAP_DAYS = 8
HEATERS_KW = (1.5, 2.0)  # an oil radiator in the home office (L1), a fan heater in the bathroom (L3)


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


_SIN_LAT, _COS_LAT = math.sin(math.radians(LATITUDE)), math.cos(math.radians(LATITUDE))
# A south-facing tilted panel sees the sun as a horizontal one would at latitude minus tilt.
_SIN_FACING, _COS_FACING = math.sin(math.radians(LATITUDE - PV_TILT)), math.cos(math.radians(LATITUDE - PV_TILT))
_DIFFUSE_ON_PANELS = 0.1 * (1 + math.cos(math.radians(PV_TILT))) / 2


@functools.lru_cache(maxsize=1024)
def _solar_day(day: date) -> tuple[float, float, float]:
    """(sin, cos of the sun's declination, equation of time in hours) on ``day`` (at noon UTC).

    NOAA's low-precision formulas from the fractional year: minutes of error at most, plenty for a demo. Once a
    day is enough (the declination moves less than half a degree a day) and keeps the demo fast.
    """
    g = 2 * math.pi / 365 * (day.timetuple().tm_yday - 1)
    c1, s1, c2, s2, c3, s3 = (f(k * g) for k in (1, 2, 3) for f in (math.cos, math.sin))
    declination = (
        0.006918 - 0.399912 * c1 + 0.070257 * s1 - 0.006758 * c2 + 0.000907 * s2 - 0.002697 * c3 + 0.00148 * s3
    )
    equation_of_time_min = 229.18 * (0.000075 + 0.001868 * c1 - 0.032077 * s1 - 0.014615 * c2 - 0.040849 * s2)
    return math.sin(declination), math.cos(declination), equation_of_time_min / 60


def _sun(moment: datetime) -> tuple[float, float]:
    """(sine of the sun's elevation, cosine of its angle of incidence on the panels) at ``moment`` (UTC)."""
    sin_d, cos_d, equation_of_time = _solar_day(moment.date())
    hour = moment.hour + moment.minute / 60
    cos_hour_angle = math.cos(math.radians(15 * (hour + LONGITUDE / 15 + equation_of_time - 12)))
    sin_elevation = _SIN_LAT * sin_d + _COS_LAT * cos_d * cos_hour_angle
    cos_incidence = _SIN_FACING * sin_d + _COS_FACING * cos_d * cos_hour_angle
    return sin_elevation, cos_incidence


def clear_sky_pv_kw(moment: datetime, sun: tuple[float, float] | None = None) -> float:
    """AC output of the array under a clear sky at ``moment`` (UTC): direct sun through the air mass plus sky light.

    ``sun``: ``_sun(moment)`` when the caller already has it.
    """
    sin_elevation, cos_incidence = sun or _sun(moment)
    if sin_elevation <= 0:
        return 0.0
    elevation = math.degrees(math.asin(sin_elevation))
    air_mass = 1 / (sin_elevation + 0.50572 * (elevation + 6.07995) ** -1.6364)  # Kasten & Young
    direct = SOLAR_CONSTANT_KW_M2 * 0.7 ** (air_mass**0.678)  # kW/m² normal to the sun (Meinel)
    on_panels = direct * (max(cos_incidence, 0.0) + _DIFFUSE_ON_PANELS)
    return min(PV_KWP * PV_PERFORMANCE * on_panels, INVERTER_KW)


def _bump(hour: float, centre: float, width: float) -> float:
    return math.exp(-0.5 * ((hour - centre) / width) ** 2)


class DemoHouse:
    def __init__(self, serial: str) -> None:
        self.serial = serial
        self.zone = ZoneInfo(settings.TIME_ZONE)
        self._days: dict[date, dict[str, Any]] = {}
        self._gaps: dict[tuple[int, int], frozenset[datetime]] = {}
        self._snaps: dict[int, date] = {}

    def cold_snap_start(self, year: int) -> date:
        """First day of the year's January cold snap (seeded per year, so every run agrees)."""
        first = self._snaps.get(year)
        if first is None:
            first = self._snaps[year] = date(year, 1, random.Random(f"{self.serial}|snap|{year}").randint(6, 20))
        return first

    def is_gap(self, slot: datetime) -> bool:
        """Whether the Pi was off in this slot, so no reading of it is ever uploaded."""
        key = (slot.year, slot.month)
        gaps = self._gaps.get(key)
        if gaps is None:
            gaps = self._gaps[key] = self._month_gaps(*key)
        return slot in gaps

    def _month_gaps(self, year: int, month: int) -> frozenset[datetime]:
        rng = random.Random(f"{self.serial}|gaps|{year}-{month:02d}")
        first = datetime(year, month, 1, tzinfo=UTC)
        quarters = calendar.monthrange(year, month)[1] * 96
        # One outage of 2-8 hours, then 0-2 blips of 1-3 quarters; each ends inside the (UTC) month it belongs to,
        # so looking a slot up by its month finds it.
        lengths = [rng.randint(8, 32)] + [rng.randint(1, 3) for _ in range(rng.choice((0, 1, 1, 2)))]
        slots: set[datetime] = set()
        for length in lengths:
            begin = rng.randrange(quarters - length)
            slots.update(first + SLOT * (begin + k) for k in range(length))
        return frozenset(slots)

    def _day(self, day: date) -> dict[str, Any]:
        params = self._days.get(day)
        if params is None:
            rng = random.Random(f"{self.serial}|day|{day.isoformat()}")
            season = math.cos(2 * math.pi * (day.timetuple().tm_yday - 15) / 365.25)  # +1 mid-January
            weekend = day.weekday() >= 5
            sky = rng.random()
            # Belgian skies: mostly overcast in winter, a sunny day in three in summer.
            p_sunny, p_partly = 0.2 - 0.13 * season, 0.3 - 0.08 * season
            if sky < p_sunny:
                clearness, variable = rng.uniform(0.85, 1.0), False
            elif sky < p_sunny + p_partly:
                clearness, variable = rng.uniform(0.4, 0.7), True
            else:
                clearness, variable = rng.uniform(0.05, 0.2), False
            # Appliance runs: (start hour, end hour, kW, phase index).
            events = []
            if rng.random() < 0.6:
                start = rng.uniform(20.0, 21.5)
                events.append((start, start + 0.75, 1.9, 1))  # dishwasher, heating its water
            if rng.random() < (0.6 if weekend else 0.25):
                start = rng.uniform(9.0, 11.0) if weekend else rng.uniform(19.0, 20.5)
                events.append((start, start + 0.5, 2.0, 0))  # washing machine, heating its water
                events.append((start + 0.5, start + 1.5, 0.3, 0))
            if weekend and rng.random() < 0.3:
                start = rng.uniform(12.0, 15.0)
                events.append((start, start + 1.25, 2.2, 2))  # tumble dryer
            if rng.random() < 0.3:
                start = rng.uniform(17.5, 18.5)
                events.append((start, start + 0.75, 2.2, 2))  # oven
            snap = self.cold_snap_start(day.year)
            cold = snap <= day < snap + timedelta(days=COLD_SNAP_DAYS)
            params = self._days[day] = {
                "season": season,
                "weekend": weekend,
                "clearness": clearness,
                "variable": variable,
                "events": events,
                "cold": cold,
                "rise": rng.gauss(0, 0.25),  # when the household gets up, hours
                "dinner": rng.gauss(0, 0.3),
                "temp": 10.5 - 7.5 * season + rng.gauss(0, 2.5) - (9.0 if cold else 0.0),
                "volt": tuple(rng.gauss(0, 1.5) for _ in range(3)),
            }
        return params

    def quarter(self, slot: datetime) -> _Quarter:
        local = slot.astimezone(self.zone)
        day = self._day(local.date())
        rng = random.Random(f"{self.serial}|{slot:%Y%m%d%H%M}")
        season, weekend = day["season"], day["weekend"]
        hour = local.hour + local.minute / 60 + 0.125  # the middle of the quarter

        if weekend:
            presence = 0.05 if hour < 8 else 0.35 if hour < 23 else 0.1
            morning = 0.8 * _bump(hour, 9.0 + day["rise"], 0.8)
            evening = 1.5 * _bump(hour, 18.75 + day["dinner"], 0.6)
        else:
            presence = 0.05 if hour < 6.3 else 0.25 if hour < 8.5 else 0.05 if hour < 17 else 0.45 if hour < 23 else 0.1
            morning = 1.1 * _bump(hour, 7.0 + day["rise"], 0.45)
            evening = 1.5 * _bump(hour, 18.5 + day["dinner"], 0.6)
        moment = slot + SLOT / 2
        sun = _sun(moment)
        lighting = 0.05 + 0.2 * (1 + season) / 2 if sun[0] < 0.05 and 6.5 <= hour < 23.5 else 0.0
        base = 0.15 + 0.03 * season
        shares = [0.45 + rng.uniform(-0.05, 0.05), 0.30 + rng.uniform(-0.05, 0.05)]
        shares.append(1 - sum(shares))
        household = (base + presence + morning + evening + lighting) * rng.uniform(0.85, 1.2)
        loads = [household * s for s in shares]
        for start, end, power, phase in day["events"]:
            if start <= hour < end:
                loads[phase] += power
        if day["cold"] and (6.5 <= hour < 8.5 or 17.0 <= hour < 22.5):
            for phase, power in zip((0, 2), HEATERS_KW, strict=True):
                if rng.random() < 0.85:  # the thermostats cycle
                    loads[phase] += power
        tariff = 2 if weekend or hour >= 22 or hour < 7 else 1

        cloud = day["clearness"] * (min(1.0, rng.uniform(0.5, 1.25)) if day["variable"] else 1.0)
        pv = clear_sky_pv_kw(moment, sun) * cloud
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
            phase_import_kw=phase_import,
            phase_export_kw=phase_export,
            voltage=voltage,
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
            # 0.0 first: max() keeps its first argument on a tie, and a meter never writes "-0.000".
            "power_import_kw": round(max(0.0, net), 3),
            "power_export_kw": round(max(0.0, -net), 3),
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

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=400, help="days of readings ending now (default 400)")
        parser.add_argument(
            "--allow-public-password",
            action="store_true",
            help="create the demo account although DEBUG is off (its password is published)",
        )

    def handle(self, *args: Any, days: int, allow_public_password: bool, verbosity: int = 1, **options: Any) -> None:
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
        _demo_contract(meter, start)
        prices = _demo_prices(start, end) if settings.DEBUG else 0
        if verbosity:
            if prices:
                self.stdout.write(f"{prices} made-up day-ahead prices added (DEBUG only; real ones: import_prices).")
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo meter {DEMO_SERIAL}: {created} readings added ({duplicates} already there). "
                    f"Log in as {DEMO_USERNAME} / {DEMO_PASSWORD}."
                )
            )

    def _missing(self, house: DemoHouse, meter: Meter, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        readings = meter.readings.order_by("timestamp")
        first, last = readings.first(), readings.last()
        if first is None or last is None:
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
            if not house.is_gap(slot):
                yield house.reading(state, slot, q)
            house.advance(state, slot, q)  # the meter counts on while the Pi is off


def _demo_contract(meter: Meter, start: datetime) -> None:
    """A Flemish day/night contract from the first demo day, so that the bill page has lines to show."""
    if meter.contracts.exists():
        return
    Contract.objects.create(
        meter=meter,
        name="Demo: day/night",
        valid_from=timezone.localdate(start),
        region=Region.FLANDERS,
        area="Imewo",
        energy_kind=EnergyKind.DAY_NIGHT,
        price_day_eur_kwh=Decimal("0.1300"),
        price_night_eur_kwh=Decimal("0.1000"),
        export_eur_kwh=Decimal("0.0300"),
        fixed_eur_year=Decimal("60.00"),
        gas_eur_kwh=Decimal("0.0500"),
    )


def _demo_prices(start: datetime, end: datetime) -> int:
    """Made-up, deterministic day-ahead prices for the quarters that have none: cheap at midday and at night,
    dear in the evening, now and then below zero on a sunny afternoon. Never over a real (imported) price."""
    rows = []
    for slot in _slots(start, end):
        local = timezone.localtime(slot)
        hour = local.hour + local.minute / 60
        price = 85 + 70 * _bump(hour, 19, 2.0) + 30 * _bump(hour, 8, 1.5) - 95 * _bump(hour, 13.5, 2.5)
        price += 12 * math.sin(slot.timestamp() / 86400 / 3.7)
        rows.append(SpotPrice(slot=slot, price_eur_mwh=Decimal(f"{price:.2f}")))
    before = SpotPrice.objects.count()
    SpotPrice.objects.bulk_create(rows, batch_size=5000, ignore_conflicts=True)
    return SpotPrice.objects.count() - before
