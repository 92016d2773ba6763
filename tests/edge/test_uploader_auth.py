"""The uploader and a refused password, against the real Django server (pytest-django's live_server).

After a 401 from the token endpoint the uploader must not keep guessing: every retry would renew the server's
lockout. It parks the password until the configuration changes or an hour has passed. The clock is injected,
so an hour passes in microseconds; the HTTP requests are real.
"""

from __future__ import annotations

import json
import logging
import os
import time

import pytest
import requests
from p1edge.cli import main
from p1edge.config import UPLOADER_KEYS, load_config
from p1edge.records import encode_record
from p1edge.spool import Spool
from p1edge.uploader import EXIT_TEMPFAIL, ApiClient, Uploader

from tests.edge.conftest import make_reading

USER, PASSWORD = "pi-kitchen", "right-Pass-4471"
pytestmark = pytest.mark.django_db(transaction=True)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()  # real JWT expiries are compared with it; only the advance is simulated

    def __call__(self) -> float:
        return self.now


def _write_config(path, url: str, spool_dir, password: str) -> None:
    path.write_text(
        f'[spool]\ndir = "{spool_dir}"\n'
        f'[api]\nurl = "{url}"\nusername = "{USER}"\npassword = "{password}"\ntimeout = 10\n'
    )
    path.chmod(0o600)


@pytest.fixture
def setup(tmp_path, live_server, django_user_model):
    django_user_model.objects.create_user(USER, password=PASSWORD)
    path = tmp_path / "config.toml"
    spool_dir = tmp_path / "spool"
    _write_config(path, live_server.url, spool_dir, "wrong-Pass-0000")
    Spool(spool_dir).append([encode_record(make_reading(i)) for i in range(3)])
    logins: list[int] = []
    session = requests.Session()

    def count_logins(response, *args, **kwargs):
        if response.request.method == "POST" and response.url.endswith("/api/v1/token/"):
            logins.append(response.status_code)

    session.hooks["response"].append(count_logins)
    clock = Clock()

    def build() -> Uploader:
        def load():
            return load_config(str(path), {}, need=UPLOADER_KEYS)

        config = load()
        spool = Spool(config.spool_dir)
        up = Uploader(
            config,
            spool,
            ApiClient(config, session=session, clock=clock),
            clock=clock,
            reload_config=load,
        )
        return up

    return {"path": path, "url": live_server.url, "spool_dir": spool_dir, "logins": logins, "clock": clock}, build


def _run_until(up: Uploader, clock: Clock, condition) -> None:
    """Service mode; every sleep advances the clock instead of waiting, and the run stops once `condition()`."""

    def sleep(seconds: float) -> None:
        assert seconds > 0
        clock.now += seconds
        if condition():
            up.stop.set()

    up.sleep = sleep
    up.stop.clear()
    assert up.run(once=False, idle_seconds=5) == 0


def test_it_parks_a_refused_password_until_an_hour_has_passed(setup, caplog, capsys, monkeypatch):
    s, build = setup
    clock, logins = s["clock"], s["logins"]
    started = clock.now
    up = build()

    with caplog.at_level(logging.WARNING, logger="p1edge.uploader"):
        _run_until(up, clock, lambda: clock.now - started > 59 * 60)

    assert logins == [401]  # one refusal, then 59 minutes of silence towards the server
    assert any("not trying this password again until" in r.getMessage() for r in caplog.records)
    state = json.loads((s["spool_dir"] / "uploader-state.json").read_text())
    assert "401" in state["login_refused"]["reason"]
    assert PASSWORD not in json.dumps(state)
    assert "wrong-Pass-0000" not in json.dumps(state)

    # a restarted uploader (reboot, systemd restart) does not try the parked password either
    assert build().run(once=True) == 2
    assert logins == [401]

    monkeypatch.setenv("P1EDGE_CONFIG", str(s["path"]))
    for key in ("P1EDGE_SPOOL_DIR", "P1EDGE_API_URL", "P1EDGE_API_USERNAME", "P1EDGE_API_PASSWORD"):
        monkeypatch.delenv(key, raising=False)
    capsys.readouterr()
    assert main(["status"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("login:"))
    assert "refused" in line
    assert "until the config changes or" in line

    _run_until(up, clock, lambda: clock.now - started > 61 * 60)
    assert logins == [401, 401]  # after the hour: one more try with the same password
    assert up.spool.backlog()[0] == 3


def test_it_tries_again_as_soon_as_the_config_file_changes(setup):
    s, build = setup
    clock, logins = s["clock"], s["logins"]
    started = clock.now
    up = build()
    _run_until(up, clock, lambda: clock.now - started > 10 * 60)
    assert logins == [401]

    _write_config(s["path"], s["url"], s["spool_dir"], PASSWORD)  # the operator fixes the password
    _run_until(up, clock, lambda: up.spool.backlog()[0] == 0)

    assert logins == [401, 200]
    assert clock.now - started < 20 * 60  # noticed at the next check, not after the hour
    state = json.loads((s["spool_dir"] / "uploader-state.json").read_text())
    assert "login_refused" not in state
    assert state["total_created"] == 3


def test_it_names_the_url_it_tried_when_the_api_path_is_wrong(setup):
    s, build = setup
    _write_config(s["path"], s["url"] + "/wrong", s["spool_dir"], PASSWORD)
    up = build()
    assert up.run(once=True) == EXIT_TEMPFAIL
    error = json.loads((s["spool_dir"] / "uploader-state.json").read_text())["last_error"]
    assert f"{s['url']}/wrong/api/v1/token/" in error
    assert "404" in error
    assert os.path.exists(s["path"])
