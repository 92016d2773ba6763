"""Framing throughput: bytes/s of the P1 framer on 4 MB of garbage and on real telegrams, with a baseline.

    .venv/bin/python bench/framing.py [--mb 4] [--baseline-kb 200] [--repeat 3]

One Framer serves the edge (the reader feeds it 64 KiB reads) and the server (`split_telegrams` on a posted body);
both paths are timed. The baseline, run in the same process on the same input, is the framer as it was before
issue 12 (kept verbatim below): it searched for `!` from every `/` to the end of the buffer, so it is quadratic
on slashes and on header lines that never end. On those inputs it runs on --baseline-kb only and its 4 MB
figure is EXTRAPOLATED (time x (4 MB / size)^2) and printed as such; on random bytes and real telegrams it is
linear and runs the full size. Goal, on every input and both paths: linear (the 4 MB rate at least half the
1 MB rate) and 4 MB in under a second (>= 4 MB/s; the meter sends 11.5 KB/s, the server takes 5 MB bodies).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "edge"))

from p1edge.framing import Framer, split_telegrams  # noqa: E402
from p1edge.simulator import SimulatorOptions, telegrams  # noqa: E402

MB = 1024 * 1024
CHUNK = 65536  # what the reader asks the port for
GOAL_BYTES_PER_S = 4 * MB


# --- the baseline: p1edge/framing.py before issue 12, verbatim apart from the names ----------------------------

_OLD_TRAILER = re.compile(r"!([0-9A-Fa-f]{0,4})\r\n")
_OLD_TRAILER_MAX = len("!FFFF\r\n")
_OLD_BARE_LF = re.compile(r"(?<!\r)\n")


class BaselineFramer:
    def __init__(self, max_chars: int = 16_384) -> None:
        self._buffer = ""
        self._pos = 0
        self._max = max_chars
        self.skipped_chars = 0
        self.dropped_frames = 0

    def feed(self, data: bytes) -> list[str]:
        return self.feed_text(data.decode("latin-1"))

    def feed_text(self, text: str) -> list[str]:
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
                self.dropped_frames += 1
                self._skip_to(restart)
                continue
            if bang < 0:
                if len(buf) - start > self._max:
                    self.dropped_frames += 1
                    self._skip_to(len(buf))
                return None
            match = _OLD_TRAILER.match(buf, bang)
            if match is None:
                if len(buf) - bang < _OLD_TRAILER_MAX and "\n" not in buf[bang:]:
                    return None
                self.dropped_frames += 1
                self._skip_to(bang + 1)
                continue
            end = match.end()
            if end - start > self._max:
                self.dropped_frames += 1
                self._skip_to(end)
                continue
            self._pos = end
            return buf[start:end]


def baseline_split(text: str) -> list[str]:
    return BaselineFramer().feed_text(_OLD_BARE_LF.sub("\r\n", text))


# --- inputs ---------------------------------------------------------------------------------------------------


def garbage(kind: str, size: int) -> bytes:
    if kind == "slashes":
        return b"/" * size
    if kind == "random bytes":
        return random.Random(12).randbytes(size)
    line = b"/FLU5\\253769484_A\r\n\r\n1-0:1.8.1(004512.345*kWh)\r\n"  # header lines, never a CRC line
    return (line * (size // len(line) + 1))[:size]


def real_telegrams(size: int) -> bytes:
    """Simulated telegrams (three-phase, gas), one per meter-second, until `size` bytes."""
    out, total = [], 0
    options = SimulatorOptions(start=datetime(2025, 1, 15, 6, 0, tzinfo=UTC), duration=timedelta(hours=8), gas=True)
    for _at, text in telegrams(options):
        out.append(text.encode("ascii"))
        total += len(out[-1])
        if total >= size:
            break
    return b"".join(out)


# --- timing ---------------------------------------------------------------------------------------------------


def _best(fn: Callable[[], int], repeat: int) -> tuple[float, int]:
    """Fastest of `repeat` runs in seconds, and what the run returned (frames found)."""
    best, frames = float("inf"), 0
    for _ in range(repeat):
        started = time.perf_counter()
        frames = fn()
        best = min(best, time.perf_counter() - started)
    return best, frames


def edge_run(framer_class: type, data: bytes) -> Callable[[], int]:
    def run() -> int:
        framer = framer_class()
        return sum(len(framer.feed(data[i : i + CHUNK])) for i in range(0, len(data), CHUNK))

    return run


def server_run(split: Callable[[str], list[str]], data: bytes) -> Callable[[], int]:
    text = data.decode("latin-1")
    return lambda: len(split(text))


def rate(size: int, seconds: float) -> str:
    per_s = size / seconds if seconds else float("inf")
    if per_s >= MB:
        return f"{per_s / MB:8.1f} MB/s"
    return f"{per_s / 1024:8.1f} KB/s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=4.0, help="size of each input (default 4 MB)")
    parser.add_argument("--baseline-kb", type=int, default=200, help="baseline size on its quadratic inputs")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the fastest counts")
    args = parser.parse_args()
    size = int(args.mb * MB)
    small = min(size, args.baseline_kb * 1024)
    print(
        f"framing bench: {size / MB:.0f} MB per input, {CHUNK // 1024} KiB reads on the edge path, "
        f"best of {args.repeat}"
    )
    if hasattr(os, "getloadavg"):
        load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
        print(f"load average {load} on {os.cpu_count()} CPU(s): figures drop when the machine is shared")
    print(
        f"{'input':<14} {'path':<7} {'frames':>6} {'new 1 MB':>13} {'new 4 MB':>13} {'baseline 4 MB':>26} {'ratio':>9}"
    )
    ok = True
    inputs = [(kind, garbage(kind, size), kind != "random bytes") for kind in ("slashes", "random bytes", "headers")]
    inputs.append(("real telegrams", real_telegrams(size), False))
    for kind, data, quadratic in inputs:
        for path, new_run, old_run in (
            ("edge", lambda d: edge_run(Framer, d), lambda d: edge_run(BaselineFramer, d)),
            ("server", lambda d: server_run(split_telegrams, d), lambda d: server_run(baseline_split, d)),
        ):
            one_mb = data[: min(len(data), MB)]
            new_small, _ = _best(new_run(one_mb), args.repeat)
            new_full, frames = _best(new_run(data), args.repeat)
            if quadratic:  # the baseline would take minutes at full size
                old_small, _ = _best(old_run(data[:small]), 1)
                old_full = old_small * (len(data) / small) ** 2
                baseline = f"{rate(len(data), old_full)} (extrapolated from {small // 1024} KB: {old_full:.0f} s)"
            else:
                old_full, _ = _best(old_run(data), args.repeat)
                baseline = rate(len(data), old_full)
            ratio = old_full / new_full if new_full else float("inf")
            linear = (len(data) / new_full) >= 0.5 * (len(one_mb) / new_small)
            fast = len(data) / new_full >= GOAL_BYTES_PER_S
            ok = ok and linear and fast
            print(
                f"{kind:<14} {path:<7} {frames:>6} {rate(len(one_mb), new_small):>13} {rate(len(data), new_full):>13} "
                f"{baseline:>26} {ratio:>8,.1f}x{'' if linear and fast else '  GOAL MISSED'}"
            )
    print(f"goal: linear and >= {GOAL_BYTES_PER_S // MB} MB/s on every input and path: {'met' if ok else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
