"""A simulated Fluvius T211-D / S211 meter: one realistic telegram per meter-second.

Everything derives from a per-second model of the household (base load per phase, appliance events, solar
production, gas heating), so the registers rise exactly with the powers the telegrams show, 1-0:1.4.0 is
the running quarter-hour average of the import, 1-0:1.6.0 the month's highest completed quarter and
0-0:98.1.0 the previous months' peaks. Times are the meter's local Belgian clock with S/W.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import BinaryIO
from zoneinfo import ZoneInfo

from p1edge.crc import HEADER_SINGLE_PHASE, HEADER_THREE_PHASE, crc16_arc

BRUSSELS = ZoneInfo("Europe/Brussels")
DEFAULT_SERIAL = "1SAG3100716957"
GAS_DEVICE_ID = "7FL00000004242"
PLACEHOLDER = "632525252525W"


@dataclass(frozen=True)
class SimulatorOptions:
    start: datetime
    duration: timedelta = timedelta(hours=6)
    seed: int = 1
    serial: str = DEFAULT_SERIAL
    single_phase: bool = False
    gas: bool = False


def meter_clock(at: datetime) -> str:
    """Aware datetime -> the meter's `YYMMDDhhmmssX` in Belgian local time (X = S summer, W winter)."""
    local = at.astimezone(BRUSSELS)
    return local.strftime("%y%m%d%H%M%S") + ("S" if local.dst() else "W")


def _kwh(wh: float) -> str:
    whole = int(wh)
    return f"{whole // 1000:06d}.{whole % 1000:03d}"


def _night(local: datetime) -> bool:
    return local.weekday() >= 5 or local.hour >= 22 or local.hour < 7


def _local_month_start(local: datetime) -> datetime:
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@dataclass
class _Event:
    phase: int
    kw: float
    until: float


@dataclass
class MeterModel:
    """The household and meter state, advanced one second at a time."""

    options: SimulatorOptions
    rng: random.Random = field(init=False)
    phases: int = field(init=False)
    now: datetime = field(init=False)
    import_wh: list[float] = field(init=False)
    export_wh: list[float] = field(init=False)
    gas_m3: float = field(init=False)
    gas_stamp: str = field(init=False)
    gas_value: float = field(init=False)

    def __post_init__(self) -> None:
        opts = self.options
        self.rng = random.Random(opts.seed)
        rng = self.rng
        self.phases = 1 if opts.single_phase else 3
        self.now = opts.start.astimezone(UTC).replace(microsecond=0)
        self.import_wh = [rng.uniform(2e6, 8e6), rng.uniform(1e6, 6e6)]
        self.export_wh = [rng.uniform(2e5, 2e6), rng.uniform(1e4, 2e5)]
        self.solar_kwp = rng.choice([0.0, 3.0, 4.5, 6.0]) if rng.random() < 0.9 else 0.0
        self.solar_kwp = self.solar_kwp or 4.0
        self.share = [0.45, 0.30, 0.25] if self.phases == 3 else [1.0]
        self.voltage = [rng.uniform(228, 234) for _ in range(self.phases)]
        self.clouds = 0.8
        self.events: list[_Event] = []
        self.gas_m3 = rng.uniform(500, 5000)
        self.gas_stamp, self.gas_value = PLACEHOLDER, 0.0
        # quarter-hour demand and the month peak (the meter's own capacity-tariff bookkeeping)
        self.quarter_start = self._quarter_of(self.now)
        self.quarter_wh = 0.0
        local = self.now.astimezone(BRUSSELS)
        self.month_start = _local_month_start(local)
        elapsed = (local - self.month_start).total_seconds()
        if elapsed >= 900:
            at = self.month_start + timedelta(seconds=rng.uniform(0, elapsed - 900))
            self.peak: tuple[datetime, float] | None = (self._quarter_of(at) + timedelta(minutes=15), rng.uniform(2, 5))
        else:
            self.peak = None
        self.history: list[tuple[datetime, datetime, float]] = []
        month = self.month_start
        for _ in range(13):
            previous = _local_month_start((month - timedelta(days=1)).replace(tzinfo=None)).replace(tzinfo=BRUSSELS)
            peak_at = previous + timedelta(days=rng.randint(0, 27), hours=rng.randint(17, 20), minutes=15)
            self.history.append((month, peak_at, rng.uniform(2.0, 7.5)))
            month = previous
        rng.shuffle(self.history)  # order is not guaranteed on real meters
        self._history_text: str | None = None
        self._peak_text: tuple[object, str] | None = None
        self.serial_hex = opts.serial.encode("ascii").hex().upper()
        self._update_gas()

    @staticmethod
    def _quarter_of(at: datetime) -> datetime:
        return at - timedelta(minutes=at.minute % 15, seconds=at.second, microseconds=at.microsecond)

    # --- the household --------------------------------------------------------------------------------
    def _base_load(self, local: datetime) -> float:
        h = local.hour + local.minute / 60
        if h < 6:
            kw = 0.18
        elif h < 9:
            kw = 0.25 + 0.9 * math.sin(math.pi * (h - 6) / 3)
        elif h < 17:
            kw = 0.35
        elif h < 22:
            kw = 0.5 + 1.1 * math.sin(math.pi * (h - 17) / 5)
        else:
            kw = 0.3
        return kw * (1.3 if local.weekday() >= 5 and 9 <= h < 17 else 1.0)

    def _solar(self, at: datetime) -> float:
        day = at.timetuple().tm_yday
        daylight = 12 + 4.3 * math.sin(2 * math.pi * (day - 80) / 365)
        hour = at.hour + at.minute / 60 + at.second / 3600  # UTC; solar noon in Belgium is about 11:40 UTC
        x = (hour - (11.67 - daylight / 2)) / daylight
        if not 0 < x < 1:
            return 0.0
        season = 0.55 + 0.45 * math.sin(2 * math.pi * (day - 80) / 365)
        return self.solar_kwp * season * math.sin(math.pi * x) ** 1.5 * self.clouds

    def _step_events(self, t: float, local: datetime) -> None:
        rng = self.rng
        self.events = [e for e in self.events if e.until > t]
        busy = 7 <= local.hour < 23
        if rng.random() < (1 / 1200 if busy else 1 / 7200):
            kind = rng.random()
            if kind < 0.5:
                kw, seconds = 2.0, rng.randint(90, 240)  # kettle
            elif kind < 0.85:
                kw, seconds = 2.2, rng.randint(900, 3600)  # oven / washing machine heater
            else:
                kw, seconds = 3.6, rng.randint(1800, 5400)  # dryer, heat pump boost
            self.events.append(_Event(rng.randrange(self.phases), kw, t + seconds))
        self.clouds = min(1.0, max(0.2, self.clouds + rng.gauss(0, 0.01)))

    def _update_gas(self) -> None:
        local = self.now.astimezone(BRUSSELS)
        capture = local.replace(minute=local.minute - local.minute % 5, second=0)
        stamp = meter_clock(capture)
        if stamp != self.gas_stamp:
            self.gas_stamp, self.gas_value = stamp, self.gas_m3

    # --- one second -------------------------------------------------------------------------------------
    def step(self) -> None:
        """Advance the model by one second, integrating the powers of the current second into the registers."""
        self.now += timedelta(seconds=1)
        now = self.now
        local = now.astimezone(BRUSSELS)
        t = now.timestamp()
        self._step_events(t, local)
        rng = self.rng
        base = self._base_load(local)
        load = [base * s * rng.uniform(0.9, 1.1) for s in self.share]
        for event in self.events:
            load[event.phase] += event.kw
        pv_total = self._solar(now)
        pv = [pv_total / self.phases] * self.phases
        self.phase_import = [max(ld - p, 0.0) for ld, p in zip(load, pv, strict=True)]
        self.phase_export = [max(p - ld, 0.0) for ld, p in zip(load, pv, strict=True)]
        # the meter balances across phases: totals are not the sum of the per-phase values
        net = sum(load) - pv_total
        self.total_import, self.total_export = max(net, 0.0), max(-net, 0.0)
        self.voltage = [min(253.0, max(207.0, v + rng.gauss(0, 0.05))) for v in self.voltage]
        tariff = 1 if _night(local) else 0
        self.tariff = tariff + 1
        self.import_wh[tariff] += self.total_import * 1000 / 3600
        self.export_wh[tariff] += self.total_export * 1000 / 3600

        quarter = self._quarter_of(now)
        if quarter != self.quarter_start:
            average = self.quarter_wh * 4 / 1000
            if self.peak is None or average > self.peak[1]:
                self.peak = (quarter, average)
            self.quarter_start, self.quarter_wh = quarter, 0.0
            month = _local_month_start(local)
            if month != self.month_start:
                if self.peak is not None:
                    if len(self.history) >= 13:
                        self.history.remove(min(self.history))
                    self.history.append((month, self.peak[0], self.peak[1]))
                self.month_start, self.peak = month, None
                self._history_text = None
        self.quarter_wh += self.total_import * 1000 / 3600
        if self.options.gas:
            heating = 0.05 + 0.5 * max(0.0, math.cos(2 * math.pi * (now.timetuple().tm_yday - 15) / 365))
            if 6 <= local.hour < 22:
                heating *= 1.8
            self.gas_m3 += heating / 3600 * rng.uniform(0.5, 1.5)
            if local.second == 0 and local.minute % 5 == 0:
                self._update_gas()

    # --- the telegram -----------------------------------------------------------------------------------
    def _history(self) -> str:
        if self._history_text is None:
            entries = "".join(
                f"({meter_clock(period)})({meter_clock(at)})({kw:06.3f}*kW)" for period, at, kw in self.history
            )
            self._history_text = f"0-0:98.1.0({len(self.history)})(1-0:1.6.0)(1-0:1.6.0){entries or '()'}"
        return self._history_text

    def _peak(self) -> str:
        if self._peak_text is None or self._peak_text[0] != self.peak:
            if self.peak is None:
                text = f"1-0:1.6.0({PLACEHOLDER})(00.000*kW)"
            else:
                text = f"1-0:1.6.0({meter_clock(self.peak[0])})({self.peak[1]:06.3f}*kW)"
            self._peak_text = (self.peak, text)
        return self._peak_text[1]

    def telegram(self) -> str:
        now = self.now
        elapsed = (now - self.quarter_start).total_seconds() or 1.0
        avg = self.quarter_wh * 3600 / elapsed / 1000
        lines = [
            "0-0:96.1.4(50217)",
            f"0-0:96.1.1({self.serial_hex})",
            f"0-0:1.0.0({meter_clock(now)})",
            f"1-0:1.8.1({_kwh(self.import_wh[0])}*kWh)",
            f"1-0:1.8.2({_kwh(self.import_wh[1])}*kWh)",
            f"1-0:2.8.1({_kwh(self.export_wh[0])}*kWh)",
            f"1-0:2.8.2({_kwh(self.export_wh[1])}*kWh)",
            f"0-0:96.14.0({self.tariff:04d})",
            f"1-0:1.4.0({avg:06.3f}*kW)",
        ]
        lines += [self._peak(), self._history()]
        lines += [f"1-0:1.7.0({self.total_import:06.3f}*kW)", f"1-0:2.7.0({self.total_export:06.3f}*kW)"]
        codes = (21, 41, 61)[: self.phases]
        lines += [f"1-0:{c}.7.0({p:06.3f}*kW)" for c, p in zip(codes, self.phase_import, strict=True)]
        lines += [f"1-0:{c + 1}.7.0({p:06.3f}*kW)" for c, p in zip(codes, self.phase_export, strict=True)]
        lines += [f"1-0:{c}.7.0({v:05.1f}*V)" for c, v in zip((32, 52, 72), self.voltage, strict=False)]
        currents = [
            (i + e) * 1000 / v for i, e, v in zip(self.phase_import, self.phase_export, self.voltage, strict=True)
        ]
        lines += [f"1-0:{c}.7.0({a:06.2f}*A)" for c, a in zip((31, 51, 71), currents, strict=False)]
        lines += ["0-0:96.3.10(1)", "0-0:17.0.0(999.9*kW)", "1-0:31.4.0(999*A)", "0-0:96.13.0()"]
        if self.options.gas:
            lines += [
                "0-1:24.1.0(003)",
                f"0-1:96.1.1({GAS_DEVICE_ID.encode().hex().upper()})",
                "0-1:24.4.0(1)",
                f"0-1:24.2.3({self.gas_stamp})({self.gas_value:09.3f}*m3)",
            ]
        header = HEADER_SINGLE_PHASE if self.phases == 1 else HEADER_THREE_PHASE
        body = header + "\r\n\r\n" + "\r\n".join(lines) + "\r\n!"
        return f"{body}{crc16_arc(body.encode('ascii')):04X}\r\n"


def telegrams(options: SimulatorOptions) -> Iterator[tuple[datetime, str]]:
    """(meter time, telegram) for every second from options.start (inclusive) for options.duration."""
    model = MeterModel(options)
    model.now -= timedelta(seconds=1)
    for _ in range(int(options.duration.total_seconds())):
        model.step()
        yield model.now, model.telegram()


def run(
    options: SimulatorOptions, output: BinaryIO, *, speed: float = 900.0, sleep: Callable[[float], object] = time.sleep
) -> int:
    """Write the telegrams to `output` at `speed` x real time (0 = as fast as possible); returns the count."""
    started = time.monotonic()
    count = 0
    for count, (_at, text) in enumerate(telegrams(options), start=1):
        if speed > 0:
            ahead = (count - 1) / speed - (time.monotonic() - started)
            if ahead > 0:
                sleep(ahead)
        output.write(text.encode("ascii"))
        if speed > 0:
            output.flush()
    output.flush()
    return count


def open_output(path: str) -> BinaryIO:
    """A file, FIFO or terminal path (raw mode for a pty, so CRLF is not rewritten), or `-` for stdout."""
    if path == "-":
        return os.fdopen(os.dup(1), "wb")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOCTTY, 0o644)
    if os.isatty(fd):
        import tty

        tty.setraw(fd)
    elif os.path.isfile(path):
        os.ftruncate(fd, 0)
    return os.fdopen(fd, "wb")
