"""The durable file buffer between the reader and the uploader.

Layout of the spool directory:
    segments/000000000001.jsonl ...   append-only record lines (records.py), each append fsync'd
    ack.json                          {"segment": n, "offset": bytes}: first byte not yet acknowledged;
                                      replaced atomically (temp file + fsync + rename + directory fsync)
    dead-letter.jsonl                 items the server refused (400) or lines that are corrupt
    write.lock / upload.lock          fcntl locks: one writer, one uploader, both may run at once

A record leaves the spool only by moving the ack position past it after the server acknowledged it, and
whole segments behind the ack position are deleted: nothing is ever rewritten, so draining is linear. The segment
holding the newest valid record is kept even when it is wholly acknowledged, because `last_record()` seeds the
next writer from it and the newer segments may not hold a record yet (see `ack`). A torn
last line (power loss mid-write) is cut off by the next writer and never consumed by the uploader; a corrupt
complete line is moved to the dead-letter file instead of blocking the queue.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from p1edge.records import RecordError, decode_record

logger = logging.getLogger(__name__)

SEGMENT_MAX_BYTES = 4 * 1024 * 1024
_SUFFIX = ".jsonl"


@dataclass(frozen=True, order=True)
class Position:
    segment: int
    offset: int


@dataclass
class Batch:
    """Consecutive valid records from the ack position; `end` is where the ack moves once they are delivered."""

    bodies: list[str] = field(default_factory=list)  # the JSON object text of each record (no `_crc`)
    end: Position | None = None
    rejects: list[dict[str, Any]] = field(default_factory=list)  # corrupt lines, dead-lettered on ack

    def __len__(self) -> int:
        return len(self.bodies)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash leaves either the old or the new content."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


@contextlib.contextmanager
def _locked(path: Path, *, blocking: bool = True) -> Iterator[bool]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing releases the lock


class Spool:
    def __init__(self, directory: str | os.PathLike[str], *, segment_max_bytes: int = SEGMENT_MAX_BYTES) -> None:
        self.dir = Path(directory)
        self.segments_dir = self.dir / "segments"
        self.ack_path = self.dir / "ack.json"
        self.dead_letter_path = self.dir / "dead-letter.jsonl"
        self.segment_max_bytes = segment_max_bytes
        self.segments_dir.mkdir(parents=True, exist_ok=True)

    # --- segments -----------------------------------------------------------------------------------------
    def _segment_path(self, number: int) -> Path:
        return self.segments_dir / f"{number:012d}{_SUFFIX}"

    def segment_numbers(self) -> list[int]:
        numbers = []
        for entry in os.scandir(self.segments_dir):
            name = entry.name
            if name.endswith(_SUFFIX) and name[: -len(_SUFFIX)].isdigit():
                numbers.append(int(name[: -len(_SUFFIX)]))
        return sorted(numbers)

    # --- writer -------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def writer_lock(self) -> Iterator[None]:
        with _locked(self.dir / "write.lock"):
            yield

    def append(self, lines: list[bytes]) -> None:
        """Append encoded record lines durably (one write + fsync for the whole list)."""
        if not lines:
            return
        data = b"".join(lines)
        with self.writer_lock():
            numbers = self.segment_numbers()
            number = numbers[-1] if numbers else 1
            path = self._segment_path(number)
            created = not path.exists()
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
            try:
                size = self._cut_torn_tail(fd, path)
                if size >= self.segment_max_bytes:
                    os.close(fd)
                    fd = -1
                    number += 1
                    path = self._segment_path(number)
                    created = True
                    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
                    size = 0
                os.lseek(fd, size, os.SEEK_SET)
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                if fd >= 0:
                    os.close(fd)
            if created:
                _fsync_dir(self.segments_dir)

    @staticmethod
    def _cut_torn_tail(fd: int, path: Path) -> int:
        """Truncate a last line without its LF (a write cut by power loss); returns the clean size."""
        size = os.fstat(fd).st_size
        if size == 0:
            return 0
        if os.pread(fd, 1, size - 1) == b"\n":
            return size
        start = max(0, size - 65536)
        tail = os.pread(fd, size - start, start)
        cut = start + tail.rfind(b"\n") + 1 if b"\n" in tail else start
        logger.warning("spool segment %s ends in a torn record: cutting %d bytes", path.name, size - cut)
        os.ftruncate(fd, cut)
        os.fsync(fd)
        return cut

    def last_record(self) -> dict[str, Any] | None:
        """The newest valid record (seeds the reader's sampler after a restart)."""
        newest = self._newest_record(self.segment_numbers())
        return None if newest is None else newest[1]

    def _newest_record(self, numbers: list[int]) -> tuple[int, dict[str, Any]] | None:
        """The newest valid record among the segments `numbers` (ascending), with the number of its segment."""
        for number in reversed(numbers):
            path = self._segment_path(number)
            with contextlib.suppress(FileNotFoundError), open(path, "rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                start = max(0, size - 65536)
                handle.seek(start)
                for line in reversed(handle.read().splitlines(keepends=True)):
                    with contextlib.suppress(RecordError):
                        return number, decode_record(line)
        return None

    # --- uploader -----------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def uploader_lock(self, *, blocking: bool = True) -> Iterator[bool]:
        with _locked(self.dir / "upload.lock", blocking=blocking) as got:
            yield got

    def ack_position(self) -> Position:
        numbers = self.segment_numbers()
        first = Position(numbers[0] if numbers else 1, 0)
        try:
            data = json.loads(self.ack_path.read_text())
            position = Position(int(data["segment"]), int(data["offset"]))
        except FileNotFoundError:
            return first
        except (ValueError, KeyError, TypeError):
            logger.error("unreadable %s: restarting from the oldest segment (duplicates are ignored)", self.ack_path)
            return first
        return max(position, first)

    def read_batch(self, max_items: int, *, max_bytes: int = 4 * 1024 * 1024) -> Batch:
        """Up to `max_items` valid records after the ack position. Corrupt lines are dead-lettered and skipped
        (their position is included in `end`); an incomplete last line is left for later."""
        batch = Batch()
        position = self.ack_position()
        numbers = [n for n in self.segment_numbers() if n >= position.segment]
        size = 0
        for index, number in enumerate(numbers):
            is_last = index == len(numbers) - 1
            offset = position.offset if number == position.segment else 0
            path = self._segment_path(number)
            try:
                handle = open(path, "rb")
            except FileNotFoundError:
                continue
            with handle:
                handle.seek(offset)
                for line in handle:
                    if not line.endswith(b"\n"):
                        if not is_last:
                            # a torn line in an older segment can never be completed: skip it
                            batch.rejects.append({"raw": line.decode("latin-1"), "reason": "torn record"})
                            offset += len(line)
                        break
                    offset += len(line)
                    try:
                        decode_record(line)
                    except RecordError as exc:
                        logger.error("corrupt spool line in %s: %s", path.name, exc)
                        batch.rejects.append({"raw": line.decode("latin-1"), "reason": str(exc)})
                        batch.end = Position(number, offset)
                        continue
                    body = line[: line.rindex(b',"_crc":"')].decode("ascii") + "}"
                    batch.bodies.append(body)
                    batch.end = Position(number, offset)
                    size += len(body)
                    if len(batch.bodies) >= max_items or size >= max_bytes:
                        return batch
            if not is_last:
                # every byte of this older segment is consumed: continue at the start of the next one
                batch.end = Position(numbers[index + 1], 0)
        return batch

    def ack(self, end: Position, *, rejects: list[dict[str, Any]] | None = None) -> None:
        """Mark everything before `end` delivered, then delete the segments wholly behind it, except the one
        holding the newest valid record.

        `rejects` (corrupt lines met on the way) go to the dead-letter file first, so none is lost or doubled.

        A writer killed between creating a new segment and completing its first line leaves that newest segment
        empty or torn, and `read_batch` then ends at the start of it, past every byte of the older segment. If
        that older segment were deleted, the spool would hold no valid record any more and `last_record()` would
        return None: the next writer would start without its seed (the reader would store a second reading for a
        quarter-hour it already stored). So the segment with the newest valid record stays until a newer one
        holds a complete record. A writer only ever cuts bytes after the last line end, so a complete record
        that was seen here stays; `read_batch`, `backlog` and `ack_position` start at the ack position, so a
        kept, wholly acknowledged segment is never read again.
        """
        for entry in rejects or ():
            self.dead_letter(entry)
        write_atomically(self.ack_path, json.dumps({"segment": end.segment, "offset": end.offset}).encode())
        numbers = self.segment_numbers()
        behind = [number for number in numbers if number < end.segment]
        if not behind:
            return
        newest = self._newest_record(numbers)
        keep_from = end.segment if newest is None else min(end.segment, newest[0])
        for number in behind:
            if number >= keep_from:
                break
            with contextlib.suppress(FileNotFoundError):
                self._segment_path(number).unlink()

    # --- dead letters and status --------------------------------------------------------------------------
    def dead_letter(self, entry: dict[str, Any]) -> None:
        entry = {"at": datetime.now(UTC).isoformat(), **entry}
        with _locked(self.dir / "dead-letter.lock"), open(self.dead_letter_path, "ab") as handle:
            handle.write(json.dumps(entry, separators=(",", ":")).encode() + b"\n")
            handle.flush()
            os.fsync(handle.fileno())

    def dead_letter_count(self) -> int:
        try:
            with open(self.dead_letter_path, "rb") as handle:
                return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
        except FileNotFoundError:
            return 0

    def backlog(self) -> tuple[int, int, str | None]:
        """(records, bytes, timestamp of the oldest record) not yet acknowledged; counts complete lines."""
        position = self.ack_position()
        records = size = 0
        oldest = None
        for number in self.segment_numbers():
            if number < position.segment:
                continue
            with contextlib.suppress(FileNotFoundError), open(self._segment_path(number), "rb") as handle:
                handle.seek(position.offset if number == position.segment else 0)
                if oldest is None:
                    first = handle.readline()
                    with contextlib.suppress(RecordError):
                        oldest = decode_record(first).get("timestamp")
                    records += first.count(b"\n")
                    size += len(first)
                for chunk in iter(functools.partial(handle.read, 1 << 20), b""):
                    records += chunk.count(b"\n")
                    size += len(chunk)
        return records, size, oldest
