"""`p1edge pair` (RFC 8628 device authorization) and the device token in the uploader, against a fake device server
on loopback: it issues codes, enforces the polling interval on the test's fake clock (polling too fast gets
``slow_down``), hands out device tokens and refuses revoked ones on /api/v1/readings. The real Django server runs the
same flow in the server's tests; here the server is the boundary that is faked.

No test waits for the wall clock: clock and sleep are injected (a sleep advances the fake clock).
"""

from __future__ import annotations

import io
import json
import os
import secrets
import signal
import socket
import stat
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import parse_qs

import pytest
from p1edge import devicetoken, pairing, wire
from p1edge.cli import main
from p1edge.config import UPLOADER_KEYS, load_config
from p1edge.devicetoken import DeviceToken, read_token_file, write_token_file
from p1edge.pairing import DeviceCode, qr_text, run_pair, show_code
from p1edge.records import encode_record
from p1edge.spool import Spool
from p1edge.uploader import EXIT_AUTH, REVOKED_STATUS, TOKEN_CHECK_SECONDS, Uploader

from tests.conftest import wait_for
from tests.edge.conftest import make_reading

USER_CODE = "WDJB-MJHT"


class Clock:
    """Fake time: `sleep` advances `now` at once and records how long was asked for."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


class DeviceServer:
    """The server's side of the contract in wire.py: device code, token polling, readings with a device token."""

    def __init__(self, clock: Clock, *, interval: int = 5, expires_in: int = 600) -> None:
        self.clock = clock
        self.interval = interval
        self.expires_in = expires_in
        self.codes: dict[str, dict] = {}  # device_code -> {"user_code", "name", "state", "interval", ...}
        self.tokens: dict[str, str] = {}  # token -> "active" | "revoked"
        self.requests: list[tuple[str, str, dict, dict]] = []  # (method, path, body, headers)
        self.readings: list[dict] = []
        self.throttled = False  # the code endpoint answers 429
        self.decide = lambda code, polls: None  # called on every poll: may set code["state"] (approve, deny)
        self.force_slow_down: set[int] = set()  # poll numbers answered slow_down however they are spaced
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(("GET", self.path, {}, dict(self.headers)))
                self._reply(405, {"detail": 'Method "GET" not allowed.'})

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    body = json.loads(raw or b"{}")
                else:
                    body = {key: values[0] for key, values in parse_qs(raw.decode()).items()}
                server.requests.append(("POST", self.path, body, dict(self.headers)))
                status, reply, headers = server.answer(self.path, body, dict(self.headers))
                self._reply(status, reply, headers)

            def _reply(self, status, reply, headers=None):
                data = json.dumps(reply).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    # --- the endpoints ------------------------------------------------------------------------------------
    def answer(self, path: str, body: dict, headers: dict) -> tuple[int, dict, dict]:
        if path == wire.DEVICE_CODE_PATH:
            return self._code(body)
        if path == wire.DEVICE_TOKEN_PATH:
            return self._token(body)
        if path == wire.READINGS_PATH:
            return self._readings(body, headers)
        return 404, {"detail": "Not found."}, {}

    def _code(self, body: dict) -> tuple[int, dict, dict]:
        if self.throttled:
            return 429, {"detail": "Request was throttled. Expected available in 120 seconds."}, {"Retry-After": "120"}
        device_code = secrets.token_urlsafe(32)
        self.codes[device_code] = {
            "user_code": USER_CODE,
            "name": body.get("name"),
            "state": "pending",
            "interval": self.interval,
            "expires_at": self.clock() + self.expires_in,
            "last_poll": None,
            "polls": [],
        }
        return (
            200,
            {
                "device_code": device_code,
                "user_code": USER_CODE,
                "verification_uri": f"{self.url}/device/",
                "verification_uri_complete": f"{self.url}/device/?user_code={USER_CODE}",
                "expires_in": self.expires_in,
                "interval": self.interval,
            },
            {},
        )

    def _token(self, body: dict) -> tuple[int, dict, dict]:
        def error(name: str) -> tuple[int, dict, dict]:
            return 400, {"error": name, "error_description": f"{name} (fake server)"}, {}

        if body.get("grant_type") != wire.DEVICE_GRANT_TYPE:
            return error("unsupported_grant_type")
        code = self.codes.get(body.get("device_code", ""))
        if code is None or code["state"] == "used":
            return error("invalid_grant")
        now = self.clock()
        code["polls"].append(now)
        polls = len(code["polls"])
        if now >= code["expires_at"]:
            return error(wire.EXPIRED_TOKEN)
        too_fast = code["last_poll"] is not None and now - code["last_poll"] < code["interval"]
        code["last_poll"] = now
        if too_fast or polls in self.force_slow_down:
            code["interval"] += 5  # RFC 8628 3.5: the client adds 5 s too, for this and every later poll
            return error(wire.SLOW_DOWN)
        self.decide(code, polls)
        if code["state"] == "denied":
            return error(wire.ACCESS_DENIED)
        if code["state"] != "approved":
            return error(wire.AUTHORIZATION_PENDING)
        code["state"] = "used"
        token = wire.DEVICE_TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.tokens[token] = "active"
        return 200, {"access_token": token, "token_type": "Bearer"}, {}

    def _readings(self, body: dict, headers: dict) -> tuple[int, dict, dict]:
        auth = headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ")
        state = self.tokens.get(token) if auth.startswith("Bearer ") else None
        if state == "revoked":
            return 401, {"detail": wire.DEVICE_REVOKED}, {}
        if state != "active":
            return 401, {"detail": "Invalid token."}, {}
        self.readings.extend(body["readings"])
        return 200, {"created": len(body["readings"]), "duplicates": 0}, {}

    # --- what the test looks at -----------------------------------------------------------------------------
    def posts(self, path: str) -> list[tuple[str, str, dict, dict]]:
        return [r for r in self.requests if r[0] == "POST" and r[1] == path]

    def approve_at(self, poll: int):
        def decide(code, polls):
            if polls >= poll:
                code["state"] = "approved"

        self.decide = decide


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def server(clock):
    fake = DeviceServer(clock)
    yield fake
    fake.httpd.shutdown()


def _pair(server, clock, token_file, name="kitchen", **kwargs):
    out, err = io.StringIO(), io.StringIO()
    code = run_pair(server.url, name, token_file, out=out, err=err, clock=clock, sleep=clock.sleep, **kwargs)
    return code, out.getvalue(), err.getvalue()


# --- pairing ----------------------------------------------------------------------------------------------------


def test_it_pairs_polling_at_the_interval_slowing_down_by_5_s_and_writes_a_0600_token_file(
    server, clock, tmp_path, monkeypatch
):
    server.force_slow_down = {2}
    server.approve_at(4)
    token_file = tmp_path / "device-token"
    opened = []
    real_open = os.open

    def recording_open(path, flags, mode=0o777, **kwargs):
        opened.append((str(path), flags, mode))
        return real_open(path, flags, mode, **kwargs)

    monkeypatch.setattr(devicetoken.os, "open", recording_open)
    old_umask = os.umask(0)  # even with no umask the file is never readable by others
    try:
        code, out, err = _pair(server, clock, token_file)
    finally:
        os.umask(old_umask)

    assert code == 0, err
    # pending, slow_down, then every poll 5 s later than before: the fake server answers slow_down to any poll
    # that comes sooner than its (grown) interval, so approval at poll 4 proves the client kept the new interval
    assert clock.sleeps == [5, 5, 10, 10]
    [code_request] = server.posts(wire.DEVICE_CODE_PATH)
    assert code_request[2] == {"name": "kitchen"}
    polls = server.posts(wire.DEVICE_TOKEN_PATH)
    assert len(polls) == 4
    assert polls[0][2]["grant_type"] == wire.DEVICE_GRANT_TYPE
    assert polls[0][3]["Content-Type"] == "application/x-www-form-urlencoded"

    [token] = server.tokens
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    data = json.loads(token_file.read_text())
    assert data["token"] == token
    assert (data["server"], data["name"]) == (server.url, "kitchen")
    assert data["paired_at"].endswith("+00:00")
    [(tmp_name, flags, mode)] = [entry for entry in opened if entry[0] != str(tmp_path)]
    assert tmp_name != str(token_file)  # written under a temporary name, then renamed
    assert flags & os.O_CREAT
    assert flags & os.O_EXCL
    assert mode == 0o600
    assert sorted(os.listdir(tmp_path)) == ["device-token"]  # no temporary file left

    assert f"{server.url}/device/" in out
    assert USER_CODE in out
    assert f"{server.url}/device/?user_code={USER_CODE}" in out
    assert f"paired with {server.url} as kitchen" in out
    assert "every 10 s" in err
    assert token not in out + err


def test_it_stops_when_the_request_is_denied(server, clock, tmp_path):
    def deny(code, polls):
        if polls == 2:
            code["state"] = "denied"

    server.decide = deny
    code, _out, err = _pair(server, clock, tmp_path / "device-token")
    assert code == 1
    assert err.strip() == "p1edge pair: the pairing request was denied on the website; nothing was paired"
    assert not (tmp_path / "device-token").exists()
    assert len(server.posts(wire.DEVICE_TOKEN_PATH)) == 2


def test_it_stops_when_the_code_expires_before_approval(clock, tmp_path):
    server = DeviceServer(clock, interval=5, expires_in=20)
    try:
        code, _out, err = _pair(server, clock, tmp_path / "device-token")
    finally:
        server.httpd.shutdown()
    assert code == 1
    assert err.strip() == "p1edge pair: the code expired before it was approved; run p1edge pair again"
    assert len(server.posts(wire.DEVICE_TOKEN_PATH)) == 4  # at 5, 10, 15 s pending; at 20 s expired_token
    assert not (tmp_path / "device-token").exists()


def test_it_gives_up_at_the_expiry_even_when_the_server_never_says_so(server, clock, tmp_path):
    server.expires_in = 30
    real_token = server._token

    def pending_forever(body):
        status, reply, headers = real_token(body)
        if reply.get("error") == wire.EXPIRED_TOKEN:
            return 400, {"error": wire.AUTHORIZATION_PENDING}, {}
        return status, reply, headers

    server._token = pending_forever
    code, _out, err = _pair(server, clock, tmp_path / "device-token")
    assert code == 1
    assert "the code expired before it was approved" in err
    assert sum(clock.sleeps) == 30


def test_it_reports_a_throttled_code_request_with_the_retry_after(server, clock, tmp_path):
    server.throttled = True
    code, out, err = _pair(server, clock, tmp_path / "device-token")
    assert code == 1
    assert "try again in 120 s" in err
    assert len(err.strip().splitlines()) == 1
    assert server.posts(wire.DEVICE_TOKEN_PATH) == []
    assert USER_CODE not in out


def test_it_names_a_refused_grant(server, clock, tmp_path):
    def forget(code, polls):  # the server loses the code after the first poll: the next one is invalid_grant
        code["state"] = "used"

    server.decide = forget
    code, _out, err = _pair(server, clock, tmp_path / "device-token")
    assert code == 1
    assert err.strip() == (
        "p1edge pair: the server refused the pairing (invalid_grant: invalid_grant (fake server)); "
        "run p1edge pair again"
    )
    assert len(server.posts(wire.DEVICE_TOKEN_PATH)) == 2


def test_it_keeps_polling_through_server_errors_with_a_longer_wait(server, clock, tmp_path):
    real_token = server._token
    answers = iter([(503, {"detail": "down"}, {}), (503, {"detail": "down"}, {})])

    def flaky(body):
        answer = next(answers, None)
        if answer is not None:
            server.codes[body["device_code"]]["last_poll"] = clock()
            return answer
        return real_token(body)

    server._token = flaky
    server.approve_at(1)
    code, _out, err = _pair(server, clock, tmp_path / "device-token")
    assert code == 0, err
    assert clock.sleeps == [5, 10, 20]
    assert "HTTP 503; still trying" in err


def test_a_throttled_poll_waits_the_retry_after_and_polls_more_slowly(server, clock, tmp_path):
    real_token = server._token
    throttled = iter([True])

    def throttle_once(body):
        if next(throttled, False):
            server.codes[body["device_code"]]["last_poll"] = clock()
            return 429, {"detail": "Request was throttled."}, {"Retry-After": "30"}
        return real_token(body)

    server._token = throttle_once
    server.approve_at(2)
    code, _out, err = _pair(server, clock, tmp_path / "device-token")
    assert code == 0, err
    assert clock.sleeps == [5, 30, 10]  # Retry-After once, then the interval 5 s longer


def test_it_checks_the_directory_before_asking_for_a_code(server, clock, tmp_path):
    code, _out, err = _pair(server, clock, tmp_path / "missing" / "device-token")
    assert code == 1
    assert "does not exist" in err
    assert "install -d" in err
    assert server.requests == []


def test_a_new_pairing_replaces_the_old_token(server, clock, tmp_path):
    token_file = tmp_path / "device-token"
    write_token_file(token_file, DeviceToken("p1d_old", "https://old.example.org", "old-name"))
    server.approve_at(1)
    code, out, _err = _pair(server, clock, token_file, name="new-name")
    assert code == 0
    assert "this Pi is paired with https://old.example.org as old-name; a new pairing replaces" in out
    device = read_token_file(token_file)
    assert device is not None
    assert (device.server, device.name) == (server.url, "new-name")
    assert device.token in server.tokens


# --- the QR code ----------------------------------------------------------------------------------------------


class Terminal(io.StringIO):
    encoding = "utf-8"

    def isatty(self):
        return True


def _code(url="https://p1.example.org/device/?user_code=WDJB-MJHT") -> DeviceCode:
    return DeviceCode("secret", USER_CODE, "https://p1.example.org/device/", url, 600, 5)


def test_it_shows_a_qr_code_of_the_complete_url_when_the_terminal_is_wide_enough():
    import segno

    terminal = Terminal()
    show_code(_code(), "kitchen", "https://p1.example.org", terminal, columns=80)
    lines = terminal.getvalue().splitlines()
    qr = [line for line in lines if line and set(line) <= {" ", "\u2580", "\u2584", "\u2588"}]
    # decode the half blocks back into modules and compare with the symbol of the complete URL
    bit = {" ": (1, 1), "\u2580": (0, 1), "\u2584": (1, 0), "\u2588": (0, 0)}
    rows = []
    for line in qr:
        rows.append([bit[c][0] for c in line])
        rows.append([bit[c][1] for c in line])
    expected = [list(row) for row in segno.make(_code().verification_uri_complete, error="m").matrix_iter(border=4)]
    assert rows[: len(expected)] == expected
    assert all(len(line) <= 80 for line in lines)


def test_it_shows_no_qr_code_when_it_does_not_fit_is_not_a_terminal_or_segno_is_missing(monkeypatch):
    def output(stream, columns=80):
        show_code(_code(), "kitchen", "https://p1.example.org", stream, columns=columns)
        return stream.getvalue()

    narrow = output(Terminal(), columns=30)
    assert "\u2588" not in narrow
    assert f"{USER_CODE}" in narrow
    assert "https://p1.example.org/device/?user_code=WDJB-MJHT" in narrow
    assert "\u2588" not in output(io.StringIO())  # piped: no QR code in a log file

    monkeypatch.setitem(sys.modules, "segno", None)  # `import segno` raises ImportError
    assert qr_text("https://p1.example.org/x", 200) is None
    assert USER_CODE in output(Terminal())


def test_it_falls_back_to_ansi_blocks_on_a_terminal_without_unicode():
    class AsciiTerminal(Terminal):
        encoding = "ascii"

    terminal = AsciiTerminal()
    show_code(_code(), "kitchen", "https://p1.example.org", terminal, columns=120)
    text = terminal.getvalue()
    assert "\033[7m" in text
    text.encode("ascii")


# --- the command line ---------------------------------------------------------------------------------------


def _cli_env(monkeypatch, tmp_path, token_file, **extra):
    monkeypatch.setenv("P1EDGE_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("P1EDGE_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setenv("P1EDGE_DEVICE_TOKEN_FILE", str(token_file))
    for key in ("P1EDGE_API_URL", "P1EDGE_API_USERNAME", "P1EDGE_API_PASSWORD", "P1EDGE_API_ALLOW_INSECURE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in extra.items():
        monkeypatch.setenv(key, value)


def test_the_command_pairs_with_the_hostname_and_status_and_check_config_show_it(
    server, clock, tmp_path, monkeypatch, capsys
):
    token_file = tmp_path / "device-token"
    _cli_env(monkeypatch, tmp_path, token_file)
    monkeypatch.setattr(pairing, "time", SimpleNamespace(monotonic=clock, sleep=clock.sleep))
    server.approve_at(2)

    assert main(["pair", "--server", server.url + "/"]) == 0

    out = capsys.readouterr().out
    assert server.posts(wire.DEVICE_CODE_PATH)[0][2] == {"name": socket.gethostname()}
    assert f"paired with {server.url} as {socket.gethostname()}" in out
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600

    Spool(tmp_path / "spool").append([encode_record(make_reading(0))])
    assert main(["status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    pairing_line = next(line for line in lines if line.startswith("pairing:"))
    assert pairing_line.split(None, 1)[1].startswith(f"paired with {server.url} as {socket.gethostname()} (since ")
    assert next(line for line in lines if line.startswith("login:")).split() == ["login:", "-"]

    # no username or password needed: the token names its server
    assert main(["check-config", "--offline", "--need", *UPLOADER_KEYS]) == 0
    out = capsys.readouterr().out
    assert f"pairing: paired with {server.url} as {socket.gethostname()}" in out
    assert "warning:" not in out


def test_the_command_follows_the_https_rule_of_api_url(tmp_path, monkeypatch, capsys):
    _cli_env(monkeypatch, tmp_path, tmp_path / "device-token")
    assert main(["pair", "--server", "http://p1.example.org"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("p1edge pair: --server: 'http://p1.example.org' is not encrypted")
    assert "api.allow_insecure = true" in err
    assert main(["pair", "--server", "p1.example.org"]) == 2
    assert "expected the server base URL" in capsys.readouterr().err
    assert main(["pair"]) == 2
    assert "--server URL is required" in capsys.readouterr().err


def test_the_command_ends_cleanly_on_ctrl_c(tmp_path):
    clock = Clock()
    server = DeviceServer(clock, interval=1)  # the child really sleeps 1 s between polls; the test only waits
    token_file = tmp_path / "device-token"
    env = {
        **os.environ,
        "P1EDGE_CONFIG": str(tmp_path / "none.toml"),
        "P1EDGE_DEVICE_TOKEN_FILE": str(token_file),
        "PYTHONUNBUFFERED": "1",
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "p1edge.cli", "pair", "--server", server.url, "--name", "kitchen"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: server.posts(wire.DEVICE_CODE_PATH), message="the pairing code request")
        child.send_signal(signal.SIGINT)
        _out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
        server.httpd.shutdown()
    assert child.returncode == 130, err
    assert "cancelled; nothing was paired" in err
    assert "Traceback" not in err
    assert not token_file.exists()
    assert os.listdir(tmp_path) == []


# --- the whole flow: pair, upload, revoke, idle, pair again, resume -----------------------------------------------


def _config_file(tmp_path, token_file, **api):
    lines = [f'[spool]\ndir = "{tmp_path / "spool"}"', "[api]", f'device_token_file = "{token_file}"', "timeout = 5"]
    lines += [f'{key} = "{value}"' for key, value in api.items()]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def test_a_revoked_pi_stops_keeps_its_spool_and_resumes_after_a_new_pairing(
    server, clock, tmp_path, monkeypatch, capsys
):
    token_file = tmp_path / "device-token"
    server.approve_at(1)
    assert _pair(server, clock, token_file)[0] == 0
    # a deprecated password in the config as well: the token wins, and a revoked token never falls back to it
    path = _config_file(tmp_path, token_file, username="pi", password="old-password")
    config = load_config(str(path), {}, need=UPLOADER_KEYS)
    spool = Spool(config.spool_dir)
    spool.append([encode_record(make_reading(i)) for i in range(3)])
    up = Uploader(config, spool, clock=clock)

    events = {"sleeps": 0}

    def sleep(seconds):
        clock.sleep(seconds)
        events["sleeps"] += 1
        if events["sleeps"] >= 20:
            up.stop.set()

    up.sleep = sleep
    assert up.run(idle_seconds=5) == 0
    assert len(server.readings) == 3
    assert spool.backlog()[0] == 0
    [first_token] = server.tokens
    readings_posts = server.posts(wire.READINGS_PATH)
    assert {post[3]["Authorization"] for post in readings_posts} == {f"Bearer {first_token}"}
    assert not server.posts(wire.TOKEN_PATH)
    assert not server.posts(wire.TOKEN_REFRESH_PATH)

    # the owner revokes the device on the website; three more readings arrive
    server.tokens[first_token] = "revoked"
    spool.append([encode_record(make_reading(i)) for i in range(3, 6)])
    before = len(server.requests)
    events["sleeps"] = 0
    up.stop.clear()
    assert up.run(idle_seconds=5) == 0

    assert len(server.requests) == before + 1  # one refused request, then 20 minutes of silence
    assert clock.sleeps[-20:] == [TOKEN_CHECK_SECONDS] * 20
    assert spool.backlog()[0] == 3
    state = json.loads((spool.dir / "uploader-state.json").read_text())
    assert state["device_refused"]["status"] == REVOKED_STATUS
    assert state["last_error"].startswith(REVOKED_STATUS)
    assert first_token not in json.dumps(state)

    # a restarted uploader does not try the revoked token again either
    assert Uploader(load_config(str(path), {}, need=UPLOADER_KEYS), spool, clock=clock).run(once=True) == EXIT_AUTH
    assert len(server.requests) == before + 1

    monkeypatch.setenv("P1EDGE_CONFIG", str(path))
    for key in ("P1EDGE_SPOOL_DIR", "P1EDGE_DEVICE_TOKEN_FILE", "P1EDGE_API_USERNAME", "P1EDGE_API_PASSWORD"):
        monkeypatch.delenv(key, raising=False)
    capsys.readouterr()
    assert main(["status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert next(line for line in lines if line.startswith("login:")).split(None, 1)[1].startswith(REVOKED_STATUS)

    # `p1edge pair` again while the uploader idles: it notices the new token within a minute, without a restart
    server.approve_at(1)
    events["sleeps"] = 0

    def sleep_then_pair(seconds):
        if events["sleeps"] == 2:
            assert _pair(server, clock, token_file)[0] == 0
        sleep(seconds)
        if spool.backlog()[0] == 0:
            up.stop.set()

    up.sleep = sleep_then_pair
    up.stop.clear()
    paired_at = clock()
    assert up.run(idle_seconds=5) == 0
    assert spool.backlog()[0] == 0
    assert len(server.readings) == 6
    second_token = next(t for t, s in server.tokens.items() if s == "active")
    assert server.posts(wire.READINGS_PATH)[-1][3]["Authorization"] == f"Bearer {second_token}"
    assert clock() - paired_at <= 4 * TOKEN_CHECK_SECONDS
    state = json.loads((spool.dir / "uploader-state.json").read_text())
    assert "device_refused" not in state
    assert state["total_created"] == 6


def test_check_config_names_a_revoked_token(server, clock, tmp_path, capsys):
    token_file = tmp_path / "device-token"
    server.approve_at(1)
    assert _pair(server, clock, token_file)[0] == 0
    path = _config_file(tmp_path, token_file)
    config = load_config(str(path), {}, need=UPLOADER_KEYS)
    spool = Spool(config.spool_dir)
    spool.append([encode_record(make_reading(0))])

    assert main(["check-config", "--config", str(path), "--need", *UPLOADER_KEYS]) == 0
    out = capsys.readouterr().out
    assert f"pairing: the server answers at {server.url}{wire.DEVICE_TOKEN_PATH} (HTTP 405" in out
    assert next(r for r in server.requests if r[0] == "GET")[1] == wire.DEVICE_TOKEN_PATH

    server.tokens = dict.fromkeys(server.tokens, "revoked")
    assert Uploader(config, spool, clock=clock).run(once=True) == EXIT_AUTH
    assert main(["check-config", "--config", str(path), "--need", *UPLOADER_KEYS]) == 1
    out = capsys.readouterr().out
    [error] = [line for line in out.splitlines() if line.startswith("error:")]
    assert error.startswith(f"error: api.device_token_file: {REVOKED_STATUS}")
