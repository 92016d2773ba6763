"""Split a P1 byte stream into telegrams: `/` ... `!` + up to 4 hex CRC digits + CRLF.

Pure: no I/O. Bytes are decoded as latin-1 so that one byte is one character and the CRC computed over the
text equals the CRC over the wire bytes (a corrupted byte then fails the CRC instead of the decoder).
"""

from __future__ import annotations

import re

MAX_TELEGRAM_CHARS = 16_384  # a full Fluvius telegram with 13 monthly peaks is about 1.5 KB
_TRAILER = re.compile(r"!([0-9A-Fa-f]{0,4})\r\n")
_TRAILER_MAX = len("!FFFF\r\n")
_BARE_LF = re.compile(r"(?<!\r)\n")


class Framer:
    """Incremental framer: feed() chunks as they arrive, get back the complete telegrams.

    Garbage before `/`, a telegram cut off by a new `/` (a reconnect, a lost byte run) and frames longer than
    MAX_TELEGRAM_CHARS are dropped; `skipped_chars` and `dropped_frames` count them for the reader's stats.
    """

    def __init__(self, max_chars: int = MAX_TELEGRAM_CHARS) -> None:
        self._buffer = ""
        self._pos = 0
        self._max = max_chars
        self.skipped_chars = 0
        self.dropped_frames = 0

    def feed(self, data: bytes) -> list[str]:
        return self.feed_text(data.decode("latin-1"))

    def feed_text(self, text: str) -> list[str]:
        # Work with a read position and cut the consumed head once per feed: slicing the buffer per frame
        # would copy a large chunk (a file replay reads 64 KiB at a time) once for every telegram in it.
        self._buffer = self._buffer[self._pos :] + text if self._pos else self._buffer + text
        self._pos = 0
        frames: list[str] = []
        while True:
            frame = self._next_frame()
            if frame is None:
                break
            frames.append(frame)
        self._buffer = self._buffer[self._pos :]
        self._pos = 0
        return frames

    @property
    def pending(self) -> str:
        """The incomplete tail kept for the next feed (a partial telegram at end of input)."""
        return self._buffer[self._pos :]

    def _skip_to(self, index: int) -> None:
        self.skipped_chars += index - self._pos
        self._pos = index

    def _next_frame(self) -> str | None:
        buf = self._buffer
        while True:
            start = buf.find("/", self._pos)
            if start < 0:
                self._skip_to(len(buf))
                return None
            self._skip_to(start)
            bang = buf.find("!", start + 1)
            restart = buf.find("/", start + 1, bang if bang >= 0 else len(buf))
            if restart >= 0:
                # A new header began before this telegram ended: the first one is partial.
                self.dropped_frames += 1
                self._skip_to(restart)
                continue
            if bang < 0:
                if len(buf) - start > self._max:
                    self.dropped_frames += 1
                    self._skip_to(len(buf))
                return None
            match = _TRAILER.match(buf, bang)
            if match is None:
                if len(buf) - bang < _TRAILER_MAX and "\n" not in buf[bang:]:
                    return None  # the CRC line is still arriving
                self.dropped_frames += 1  # `!` followed by something that is not a CRC line
                self._skip_to(bang + 1)
                continue
            end = match.end()
            if end - start > self._max:
                self.dropped_frames += 1
                self._skip_to(end)
                continue
            self._pos = end
            return buf[start:end]


def split_telegrams(text: str) -> list[str]:
    """All complete telegrams in `text` (e.g. a body posted to the server), garbage and partials skipped.

    Bare LF line endings (a capture saved or pasted through a tool that dropped the CRs) are restored to
    CRLF first, because the CRC and dsmr-parser's line patterns are defined over CRLF.
    """
    return Framer().feed_text(_BARE_LF.sub("\r\n", text))
