"""The whole chain against the real Django server: simulator -> reader -> spool -> uploader -> /api/v1/readings.

Tests with `live_server` use the test database (SQLite or PostgreSQL); the kill/restart tests run their own
gunicorn on a temp SQLite file (tests/edge/server.py) so the server can be SIGKILLed and started again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from p1edge import uploader as uploader_module
from p1edge.config import Config
from p1edge.reader import Reader
from p1edge.records import encode_wire
from p1edge.sampling import first_per_slot
from p1edge.simulator import SimulatorOptions, telegrams
from p1edge.spool import Spool
from p1edge.telegram import parse_telegram
from p1edge.uploader import Uploader

from tests.conftest import wait_for
from tests.edge.server import ROOT, DjangoServer

pytestmark = pytest.mark.slow

DAY = SimulatorOptions(
    start=datetime(2025, 6, 11, 22, 0, tzinfo=UTC),  # midnight local: one Brussels day of 96 quarters
    duration=timedelta(hours=24),
    seed=7,
    serial="1SAG4400000096",
    gas=True,
)
USER, PASSWORD = "pi-kitchen", "e2e-Pass-7781"


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    """24 h of simulated telegrams (86,400) in a file, and the readings expected from them."""
    path = tmp_path_factory.mktemp("capture") / "p1.txt"
    expected = []
    with open(path, "wb") as handle:
        for at, text in telegrams(DAY):
            handle.write(text.encode("ascii"))
            if at.minute % 15 == 0 and at.second == 0:
                expected.append(parse_telegram(text))
    return path, first_per_slot(expected)


@pytest.fixture(scope="module")
def migrated(tmp_path_factory):
    server = DjangoServer(tmp_path_factory.mktemp("template"))
    server.manage("migrate", "--noinput")
    return server.db


def _spooled(capture_path, tmp_path) -> Config:
    config = Config(
        serial_port=str(capture_path), spool_dir=tmp_path / "spool", api_username=USER, api_password=PASSWORD
    )
    assert Reader(config, Spool(config.spool_dir)).run(once=True) == 0
    return config


def _with_url(config: Config, url: str, **changes) -> Config:
    return Config(**{**config.__dict__, "api_url": url, **changes})


@pytest.mark.django_db(transaction=True)
def test_it_delivers_a_simulated_day_as_exactly_96_readings(capture, tmp_path, live_server, django_user_model):
    from meters.models import Reading

    owner = django_user_model.objects.create_user(USER, password=PASSWORD)
    path, expected = capture
    config = _with_url(_spooled(path, tmp_path), live_server.url)
    spool = Spool(config.spool_dir)
    assert spool.backlog()[0] == 96

    assert Uploader(config, spool).run(once=True) == 0

    stored = list(Reading.objects.filter(meter__serial=DAY.serial).order_by("timestamp"))
    assert len(stored) == 96
    assert stored[0].meter.owner == owner
    for reading, want in zip(stored, expected, strict=True):
        assert reading.timestamp == want["timestamp"]
        assert reading.measured_at == want["measured_at"]
        for field in ("import_t1_kwh", "import_t2_kwh", "export_t1_kwh", "export_t2_kwh", "gas_m3", "l2_current_a"):
            assert getattr(reading, field) == want[field], field
    assert spool.backlog()[0] == 0

    # the same spool replayed (e.g. ack file lost) only produces duplicates
    spool.ack_path.unlink()
    assert Uploader(config, spool).run(once=True) == 0
    assert Reading.objects.filter(meter__serial=DAY.serial).count() == 96


@pytest.mark.django_db(transaction=True)
def test_it_dead_letters_a_bad_item_and_stores_the_rest(capture, tmp_path, live_server, django_user_model):
    from meters.models import Reading

    django_user_model.objects.create_user(USER, password=PASSWORD)
    config = _with_url(_spooled(capture[0], tmp_path), live_server.url)
    spool = Spool(config.spool_dir)
    bad = {**json.loads(spool.read_batch(1).bodies[0]), "timestamp": "2025-06-12T03:07:00+00:00"}
    bad["import_t1_kwh"] = "12,5"  # a comma: not a number
    spool.append([encode_wire(bad)])

    assert Uploader(config, spool).run(once=True) == 0

    assert Reading.objects.filter(meter__serial=DAY.serial).count() == 96
    dead = [json.loads(line) for line in spool.dead_letter_path.read_text().splitlines()]
    assert len(dead) == 1
    assert dead[0]["record"]["import_t1_kwh"] == "12,5"
    assert dead[0]["errors"][0]["field"] == "import_t1_kwh"
    assert spool.backlog()[0] == 0


@pytest.fixture
def server(tmp_path, migrated):
    srv = DjangoServer(tmp_path / "server")
    srv.prepare(USER, PASSWORD, template=migrated)
    srv.start()
    yield srv
    srv.kill()


def test_it_still_delivers_exactly_96_when_the_server_is_killed_mid_drain(capture, tmp_path, server, monkeypatch):
    monkeypatch.setattr(uploader_module, "BACKOFF_BASE_SECONDS", 0.2)
    config = _with_url(_spooled(capture[0], tmp_path), server.url, batch_size=2)
    spool = Spool(config.spool_dir)
    up = Uploader(config, spool)
    failed: list[Exception] = []

    def chaos():
        try:
            # the first batch is acknowledged: we are mid-drain
            wait_for(spool.ack_path.exists, timeout=60, interval=0.005, message="the first acknowledged batch")
            before = up.state.get("last_error_at")
            server.kill()
            # The server stays down until the uploader has failed against it at least once.
            wait_for(lambda: up.state.get("last_error_at") != before, timeout=60, message="a failed upload")
            server.start()
        except Exception as exc:  # noqa: BLE001 - reported by the test's thread below
            failed.append(exc)
            up.stop.set()

    killer = threading.Thread(target=chaos)
    killer.start()
    watchdog = threading.Timer(90, up.stop.set)
    watchdog.start()
    up.sleep = lambda seconds: up.stop.wait(seconds) or (spool.backlog()[0] == 0 and up.stop.set())
    up.run(once=False, idle_seconds=0)
    killer.join()
    watchdog.cancel()

    assert not failed, failed
    assert up.state.get("last_error")  # it did notice the outage
    rows = server.readings()
    assert len(rows) == 96
    assert len({row[1] for row in rows}) == 96
    assert spool.backlog()[0] == 0


def _drain_started(spool: Spool, before: int, process: subprocess.Popen) -> Callable[[], bool]:
    """Whether the uploader ``process`` has acknowledged a batch (the backlog is no longer ``before``)."""

    def started() -> bool:
        exited = process.poll() is not None  # looked at first: it may acknowledge and exit in between
        if spool.backlog()[0] != before:
            return True
        assert not exited, f"the uploader exited ({process.returncode}) before anything was acknowledged"
        return False

    return started


def test_it_loses_and_doubles_nothing_when_the_uploader_is_killed_mid_batch(capture, tmp_path, server):
    config = _with_url(_spooled(capture[0], tmp_path), server.url)
    spool = Spool(config.spool_dir)
    env = {
        **os.environ,
        "P1EDGE_SPOOL_DIR": str(config.spool_dir),
        "P1EDGE_API_URL": server.url,
        "P1EDGE_API_USERNAME": USER,
        "P1EDGE_API_PASSWORD": PASSWORD,
        "P1EDGE_BATCH_SIZE": "2",  # many small requests, so a kill lands mid-drain and often mid-request
        "P1EDGE_CONFIG": str(tmp_path / "none.toml"),
    }
    command = [sys.executable, "-m", "p1edge.cli", "upload", "--log-level", "WARNING"]
    left_after_kills = []
    for delay in (0.0, 0.01, 0.03):
        before = spool.backlog()[0]
        if not before:
            break
        process = subprocess.Popen(command, env=env, cwd=ROOT)
        try:
            started = _drain_started(spool, before, process)
            wait_for(started, interval=0.001, message="the uploader's first acknowledged batch")
            # Not a wait for anything: the kill lands this long after the first acknowledgement, a different
            # moment of the drain in each round (the behaviour under test).
            time.sleep(delay)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        left_after_kills.append(spool.backlog()[0])
    assert any(left_after_kills), f"every kill came after the drain: {left_after_kills}"

    done = subprocess.run([*command, "--once"], env=env, cwd=ROOT, timeout=120)

    assert done.returncode == 0
    rows = server.readings()
    assert len(rows) == 96
    assert len({row[1] for row in rows}) == 96
    assert [Decimal(str(row[2])) for row in rows] == [want["import_t1_kwh"] for want in capture[1]]  # SQLite REAL
    assert spool.backlog()[0] == 0
