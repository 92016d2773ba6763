"""The reader service: P1 port -> frames -> CRC + parse -> first telegram of each quarter-hour -> spool, and (issue
16) the latest telegram, at most once per second, -> the live file the uploader sends from, and (issue 19) every
telegram -> the MQTT publisher's thread, which takes the latest when it is due."""

from __future__ import annotations

import logging
import os
import re
import stat
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import serial

from p1edge.config import Config
from p1edge.crc import crc_problem
from p1edge.framing import Framer
from p1edge.iostats import IoMeter
from p1edge.live import snapshot_from_reading, write_live_file
from p1edge.records import encode_record
from p1edge.sampling import QuarterSampler
from p1edge.spool import Spool
from p1edge.state import READER_STATE, StateFile, load_state
from p1edge.telegram import ParsedTelegram, TelegramError, parse_telegram_report
from p1edge.wire import slot_start

logger = logging.getLogger(__name__)

_CLOCK = re.compile(r"^0-0:1\.0\.0\((\d{12})([SW])\)", re.MULTILINE)
_SERIAL = re.compile(r"^0-0:96\.1\.1\(([0-9A-Fa-f]+)\)", re.MULTILINE)
# One read call waits for up to this many bytes or READ_TIMEOUT seconds, whichever comes first: at the meter's pace
# (a telegram of about 1 KB per second) one call, one framer feed and one state check per second, however the
# driver splits the bytes (a USB adapter hands them over in 62-byte packets). The framer joins telegrams split
# across calls; the timeout also bounds how long a stop request waits.
READ_SIZE = 65536
READ_TIMEOUT = 1.0
_COUNTS = ("telegrams", "stored", "skipped", "rejected", "fields_dropped")


class Port(Protocol):
    def read(self, size: int) -> bytes: ...
    def close(self) -> None: ...


class Publisher(Protocol):
    """What the reader needs of ``p1edge.mqtt.MqttPublisher`` (which it does not import: paho is loaded only when
    [mqtt] is configured)."""

    changes: int  # bumped when the broker connection comes or goes

    def offer(self, frame: str) -> None: ...
    def start(self) -> None: ...
    def close(self, *, flush: bool = False, timeout: float | None = None) -> None: ...
    def status(self) -> dict[str, Any]: ...


class PortClosed(Exception):
    """The input ended (end of file, FIFO writer gone, serial device unplugged)."""


class _FilePort:
    """A captured file or a FIFO, replayed as if it came from the meter."""

    def __init__(self, path: str, *, follow: bool) -> None:
        self.path = path
        self.follow = follow and not stat.S_ISFIFO(os.stat(path).st_mode)
        self.handle = open(path, "rb", buffering=0)

    def read(self, size: int) -> bytes:
        data = self.handle.read(size)
        if not data:
            if self.follow:  # a plain file in service mode: wait for it to grow, like tail -f
                time.sleep(0.5)
                return b""
            raise PortClosed(f"end of {self.path}")
        return data

    def close(self) -> None:
        self.handle.close()


class _SerialPort:
    def __init__(self, port: serial.SerialBase) -> None:
        self.port = port

    def read(self, size: int) -> bytes:
        """What arrived within the port's timeout (READ_TIMEOUT), up to `size` bytes; b"" when nothing did.

        Not `in_waiting`-sized reads: those returned after the first byte, then after each packet of the driver,
        so the reader woke, fed the framer and looked at its state file dozens of times per telegram."""
        try:
            return self.port.read(size)
        except (serial.SerialException, OSError) as exc:
            raise PortClosed(str(exc)) from exc

    def close(self) -> None:
        self.port.close()


def _port_error(name: str, exc: BaseException) -> str:
    """One line for the log and `status`: what could not be opened and the system's reason, no traceback."""
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    if isinstance(exc, serial.SerialException):
        reason = str(exc).replace(f"Could not open port {name}: ", "")  # pyserial repeats the name
    return f"{name}: {reason}".replace("\n", " ")


def open_port(name: str, baudrate: int, *, follow: bool = False) -> Port:
    """A device path, a pyserial URL (socket://, rfc2217://, loop://...) or a plain file / FIFO.

    Raises PortClosed with a one-line reason when it cannot be opened (missing, unreadable, refused), which
    the reader's loop retries in service mode exactly like an unplugged device."""
    try:
        if "://" in name:
            return _SerialPort(
                serial.serial_for_url(name, baudrate=baudrate, bytesize=8, parity="N", stopbits=1, timeout=READ_TIMEOUT)
            )
        mode = os.stat(name).st_mode
        if stat.S_ISREG(mode) or stat.S_ISFIFO(mode):
            return _FilePort(name, follow=follow)
        return _SerialPort(
            serial.Serial(name, baudrate=baudrate, bytesize=8, parity="N", stopbits=1, timeout=READ_TIMEOUT)
        )
    except FileNotFoundError:
        raise PortClosed(f"{name}: does not exist (device not plugged in?)") from None
    except (serial.SerialException, OSError, ValueError) as exc:  # ValueError: a malformed pyserial URL
        raise PortClosed(_port_error(name, exc)) from None


def probe_port(name: str, baudrate: int) -> str | None:
    """For check-config: None when `name` opens, else the one-line reason. Opens and closes at once; a FIFO
    is opened non-blocking (a blocking open would wait for a writer)."""
    try:
        if "://" not in name and stat.S_ISFIFO(os.stat(name).st_mode):
            os.close(os.open(name, os.O_RDONLY | os.O_NONBLOCK))
            return None
    except FileNotFoundError:
        pass  # open_port words it
    except OSError as exc:
        return _port_error(name, exc)
    try:
        open_port(name, baudrate).close()
    except PortClosed as exc:
        return str(exc)
    return None


def _cheap_slot(frame: str) -> tuple[str, datetime] | None:
    """Serial and slot read by regex without CRC or full parse, to skip telegrams of a slot already stored.

    A corrupted telegram can only be skipped here if its (corrupted) clock points at a stored slot, where
    it would have been dropped anyway; anything that looks like a new slot gets the full check."""
    clock, serial_match = _CLOCK.search(frame), _SERIAL.search(frame)
    if clock is None or serial_match is None:
        return None
    try:
        local = datetime.strptime(clock.group(1), "%y%m%d%H%M%S")
        serial_text = bytes.fromhex(serial_match.group(1)).decode("ascii").strip()
    except ValueError:
        return None
    offset = timedelta(hours=2 if clock.group(2) == "S" else 1)
    return serial_text, slot_start((local - offset).replace(tzinfo=UTC))


class Reader:
    """Step functions of the reader service; `run()` is the loop around them.

    Counters and status live in memory; reader-state.json is written at most every `state.write_interval` seconds
    of `clock` (a monotonic clock; tests inject one), when the port's status changes, and at a clean stop.

    With live snapshots on (`live.interval` > 0) the first telegram of each second of `clock` is parsed in full,
    also in a quarter-hour already stored, and its snapshot replaces the live file; the other telegrams of that
    second take the fast path as before.

    With a ``publisher`` (MQTT, issue 19) every framed telegram is handed to it as text: it parses the latest in its
    own thread when a state is due, so the reader does no extra work and never waits for the broker."""

    def __init__(
        self,
        config: Config,
        spool: Spool,
        stop: threading.Event | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        publisher: Publisher | None = None,
    ) -> None:
        self.config = config
        self.publisher = publisher
        self._saved_mqtt_changes = 0
        self.spool = spool
        self.stop = stop or threading.Event()
        self.clock = clock
        self.framer = Framer()
        self.counts: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()  # rejected telegrams by TelegramError.kind
        self.field_reasons: Counter[str] = Counter()  # optional fields left out of kept readings, by field
        self.last_error: str | None = None
        self.port_error: str | None = None  # why the port cannot be opened right now (None once it reads)
        self._logged_fields: set[str] = set()
        self.state_file = StateFile(
            spool.dir, READER_STATE, interval=config.state_write_interval, fsync=config.state_fsync, clock=clock
        )
        self.io = IoMeter(clock)
        self._saved_port_error: str | None = None
        last = spool.last_record()
        seed = {}
        if last and last.get("serial") and last.get("timestamp"):
            seed[last["serial"]] = datetime.fromisoformat(last["timestamp"])
        self.sampler = QuarterSampler(seed)
        previous = load_state(spool.dir, READER_STATE)
        for key in _COUNTS:
            self.counts[key] = int(previous.get(key, 0))
        self.reasons.update(previous.get("rejected_reasons", {}))
        self.field_reasons.update(previous.get("dropped_fields", {}))
        # the framer's counters start at 0 in each process; the state adds those of earlier runs
        self._frames_dropped_before = int(previous.get("frames_dropped", 0))
        self._frame_reasons_before: Counter[str] = Counter(previous.get("dropped_frame_reasons", {}))
        # live snapshots: the file, the clock second of its last write, and the latest snapshot shared
        self.live_path = config.live_path if config.live_interval > 0 else None
        self.live_snapshot: dict[str, Any] | None = None
        self.live_writes = 0
        self.live_error: str | None = None
        self._live_second: int | None = None

    def handle_frame(self, frame: str) -> dict[str, Any] | None:
        """One framed telegram; returns the reading it stored, if any."""
        self.counts["telegrams"] += 1
        if self.publisher is not None:
            self.publisher.offer(frame)
        live_second = self._live_due()
        cheap = _cheap_slot(frame) if live_second is None else None
        if cheap is not None:
            last = self.sampler.last_slots.get(cheap[0])
            if last is not None and cheap[1] <= last:
                # The quarter is stored: no full parse, but the CRC is still checked so that every corrupted
                # telegram is counted, whichever second it arrived in.
                problem = crc_problem(frame)
                if problem is not None:
                    self._reject(problem[0], f"{problem[1]} (a telegram of an already stored quarter-hour)")
                    return None
                self.counts["skipped"] += 1
                return None
        parsed = self._parse(frame)
        if parsed is None:
            return None
        if live_second is not None:
            self._share_live(parsed.reading, live_second)
        kept = self.sampler.offer(parsed.reading)
        if kept is None:
            self.counts["skipped"] += 1
            return None
        self.spool.append([encode_record(kept)])
        self.counts["stored"] += 1
        self._count_dropped(parsed)
        logger.info("stored reading %s %s", kept["serial"], kept["timestamp"].isoformat())
        return kept

    def _live_due(self) -> int | None:
        """The second of `clock` now when this telegram is to refresh the live file (the first parsed telegram of
        that second), else None (live off, or the file was written in this second already)."""
        if self.live_path is None:
            return None
        second = int(self.clock())
        return None if second == self._live_second else second

    def _share_live(self, reading: dict[str, Any], second: int) -> None:
        """Replace the live file with this telegram's snapshot. A failure (the directory is missing, not
        writable, full) is logged once per reason and costs the snapshot only: the spool does not depend on it."""
        assert self.live_path is not None
        self._live_second = second
        self.live_snapshot = snapshot_from_reading(reading)
        try:
            write_live_file(self.live_path, self.live_snapshot)
        except (OSError, ValueError) as exc:  # ValueError: a naive time, which the parser never returns
            error = f"cannot write {self.live_path}: {getattr(exc, 'strerror', None) or exc}"
            if error != self.live_error:
                logger.warning("live snapshots: %s (retrying every second)", error)
            self.live_error = error
            return
        if self.live_error is not None:
            logger.info("live snapshots: %s is written again", self.live_path)
            self.live_error = None
        self.live_writes += 1

    def _parse(self, frame: str) -> ParsedTelegram | None:
        try:
            return parse_telegram_report(frame)
        except TelegramError as exc:
            self._reject(exc.kind, exc.reason)
        except Exception as exc:  # a parser bug must cost one telegram, not crash-loop the service
            logger.exception("parser failed on a telegram; it is counted as rejected")
            self._reject("parser error", f"parser error: {type(exc).__name__}: {exc}")
        return None

    def _count_dropped(self, parsed: ParsedTelegram) -> None:
        """Optional fields left out of a stored reading: counted by field; logged once per field and process
        (a meter that always sends one malformed line would otherwise log it every quarter-hour)."""
        for key, detail in zip(parsed.dropped, parsed.details, strict=True):
            self.counts["fields_dropped"] += 1
            self.field_reasons[key] += 1
            log = logger.warning if key not in self._logged_fields else logger.debug
            self._logged_fields.add(key)
            log("reading kept without a malformed optional field (%d so far): %s", self.field_reasons[key], detail)

    def _reject(self, kind: str, reason: str) -> None:
        self.counts["rejected"] += 1
        self.reasons[kind] += 1
        self.last_error = reason
        logger.warning("telegram rejected (%d so far): %s", self.counts["rejected"], reason)

    def handle_bytes(self, data: bytes) -> list[dict[str, Any]]:
        stored = []
        for frame in self.framer.feed(data):
            reading = self.handle_frame(frame)
            if reading is not None:
                stored.append(reading)
        # the broker connection came or went: written at once, like the port's status, for `p1edge status`
        mqtt_changed = self.publisher is not None and self.publisher.changes != self._saved_mqtt_changes
        self.save_state(force=mqtt_changed)
        return stored

    def save_state(self, *, force: bool = True) -> None:
        """Write reader-state.json now (force), or only when the interval has passed."""
        if not force and not self.state_file.due():
            return
        self._saved_port_error = self.port_error
        state = {
            **{key: self.counts[key] for key in _COUNTS},
            "rejected_reasons": dict(self.reasons),
            "dropped_fields": dict(self.field_reasons),
            "frames_dropped": self._frames_dropped_before + self.framer.dropped_frames,
            "dropped_frame_reasons": dict(self._frame_reasons_before + self.framer.drop_reasons),
            "skipped_bytes": self.framer.skipped_chars,
            "last_error": self.last_error,
            "port_error": self.port_error,
            "updated_at": datetime.now(UTC).isoformat(),
            "last_slot": {k: v.isoformat() for k, v in self.sampler.last_slots.items()},
            "io": self.io.snapshot(),
        }
        if self.live_path is not None:
            state["live"] = {"file": str(self.live_path), "writes": self.live_writes, "last_error": self.live_error}
        if self.publisher is not None:
            self._saved_mqtt_changes = self.publisher.changes
            state["mqtt"] = self.publisher.status()
        self.state_file.write(state)

    def _port_status(self, error: str | None) -> None:
        """A port that cannot be opened, or opens again: written at once, so `p1edge status` shows why nothing
        arrives (a retry with the same reason writes nothing)."""
        self.port_error = error
        if error != self._saved_port_error:
            self.save_state()

    def run(self, *, once: bool = False) -> int:
        """Read until stopped (or, with once, until the input ends). Reconnects when the port disappears.

        With once no live file is written: `read --once` replays captures, whose telegrams are not "now". The MQTT
        publisher runs beside the loop; with once it delivers the latest telegram before the reader returns."""
        if once:
            self.live_path = None
        elif self.live_path is not None and self.config.live_file is None:
            # Outside systemd's RuntimeDirectory (an old unit file, a shell) the file lands next to the spool,
            # usually on the SD card, and is rewritten every second.
            logger.warning(
                "live snapshots: %s is rewritten every second and RUNTIME_DIRECTORY is not set; install the "
                "current systemd units (RuntimeDirectory=p1edge, a tmpfs), set live.file to a tmpfs path, or set "
                "live.interval = 0",
                self.live_path,
            )
        if self.publisher is not None:
            self.publisher.start()
        delay = 1.0
        port_name = self.config.serial_port or ""
        try:
            while not self.stop.is_set():
                try:
                    port = open_port(port_name, self.config.baudrate, follow=not once)
                except PortClosed as exc:
                    if once:
                        self.port_error = str(exc)
                        logger.error("cannot open %s", exc)
                        return 1
                    logger.warning("cannot open %s; retrying in %.0f s", exc, delay)
                    self._port_status(str(exc))
                    self.stop.wait(delay)
                    delay = min(delay * 2, 30.0)
                    continue
                delay = 1.0
                self._port_status(None)
                logger.info("reading %s", port_name)
                try:
                    while not self.stop.is_set():
                        self.handle_bytes(port.read(READ_SIZE))
                except PortClosed as exc:
                    if once:
                        logger.info("input ended: %s", exc)
                        return 0
                    logger.warning("port lost (%s); reconnecting", exc)
                    self.stop.wait(delay)
                finally:
                    port.close()
            return 0
        finally:
            if self.publisher is not None:
                self.publisher.close(flush=once)
            self.save_state()
