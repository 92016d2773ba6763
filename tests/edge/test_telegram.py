"""parse_telegram on telegrams built by hand, one per pitfall of docs/p1.md."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from p1edge.crc import HEADER_SINGLE_PHASE, build_telegram, crc16_arc
from p1edge.telegram import READING_FIELDS, TelegramError, parse_telegram, parse_telegram_report

from tests.edge.telegrams import GAS_AND_WATER, SERIAL, base_lines, replace, without


def test_it_maps_a_three_phase_telegram_to_the_reading_fields():
    reading = parse_telegram(build_telegram(base_lines()))

    assert set(reading) == {"serial", "measured_at", *READING_FIELDS}
    assert reading["serial"] == SERIAL
    assert reading["measured_at"] == datetime(2025, 3, 14, 9, 15, 3, tzinfo=UTC)
    assert reading["import_t1_kwh"] == Decimal("4512.345")
    assert reading["import_t2_kwh"] == Decimal("3987.654")
    assert reading["export_t1_kwh"] == Decimal("1234.500")
    assert reading["export_t2_kwh"] == Decimal("321.250")
    assert reading["tariff"] == 1
    assert reading["power_import_kw"] == Decimal("1.870")
    assert reading["l2_import_kw"] == Decimal("0.750")
    assert reading["l3_voltage_v"] == Decimal("229.8")
    assert reading["l1_current_a"] == Decimal("2.71")
    assert reading["breaker_state"] == 1
    assert reading["avg_demand_kw"] == Decimal("1.234")
    assert reading["month_peak_kw"] == Decimal("5.678")
    assert reading["month_peak_at"] == datetime(2025, 3, 3, 17, 45, tzinfo=UTC)
    assert reading["gas_m3"] is None
    assert reading["water_m3"] is None


def test_it_reads_tariff_0002_as_night():
    reading = parse_telegram(build_telegram(replace(base_lines(), "0-0:96.14.0", "0-0:96.14.0(0002)")))
    assert reading["tariff"] == 2


def test_it_keeps_only_l1_for_a_single_phase_meter():
    lines = without(
        base_lines(),
        *(
            "1-0:41.7.0",
            "1-0:61.7.0",
            "1-0:42.7.0",
            "1-0:62.7.0",
            "1-0:52.7.0",
            "1-0:72.7.0",
            "1-0:51.7.0",
            "1-0:71.7.0",
        ),
    )
    reading = parse_telegram(build_telegram(lines, header=HEADER_SINGLE_PHASE))

    assert reading["l1_import_kw"] == Decimal("0.620")
    assert reading["l1_voltage_v"] == Decimal("231.2")
    for phase in ("l2", "l3"):
        for kind in ("import_kw", "export_kw", "voltage_v", "current_a"):
            assert reading[f"{phase}_{kind}"] is None, f"{phase}_{kind} must not be invented"


def test_it_accepts_a_3x230v_grid_with_zero_l2_voltage_and_power():
    lines = replace(base_lines(), "1-0:52.7.0", "1-0:52.7.0(000.0*V)")
    lines = replace(lines, "1-0:41.7.0", "1-0:41.7.0(00.000*kW)")
    lines = replace(lines, "1-0:51.7.0", "1-0:51.7.0(004.10*A)")
    reading = parse_telegram(build_telegram(lines))

    assert reading["l2_voltage_v"] == Decimal("0.0")
    assert reading["l2_import_kw"] == Decimal("0.000")
    assert reading["l2_current_a"] == Decimal("4.10")
    # total (1.870) is not the sum of the phases (1.120): accepted as sent
    assert reading["power_import_kw"] == Decimal("1.870")


def test_it_reads_old_firmware_integer_amps_without_phase_power_or_capacity_lines():
    lines = replace(base_lines(), "0-0:96.1.4", "0-0:96.1.4(50213)")
    lines = without(
        lines,
        *("1-0:21.7.0", "1-0:41.7.0", "1-0:61.7.0", "1-0:22.7.0", "1-0:42.7.0", "1-0:62.7.0"),
        *("1-0:1.4.0", "1-0:1.6.0", "0-0:98.1.0"),
    )
    lines = replace(lines, "1-0:31.7.0", "1-0:31.7.0(002*A)")
    reading = parse_telegram(build_telegram(lines))

    assert reading["l1_current_a"] == Decimal("2")
    assert reading["l1_import_kw"] is None
    assert reading["avg_demand_kw"] is None
    assert reading["month_peak_kw"] is None
    assert reading["month_peak_at"] is None
    assert reading["import_t1_kwh"] == Decimal("4512.345")


def test_it_finds_gas_on_channel_2_and_water_on_channel_1_by_device_type():
    lines = [*base_lines(), *GAS_AND_WATER]
    reading = parse_telegram(build_telegram(lines))

    assert reading["gas_m3"] == Decimal("1234.567")
    assert reading["gas_at"] == datetime(2025, 3, 14, 9, 10, tzinfo=UTC)
    assert reading["water_m3"] == Decimal("42.118")
    assert reading["water_at"] == datetime(2025, 3, 14, 9, 0, tzinfo=UTC)


def test_it_treats_a_unit_less_placeholder_gas_value_as_no_value():
    lines = [*base_lines(), "0-1:24.1.0(003)", "0-1:24.2.3(632525252525W)(00000.000)"]
    reading = parse_telegram(build_telegram(lines))
    assert reading["gas_m3"] is None
    assert reading["gas_at"] is None


def test_it_takes_the_reporting_gas_meter_when_two_type_003_devices_exist():
    lines = [
        *base_lines(),
        "0-1:24.1.0(003)",
        "0-1:24.2.3(632525252525S)(00000.000)",
        "0-3:24.1.0(003)",
        "0-3:24.2.3(250314101000W)(00777.001*m3)",
    ]
    reading = parse_telegram(build_telegram(lines))
    assert reading["gas_m3"] == Decimal("777.001")


@pytest.mark.parametrize("stamp", ["632525252525W", "632525252525S", "000101000000W", "700101010000W"])
def test_it_treats_placeholder_and_factory_times_as_no_value(stamp):
    lines = replace(base_lines(), "1-0:1.6.0", f"1-0:1.6.0({stamp})(00.000*kW)")
    lines += ["0-1:24.1.0(003)", f"0-1:24.2.3({stamp})(00000.000*m3)"]
    reading = parse_telegram(build_telegram(lines))

    assert reading["month_peak_at"] is None
    assert reading["month_peak_kw"] is None
    assert reading["gas_at"] is None
    assert reading["gas_m3"] is None


def test_it_parses_98_1_0_with_zero_entries():
    lines = replace(base_lines(), "0-0:98.1.0", "0-0:98.1.0(0)(1-0:1.6.0)(1-0:1.6.0)()")
    reading = parse_telegram(build_telegram(lines))
    assert reading["import_t1_kwh"] == Decimal("4512.345")


def test_it_parses_98_1_0_with_thirteen_entries_including_unset_ones():
    entries = []
    for month in range(1, 13):
        year, nxt = (24, month + 1) if month < 12 else (25, 1)
        nxt_year = year if month < 12 else 25
        entries.append(
            f"({nxt_year:02d}{nxt:02d}01000000W)({year:02d}{month:02d}15183000W)(0{month % 10}.{month:03d}*kW)"
        )
    entries.append("(632525252525W)(632525252525W)(00.000*kW)")
    line = "0-0:98.1.0(13)(1-0:1.6.0)(1-0:1.6.0)" + "".join(entries)
    assert len(line) > 500
    reading = parse_telegram(build_telegram(replace(base_lines(), "0-0:98.1.0", line)))
    assert reading["month_peak_kw"] == Decimal("5.678")


def test_it_ignores_unknown_obis_lines():
    lines = [*base_lines(), "1-0:99.99.9(whatever)", "0-0:96.99.1(ABCDEF)", "1-0:32.32.0(00007)"]
    assert parse_telegram(build_telegram(lines))["serial"] == SERIAL


def _lines_with_short_crc() -> list[str]:
    # vary the text message until the CRC has a leading zero nibble (about 1 in 16 bodies)
    for i in range(1000):
        lines = replace(base_lines(), "0-0:96.13.0", f"0-0:96.13.0({i:04X})")
        body = "/FLU5\\253769484_A\r\n\r\n" + "".join(x + "\r\n" for x in lines) + "!"
        if crc16_arc(body.encode()) < 0x1000:
            return lines
    raise AssertionError("no short CRC found")


def test_it_accepts_a_crc_of_three_digits_when_the_value_matches():
    telegram = build_telegram(_lines_with_short_crc(), crc_digits=3)
    assert telegram[-6] == "!"  # "!XYZ\r\n"
    assert parse_telegram(telegram)["serial"] == SERIAL


def test_it_rejects_a_three_digit_crc_that_does_not_match():
    telegram = build_telegram(_lines_with_short_crc(), crc_digits=3)
    wrong = f"{(int(telegram[-5:-2], 16) + 1) % 0x1000:03X}"
    with pytest.raises(TelegramError, match="CRC"):
        parse_telegram(telegram[:-5] + wrong + "\r\n")


def test_it_rejects_a_telegram_whose_crc_does_not_match():
    # a telegram pasted into a bug report loses its "*" units: the CRC no longer matches
    telegram = build_telegram(base_lines()).replace("*kWh", "kWh")
    with pytest.raises(TelegramError, match="CRC mismatch"):
        parse_telegram(telegram)


def test_it_rejects_a_telegram_without_equipment_id():
    with pytest.raises(TelegramError, match="equipment id"):
        parse_telegram(build_telegram(without(base_lines(), "0-0:96.1.1")))


def test_it_rejects_an_equipment_id_that_is_not_hex():
    with pytest.raises(TelegramError, match="equipment id"):
        parse_telegram(build_telegram(base_lines(serial_hex="XXXXREDACTED")))


def test_it_rejects_a_telegram_without_the_day_register():
    with pytest.raises(TelegramError, match=r"1-0:1\.8\.1"):
        parse_telegram(build_telegram(without(base_lines(), "1-0:1.8.1")))


def test_it_rejects_a_meter_clock_that_is_a_factory_default():
    with pytest.raises(TelegramError, match="meter clock"):
        parse_telegram(build_telegram(base_lines(clock="000101000012W")))


def test_it_rejects_text_that_is_not_a_telegram():
    with pytest.raises(TelegramError):
        parse_telegram("hello world")


def test_it_tells_the_repeated_autumn_hour_apart_by_its_letter():
    summer = parse_telegram(build_telegram(base_lines(clock="241027023000S")))
    winter = parse_telegram(build_telegram(base_lines(clock="241027023000W")))
    assert summer["measured_at"] == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)
    assert winter["measured_at"] == datetime(2024, 10, 27, 1, 30, tzinfo=UTC)


# --- malformed lines in CRC-valid telegrams (issue 12) ------------------------------------------------------


@pytest.mark.parametrize(
    ("obis", "line"),
    [
        ("0-0:98.1.0", "0-0:98.1.0(12)(1-0:1.6.0)(1-0:1.6.0)"),  # a count of 12 and no entries at all
        ("0-0:98.1.0", "0-0:98.1.0(2)(1-0:1.6.0)(1-0:1.6.0)(250101000000W)(241212183000W)(06.100*kW)"),
        ("1-0:32.7.0", "1-0:32.7.0(*V)"),  # a number without digits
        ("1-0:32.7.0", "1-0:32.7.0(23.1.2*V)"),
        ("1-0:32.7.0", "1-0:32.7.0(231.2*V)(1)"),  # one value too many
        ("1-0:31.7.0", "1-0:31.7.0(NaN*A)"),
        ("1-0:21.7.0", "1-0:21.7.0(-00.620*kW)"),
        ("0-0:96.3.10", "0-0:96.3.10(7)"),  # breaker states are 0, 1 and 2
        ("0-0:96.14.0", "0-0:96.14.0(" + "9" * 5000 + ")"),
    ],
)
def test_it_drops_a_malformed_optional_line_and_keeps_the_reading(obis, line):
    telegram = build_telegram(replace(base_lines(), obis, line))

    parsed = parse_telegram_report(telegram)

    assert parsed.dropped == (f"bad field {obis}",)
    assert parsed.reading["import_t1_kwh"] == Decimal("4512.345")
    expected = parse_telegram(build_telegram(without(base_lines(), obis)))
    assert parsed.reading == expected  # the bad field is simply absent, nothing else changes


def test_it_drops_a_malformed_mbus_reading_and_keeps_the_electricity():
    lines = [*base_lines(), "0-1:24.1.0(003)", "0-1:24.2.3(250314101000W)(01.2.3*m3)"]
    parsed = parse_telegram_report(build_telegram(lines))
    assert parsed.dropped == ("bad field 0-1:24.2.3",)
    assert parsed.reading["gas_m3"] is None
    assert parsed.reading["power_import_kw"] == Decimal("1.870")


@pytest.mark.parametrize(
    ("obis", "line"),
    [
        ("1-0:1.8.1", "1-0:1.8.1(*kWh)"),
        ("1-0:2.8.2", "1-0:2.8.2(000321.250*kWh)(x)"),
        ("1-0:1.7.0", "1-0:1.7.0(Infinity*kW)"),
        ("1-0:2.7.0", "1-0:2.7.0(-0.1*kW)"),
    ],
)
def test_it_rejects_a_telegram_whose_required_register_is_malformed(obis, line):
    with pytest.raises(TelegramError) as caught:
        parse_telegram(build_telegram(replace(base_lines(), obis, line)))
    assert caught.value.reason.startswith(f"bad required field {obis}: ")
    assert caught.value.kind == f"bad required field {obis}"


def test_it_ignores_an_unknown_obis_code_that_only_starts_like_a_known_one():
    # dsmr-parser's pattern for 1-0:1.8.1 also matches 1-0:1.8.10; that is another (unknown) register
    lines = [*base_lines(), "1-0:1.8.10(999999.999*kWh)", "1-0:32.7.01(x)"]
    parsed = parse_telegram_report(build_telegram(lines))
    assert parsed.reading["import_t1_kwh"] == Decimal("4512.345")
    assert parsed.dropped == ()


def test_it_takes_the_breaker_state_from_the_main_meter_not_from_an_mbus_channel():
    lines = [*base_lines(), "0-1:24.1.0(003)", "0-1:96.3.10(0)", "0-2:24.1.0(007)", "0-2:96.3.10(2)"]
    assert parse_telegram(build_telegram(lines))["breaker_state"] == 1
    only_channels = [*without(base_lines(), "0-0:96.3.10"), "0-1:24.1.0(003)", "0-1:96.3.10(0)"]
    assert parse_telegram(build_telegram(only_channels))["breaker_state"] is None


@pytest.mark.parametrize(("letter", "hour"), [("s", 0), ("w", 1)])
def test_it_accepts_a_lower_case_dst_letter_in_an_mbus_capture_time(letter, hour):
    # 02:30 local on the last Sunday of October happens twice: the letter tells which one
    lines = [*base_lines(clock="241027024500W"), "0-1:24.1.0(003)", f"0-1:24.2.3(241027023000{letter})(01234.567*m3)"]
    reading = parse_telegram(build_telegram(lines))
    assert reading["gas_m3"] == Decimal("1234.567")
    assert reading["gas_at"] == datetime(2024, 10, 27, hour, 30, tzinfo=UTC)


def test_it_takes_the_lowest_reporting_channel_when_two_gas_meters_report():
    lines = [
        *base_lines(),
        "0-4:24.1.0(003)",
        "0-4:24.2.3(250314101000W)(00222.222*m3)",
        "0-2:24.1.0(003)",
        "0-2:24.2.3(250314100500W)(00111.111*m3)",
    ]
    reading = parse_telegram(build_telegram(lines))
    assert reading["gas_m3"] == Decimal("111.111")  # channel 2, although channel 4 is listed first and newer


def test_it_reports_a_crc_mismatch_in_hex():
    good = build_telegram(base_lines())
    said = int(good[-6:-2], 16)
    wrong = good[:-6] + f"{said ^ 0x0101:04X}\r\n"
    with pytest.raises(TelegramError) as caught:
        parse_telegram(wrong)
    assert caught.value.reason == f"CRC mismatch: telegram says 0x{said ^ 0x0101:04X}, computed 0x{said:04X}"
    assert caught.value.kind == "CRC mismatch"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "!",
        "/!",
        "/FLU5\\253769484_A\r\n\r\n!0000\r\n",
        "/FLU5\u20ac\r\n!1234\r\n",  # not a byte: cannot be a P1 telegram
        "/FLU5\r\n!12345\r\n",
        "/FLU5\r\n!zz\r\n",
    ],
)
def test_it_raises_only_telegram_error_for_text_that_is_no_telegram(text):
    with pytest.raises(TelegramError):
        parse_telegram(text)
