"""Live snapshots (issue 16): what the meter says right now, shared by the reader with the uploader in one small file.

The reader writes the latest parsed telegram's ``wire.LIVE_FIELDS`` to ``live.file`` (``$RUNTIME_DIRECTORY``, a
tmpfs under systemd) at most once per second, replacing it atomically; the uploader reads it every
``live.interval`` seconds and POSTs it to ``wire.LIVE_PATH``. No second reader on the serial port, no socket
between the services: a file that either service may find missing, old or (written by something else) garbage,
which then reads as None. The file is disposable: never fsync'd, never spooled.

The file's text is the request body: one JSON object, decimals as strings and times ISO 8601 with their offset
exactly as in the spool records (``records.to_wire``), absent values left out.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from p1edge.records import wire_value
from p1edge.wire import DATETIME_FIELDS, INT_VALUES, LIVE_FIELDS, LIVE_REQUIRED_FIELDS

# Far more than a snapshot's ~700 bytes: anything longer is not ours and is not read into memory.
MAX_FILE_BYTES = 16 * 1024


def snapshot_from_reading(reading: dict[str, Any]) -> dict[str, Any]:
    """The LIVE_FIELDS of a parsed reading (``measured_at`` is the telegram's meter time), without absent values."""
    return {key: reading[key] for key in LIVE_FIELDS if reading.get(key) is not None}


def encode_snapshot(snapshot: dict[str, Any]) -> bytes:
    """A snapshot (Decimal / datetime values, or already wire values) -> the JSON body of POST LIVE_PATH."""
    wire = {key: wire_value(snapshot[key]) for key in LIVE_FIELDS if snapshot.get(key) is not None}
    return json.dumps(wire, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def write_live_file(path: Path, snapshot: dict[str, Any]) -> None:
    """Replace ``path`` with the snapshot atomically (a temporary file in the same directory renamed over it): a
    reader of the file sees the old snapshot or the new one, never half of one. No fsync: the file lives on a
    tmpfs and is rewritten every second; after a crash it is stale anyway."""
    data = encode_snapshot(snapshot)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _valid(key: str, value: Any) -> bool:
    if key == "serial":
        return isinstance(value, str) and bool(value.strip())
    if key in INT_VALUES:
        return isinstance(value, int) and not isinstance(value, bool) and value in INT_VALUES[key]
    if not isinstance(value, str):
        return False
    if key in DATETIME_FIELDS:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return False
        return moment.utcoffset() is not None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return False
    return number.is_finite() and not number.is_signed()


def decode_snapshot(data: bytes) -> dict[str, Any] | None:
    """The wire snapshot in ``data``, or None when it is not one (torn, garbage, a required field missing or a
    value of the wrong kind). Keys other than LIVE_FIELDS are left out; nulls are absent values."""
    try:
        wire = json.loads(data)
    except ValueError:  # JSONDecodeError, and UnicodeDecodeError for bytes that are not text
        return None
    if not isinstance(wire, dict):
        return None
    snapshot = {key: wire[key] for key in LIVE_FIELDS if wire.get(key) is not None}
    if any(key not in snapshot for key in LIVE_REQUIRED_FIELDS):
        return None
    if not all(_valid(key, value) for key, value in snapshot.items()):
        return None
    return snapshot


@dataclass(frozen=True)
class LiveFile:
    snapshot: dict[str, Any]  # wire values, ready to post
    written_at: float  # the file's modification time (epoch seconds, the Pi's clock): how fresh it is

    @property
    def key(self) -> tuple[str, str]:
        """Which snapshot this is: a new telegram has a new meter time."""
        return str(self.snapshot["serial"]), str(self.snapshot["measured_at"])


def load_live_file(path: Path) -> LiveFile | None:
    """The snapshot in ``path`` and when it was written; None when the file is missing, unreadable or not a
    snapshot. Never raises on what the file holds."""
    try:
        with open(path, "rb") as handle:
            written_at = os.fstat(handle.fileno()).st_mtime
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError:
        return None
    if len(data) > MAX_FILE_BYTES:
        return None
    snapshot = decode_snapshot(data)
    return None if snapshot is None else LiveFile(snapshot, written_at)


def read_live_file(path: Path) -> dict[str, Any] | None:
    """The wire snapshot in ``path``, or None (missing, half written by something else, garbage)."""
    loaded = load_live_file(path)
    return None if loaded is None else loaded.snapshot
