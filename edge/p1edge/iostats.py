"""What a service writes to the SD card: its own write_bytes (/proc/self/io) and its fsyncs, over a time span.

Each service records a snapshot in its state file (`io`), and `p1edge status` turns it into bytes and fsyncs per
day. write_bytes counts what this process sent towards the block device (page-cache pages it dirtied, 4 KiB each),
not the file system's journal, which every fsync also commits: that is why the fsyncs are counted too. They are
counted by wrapping `os.fsync` for the whole process (the spool, the acks and the state files all call it).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

PROC_IO = "/proc/self/io"
DAY_SECONDS = 86_400.0
MIN_SPAN_SECONDS = 3600.0  # per-day figures from at least an hour
_UNKNOWN = "bytes unknown (no /proc/self/io)"

_real_fsync = os.fsync
_lock = threading.Lock()
_counted = [0]


def _counting_fsync(fd: Any) -> None:
    with _lock:
        _counted[0] += 1
    _real_fsync(fd)


def count_fsyncs() -> None:
    """From now on every os.fsync of this process is counted (idempotent)."""
    if os.fsync is not _counting_fsync:
        os.fsync = _counting_fsync


def fsync_count() -> int:
    return _counted[0]


def write_bytes(path: str = PROC_IO) -> int | None:
    """This process's write_bytes, or None where the kernel does not say (no /proc, no I/O accounting)."""
    try:
        with open(path, "rb") as handle:
            for line in handle:
                if line.startswith(b"write_bytes:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


class IoMeter:
    """Bytes written and fsyncs since it was created, on the service's own clock."""

    def __init__(self, clock: Callable[[], float]) -> None:
        count_fsyncs()
        self.clock = clock
        self.started = clock()
        self.started_at = datetime.now(UTC).isoformat()
        self.bytes_before = write_bytes()
        self.fsyncs_before = fsync_count()

    def snapshot(self) -> dict[str, Any]:
        now_bytes = write_bytes()
        written = None if now_bytes is None or self.bytes_before is None else now_bytes - self.bytes_before
        return {
            "since": self.started_at,
            "seconds": round(max(0.0, self.clock() - self.started), 3),
            "write_bytes": written,
            "fsyncs": fsync_count() - self.fsyncs_before,
        }


def per_day(io: object) -> str:
    """`1.2 MB/day written, 96 fsyncs/day (over 5.3 h)` from a state file's `io` snapshot, or `-`.

    Under an hour (a service just started, `read --once` on a file) the counts are shown as they are: a day
    extrapolated from a few minutes would mostly measure the start."""
    if not isinstance(io, dict):
        return "-"
    try:
        seconds = float(io["seconds"])
        fsyncs = int(io["fsyncs"])
        written = None if io.get("write_bytes") is None else int(io["write_bytes"])
    except (KeyError, TypeError, ValueError):
        return "-"
    if seconds < 0:
        return "-"
    if seconds < MIN_SPAN_SECONDS:
        span = f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"
        size = _UNKNOWN if written is None else f"{written / 1e6:.2f} MB written"
        return f"{size}, {fsyncs} fsyncs in the first {span} (a daily figure after an hour)"
    scale = DAY_SECONDS / seconds
    size = _UNKNOWN if written is None else f"{written * scale / 1e6:.1f} MB/day written"
    return f"{size}, {fsyncs * scale:.0f} fsyncs/day (over {seconds / 3600:.1f} h)"
