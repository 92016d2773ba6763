"""The whole pairing flow against the real server: `p1edge pair` asks for a code, the owner approves it on the
website (logged in, CSRF and all), the Pi uploads with its device token, the owner revokes it, and the next upload
is refused while the spool keeps every reading."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import requests
from p1edge import wire
from p1edge.config import UPLOADER_KEYS, load_config
from p1edge.records import encode_record
from p1edge.spool import Spool
from p1edge.uploader import Uploader

from tests.conftest import wait_for
from tests.edge.conftest import make_reading

pytestmark = pytest.mark.django_db(transaction=True)
SERIAL = "1SAG3100716957"


def _website_session(base: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{base}/login/", timeout=10)
    form = {"username": username, "password": password, "csrfmiddlewaretoken": session.cookies["csrftoken"]}
    response = session.post(f"{base}/login/", data=form, timeout=10, allow_redirects=False)
    assert response.status_code == 302, response.text[:500]
    return session


def _post(session: requests.Session, url: str, **data: str) -> requests.Response:
    data["csrfmiddlewaretoken"] = session.cookies["csrftoken"]
    return session.post(url, data=data, timeout=10, allow_redirects=False)


def test_a_pi_pairs_uploads_and_is_refused_once_revoked(live_server, alice, password, tmp_path, settings):
    from meters.models import Device, Reading

    settings.DEVICE_POLL_INTERVAL = 1  # the child really waits between polls
    token_file = tmp_path / "device-token"
    env = {
        **os.environ,
        "P1EDGE_CONFIG": str(tmp_path / "none.toml"),
        "P1EDGE_DEVICE_TOKEN_FILE": str(token_file),
        "P1EDGE_API_ALLOW_INSECURE": "true",  # the test server speaks plain http on loopback
        "PYTHONUNBUFFERED": "1",
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "p1edge.cli", "pair", "--server", live_server.url, "--name", "kelder"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        shown: list[str] = []

        def code_shown() -> str | None:
            line = child.stdout.readline() if child.stdout else ""
            shown.append(line)
            found = re.search(r"\b([B-Z]{4}-[B-Z]{4})\b", line)
            return found[1] if found else None

        user_code = wait_for(code_shown, timeout=30, message=lambda: f"the user code; the Pi printed {shown}")
        web = _website_session(live_server.url, alice.username, password)
        page = web.get(f"{live_server.url}/device/", params={"user_code": user_code}, timeout=10)
        assert user_code in page.text
        looked_up = _post(web, f"{live_server.url}/device/", user_code=user_code)
        assert "kelder" in looked_up.text
        assert _post(web, f"{live_server.url}/device/", user_code=user_code, decision="approve").status_code == 302
        _out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err
    assert token_file.stat().st_mode & 0o777 == 0o600
    pairing = json.loads(token_file.read_text())
    assert pairing["server"] == live_server.url
    assert pairing["token"].startswith(wire.DEVICE_TOKEN_PREFIX)

    config_path = tmp_path / "config.toml"
    config_path.write_text(
        f'[spool]\ndir = "{tmp_path / "spool"}"\n[api]\ndevice_token_file = "{token_file}"\nallow_insecure = true\n'
    )
    config_path.chmod(0o600)
    config = load_config(str(config_path), {}, need=UPLOADER_KEYS)
    spool = Spool(config.spool_dir)
    spool.append([encode_record(make_reading(i, SERIAL)) for i in range(3)])

    assert Uploader(config, spool).run(once=True) == 0
    assert Reading.objects.filter(meter__serial=SERIAL, meter__owner=alice).count() == 3
    device = Device.objects.get()
    assert (device.owner, device.name, [m.serial for m in device.meters.all()]) == (alice, "kelder", [SERIAL])
    assert device.last_seen_at is not None
    assert "kelder" in web.get(f"{live_server.url}/devices/", timeout=10).text

    # The owner revokes it on the Devices page; the readings that arrive afterwards stay on the Pi.
    assert _post(web, f"{live_server.url}/devices/{device.pk}/revoke").status_code == 302
    spool.append([encode_record(make_reading(i, SERIAL)) for i in range(3, 5)])

    assert Uploader(load_config(str(config_path), {}, need=UPLOADER_KEYS), spool).run(once=True) != 0
    assert spool.backlog()[0] == 2
    assert Reading.objects.filter(meter__serial=SERIAL).count() == 3
    state = json.loads((spool.dir / "uploader-state.json").read_text())
    assert "revoked: run p1edge pair" in state["last_error"]
    assert pairing["token"] not in json.dumps(state)
