import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import islice, pairwise

from dsmr_parser import telegram_specifications
from dsmr_parser.parsers import TelegramParser
from p1edge.framing import split_telegrams
from p1edge.simulator import SimulatorOptions, telegrams
from p1edge.telegram import parse_telegram


def _parsed(start: datetime, seconds: int, every: int = 1, **options) -> list[dict]:
    stream = telegrams(SimulatorOptions(start=start, duration=timedelta(seconds=seconds), **options))
    return [parse_telegram(text) for text in islice((t for _at, t in stream), 0, None, every)]


def test_it_writes_one_crc_valid_telegram_per_meter_second():
    start = datetime(2025, 3, 14, 9, 0, tzinfo=UTC)
    readings = _parsed(start, 120)
    assert [r["measured_at"] for r in readings] == [start + timedelta(seconds=i) for i in range(120)]
    assert {r["serial"] for r in readings} == {"1SAG3100716957"}


def test_it_keeps_the_clock_letter_right_across_both_dst_changes():
    # both changes happen at 01:00 UTC: 02:00 W -> 03:00 S in spring, 03:00 S -> 02:00 W in autumn
    for start, letters in (
        (datetime(2025, 3, 30, 0, 50, tzinfo=UTC), "WS"),
        (datetime(2025, 10, 26, 0, 50, tzinfo=UTC), "SW"),
    ):
        stream = list(telegrams(SimulatorOptions(start=start, duration=timedelta(minutes=20))))
        sampled = stream[::60]
        assert [parse_telegram(text)["measured_at"] for _at, text in sampled] == [
            start + timedelta(minutes=i) for i in range(20)
        ]
        clocks = [text.split("0-0:1.0.0(")[1][:13] for _at, text in sampled]
        assert clocks[9][-1] == letters[0]
        assert clocks[10][-1] == letters[1]


def test_it_raises_registers_by_the_energy_of_the_powers_it_shows():
    start = datetime(2025, 6, 11, 5, 45, tzinfo=UTC)  # a Wednesday, 07:45 local: day tariff
    readings = _parsed(start, 901)
    first, last = readings[0], readings[-1]
    imported = (last["import_t1_kwh"] + last["import_t2_kwh"]) - (first["import_t1_kwh"] + first["import_t2_kwh"])
    expected = sum(r["power_import_kw"] for r in readings[1:]) / 3600
    assert abs(imported - expected) <= Decimal("0.003")  # registers show whole Wh, powers are rounded to W
    for field in ("import_t1_kwh", "import_t2_kwh", "export_t1_kwh", "export_t2_kwh"):
        assert all(a[field] <= b[field] for a, b in pairwise(readings)), field
    # 1-0:1.4.0 at the end of the quarter is that quarter's average import
    quarter = [r for r in readings if r["measured_at"] < start + timedelta(minutes=15)]
    q_energy = (quarter[-1]["import_t1_kwh"] + quarter[-1]["import_t2_kwh"]) - (
        quarter[0]["import_t1_kwh"] + quarter[0]["import_t2_kwh"]
    )
    assert abs(quarter[-1]["avg_demand_kw"] - q_energy * 4) < Decimal("0.05")


def test_it_uses_the_night_tariff_at_night_and_on_weekends():
    wednesday_day = _parsed(datetime(2025, 6, 11, 8, 0, tzinfo=UTC), 1)[0]
    wednesday_night = _parsed(datetime(2025, 6, 11, 21, 0, tzinfo=UTC), 1)[0]  # 23:00 local
    saturday_day = _parsed(datetime(2025, 6, 14, 8, 0, tzinfo=UTC), 1)[0]
    assert (wednesday_day["tariff"], wednesday_night["tariff"], saturday_day["tariff"]) == (1, 2, 2)


def test_it_exports_solar_power_at_midday_and_none_at_night():
    noon = _parsed(datetime(2025, 6, 11, 11, 30, tzinfo=UTC), 60, seed=3)
    night = _parsed(datetime(2025, 6, 11, 1, 0, tzinfo=UTC), 60, seed=3)
    assert max(r["power_export_kw"] for r in noon) > 0
    assert all(r["power_export_kw"] == 0 for r in night)


def test_it_updates_gas_every_five_minutes():
    start = datetime(2025, 1, 15, 7, 58, tzinfo=UTC)
    readings = _parsed(start, 600, every=30, gas=True)
    stamps = sorted({r["gas_at"] for r in readings})
    assert stamps == [datetime(2025, 1, 15, 7, 55, tzinfo=UTC) + timedelta(minutes=5 * i) for i in range(3)]
    assert readings[-1]["gas_m3"] > readings[0]["gas_m3"]


def _history(text: str) -> dict:
    telegram = TelegramParser(telegram_specifications.BELGIUM_FLUVIUS).parse(text)
    return {peak.datetime: peak.value for peak in telegram.BELGIUM_MAXIMUM_DEMAND_13_MONTHS}


def test_it_records_the_month_peak_and_starts_a_new_month_empty():
    options = SimulatorOptions(start=datetime(2025, 1, 31, 22, 40, tzinfo=UTC), duration=timedelta(seconds=1800))
    stream = [text for _at, text in telegrams(options)]
    before = parse_telegram(stream[0])  # 23:40 local on 31 January
    after = parse_telegram(stream[-1])
    february = datetime(2025, 1, 31, 23, 0, tzinfo=UTC)  # period stamp: 00:00 local on 1 February
    assert february not in _history(stream[0])
    history = _history(stream[-1])
    assert len(history) == 13
    assert history[february] >= before["month_peak_kw"]  # January's peak moved into 98.1.0
    assert before["month_peak_kw"] is not None
    assert after["measured_at"] == datetime(2025, 1, 31, 23, 9, 59, tzinfo=UTC)  # 00:09:59 on 1 February
    assert after["month_peak_kw"] is None  # no completed quarter in February yet: placeholder
    assert after["month_peak_at"] is None


def test_it_sends_only_l1_for_a_single_phase_meter():
    reading = _parsed(datetime(2025, 3, 14, 9, 0, tzinfo=UTC), 1, single_phase=True)[0]
    assert reading["l1_voltage_v"] is not None
    assert reading["l2_voltage_v"] is None
    assert reading["l3_current_a"] is None


def test_it_writes_telegrams_to_stdout():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "p1edge.cli",
            "simulate",
            "--output",
            "-",
            "--duration",
            "30s",
            "--speed",
            "0",
            "--start",
            "2025-03-14T10:00:00+01:00",
            "--serial",
            "1SAG1100000292",
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    frames = split_telegrams(result.stdout.decode("latin-1"))
    assert len(frames) == 30
    assert frames[0].startswith("/FLU5\\253769484_A\r\n")
    assert parse_telegram(frames[-1])["serial"] == "1SAG1100000292"
