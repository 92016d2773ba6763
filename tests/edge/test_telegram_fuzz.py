"""Property: parse_telegram raises nothing but TelegramError, whatever a CRC-valid telegram contains.

The cases are real telegrams (the simulator's, and hand-built ones with M-Bus devices and 13 monthly peaks)
mutated in the ways a meter, a cable or a bug report garbles them, then sealed again with a correct CRC, so
every case reaches the line parser instead of stopping at the CRC check. What parse_telegram returns must
also be a reading the server can take: the fixed keys, finite unsigned Decimals, aware datetimes, known codes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from p1edge.crc import build_telegram, seal
from p1edge.simulator import SimulatorOptions, telegrams
from p1edge.telegram import TelegramError, parse_telegram
from p1edge.wire import DATETIME_FIELDS, INT_FIELDS, READING_FIELDS

from tests.edge.telegrams import base_lines

CASES = 10_000


def _seeds() -> list[str]:
    start = datetime(2025, 1, 31, 22, 40, tzinfo=UTC)
    three = SimulatorOptions(start=start, duration=timedelta(seconds=2), gas=True)
    single = SimulatorOptions(start=start, duration=timedelta(seconds=2), single_phase=True, seed=3)
    peaks = "".join(f"(25{m + 1:02d}01000000W)(25{m:02d}15183000W)(0{m % 10}.{m:03d}*kW)" for m in range(1, 12))
    mbus = [
        "0-1:24.1.0(007)",
        "0-1:96.1.1(3853455430303030303030303031)",
        "0-1:24.2.1(250314100000W)(00042.118*m3)",
        "0-2:24.1.0(003)",
        "0-2:24.4.0(1)",
        "0-2:96.3.10(1)",
        "0-2:24.2.3(250314101000S)(01234.567*m3)",
        "0-3:24.1.0(003)",
        "0-3:24.2.3(632525252525W)(00000.000)",
    ]
    hand = [line for line in base_lines() if not line.startswith("0-0:98.1.0")]
    unset = "(632525252525W)(632525252525W)(00.000*kW)"
    return [
        *(text for _at, text in telegrams(three)),
        *(text for _at, text in telegrams(single)),
        build_telegram([*base_lines(), *mbus]),
        build_telegram([*hand, f"0-0:98.1.0(13)(1-0:1.6.0)(1-0:1.6.0){peaks}{unset}"]),
        build_telegram([*hand, "0-0:98.1.0(0)(1-0:1.6.0)(1-0:1.6.0)()"]),
    ]


SEEDS = _seeds()
SIMULATED, HAND_BUILT = SEEDS[:4], SEEDS[4:]
# Characters of the telegram syntax are the likely ones; a few others stand for line noise.
ALPHABET = "()*.:-!/\\\r\n0123456789ABCDEFSWswkWhVAm3 \x00\xff"
TOKENS = [
    "",
    "*",
    "*V",
    "*kWh",
    "*kWh*kWh",
    "NaN",
    "sNaN",
    "Infinity",
    "-1",
    "-0",
    "1E+999999",
    "1e-999999",
    "9" * 5000,
    "0",
    "2",
    "12",
    "13",
    "99999999",
    "00.0.0",
    "1-0:1.6.0",
    "632525252525W",
    "250314101000s",
    "250314101000w",
    "250314101000X",
    "991231235959W",
    "000101000000W",
    "700101010000W",
    "251332256161W",
    "ZZ",
    "3853455430303030303030303031",
    ")(",
]
# Inserted fragments: single characters, whole values, and pieces of lines that open new objects.
CHUNKS = [
    *ALPHABET,
    *(f"({token})" for token in TOKENS[:20]),
    "\r\n",
    "0-1:24.1.0(003)\r\n",
    "0-2:24.1.0(007)\r\n",
    "0-1:24.2.3(250314101000W)(00001.000*m3)\r\n",
    "0-1:96.3.10(2)\r\n",
    "0-0:98.1.0(",
    "1-0:1.8.1(",
    "0-0:96.1.1(",
    "/FLU5\\253769484_A\r\n",
]
LINE_OPS = ("drop", "double", "swap", "group", "ungroup")
STEP = 4  # bytes per mutation: kind, position (2 bytes), argument

# A mutation program is a few raw bytes, STEP per mutation: one cheap draw per case keeps hypothesis' own
# overhead (several ms per case for nested tuple/text strategies) below the parse time, and still shrinks well.
PROGRAM = st.binary(min_size=STEP, max_size=4 * STEP)


def _lines(body: str) -> list[str]:
    return body.split("\r\n")


def mutate(telegram: str, program: bytes) -> str:
    """Apply the mutations to the part covered by the CRC (header to `!`) and seal it again."""
    body = telegram[: telegram.rindex("!")]
    for offset in range(0, len(program) - STEP + 1, STEP):
        kind, high, low, arg = program[offset : offset + STEP]
        position = high << 8 | low
        kind %= 5
        if kind == 0:  # replace one character
            i = position % len(body)
            body = body[:i] + ALPHABET[arg % len(ALPHABET)] + body[i + 1 :]
        elif kind == 1:  # insert a fragment
            i = position % (len(body) + 1)
            body = body[:i] + CHUNKS[arg % len(CHUNKS)] + body[i:]
        elif kind == 2:  # delete a run
            i = position % len(body)
            body = body[:i] + body[i + 1 + arg % 40 :]
        elif kind == 3:  # rewrite the content of one value group "(...)"
            count = body.count("(")
            if count:
                i = -1
                for _ in range(1 + position % count):
                    i = body.index("(", i + 1)
                j = body.find(")", i + 1)
                body = body[: i + 1] + TOKENS[arg % len(TOKENS)] + body[j if j >= 0 else len(body) :]
        else:  # whole lines, the header line excepted
            lines = _lines(body)
            n = 1 + position % max(1, len(lines) - 1)
            op = LINE_OPS[arg % len(LINE_OPS)]
            if n < len(lines):
                if op == "drop":
                    del lines[n]
                elif op == "double":
                    lines.insert(n, lines[n])
                elif op == "swap":
                    m = 1 + (arg // 5) % max(1, len(lines) - 1)
                    if m < len(lines):
                        lines[n], lines[m] = lines[m], lines[n]
                elif op == "group":
                    lines[n] += "(" + lines[n].partition("(")[2]
                else:
                    lines[n] = lines[n].rpartition("(")[0] or lines[n]
            body = "\r\n".join(lines)
        if not body:
            body = "/"
    if not body.startswith("/"):
        body = "/" + body
    return seal(body)


def _check_reading(reading: dict) -> None:
    assert set(reading) == {"serial", "measured_at", *READING_FIELDS}
    assert isinstance(reading["serial"], str)
    assert reading["serial"].isprintable()
    assert reading["serial"]
    for key in ("measured_at", *DATETIME_FIELDS - {"timestamp", "measured_at"}):
        value = reading[key]
        assert value is None or (isinstance(value, datetime) and value.utcoffset() == timedelta(0)), key
    assert reading["measured_at"] is not None
    assert reading["tariff"] in (None, 1, 2)
    assert reading["breaker_state"] in (None, 0, 1, 2)
    for key in set(READING_FIELDS) - DATETIME_FIELDS - INT_FIELDS:
        value = reading[key]
        assert value is None or (isinstance(value, Decimal) and value.is_finite() and not value.is_signed()), key
    for key in ("import_t1_kwh", "import_t2_kwh", "export_t1_kwh", "export_t2_kwh"):
        assert reading[key] is not None


def _check(seed: str, program: bytes) -> None:
    text = mutate(seed, program)
    error = None
    try:
        reading = parse_telegram(text)
    except TelegramError as exc:
        error = exc
    if error is None:
        _check_reading(reading)
    else:
        assert error.reason
        assert error.kind


# The 10,000 cases are split over two tests (simulated telegrams, hand-built ones) so that each stays well
# under half a minute on a shared CI machine; --durations shows their times.
_FUZZ = settings(
    max_examples=CASES // 2,
    deadline=None,
    database=None,  # no .hypothesis/ directory in the tree; a failure prints its reproducing example
    suppress_health_check=[HealthCheck.too_slow],
)


@_FUZZ
@given(seed=st.sampled_from(SIMULATED), program=PROGRAM)
def test_it_raises_only_telegram_error_for_any_crc_valid_mutation_of_a_simulated_telegram(seed, program):
    _check(seed, program)


@_FUZZ
@given(seed=st.sampled_from(HAND_BUILT), program=PROGRAM)
def test_it_raises_only_telegram_error_for_any_crc_valid_mutation_of_a_hand_built_telegram(seed, program):
    _check(seed, program)


def test_it_keeps_the_seeds_valid_so_the_mutations_start_from_real_telegrams():
    for seed in SEEDS:
        _check_reading(parse_telegram(seed))
        # a no-op program (replace the header's `/` by `/`) reseals the unchanged body: the same telegram
        assert mutate(seed, bytes([0, 0, 0, ALPHABET.index("/")])) == seed
