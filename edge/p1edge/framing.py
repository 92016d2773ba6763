"""Split a P1 byte stream into telegrams: a header line `/XXXn...`, data lines, `!` + up to 4 hex CRC digits.

Pure: no I/O. Bytes are decoded as latin-1 so that one byte is one character and the CRC computed over the
text equals the CRC over the wire bytes (a corrupted byte then fails the CRC instead of the decoder). The same
Framer serves the edge (fed chunk by chunk from the port) and the server (`split_telegrams` on a posted body).

Linear time, bounded memory: every character is looked at a bounded number of times, whatever the input, and
a frame longer than MAX_TELEGRAM_CHARS is dropped (a real Fluvius telegram is under 3 KB; 13 monthly peaks
and two M-Bus devices make about 1.6 KB). The previous framer searched for `!` from every `/` to the end of
the buffer, so a body of slashes took 5 minutes for 4 MB.
"""

from __future__ import annotations

import re
from collections import Counter

MAX_TELEGRAM_CHARS = 16_384  # 16 KiB: five times the largest telegram a Fluvius meter sends
# IEC 62056-21 identification line: `/`, a 3-letter manufacturer id (case varies: /FLU5, /ISk5, /KFM5), the baud
# rate digit, then the meter's identification (at most 16 characters in the standard; a few meters send more).
_HEADER_START = re.compile(r"/[A-Za-z]{3}\d")
_HEADER_LINE = re.compile(r"/[A-Za-z]{3}\d[ -~]{0,64}\r?\n")
_HEADER_LINE_MAX = len("/XXX5") + 64 + 2
_TRAILER = re.compile(r"!([0-9A-Fa-f]{0,4})\r?\n")  # a bare LF too: captures and pastes lose their CRs
_TRAILER_MAX = len("!FFFF\r\n")
_BARE_LF = re.compile(r"(?<!\r)\n")

DROP_OVERSIZED = f"frame over {MAX_TELEGRAM_CHARS} bytes"
DROP_CUT_OFF = "cut off by a new header"
DROP_BAD_TRAILER = "no CRC line after '!'"


class Framer:
    """Incremental framer: feed() chunks as they arrive, get back the complete telegrams (CRLF line ends).

    Garbage without a plausible header is skipped (`skipped_chars`); a telegram cut off by a new header, one
    whose `!` is not followed by a CRC line, and one longer than `max_chars` are dropped, counted by reason in
    `drop_reasons` (`dropped_frames` is their total) for the reader's state and the server's error message.
    """

    def __init__(self, max_chars: int = MAX_TELEGRAM_CHARS) -> None:
        self._buffer = ""
        self._pos = 0  # everything before this index is consumed
        self._start: int | None = None  # index of the header `/` of the frame being assembled
        self._scan = 0  # where the search for that frame's end resumes (the text before it holds no stop)
        self._max = max_chars
        self.skipped_chars = 0
        self.dropped_frames = 0
        self.drop_reasons: Counter[str] = Counter()
        self._oversized = DROP_OVERSIZED if max_chars == MAX_TELEGRAM_CHARS else f"frame over {max_chars} bytes"

    def feed(self, data: bytes) -> list[str]:
        return self.feed_text(data.decode("latin-1"))

    def feed_text(self, text: str) -> list[str]:
        # Only the unconsumed tail (at most one frame, so at most max_chars) is copied per feed, and searches
        # resume where the previous feed stopped: byte-by-byte feeding stays linear too.
        self._buffer = self._buffer[self._pos :] + text
        self._rebase(self._pos)
        frames: list[str] = []
        while (frame := self._next_frame()) is not None:
            frames.append(frame)
        self._buffer = self._buffer[self._pos :]
        self._rebase(self._pos)
        return frames

    @property
    def pending(self) -> str:
        """The incomplete tail kept for the next feed (a partial telegram at end of input)."""
        return self._buffer[self._pos :]

    def _rebase(self, offset: int) -> None:
        self._pos -= offset
        self._scan = max(0, self._scan - offset)
        if self._start is not None:
            self._start -= offset

    def _skip_to(self, index: int) -> None:
        self.skipped_chars += index - self._pos
        self._pos = index

    def _drop(self, reason: str, resume: int) -> None:
        self.dropped_frames += 1
        self.drop_reasons[reason] += 1
        self._start = None
        self._pos = resume  # not counted as skipped: the frame's characters are in the drop count

    def _header_at(self, index: int) -> bool | None:
        """Whether a complete header line starts at `index`; None while it may still be arriving."""
        buf = self._buffer
        if _HEADER_LINE.match(buf, index):
            return True
        available = len(buf) - index
        if available < _HEADER_LINE_MAX and "\n" not in buf[index:]:
            if _HEADER_START.match(buf, index) or available < len("/XXX5"):
                return None
        return False

    def _find_start(self) -> bool:
        """Move to the next header; False when the buffer holds none yet (its last few chars are kept)."""
        buf = self._buffer
        while True:
            match = _HEADER_START.search(buf, self._pos)
            if match is None:
                # Keep a trailing `/` (and up to 3 characters after it): it may be a header split across reads.
                tail = buf.find("/", max(self._pos, len(buf) - 4))
                self._skip_to(tail if tail >= 0 else len(buf))
                return False
            self._skip_to(match.start())
            header = self._header_at(match.start())
            if header is None:
                return False
            if header:
                self._start = match.start()
                self._scan = match.end()
                return True
            self._skip_to(match.start() + 1)  # `/FLU5` followed by no header line: garbage

    def _frame_stop(self, end: int) -> tuple[str, int]:
        """What ends the frame being assembled, searching [scan, end): ("bang", index of its `!`), ("cut",
        index of a new header: the telegram was cut off), ("wait", -1: a header line is still arriving) or
        ("bang", -1: neither yet). Each character is searched once: the next header candidate first, then a
        `!` only up to it (searching for `!` first would rescan up to max_chars after every header)."""
        buf = self._buffer
        while True:
            cut = _HEADER_START.search(buf, self._scan, end)
            bang = buf.find("!", self._scan, cut.start() if cut else end)
            if bang >= 0 or cut is None:
                return "bang", bang
            header = self._header_at(cut.start())
            if header is None:
                self._scan = cut.start()
                return "wait", -1
            if header:
                return "cut", cut.start()
            self._scan = cut.start() + 1  # a `/` inside the frame that starts no header line

    def _next_frame(self) -> str | None:
        buf = self._buffer
        while True:
            if self._start is None and not self._find_start():
                return None
            start = self._start
            assert start is not None
            limit = start + self._max  # the frame may not run past this
            end = min(len(buf), limit)
            stop, at = self._frame_stop(end)
            if stop == "wait":
                return None  # a header line is still arriving
            if stop == "cut":
                self._drop(DROP_CUT_OFF, at)
                continue
            bang = at
            if bang < 0:
                if len(buf) >= limit:
                    # No `!` and no new header within max_chars; the last 4 characters may begin a header.
                    self._drop(self._oversized, max(start + 1, limit - 4))
                    continue
                self._scan = max(self._scan, len(buf) - 4)  # a new header may be split across reads
                return None
            trailer = _TRAILER.match(buf, bang)
            if trailer is None:
                if len(buf) - bang < _TRAILER_MAX and "\n" not in buf[bang:]:
                    self._scan = bang
                    return None  # the CRC line is still arriving
                self._drop(DROP_BAD_TRAILER, bang + 1)
                continue
            frame_end = trailer.end()
            if frame_end - start > self._max:
                self._drop(self._oversized, frame_end)
                continue
            self._start = None
            self._pos = frame_end
            frame = (
                buf[start:frame_end]
                if buf.endswith("\r\n", 0, frame_end)
                else buf[start:bang] + "!" + trailer.group(1) + "\r\n"
            )
            # A capture saved or pasted through a tool that dropped the CRs: restore CRLF, over which the CRC
            # and dsmr-parser's line patterns are defined. Done per frame, so a CR/LF split across reads is
            # never mistaken for a bare LF.
            return _BARE_LF.sub("\r\n", frame) if frame.count("\n") != frame.count("\r\n") else frame


def split_telegrams(text: str) -> list[str]:
    """All complete telegrams in `text` (e.g. a body posted to the server), garbage and partials skipped."""
    return Framer().feed_text(text)
