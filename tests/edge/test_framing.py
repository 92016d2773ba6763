from p1edge.crc import build_telegram
from p1edge.framing import Framer, split_telegrams
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
        framer.feed(b"/" + b"x" * 999)
    assert len(framer.pending) <= 2000
    assert framer.dropped_frames > 0


def test_it_restores_crlf_in_text_that_lost_its_carriage_returns():
    (one,) = _telegrams(1)
    frames = split_telegrams(one.replace("\r\n", "\n"))
    assert frames == [one]
    assert parse_telegram(frames[0])["import_t1_kwh"] is not None
