import random

import pytest
from p1edge.crc import build_telegram
from p1edge.framing import MAX_TELEGRAM_CHARS, Framer, split_telegrams
from p1edge.telegram import parse_telegram

from tests.edge.telegrams import base_lines


def _telegrams(n: int) -> list[str]:
    return [build_telegram(base_lines(clock=f"2503141015{s:02d}W")) for s in range(n)]


def test_it_splits_telegrams_with_garbage_between_them():
    one, two, three = _telegrams(3)
    stream = "\x00\xffnoise" + one + "garbage!12\r\n" + two + "\r\n\r\n~~" + three + "tail"

    frames = split_telegrams(stream)

    assert frames == [one, two, three]
    assert [parse_telegram(f)["measured_at"].second for f in frames] == [0, 1, 2]


def test_it_drops_a_partial_telegram_cut_off_by_the_next_header():
    one, two = _telegrams(2)
    assert split_telegrams(one[: len(one) // 2] + two) == [two]


def test_it_keeps_an_incomplete_tail_until_the_rest_arrives_byte_by_byte():
    one, two = _telegrams(2)
    framer = Framer()
    frames = []
    for byte in (one + two).encode("latin-1"):
        frames += framer.feed(bytes([byte]))
    assert frames == [one, two]
    assert framer.pending == ""


def test_it_waits_for_the_crc_line_split_across_reads():
    (one,) = _telegrams(1)
    framer = Framer()
    assert framer.feed(one[:-4].encode()) == []
    assert framer.feed(one[-4:].encode()) == [one]


def test_it_does_not_grow_without_bound_on_a_stream_without_end_marker():
    framer = Framer(max_chars=2000)
    for _ in range(100):
        framer.feed(b"/FLU5\\253769484_A\r\n\r\n" + b"x" * 999)
    assert len(framer.pending) <= 2000
    assert framer.dropped_frames > 0


def test_it_restores_crlf_in_text_that_lost_its_carriage_returns():
    (one,) = _telegrams(1)
    frames = split_telegrams(one.replace("\r\n", "\n"))
    assert frames == [one]
    assert parse_telegram(frames[0])["import_t1_kwh"] is not None


# --- linear framing with a maximum frame size (issue 12) ----------------------------------------------------

FOUR_MB = 4 * 1024 * 1024


def _garbage(kind: str, size: int = FOUR_MB) -> bytes:
    if kind == "slashes":
        return b"/" * size
    if kind == "headers":  # header-like lines that never end in a CRC line
        return (b"/FLU5\\253769484_A\r\n\r\n1-0:1.8.1(" * (size // 30 + 1))[:size]
    return random.Random(12).randbytes(size)


@pytest.mark.parametrize("kind", ["slashes", "random", "headers"])
def test_it_never_makes_a_frame_of_garbage(kind):
    framer = Framer()
    frames = []
    data = _garbage(kind)
    for offset in range(0, len(data), 65536):
        frames += framer.feed(data[offset : offset + 65536])
    assert frames == []
    assert len(framer.pending) <= MAX_TELEGRAM_CHARS


@pytest.mark.parametrize("kind", ["slashes", "random", "headers"])
def test_it_still_finds_a_real_telegram_after_4_mb_of_garbage(kind):
    (one,) = _telegrams(1)
    text = _garbage(kind).decode("latin-1") + one
    frames = split_telegrams(text)
    assert frames == [one]
    assert parse_telegram(frames[0])["import_t1_kwh"] is not None


def test_it_drops_and_counts_a_frame_over_the_maximum_size():
    one, two = _telegrams(2)
    huge = build_telegram([*base_lines(), *(f"0-0:96.13.0({'41' * 200})" for _ in range(50))])
    assert len(huge) > MAX_TELEGRAM_CHARS
    framer = Framer()
    assert framer.feed((one + huge + two).encode("latin-1")) == [one, two]
    assert framer.dropped_frames == 1
    assert framer.drop_reasons == {f"frame over {MAX_TELEGRAM_CHARS} bytes": 1}


def test_it_counts_a_telegram_cut_off_by_the_next_header():
    one, two = _telegrams(2)
    framer = Framer()
    assert framer.feed((one[:300] + two).encode("latin-1")) == [two]
    assert framer.drop_reasons == {"cut off by a new header": 1}


def test_it_frames_a_crc_line_ending_in_a_bare_lf_on_the_edge_as_on_the_server():
    one, two = _telegrams(2)
    bare = one[:-2] + "\n"
    framer = Framer()
    assert framer.feed((bare + two).encode("latin-1")) == [one, two]
    assert split_telegrams(bare + two) == [one, two]


def test_it_restores_crlf_on_the_edge_too_when_a_capture_lost_its_carriage_returns():
    one, two = _telegrams(2)
    framer = Framer()
    frames = []
    for byte in (one + two).replace("\r\n", "\n").encode("latin-1"):
        frames += framer.feed(bytes([byte]))
    assert frames == [one, two]
