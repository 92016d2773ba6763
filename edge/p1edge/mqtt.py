"""The MQTT adapter (issue 19): publishes the meter to the household's broker for Home Assistant, beside the reader.

The reader hands every framed telegram to ``MqttPublisher.offer`` (it keeps a reference to the latest: no parse, no
I/O, no lock held for longer than an assignment), so the serial loop and the spool never wait for the network. One
background thread owns the paho client and does everything else: it connects once the first telegram names the
meter (the last will is that meter's availability topic), announces the discovery configs (``p1edge.hass``) and
``online``, parses the latest telegram every ``mqtt.interval`` seconds and publishes its state, and reconnects with
exponential backoff (with jitter) when the broker goes away. A state that falls due while the broker is unreachable
is skipped, never queued: the next one replaces it, as with live power.

``close(flush=True)`` (``p1edge read --once``) waits, up to a deadline, until the latest telegram is delivered; every
close publishes ``offline`` and disconnects cleanly, so the will only fires when the process dies.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from p1edge import hass
from p1edge.config import SERIAL_PLACEHOLDER, MqttSettings
from p1edge.telegram import TelegramError, parse_telegram_report

logger = logging.getLogger(__name__)

KEEPALIVE = 60  # seconds: the broker fires the will this long (x 1.5) after the Pi vanished without a TCP close
CONNECT_TIMEOUT = 5.0  # TCP connect and TLS handshake; the broker's CONNACK gets as long again
MIN_BACKOFF, MAX_BACKOFF = 1.0, 60.0
FLUSH_TIMEOUT = 10.0  # how long `read --once` waits to deliver its last state
STOP_TIMEOUT = 3.0  # how long a stopping service waits to say offline
TICK = 0.25  # the thread's longest sleep: how late a close or a due state may be noticed
RETAINED_QOS = 1  # discovery and availability: retained, acknowledged
STATE_QOS = 0  # states are replaced every interval: nothing to resend


def _utcnow() -> datetime:
    return datetime.now(UTC)


def default_client_id() -> str:
    """Unique per process: two p1edge processes with one id would take the connection from each other in turn."""
    return f"p1edge-{socket.gethostname()}-{os.getpid()}"[:64]


def tls_context(settings: MqttSettings) -> ssl.SSLContext:
    """Verifies the broker's certificate and host name against mqtt.ca_file, else the system's CAs."""
    return ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)


def describe_error(exc: BaseException, settings: MqttSettings) -> str:
    """One line naming what failed and the setting to look at; no traceback."""
    where = f"{settings.host}:{settings.port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        fix = "set mqtt.ca_file to the CA that signed it" if settings.ca_file is None else "check mqtt.ca_file"
        return f"TLS: the certificate of {where} is not trusted ({exc.verify_message or exc.reason}): {fix}"
    if isinstance(exc, ssl.SSLError) or (settings.tls and isinstance(exc, ConnectionResetError | EOFError)):
        reason = getattr(exc, "reason", None) or exc
        return f"TLS handshake with {where} failed ({reason}): does the broker speak TLS there (mqtt.port, mqtt.tls)?"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve mqtt.host {settings.host!r} ({exc.strerror or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return f"{where} refused the connection: is the broker running and listening on mqtt.port?"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"{where} did not answer within {CONNECT_TIMEOUT:g} s"
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return f"cannot connect to {where}: {reason}"


def _closed_early(settings: MqttSettings) -> str:
    """The broker closed the connection without a CONNACK: what a TLS listener does with a plain CONNECT."""
    hint = "" if settings.tls else " (does it expect TLS? mqtt.tls)"
    return f"{settings.host}:{settings.port} closed the connection before accepting it{hint}"


def _refusal(reason: ReasonCode, settings: MqttSettings) -> str:
    hint = " (check mqtt.username and mqtt.password)" if reason.value in (4, 5, 0x86, 0x87) else ""
    return f"{settings.host}:{settings.port} refused the connection: {reason}{hint}"


@dataclass
class _Meter:
    """The meter being published, as known to the publisher thread."""

    identity: hass.MeterIdentity
    topics: hass.Topics
    announced: set[str] = field(default_factory=set)  # sensor keys whose config is on the broker


@dataclass(frozen=True)
class _Parsed:
    reading: dict[str, Any]
    frame: str
    seq: int  # which offer it was


class MqttPublisher:
    """See the module docstring. ``offer``, ``status``, ``changes`` and ``close`` may be called from any thread;
    everything else runs in the publisher's own thread."""

    def __init__(
        self,
        settings: MqttSettings,
        *,
        now: Callable[[], datetime] = _utcnow,
        clock: Callable[[], float] = time.monotonic,  # when states are due; connection timing is always real time
        min_backoff: float = MIN_BACKOFF,
        max_backoff: float = MAX_BACKOFF,
        flush_timeout: float = FLUSH_TIMEOUT,
    ) -> None:
        self.settings = settings
        self.flush_timeout = flush_timeout
        self.client_id = settings.client_id or default_client_id()
        self.now = now
        self.clock = clock
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self._lock = threading.Lock()
        self._frame: str | None = None
        self._frame_seq = 0
        self._closing = threading.Event()
        self._flush = False
        self._deadline = 0.0
        self._thread: threading.Thread | None = None
        self._status: dict[str, Any] = {
            "broker": settings.broker,
            "client_id": self.client_id,
            "connected": False,
            "since": None,
            "last_publish_at": None,
            "last_state": None,
            "states": 0,
            "skipped": 0,
            "configs": 0,
            "connects": 0,
            "last_error": None,
            "last_error_at": None,
        }
        self.changes = 0  # bumped when the connection comes or goes: the reader then writes its state file at once
        # owned by the publisher thread
        self._client: paho.Client | None = None
        self._socket_open = False
        self._connected = False
        self._connack_by = 0.0
        self._refused: str | None = None
        self._will_serial: str | None = None
        self._meter: _Meter | None = None
        self._latest: _Parsed | None = None
        self._parsed_seq = 0
        self._published_seq = 0
        self._next_state = 0.0
        self._retry_at = 0.0
        self._delay = min_backoff
        self._pending: list[paho.MQTTMessageInfo] = []
        self._logged_error: str | None = None

    # --- any thread ---------------------------------------------------------------------------------------------

    def offer(self, frame: str) -> None:
        """The reader's latest framed telegram (CRC not checked yet: the publisher parses it when it is due)."""
        with self._lock:
            self._frame = frame
            self._frame_seq += 1

    def status(self) -> dict[str, Any]:
        """For reader-state.json and `p1edge status`."""
        with self._lock:
            return dict(self._status)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._main, name="p1edge-mqtt", daemon=True)
            self._thread.start()

    def close(self, *, flush: bool = False, timeout: float | None = None) -> None:
        """Stop: with ``flush``, first deliver the latest telegram (connecting if need be) within ``timeout``; then
        ``offline`` and a clean disconnect. Returns when the thread has ended (at most one connect attempt after
        the deadline)."""
        wait = timeout if timeout is not None else (self.flush_timeout if flush else STOP_TIMEOUT)
        self._flush = flush
        self._deadline = time.monotonic() + wait
        self._closing.set()
        if self._thread is not None:
            self._thread.join(wait + CONNECT_TIMEOUT * 2 + 1)
            if self._thread.is_alive():
                logger.warning("MQTT: the publisher thread did not stop in time; leaving it to the exit")

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # --- the publisher thread -----------------------------------------------------------------------------------

    def _main(self) -> None:
        while True:
            try:
                if self._step():
                    break
            except Exception as exc:  # whatever paho or a bug raises costs a reconnect, never the thread
                logger.exception("MQTT publisher error; reconnecting")
                self._lost(f"publisher error: {type(exc).__name__}: {exc}")
                self._closing.wait(TICK)
        self._finish()

    def _step(self) -> bool:
        """One turn of the thread; True when it is time to end."""
        closing = self._closing.is_set()
        if closing and (not self._flush or self._flushed() or time.monotonic() >= self._deadline):
            return True
        if self._meter is None:
            self._learn_meter()
        if self._meter is not None and self._meter.identity.serial != self._will_serial:
            self._switch_meter()
        if not self._socket_open:
            self._skip_due()
            if self._meter is not None and time.monotonic() >= self._retry_at:
                self._connect()
            else:
                self._closing.wait(TICK)
            return False
        if self._connected and (self.clock() >= self._next_state or (closing and self._flush)):
            self._publish_state()
        elif not self._connected and time.monotonic() >= self._connack_by:
            self._failed(f"{self.settings.host}:{self.settings.port} did not answer the MQTT CONNECT")
            return False
        assert self._client is not None
        if self._client.loop(timeout=self._loop_timeout(closing)) != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._lost(self._refused or self._loss_reason())
        return False

    def _loop_timeout(self, closing: bool) -> float:
        if closing or not self._connected:
            return 0.05
        return max(0.0, min(TICK, self._next_state - self.clock()))

    def _skip_due(self) -> None:
        """A state that falls due without a connection is skipped (counted), not queued."""
        if self._meter is None or self.clock() < self._next_state:
            return
        self._next_state = self.clock() + self.settings.interval
        if self._will_serial is not None and self._status["connects"]:
            with self._lock:
                self._status["skipped"] += 1

    def _parse_latest(self) -> _Parsed | None:
        """The latest telegram if it is new and parses; a bad one (the reader counts those) only means no new
        state this turn."""
        with self._lock:
            frame, seq = self._frame, self._frame_seq
        if frame is None or seq == self._parsed_seq:
            return None
        self._parsed_seq = seq
        try:
            parsed = _Parsed(parse_telegram_report(frame).reading, frame, seq)
        except TelegramError as exc:
            logger.debug("MQTT: latest telegram not published: %s", exc.reason)
            return None
        except Exception:  # a parser bug costs one state, not the publisher
            logger.exception("MQTT: parser failed on the latest telegram")
            return None
        self._latest = parsed
        return parsed

    def _meter_for(self, parsed: _Parsed) -> _Meter:
        serial = str(parsed.reading["serial"])
        if self._meter is not None and self._meter.identity.serial == serial:
            return self._meter
        identity = hass.meter_identity(parsed.frame, serial)
        topics = hass.meter_topics(
            self.settings.base_topic, self.settings.discovery_prefix, serial, placeholder=SERIAL_PLACEHOLDER
        )
        return _Meter(identity, topics)

    def _learn_meter(self) -> None:
        """Before the first connection: which meter this is (the will and every topic depend on it)."""
        parsed = self._parse_latest()
        if parsed is not None:
            self._meter = self._meter_for(parsed)

    def _switch_meter(self) -> None:
        """The first meter, or a new one on the port (Fluvius replaced it): the old one goes offline and the
        connection is made again with the new one's will."""
        assert self._meter is not None
        if self._socket_open:
            self._say_offline()
            self._disconnect()
        logger.info("MQTT: publishing meter %s under %s", self._meter.identity.serial, self._meter.topics.base)
        self._will_serial = self._meter.identity.serial
        self._retry_at = 0.0

    def _new_client(self) -> paho.Client:
        settings = self.settings
        client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=MQTTProtocolVersion.MQTTv311,
            clean_session=True,
        )
        client.enable_logger(logging.getLogger(f"{__name__}.paho"))
        client.connect_timeout = CONNECT_TIMEOUT
        if settings.username is not None:
            client.username_pw_set(settings.username, settings.password)
        if settings.tls:
            client.tls_set_context(tls_context(settings))
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        return client

    def _connect(self) -> None:
        assert self._meter is not None
        if self._client is None:
            self._client = self._new_client()
        self._client.will_set(self._meter.topics.availability, hass.NOT_AVAILABLE, qos=RETAINED_QOS, retain=True)
        self._refused = None
        try:
            self._client.connect(self.settings.host, self.settings.port, keepalive=KEEPALIVE)
        except (OSError, ValueError) as exc:  # refused, unreachable, unresolvable, TLS, timeout
            self._failed(describe_error(exc, self.settings))
            return
        self._socket_open = True
        self._connack_by = time.monotonic() + CONNECT_TIMEOUT

    def _on_connect(
        self, client: paho.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _properties: Any
    ) -> None:
        if reason.is_failure:
            self._refused = _refusal(reason, self.settings)  # the broker closes the connection: the loop reports it
            return
        assert self._meter is not None
        self._connected = True
        self._delay = self.min_backoff
        self._logged_error = None
        logger.info("MQTT: connected to %s as %s", self.settings.broker, self.client_id)
        with self._lock:
            self._status.update(connected=True, since=self.now().isoformat())
            self._status["connects"] += 1
            self.changes += 1
        client.subscribe(self._meter.topics.ha_status, qos=0)
        self._announce(self._meter, everything=True)
        self._next_state = self.clock()  # a state at once: Home Assistant need not wait an interval for values

    def _on_message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        """Home Assistant restarted: announce everything again and send a state now, rather than at the next
        interval (a Home Assistant that lost its retained view would otherwise show nothing until then)."""
        meter = self._meter
        if meter is not None and message.topic == meter.topics.ha_status and message.payload == hass.HA_ONLINE.encode():
            logger.info("MQTT: Home Assistant came online; announcing meter %s again", meter.identity.serial)
            self._announce(meter, everything=True)
            self._published_seq = 0
            self._next_state = self.clock()

    def _announce(self, meter: _Meter, *, everything: bool = False) -> None:
        """``online`` and the discovery configs: all of them, or those of values that appeared since (a gas meter
        that reported for the first time)."""
        if everything:
            self._publish(meter.topics.availability, hass.AVAILABLE, qos=RETAINED_QOS, retain=True)
        if self._latest is None:
            return
        sensors = [s for s in hass.present_sensors(self._latest.reading) if everything or s.key not in meter.announced]
        for topic, payload in hass.discovery_messages(meter.identity, meter.topics, sensors):
            self._publish(topic, json.dumps(payload, ensure_ascii=False), qos=RETAINED_QOS, retain=True)
        meter.announced.update(sensor.key for sensor in sensors)
        with self._lock:
            self._status["configs"] = len(meter.announced)

    def _publish_state(self) -> None:
        """The latest telegram's state (and raw text); nothing when no new telegram came since the last one (a
        stopped meter is not shown as fresh)."""
        self._next_state = max(self._next_state + self.settings.interval, self.clock())
        self._parse_latest()
        latest = self._latest
        if latest is None or latest.seq == self._published_seq:
            return
        meter = self._meter_for(latest)
        if meter is not self._meter:
            self._meter = meter  # the next turn moves the connection to the new meter
            return
        self._announce(meter)
        self._publish(meter.topics.state, json.dumps(hass.state_payload(latest.reading)), qos=STATE_QOS)
        if self.settings.telegram:
            self._publish(meter.topics.telegram, latest.frame, qos=STATE_QOS)
        self._published_seq = latest.seq
        with self._lock:
            self._status["states"] += 1
            self._status["last_publish_at"] = self.now().isoformat()
            self._status["last_state"] = f"{meter.identity.serial} at {latest.reading['measured_at'].isoformat()}"

    def _publish(self, topic: str, payload: str, *, qos: int, retain: bool = False) -> None:
        assert self._client is not None
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        self._pending = [p for p in self._pending if not p.is_published()] + [info]

    def _delivered(self) -> bool:
        return self._connected and all(p.is_published() for p in self._pending)

    def _flushed(self) -> bool:
        """The latest telegram is published (or did not parse) and the broker has all we sent."""
        with self._lock:
            offered = self._frame_seq
        if offered == 0:
            return True
        latest = self._latest
        published = latest is None or latest.seq == self._published_seq
        return self._parsed_seq == offered and published and self._delivered()

    def _loss_reason(self) -> str:
        if not self._connected:
            return _closed_early(self.settings)
        return f"lost the connection to {self.settings.host}:{self.settings.port}"

    def _failed(self, error: str) -> None:
        """A connection attempt failed: the next one after the backoff (doubling, with jitter, up to the maximum)."""
        self._close_socket()
        delay = self._delay * random.uniform(0.5, 1.0)
        self._retry_at = time.monotonic() + delay
        self._delay = min(self._delay * 2, self.max_backoff)
        self._record_error(error, f"retrying in {delay:.1f} s")

    def _lost(self, error: str) -> None:
        if not self._connected:
            self._failed(error)
            return
        self._close_socket()
        self._retry_at = time.monotonic() + self.min_backoff * random.uniform(0.5, 1.0)
        self._record_error(error, "reconnecting")

    def _record_error(self, error: str, then: str) -> None:
        log = logger.warning if error != self._logged_error else logger.debug
        self._logged_error = error
        log("MQTT: %s; %s", error, then)
        with self._lock:
            self._status.update(last_error=error, last_error_at=self.now().isoformat())

    def _close_socket(self) -> None:
        """Drop the connection (a DISCONNECT if it is still up: no will) and keep the client for the next one."""
        was_connected = self._connected
        self._connected = False
        client = self._client
        if self._socket_open and client is not None:
            client.disconnect()
            deadline = time.monotonic() + 1.0
            # paho sends the DISCONNECT and closes the socket in its loop
            while client.socket() is not None and time.monotonic() < deadline:
                if client.loop(timeout=0.05) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    break
        self._socket_open = False
        self._pending = []
        if was_connected:
            with self._lock:
                self._status.update(connected=False, since=self.now().isoformat())
                self.changes += 1

    def _say_offline(self) -> None:
        if self._connected and self._will_serial is not None:
            topics = hass.meter_topics(
                self.settings.base_topic, self.settings.discovery_prefix, self._will_serial, SERIAL_PLACEHOLDER
            )
            self._publish(topics.availability, hass.NOT_AVAILABLE, qos=RETAINED_QOS, retain=True)

    def _disconnect(self) -> None:
        """Deliver what is pending (until the close deadline, or for a second), then disconnect cleanly."""
        assert self._client is not None
        soon = time.monotonic() + 1.0
        deadline = max(self._deadline, soon) if self._closing.is_set() else soon
        while self._connected and not self._delivered() and time.monotonic() < deadline:
            if self._client.loop(timeout=0.05) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break
        self._close_socket()

    def _finish(self) -> None:
        try:
            if self._flush and not self._flushed():
                logger.warning(
                    "MQTT: the latest telegram was not delivered before exit: %s",
                    self._status["last_error"] or "no connection yet",
                )
            if self._socket_open:
                self._say_offline()
                self._disconnect()
        except Exception:  # a failing goodbye must not turn a clean stop into a traceback
            logger.exception("MQTT: could not say offline; the broker's last will does it")
        logger.debug("MQTT publisher stopped")


def probe_broker(settings: MqttSettings, timeout: float = CONNECT_TIMEOUT) -> str | None:
    """For check-config: None when the broker accepts a connection with these settings, else why not. Connects
    under its own client id (a running reader keeps its connection), publishes nothing, disconnects."""
    client_id = f"{settings.client_id or default_client_id()}-check"[:64]
    client = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=MQTTProtocolVersion.MQTTv311,
    )
    client.connect_timeout = timeout
    if settings.username is not None:
        client.username_pw_set(settings.username, settings.password)
    answer: list[ReasonCode] = []
    client.on_connect = lambda _c, _u, _f, reason, _p: answer.append(reason)
    try:
        if settings.tls:
            client.tls_set_context(tls_context(settings))
        client.connect(settings.host, settings.port, keepalive=KEEPALIVE)
    except (OSError, ValueError) as exc:
        return describe_error(exc, settings)
    deadline = time.monotonic() + timeout
    try:
        while not answer and time.monotonic() < deadline:
            if client.loop(timeout=0.1) != MQTTErrorCode.MQTT_ERR_SUCCESS and not answer:
                return _closed_early(settings)
    except (OSError, ValueError) as exc:
        return describe_error(exc, settings)
    finally:
        client.disconnect()
    if not answer:
        return f"{settings.host}:{settings.port} did not answer the MQTT CONNECT within {timeout:g} s"
    return _refusal(answer[0], settings) if answer[0].is_failure else None
