"""The uploader against a scripted HTTP server on loopback (the remote server is the boundary mocked here;
tests/edge/test_e2e.py runs it against the real Django server)."""

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from p1edge import uploader as uploader_module
from p1edge.devicetoken import DeviceToken
from p1edge.records import encode_record
from p1edge.spool import Spool
from p1edge.uploader import (
    EXIT_AUTH,
    EXIT_TEMPFAIL,
    REFUSED_STATUS,
    SLOT_SECONDS,
    SLOT_SETTLE_SECONDS,
    SPOOL_CHECK_SECONDS,
    TOKEN_CHECK_SECONDS,
    ApiClient,
    Uploader,
    backoff_delay,
    jwt_expiry,
    next_slot_wake,
)

from tests.edge.conftest import make_reading


def _jwt(exp: float) -> str:
    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256'})}.{part({'exp': int(exp), 'user_id': 1})}.c2ln"


class Stub:
    """Replies from a script: a list of (path, status, body, headers) consumed in order; records requests."""

    def __init__(self):
        self.script: list[tuple] = []
        self.requests: list[tuple[str, dict, dict]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                stub.requests.append((self.path, body, dict(self.headers)))
                path, status, reply, headers = stub.script.pop(0)
                assert path == self.path, (path, self.path)
                if status == "hang":
                    # The behaviour under test, not a wait: a server that answers nothing for longer than the
                    # client's timeout (test_it_times_out_a_hanging_request), which has given up by now.
                    time.sleep(3)
                    return
                data = json.dumps(reply(body) if callable(reply) else reply).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def login(self, exp_in=3600):
        self.script.append(("/api/v1/token/", 200, {"access": _jwt(time.time() + exp_in), "refresh": "r1"}, {}))

    def accept(self):
        self.script.append(("/api/v1/readings", 200, lambda b: {"created": len(b["readings"]), "duplicates": 0}, {}))

    def paths(self):
        return [p for p, _b, _h in self.requests]


@pytest.fixture
def stub():
    server = Stub()
    yield server
    server.server.shutdown()


@pytest.fixture
def uploader(stub, edge_config):
    def build(count=3, **overrides):
        config = edge_config(**{"api_url": stub.url, **overrides})
        spool = Spool(config.spool_dir)
        spool.append([encode_record(make_reading(i)) for i in range(count)])
        sleeps = []
        up = Uploader(config, spool, sleep=sleeps.append)
        up.sleeps = sleeps
        return up

    return build


def test_it_logs_in_and_sends_the_spool_in_batches(stub, uploader):
    up = uploader(count=7, batch_size=3)
    stub.login()
    for _ in range(3):
        stub.accept()

    assert up.run(once=True) == 0

    assert stub.paths() == ["/api/v1/token/"] + ["/api/v1/readings"] * 3
    sizes = [len(body["readings"]) for path, body, _h in stub.requests if path == "/api/v1/readings"]
    assert sizes == [3, 3, 1]
    first = stub.requests[1]
    assert first[2]["Authorization"].startswith("Bearer ")
    assert first[1]["readings"][0]["timestamp"] == "2025-01-01T00:00:00+00:00"
    assert first[1]["readings"][0]["import_t1_kwh"] == "100"
    assert up.spool.backlog()[0] == 0


def test_it_refreshes_the_token_before_it_expires(stub, uploader):
    up = uploader(count=2, batch_size=1)
    stub.login(exp_in=3600)
    stub.accept()
    stub.script.append(("/api/v1/token/refresh/", 200, {"access": _jwt(time.time() + 7200)}, {}))
    stub.accept()
    up.client.clock = lambda: time.time() + 3570  # by the second batch the token has 30 s left
    assert up.run(once=True) == 0
    assert stub.paths() == ["/api/v1/token/", "/api/v1/readings", "/api/v1/token/refresh/", "/api/v1/readings"]
    assert stub.requests[2][1] == {"refresh": "r1"}


def test_it_logs_in_again_on_401(stub, uploader):
    up = uploader(count=1)
    stub.login()
    stub.script.append(("/api/v1/readings", 401, {"detail": "Token is invalid or expired"}, {}))
    stub.login()
    stub.accept()
    assert up.run(once=True) == 0
    assert stub.paths() == ["/api/v1/token/", "/api/v1/readings", "/api/v1/token/", "/api/v1/readings"]


def test_it_honours_retry_after_on_429(stub, uploader):
    up = uploader(count=1)
    stub.login()
    stub.script.append(("/api/v1/readings", 429, {"detail": "slow down"}, {"Retry-After": "7"}))
    stub.accept()
    assert up.run(once=True) == 0
    assert up.sleeps == [7.0]


def test_it_backs_off_on_5xx_in_service_mode_and_keeps_the_backlog(stub, uploader):
    up = uploader(count=2)
    stub.login()
    for _ in range(3):
        stub.script.append(("/api/v1/readings", 503, {"detail": "down"}, {}))
    stub.accept()
    original = up.run

    def run_until_delivered():
        threading.Timer(5, up.stop.set).start()
        up.sleep = lambda s: (up.sleeps.append(s), up.stop.set() if not stub.script else None)
        return original(once=False, idle_seconds=0)

    assert run_until_delivered() == 0
    assert len(up.sleeps) == 4  # 3 backoffs + the idle wait after the drain
    assert 0.5 <= up.sleeps[0] <= 1.0
    assert 1.0 <= up.sleeps[1] <= 2.0
    assert 2.0 <= up.sleeps[2] <= 4.0
    assert up.spool.backlog()[0] == 0


def test_it_stops_once_mode_when_the_server_is_unreachable(uploader, edge_config):
    up = uploader(count=2, api_url="http://127.0.0.1:9")  # discard port: connection refused
    assert up.run(once=True) == EXIT_TEMPFAIL
    assert up.spool.backlog()[0] == 2
    assert "ConnectionError" in json.loads((up.spool.dir / "uploader-state.json").read_text())["last_error"]


def test_it_times_out_a_hanging_request(stub, uploader):
    up = uploader(count=1, api_timeout=1.0)
    stub.login()
    stub.script.append(("/api/v1/readings", "hang", {}, {}))
    started = time.monotonic()
    assert up.run(once=True) == EXIT_TEMPFAIL
    assert time.monotonic() - started < 2.9


def test_it_dead_letters_the_items_refused_by_index_and_resends_the_rest(stub, uploader):
    up = uploader(count=3)
    stub.login()
    error = {"index": 1, "field": "import_t1_kwh", "message": "A valid number is required."}
    stub.script.append(("/api/v1/readings", 400, {"errors": [error]}, {}))
    stub.accept()
    assert up.run(once=True) == 0

    resent = stub.requests[-1][1]["readings"]
    assert [r["timestamp"] for r in resent] == ["2025-01-01T00:00:00+00:00", "2025-01-01T00:30:00+00:00"]
    dead = [json.loads(line) for line in up.spool.dead_letter_path.read_text().splitlines()]
    assert len(dead) == 1
    assert dead[0]["record"]["timestamp"] == "2025-01-01T00:15:00+00:00"
    assert dead[0]["errors"] == [error]
    assert up.spool.backlog()[0] == 0


def test_it_narrows_down_a_400_without_item_indexes(stub, uploader):
    up = uploader(count=2)
    stub.login()
    stub.script.append(("/api/v1/readings", 400, {"detail": "bad batch"}, {}))
    stub.accept()
    stub.script.append(("/api/v1/readings", 400, {"detail": "bad item"}, {}))
    assert up.run(once=True) == 0
    assert up.spool.dead_letter_count() == 1
    assert up.spool.backlog()[0] == 0


def test_it_backs_off_exponentially_with_jitter_and_a_cap():
    for attempt, ceiling in ((0, 1), (3, 8), (8, 256), (9, 300), (50, 300)):
        delays = [backoff_delay(attempt) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1


def test_it_reads_the_expiry_from_the_jwt_payload():
    assert jwt_expiry(_jwt(1_900_000_000)) == 1_900_000_000
    assert jwt_expiry("not-a-jwt") is None


def test_it_sends_the_credentials_from_the_config(stub, edge_config):
    stub.login()
    client = ApiClient(edge_config(api_url=stub.url))
    client.ensure_token()
    assert stub.requests[0][1] == {"username": "pi", "password": "secret-pw"}


# --- the device token of `p1edge pair` (issue 14; the whole flow is in test_pair.py) -----------------------------


def test_it_sends_the_device_token_as_bearer_and_never_logs_in(stub, uploader):
    # the deprecated username/password are configured too (the fixture's): the token wins
    up = uploader(count=4, batch_size=2, device_token=DeviceToken("p1d_kitchen-secret", stub.url, "kitchen"))
    stub.accept()
    stub.accept()
    assert up.run(once=True) == 0
    assert stub.paths() == ["/api/v1/readings"] * 2
    assert {headers["Authorization"] for _p, _b, headers in stub.requests} == {"Bearer p1d_kitchen-secret"}
    assert up.spool.backlog()[0] == 0


def test_it_goes_idle_on_another_401_to_the_device_token_and_keeps_the_spool(stub, uploader):
    up = uploader(count=2, device_token=DeviceToken("p1d_unknown", stub.url, "kitchen"))
    stub.script.append(("/api/v1/readings", 401, {"detail": "Invalid token."}, {}))
    assert up.run(once=True) == EXIT_AUTH
    assert up.spool.backlog()[0] == 2
    state = json.loads((up.spool.dir / "uploader-state.json").read_text())
    assert state["device_refused"]["status"] == REFUSED_STATUS == "device token refused: run p1edge pair"
    assert "Invalid token." in state["device_refused"]["reason"]
    assert "p1d_unknown" not in json.dumps(state)

    # service mode: it stays up, looks at the token file every minute and sends nothing (the script is empty:
    # any request would be recorded)
    def sleep(seconds):
        up.sleeps.append(seconds)
        if len(up.sleeps) >= 5:
            up.stop.set()

    up.sleep = sleep
    assert up.run(once=False) == 0
    assert up.sleeps == [TOKEN_CHECK_SECONDS] * 5
    assert len(stub.requests) == 1
    assert up.spool.backlog()[0] == 2


# --- the cadence: once per quarter-hour slot, a backlog back to back (issue 24) ----------------------------------

T0 = 1_750_000_500.0  # a quarter-hour boundary (epoch seconds): the uploader's injected clock starts here


def test_it_wakes_just_after_each_quarter_hour_boundary():
    assert T0 % SLOT_SECONDS == 0
    assert next_slot_wake(T0) == T0 + SLOT_SETTLE_SECONDS
    assert next_slot_wake(T0 + SLOT_SETTLE_SECONDS - 0.1) == T0 + SLOT_SETTLE_SECONDS
    assert next_slot_wake(T0 + SLOT_SETTLE_SECONDS) == T0 + SLOT_SECONDS + SLOT_SETTLE_SECONDS
    assert next_slot_wake(T0 + 500) == T0 + SLOT_SECONDS + SLOT_SETTLE_SECONDS


class SteadyStream:
    """The uploader's clock and sleep, and the reader: a reading is stored `offset` s into each of `slots` slots.

    Sleeping advances the clock (nothing waits); the reader's appends of the time slept are made on the way."""

    def __init__(self, spool: Spool, slots: int, offset: float = 2.0) -> None:
        self.spool = spool
        self.now = T0 + 1
        self.pending = [(T0 + k * SLOT_SECONDS + offset, k) for k in range(slots)]
        self.stored_at: list[float] = []
        self.posted_at: list[float] = []
        self.sleeps: list[float] = []
        self.end = T0 + slots * SLOT_SECONDS + 300
        self.stop: threading.Event | None = None

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert 0 < seconds <= 60, seconds  # never a busy loop, never a long blind wait
        self.sleeps.append(seconds)
        self.now += seconds
        while self.pending and self.pending[0][0] <= self.now:
            at, index = self.pending.pop(0)
            self.spool.append([encode_record(make_reading(index))])
            self.stored_at.append(at)
        if self.now >= self.end and self.stop is not None:
            self.stop.set()

    def accept(self, body: dict) -> dict:
        self.posted_at.append(self.now)
        return {"created": len(body["readings"]), "duplicates": 0}


def _counting_acks(spool: Spool) -> list:
    acks: list = []
    ack = spool.ack

    def counted(end, **kwargs):
        acks.append(end)
        return ack(end, **kwargs)

    spool.ack = counted
    return acks


@pytest.mark.parametrize(
    "offset",
    [
        2.0,  # the meter's clock agrees with the Pi's: stored 2 s into the slot, before the slot wake
        180.0,  # the meter's clock is 3 minutes behind: the slot wake finds nothing, the spool check sees it grow
    ],
)
def test_it_uploads_once_per_slot_just_after_the_reading_is_stored(stub, edge_config, offset):
    config = edge_config(api_url=stub.url, device_token=DeviceToken("p1d_kitchen-secret", stub.url, "kitchen"))
    spool = Spool(config.spool_dir)
    stream = SteadyStream(spool, slots=8, offset=offset)
    up = Uploader(config, spool, sleep=stream.sleep, clock=stream.clock)
    stream.stop = up.stop
    acks = _counting_acks(spool)
    for _ in range(8):
        stub.script.append(("/api/v1/readings", 200, stream.accept, {}))

    assert up.run() == 0

    assert stub.paths() == ["/api/v1/readings"] * 8  # one POST per slot
    assert [len(body["readings"]) for _p, body, _h in stub.requests] == [1] * 8
    assert len(acks) == 8  # one ack per POST
    # each within one spool check of the reading being stored, in its own slot
    assert all(
        0 <= posted - stored <= SPOOL_CHECK_SECONDS
        for posted, stored in zip(stream.posted_at, stream.stored_at, strict=True)
    )
    # the wait is a stat every few seconds, not an upload attempt (which would have reached the stub)
    assert len(stream.sleeps) <= (stream.end - T0) / SPOOL_CHECK_SECONDS + 8
    # the status file: at most once per 15 minutes, plus the one at the stop
    assert up.state_file.writes <= (stream.now - T0) / 900 + 1
    state = json.loads((spool.dir / "uploader-state.json").read_text())
    assert state["total_sent"] == 8
    assert state["io"]["seconds"] == stream.now - (T0 + 1)


def test_it_uploads_at_the_slot_boundary_when_the_spool_check_sees_nothing(stub, edge_config, monkeypatch):
    # the spool check is blind here (as if the segment's size did not change): the slot wake still finds the reading
    monkeypatch.setattr(uploader_module, "spool_mark", lambda spool: None)
    config = edge_config(api_url=stub.url, device_token=DeviceToken("p1d_kitchen-secret", stub.url, "kitchen"))
    spool = Spool(config.spool_dir)
    stream = SteadyStream(spool, slots=3)
    up = Uploader(config, spool, sleep=stream.sleep, clock=stream.clock)
    stream.stop = up.stop
    for _ in range(3):
        stub.script.append(("/api/v1/readings", 200, stream.accept, {}))

    assert up.run() == 0

    assert stream.posted_at == [T0 + k * SLOT_SECONDS + SLOT_SETTLE_SECONDS for k in range(3)]


def test_a_reading_stored_while_it_looked_at_an_empty_spool_is_sent_without_waiting(stub, uploader):
    up = uploader(count=0, device_token=DeviceToken("p1d_kitchen-secret", stub.url, "kitchen"))
    stub.accept()
    step = up.step

    def step_then_the_reader_stores():
        outcome = step()
        if outcome is None and up.spool.backlog()[0] == 0 and not stub.requests:
            up.spool.append([encode_record(make_reading(0))])  # right after the step found the spool empty
        return outcome

    up.step = step_then_the_reader_stores
    posts_at_sleep: list[int] = []

    def sleep(seconds):
        posts_at_sleep.append(len(stub.requests))
        up.stop.set()

    up.sleep = sleep
    assert up.run() == 0
    assert posts_at_sleep == [1]  # sent before the first wait


def test_it_drains_a_backlog_in_full_batches_back_to_back_with_one_ack_each(stub, uploader):
    up = uploader(count=1234, device_token=DeviceToken("p1d_kitchen-secret", stub.url, "kitchen"))
    for _ in range(3):
        stub.accept()
    acks = _counting_acks(up.spool)
    posts_before_the_first_wait: list[int] = []

    def sleep(seconds):
        posts_before_the_first_wait.append(len(stub.requests))
        up.stop.set()

    up.sleep = sleep
    assert up.run() == 0

    assert [len(body["readings"]) for _p, body, _h in stub.requests] == [500, 500, 234]
    assert posts_before_the_first_wait == [3]  # no pause between the batches
    assert len(acks) == 3
    assert up.spool.backlog()[0] == 0


def test_it_polls_every_n_seconds_with_upload_poll_set(stub, uploader):
    # the behaviour before issue 24 (api.upload_poll = 10), still reachable through the config
    up = uploader(count=0, upload_poll=10.0, device_token=DeviceToken("p1d_kitchen-secret", stub.url, "kitchen"))

    def sleep(seconds):
        up.sleeps.append(seconds)
        if len(up.sleeps) == 3:
            up.stop.set()

    up.sleep = sleep
    assert up.run() == 0
    assert up.sleeps == [10.0] * 3
    assert stub.requests == []


def test_it_keeps_a_valid_access_token_for_the_next_upload(stub, edge_config):
    # the deprecated password: a token valid for an hour serves four uploads, then one refresh, never a login more
    config = edge_config(api_url=stub.url)
    spool = Spool(config.spool_dir)
    stream = SteadyStream(spool, slots=8)
    up = Uploader(config, spool, sleep=stream.sleep, clock=stream.clock)
    stream.stop = up.stop

    def token(_body):
        return {"access": _jwt(stream.now + 3600), "refresh": "r1"}

    stub.script.append(("/api/v1/token/", 200, token, {}))
    stub.script += [("/api/v1/readings", 200, stream.accept, {})] * 4
    stub.script.append(("/api/v1/token/refresh/", 200, token, {}))
    stub.script += [("/api/v1/readings", 200, stream.accept, {})] * 4

    assert up.run() == 0

    readings, token_path, refresh = "/api/v1/readings", "/api/v1/token/", "/api/v1/token/refresh/"
    assert stub.paths() == [token_path, *[readings] * 4, refresh, *[readings] * 4]
