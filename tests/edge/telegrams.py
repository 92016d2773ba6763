"""Hand-built Fluvius telegram lines for the edge tests (each docs/p1.md pitfall is a variation of these)."""

from __future__ import annotations

SERIAL = "1SAG3100716957"
SERIAL_HEX = SERIAL.encode("ascii").hex().upper()


def base_lines(*, clock: str = "250314101503W", serial_hex: str = SERIAL_HEX) -> list[str]:
    """A three-phase T211-D (firmware 50217) on a 3x400 V grid, no M-Bus devices."""
    return [
        "0-0:96.1.4(50217)",
        f"0-0:96.1.1({serial_hex})",
        f"0-0:1.0.0({clock})",
        "1-0:1.8.1(004512.345*kWh)",
        "1-0:1.8.2(003987.654*kWh)",
        "1-0:2.8.1(001234.500*kWh)",
        "1-0:2.8.2(000321.250*kWh)",
        "0-0:96.14.0(0001)",
        "1-0:1.4.0(01.234*kW)",
        "1-0:1.6.0(250303184500W)(05.678*kW)",
        "0-0:98.1.0(2)(1-0:1.6.0)(1-0:1.6.0)(250101000000W)(241212183000W)(06.100*kW)"
        "(250201000000W)(250115190000W)(04.900*kW)",
        "1-0:1.7.0(01.870*kW)",
        "1-0:2.7.0(00.000*kW)",
        "1-0:21.7.0(00.620*kW)",
        "1-0:41.7.0(00.750*kW)",
        "1-0:61.7.0(00.500*kW)",
        "1-0:22.7.0(00.000*kW)",
        "1-0:42.7.0(00.000*kW)",
        "1-0:62.7.0(00.000*kW)",
        "1-0:32.7.0(231.2*V)",
        "1-0:52.7.0(232.0*V)",
        "1-0:72.7.0(229.8*V)",
        "1-0:31.7.0(002.71*A)",
        "1-0:51.7.0(003.24*A)",
        "1-0:71.7.0(002.18*A)",
        "0-0:96.3.10(1)",
        "0-0:17.0.0(999.9*kW)",
        "1-0:31.4.0(999*A)",
        "0-0:96.13.0()",
    ]


def replace(lines: list[str], obis: str, new: str | None) -> list[str]:
    """Replace (or drop, with None) the line whose OBIS code is `obis`."""
    out = []
    for line in lines:
        if line.split("(", 1)[0] == obis:
            if new is not None:
                out.append(new)
        else:
            out.append(line)
    return out


def without(lines: list[str], *obis: str) -> list[str]:
    return [line for line in lines if line.split("(", 1)[0] not in obis]


# A water meter on M-Bus channel 1 (device type 007) and a gas meter on channel 2 (003): found by device type, not
# by channel number.
GAS_AND_WATER = [
    "0-1:24.1.0(007)",
    "0-1:96.1.1(3853455430303030303030303031)",
    "0-1:24.2.1(250314100000W)(00042.118*m3)",
    "0-2:24.1.0(003)",
    "0-2:96.1.1(37464C3030303030303030303032)",
    "0-2:24.4.0(1)",
    "0-2:24.2.3(250314101000W)(01234.567*m3)",
]
