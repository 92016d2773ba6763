"""CRC-16/ARC as used by the P1 port, and the helper that seals a telegram with it.

`crc_problem` is the one CRC check: the parser runs it before any line is read (its message shows both values in
hex, which dsmr-parser's own check prints in decimal), and the reader runs it alone on the telegrams it does not
parse (those of a quarter-hour already stored). `seal` BUILDS telegrams (simulator, tests).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from functools import cache

HEADER_THREE_PHASE = "/FLU5\\253769484_A"  # literal backslash: "\253" in a non-raw string would be byte 0xAB
HEADER_SINGLE_PHASE = "/FLU5\\253770234_A"


def _table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _table()
_HEX = frozenset("0123456789ABCDEFabcdef")


@cache
def _word_table() -> tuple[int, ...]:
    # A 16-bit register consumes two bytes at once: the result depends only on (crc ^ little-endian word),
    # which halves the Python loop (the simulator seals 86,400 telegrams per simulated day).
    t = _TABLE
    return tuple(t[((t[x & 0xFF]) ^ (x >> 8)) & 0xFF] ^ (t[x & 0xFF] >> 8) for x in range(65536))


def crc16_arc(data: bytes) -> int:
    """CRC-16/ARC: reflected polynomial 0xA001, init 0, no final xor (check value of b"123456789" is 0xBB3D)."""
    crc = 0
    words = len(data) // 2
    if words > 16:
        table16 = _word_table()
        for word in struct.unpack_from(f"<{words}H", data):
            crc = table16[crc ^ word]
        data = data[2 * words :]
    for byte in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc


def crc_problem(frame: str) -> tuple[str, str] | None:
    """None when the `!XXXX` after the last `!` (1 to 4 hex digits) is the CRC of the first `/` through that
    `!`; else (kind, reason), the reason with both values in hex so they can be compared with the wire."""
    start, bang = frame.find("/"), frame.rfind("!")
    if start < 0 or bang < start:
        return "no telegram", "no telegram ('/' ... '!CRC')"
    digits = frame[bang + 1 :].strip()
    if not 1 <= len(digits) <= 4 or not all(c in _HEX for c in digits):
        shown = digits[:12] + ("..." if len(digits) > 12 else "")
        return "no CRC", f"no CRC: expected 1 to 4 hex digits after '!', got {shown!r}"
    try:
        data = frame[start : bang + 1].encode("latin-1")
    except UnicodeEncodeError as exc:  # text posted to the server can hold characters no wire byte gives
        return "not a byte", f"not a byte: {frame[exc.start]!r} at position {exc.start} cannot come from a meter"
    expected, computed = int(digits, 16), crc16_arc(data)
    if expected != computed:
        return "CRC mismatch", f"CRC mismatch: telegram says 0x{expected:04X}, computed 0x{computed:04X}"
    return None


def crc_matches(frame: str) -> bool:
    """Whether a framed telegram's trailing `!XXXX` (1 to 4 hex digits) is the CRC of `/` through `!`."""
    return crc_problem(frame) is None


def seal(body: str, *, crc_digits: int = 4) -> str:
    """Append `!` + CRC + CRLF to `body` (which runs from `/` up to the CRLF of the last data line).

    `crc_digits` < 4 imitates meters that drop the CRC's leading zeros; it only works when the value fits.
    """
    text = body + "!"
    crc = crc16_arc(text.encode("latin-1"))
    digits = f"{crc:X}".rjust(crc_digits, "0")
    if len(digits) > crc_digits:
        raise ValueError(f"CRC {crc:04X} does not fit in {crc_digits} hex digits")
    return f"{text}{digits}\r\n"


def build_telegram(lines: Iterable[str], *, header: str = HEADER_THREE_PHASE, crc_digits: int = 4) -> str:
    """A complete telegram from data lines like "1-0:1.8.1(000123.456*kWh)" (no line endings)."""
    body = header + "\r\n\r\n" + "".join(line + "\r\n" for line in lines)
    return seal(body, crc_digits=crc_digits)
