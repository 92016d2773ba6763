"""Real Mosquitto for the MQTT tests (issue 19): the system broker at 127.0.0.1:1883, a private one that a test may
stop and start (its own process, port and temporary config: the system broker is never touched), and a subscriber
that records what arrives. Each test publishes under its own random topics and clears the retained messages it made."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import wait_for
from tests.edge.server import free_port

SYSTEM_HOST, SYSTEM_PORT = "127.0.0.1", 1883
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def reachable(host: str = SYSTEM_HOST, port: int = SYSTEM_PORT) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((host, port)) == 0


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool

    @property
    def text(self) -> str:
        return self.payload.decode()


class Subscriber:
    """A paho client in its own thread that keeps every message of ``patterns`` (retained ones included)."""

    def __init__(self, patterns: list[str], host: str = SYSTEM_HOST, port: int = SYSTEM_PORT) -> None:
        self.patterns = patterns
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4()}")
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_args: self._subscribed.set()
        self.client.connect(host, port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "the test subscriber did not subscribe"

    def _on_connect(self, client, _userdata, _flags, _reason, _properties) -> None:
        client.subscribe([(pattern, 1) for pattern in self.patterns])

    def _on_message(self, _client, _userdata, message) -> None:
        with self._lock:
            self.messages.append(Message(message.topic, bytes(message.payload), bool(message.retain)))

    def on(self, topic: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def last(self, topic: str) -> Message | None:
        messages = self.on(topic)
        return messages[-1] if messages else None

    def matching(self, prefix: str, suffix: str = "") -> dict[str, Message]:
        """The latest message of each topic that starts with ``prefix`` (and ends with ``suffix``)."""
        with self._lock:
            return {m.topic: m for m in self.messages if m.topic.startswith(prefix) and m.topic.endswith(suffix)}

    def wait_last(self, topic: str, payload: str, timeout: float = 20) -> Message:
        def arrived() -> Message | None:
            last = self.last(topic)
            return last if last is not None and last.text == payload else None

        return wait_for(arrived, timeout, message=lambda: f"{payload!r} on {topic} (got {self.last(topic)})")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def retained(patterns: list[str], host: str = SYSTEM_HOST, port: int = SYSTEM_PORT) -> dict[str, Message]:
    """The retained messages under ``patterns`` now, as a client that subscribes now gets them (a subscriber that
    was there when they were published got them without the retain flag)."""
    seen = Subscriber(patterns, host, port)
    try:
        # the broker sends the retained messages right after the subscription; a marker published after it
        # arrives after them, so its arrival means they are all in
        marker = f"{patterns[0].rstrip('#').rstrip('/')}/_end-{uuid.uuid4()}"
        seen.client.publish(marker, b"x", qos=1)
        wait_for(lambda: seen.on(marker), 10, message="the end of the retained messages")
        return {m.topic: m for m in seen.messages if m.retain and m.payload}
    finally:
        seen.close()


def clear_retained(patterns: list[str], host: str = SYSTEM_HOST, port: int = SYSTEM_PORT) -> None:
    """Delete every retained message under ``patterns`` (an empty retained message clears one)."""
    with contextlib.suppress(OSError):
        topics = retained(patterns, host, port)
        client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4()}")
        client.connect(host, port)
        client.loop_start()
        try:
            for topic in topics:
                client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
        finally:
            client.disconnect()
            client.loop_stop()


@dataclass(frozen=True)
class Names:
    """A test's own topics: nothing another test (another xdist worker) publishes or reads."""

    root: str

    @property
    def base_topic(self) -> str:
        return f"{self.root}/meter/{{serial}}"

    @property
    def discovery_prefix(self) -> str:
        return f"{self.root}-ha"

    def base(self, serial: str) -> str:
        return f"{self.root}/meter/{serial}"

    @property
    def patterns(self) -> list[str]:
        return [f"{self.root}/#", f"{self.discovery_prefix}/#"]


def new_names() -> Names:
    return Names(f"p1edge-test/{uuid.uuid4().hex[:12]}")


class PrivateBroker:
    """A Mosquitto of the test's own on a free port (plain, or TLS with ``tls=(certfile, keyfile)``), without
    persistence, that the test may stop and start again on the same port."""

    def __init__(self, directory: Path, *, tls: tuple[Path, Path] | None = None, extra: str = "") -> None:
        self.directory = directory
        self.port = free_port()
        self.conf = directory / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            "persistence false",
            f"log_dest file {directory / 'mosquitto.log'}",
            # run as the current user: the broker must read the test's temporary files (mosquitto drops root to
            # its own user by default)
            f"user {os.environ.get('USER') or _user()}",
        ]
        if tls is not None:
            lines += [f"certfile {tls[0]}", f"keyfile {tls[1]}"]
        self.conf.write_text("\n".join(lines) + "\n" + extra)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> PrivateBroker:
        command = [MOSQUITTO, "-c", str(self.conf)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        process = self.process

        def listening() -> bool:
            if process.poll() is not None:
                err = process.stderr.read().decode() if process.stderr else ""
                raise AssertionError(f"mosquitto exited with {process.returncode}: {err} {self.log()}")
            return reachable("127.0.0.1", self.port)

        wait_for(listening, 20, message=lambda: f"the private mosquitto on port {self.port}: {self.log()}")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def log(self) -> str:
        path = self.directory / "mosquitto.log"
        return path.read_text()[-2000:] if path.exists() else ""


def _user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def make_certificates(directory: Path) -> dict[str, Path]:
    """A private CA and a server certificate for 127.0.0.1 signed by it (openssl), plus a second CA that did not
    sign it: what a Pi needs in mqtt.ca_file, and what it must refuse."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {name: directory / name for name in ("ca.pem", "ca.key", "server.pem", "server.key", "other-ca.pem")}

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)

    for ca, key in (("ca.pem", "ca.key"), ("other-ca.pem", "other-ca.key")):
        openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-subj", f"/CN=p1edge test {ca}",
            "-keyout", key, "-out", ca,
        )  # fmt: skip
    openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr"
    )  # fmt: skip
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "3650",
        "-extfile", "san.ext", "-out", "server.pem",
    )  # fmt: skip
    return paths
