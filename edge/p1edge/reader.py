"""The reader service: P1 port -> frames -> CRC + parse -> first telegram of each quarter-hour -> spool."""

from __future__ import annotations

import logging
import os
import re
import stat
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import serial

from p1edge.config import Config
from p1edge.crc import crc_matches
from p1edge.framing import Framer
from p1edge.records import encode_record
from p1edge.sampling import QuarterSampler, slot_start
from p1edge.spool import Spool
from p1edge.state import READER_STATE, load_state, save_state
from p1edge.telegram import TelegramError, parse_telegram

logger = logging.getLogger(__name__)

_CLOCK = re.compile(r"^0-0:1\.0\.0\((\d{12})([SW])\)", re.MULTILINE)
_SERIAL = re.compile(r"^0-0:96\.1\.1\(([0-9A-Fa-f]+)\)", re.MULTILINE)
_STATE_EVERY_SECONDS = 30.0


class Port(Protocol):
    def read(self, size: int) -> bytes: ...
    def close(self) -> None: ...


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
        try:
            return self.port.read(max(1, min(self.port.in_waiting, 65536)))
        except (serial.SerialException, OSError) as exc:
            raise PortClosed(str(exc)) from exc

    def close(self) -> None:
        self.port.close()


def open_port(name: str, baudrate: int, *, follow: bool = False) -> Port:
    """A device path, a pyserial URL (socket://, rfc2217://, loop://...) or a plain file / FIFO."""
    if "://" in name:
        return _SerialPort(
            serial.serial_for_url(name, baudrate=baudrate, bytesize=8, parity="N", stopbits=1, timeout=1)
        )
    try:
        mode = os.stat(name).st_mode
    except FileNotFoundError:
        raise PortClosed(f"{name} does not exist") from None
    if stat.S_ISREG(mode) or stat.S_ISFIFO(mode):
        return _FilePort(name, follow=follow)
    try:
        return _SerialPort(serial.Serial(name, baudrate=baudrate, bytesize=8, parity="N", stopbits=1, timeout=1))
    except (serial.SerialException, OSError) as exc:
        raise PortClosed(str(exc)) from exc


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
    """Step functions of the reader service; `run()` is the loop around them."""

    def __init__(self, config: Config, spool: Spool, stop: threading.Event | None = None) -> None:
        self.config = config
        self.spool = spool
        self.stop = stop or threading.Event()
        self.framer = Framer()
        self.counts: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()
        self.last_error: str | None = None
        self._state_saved = 0.0
        last = spool.last_record()
        seed = {}
        if last and last.get("serial") and last.get("timestamp"):
            seed[last["serial"]] = datetime.fromisoformat(last["timestamp"])
        self.sampler = QuarterSampler(seed)
        previous = load_state(spool.dir, READER_STATE)
        for key in ("telegrams", "stored", "skipped", "rejected"):
            self.counts[key] = int(previous.get(key, 0))
        self.reasons.update(previous.get("rejected_reasons", {}))

    def handle_frame(self, frame: str) -> dict[str, Any] | None:
        """One framed telegram; returns the reading it stored, if any."""
        self.counts["telegrams"] += 1
        cheap = _cheap_slot(frame)
        if cheap is not None:
            last = self.sampler.last_slots.get(cheap[0])
            if last is not None and cheap[1] <= last:
                # The quarter is stored: no full parse, but the CRC is still checked so that every corrupted
                # telegram is counted, whichever second it arrived in.
                if not crc_matches(frame):
                    self._reject("CRC mismatch: telegram of an already stored quarter-hour")
                    return None
                self.counts["skipped"] += 1
                return None
        try:
            reading = parse_telegram(frame)
        except TelegramError as exc:
            self._reject(exc.reason)
            return None
        kept = self.sampler.offer(reading)
        if kept is None:
            self.counts["skipped"] += 1
            return None
        self.spool.append([encode_record(kept)])
        self.counts["stored"] += 1
        logger.info("stored reading %s %s", kept["serial"], kept["timestamp"].isoformat())
        return kept

    def _reject(self, reason: str) -> None:
        self.counts["rejected"] += 1
        self.reasons[reason.split(":", 1)[0]] += 1
        self.last_error = reason
        logger.warning("telegram rejected (%d so far): %s", self.counts["rejected"], reason)

    def handle_bytes(self, data: bytes) -> list[dict[str, Any]]:
        stored = []
        for frame in self.framer.feed(data):
            reading = self.handle_frame(frame)
            if reading is not None:
                stored.append(reading)
        self.save_state(force=False)
        return stored

    def save_state(self, *, force: bool = True) -> None:
        now = time.monotonic()
        if not force and now - self._state_saved < _STATE_EVERY_SECONDS:
            return
        self._state_saved = now
        state = {
            **{key: self.counts[key] for key in ("telegrams", "stored", "skipped", "rejected")},
            "rejected_reasons": dict(self.reasons),
            "skipped_bytes": self.framer.skipped_chars,
            "last_error": self.last_error,
            "updated_at": datetime.now(UTC).isoformat(),
            "last_slot": {k: v.isoformat() for k, v in self.sampler.last_slots.items()},
        }
        save_state(self.spool.dir, READER_STATE, state)

    def run(self, *, once: bool = False) -> int:
        """Read until stopped (or, with once, until the input ends). Reconnects when the port disappears."""
        delay = 1.0
        port_name = self.config.serial_port or ""
        try:
            while not self.stop.is_set():
                try:
                    port = open_port(port_name, self.config.baudrate, follow=not once)
                except PortClosed as exc:
                    if once:
                        logger.error("cannot open %s: %s", port_name, exc)
                        return 1
                    logger.warning("cannot open %s (%s); retrying in %.0f s", port_name, exc, delay)
                    self.stop.wait(delay)
                    delay = min(delay * 2, 30.0)
                    continue
                delay = 1.0
                logger.info("reading %s", port_name)
                try:
                    while not self.stop.is_set():
                        self.handle_bytes(port.read(65536))
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
            self.save_state()
