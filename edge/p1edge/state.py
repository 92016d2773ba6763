"""Small JSON state files in the spool directory (counters and status for `p1edge status`).

They are not data: the reader and the uploader keep them in memory and write them at most every
`state.write_interval` seconds (15 minutes by default) and when they stop cleanly. A file is replaced atomically
(a temporary file renamed over it: a reader of the file sees the old or the new content, never a mix) but without
fsync, so the kernel writes it back when it flushes anyway. A power loss may cost the counters of the last minutes;
readings are the spool's and keep their fsync on every append. `state.fsync = true` restores the old, durable
writes (temp file fsync'd, directory fsync'd), which cost two fsyncs per write.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from p1edge.spool import write_atomically

logger = logging.getLogger(__name__)

READER_STATE = "reader-state.json"
UPLOADER_STATE = "uploader-state.json"


def load_state(directory: Path, name: str) -> dict[str, Any]:
    try:
        data = json.loads((directory / name).read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        logger.warning("ignoring unreadable state file %s: %s", name, exc)
        return {}
    return data if isinstance(data, dict) else {}


def _replace(path: Path, data: bytes) -> None:
    """Replace `path` atomically, no fsync: after a crash the old content, the new one or (power loss before the
    kernel's writeback, on a file system that does not order it) an unreadable file, which load_state ignores."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def save_state(directory: Path, name: str, state: dict[str, Any], *, fsync: bool = False) -> None:
    data = json.dumps(state, indent=1, sort_keys=True).encode()
    if fsync:
        write_atomically(directory / name, data)
    else:
        _replace(directory / name, data)


class StateFile:
    """When a service's state file is due: at most every `interval` seconds of `clock` (a monotonic clock, or the
    wall clock of the uploader: a clock that went back makes it due at once rather than silent for that long)."""

    def __init__(self, directory: Path, name: str, *, interval: float, fsync: bool, clock: Callable[[], float]) -> None:
        self.directory = directory
        self.name = name
        self.interval = interval
        self.fsync = fsync
        self.clock = clock
        self.saved_at = clock()  # the first write is due one interval after the start (or at the clean stop)
        self.writes = 0

    def due(self) -> bool:
        elapsed = self.clock() - self.saved_at
        return elapsed >= self.interval or elapsed < 0

    def write(self, state: dict[str, Any]) -> None:
        self.saved_at = self.clock()
        save_state(self.directory, self.name, state, fsync=self.fsync)
        self.writes += 1
