"""The uploader service: spool -> batches of up to 500 -> POST {server}/api/v1/readings with the device token
written by `p1edge pair` (or, deprecated, a JWT from the configured username/password); and, in a thread of its own,
the reader's latest snapshot -> POST {server}/api/v1/live every `live.interval` seconds (issue 16)."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import random
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from p1edge import __version__, wire
from p1edge.config import Config, ConfigError, url_problem
from p1edge.devicetoken import DeviceToken, TokenFileError, file_stamp, read_token_file
from p1edge.iostats import IoMeter
from p1edge.live import LiveFile, load_live_file
from p1edge.spool import Batch, Spool
from p1edge.state import UPLOADER_STATE, StateFile, load_state

logger = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 300.0
RETRY_AFTER_CAP_SECONDS = 3600.0
ONCE_RETRY_AFTER_LIMIT = 60.0
EXIT_TEMPFAIL = 75  # sysexits EX_TEMPFAIL: `upload --once` stopped because the server is unreachable
EXIT_AUTH = 2  # `upload --once` stopped because the server refused the credentials (or they are parked)
# After the server refuses the password, it is tried again only after this long (or when the config changes):
# every refused attempt would renew the server's account lockout, so guessing on a timer can never get in.
LOGIN_PARK_SECONDS = 3600.0
PARK_CHECK_SECONDS = 30.0  # how often a parked uploader looks whether the config file changed
# After the server refused the device token (revoked on the website, or unknown) the uploader sends nothing and looks
# this often whether `p1edge pair` wrote a new token file: a new pairing resumes it without a restart.
TOKEN_CHECK_SECONDS = 60.0
REVOKED_STATUS = "revoked: run p1edge pair"
REFUSED_STATUS = "device token refused: run p1edge pair"
UNPAIRED_STATUS = "not paired: run p1edge pair"
# The cadence (api.upload_poll = 0): the reader stores one reading per quarter-hour, at the first telegram of the
# slot. The uploader sleeps until the next slot boundary plus SLOT_SETTLE_SECONDS and, meanwhile, looks every
# SPOOL_CHECK_SECONDS whether the newest spool segment grew (a directory listing and one stat: no file is read,
# nothing is written), so a reading is sent a few seconds after it was stored even when the meter's clock is off
# from the Pi's. A backlog goes out in full batches back to back, one ack per batch.
SLOT_SECONDS = 900
SLOT_SETTLE_SECONDS = 10.0
SPOOL_CHECK_SECONDS = 5.0
# Live snapshots: a live file older than LIVE_STALE_INTERVALS intervals (and LIVE_STALE_MIN_SECONDS) means the reader
# stopped sharing telegrams, so nothing is sent; after a 401 the sender tries once a minute (the quarter-hour loop
# deals with the pairing); a 429's Retry-After is honoured up to LIVE_RETRY_AFTER_CAP_SECONDS.
LIVE_STALE_INTERVALS = 3
LIVE_STALE_MIN_SECONDS = 5.0
LIVE_REFUSED_SECONDS = 60.0
LIVE_RETRY_AFTER_CAP_SECONDS = 300.0
LIVE_UNPAIRED = "live snapshots need a paired device (p1edge pair)"


class AuthError(Exception):
    """The server refused the configured credentials."""


class LoginParked(Exception):
    """The configured password was refused and is not to be tried before `until` (epoch seconds)."""

    def __init__(self, reason: str, until: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.until = until


class DeviceRefused(Exception):
    """The server answered 401 to the device token: revoked by its owner, or not a token it knows."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class DeviceIdle(Exception):
    """No usable device token (refused and not replaced since, or the token file is gone): nothing is sent."""

    def __init__(self, status: str, *, logged: bool = False) -> None:
        super().__init__(status)
        self.status = status
        self.logged = logged  # the refusal that caused it was just logged


class Retry(Exception):
    """Delivery failed for a reason worth retrying later (network, 5xx, 429, auth)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def jwt_expiry(token: str) -> float | None:
    """`exp` of a JWT, read from its payload without verifying the signature (we only schedule a refresh)."""
    try:
        payload = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(data["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None


_RNG = random.Random()


def backoff_delay(attempt: int, rng: random.Random = _RNG) -> float:
    """Exponential backoff with jitter: a random delay in [d/2, d], d = min(cap, base * 2**attempt)."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** min(attempt, 20))
    return rng.uniform(ceiling / 2, ceiling)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return max(0.0, min(seconds, RETRY_AFTER_CAP_SECONDS))


class ApiClient:
    """JWT session against the server: login, refresh before expiry, re-login on 401, timeout everywhere."""

    def __init__(
        self, config: Config, session: requests.Session | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = f"p1edge/{__version__}"
        self.clock = clock
        self.configure(config)

    def configure(self, config: Config) -> None:
        """(Re)load the server URL and credentials; the tokens of the previous ones are forgotten."""
        self.api_url = (config.api_url or "").rstrip("/")
        self.username = config.api_username or ""
        self.password = config.api_password or ""
        self.timeout = config.api_timeout
        self.access: str | None = None
        self.refresh: str | None = None
        self.access_exp: float | None = None
        self.use_device(config.device_token)

    def use_device(self, device: DeviceToken | None) -> None:
        """Send `device`'s token to its own server from now on (None: back to the deprecated username/password)."""
        self.device = device
        self.base = device.server.rstrip("/") if device is not None else self.api_url

    def _post(self, path: str, **kwargs: Any) -> requests.Response:
        try:
            return self.session.post(self.base + path, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise Retry(f"{type(exc).__name__}: {exc}") from exc

    def _take_tokens(self, data: dict[str, Any]) -> None:
        self.access = data["access"]
        self.refresh = data.get("refresh", self.refresh)
        self.access_exp = jwt_expiry(self.access)

    def login(self) -> None:
        url = self.base + wire.TOKEN_PATH
        response = self._post(wire.TOKEN_PATH, json={"username": self.username, "password": self.password})
        status = response.status_code
        if status in (400, 401, 403):
            detail = _json(response).get("detail") or response.text[:200]
            raise AuthError(f"login as {self.username!r} refused by {url} (HTTP {status}): {detail}")
        if status == 429:
            raise Retry("login throttled (429)", _retry_after(response))
        if status in (404, 405):  # not the token endpoint: api.url must be the server's base URL
            raise Retry(f"login failed: HTTP {status} from POST {url}; check api.url (the server's base URL)")
        if status != 200:
            raise Retry(f"login failed: HTTP {status} from POST {url}")
        self._take_tokens(response.json())
        logger.info("logged in to %s as %s", self.base, self.username)

    def _refresh(self) -> None:
        if self.refresh:
            response = self._post(wire.TOKEN_REFRESH_PATH, json={"refresh": self.refresh})
            if response.status_code == 200:
                self._take_tokens(response.json())
                return
            if response.status_code >= 500:
                raise Retry(f"token refresh failed: HTTP {response.status_code}")
        self.login()

    def ensure_token(self) -> str:
        if self.access is None:
            self.login()
        elif self.access_exp is not None and self.clock() >= self.access_exp - 60:
            self._refresh()
        assert self.access is not None
        return self.access

    def post_readings(self, body: bytes) -> requests.Response:
        if self.device is not None:
            return self._post_as_device(wire.READINGS_PATH, body)
        for attempt in range(2):
            token = self.ensure_token()
            response = self._post(
                wire.READINGS_PATH,
                data=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            if response.status_code != 401 or attempt:
                return response
            logger.info("access token refused (401): logging in again")
            self.access = None
        return response

    def _post_as_device(self, path: str, body: bytes) -> requests.Response:
        """POST with the device token; a 401 raises DeviceRefused (no login, no refresh: there is nothing to renew)."""
        assert self.device is not None
        response = self._post(
            path,
            data=body,
            headers={"Authorization": f"Bearer {self.device.token}", "Content-Type": "application/json"},
        )
        if response.status_code == 401:
            detail = _json(response).get("detail")
            url = self.base + path
            if detail == wire.DEVICE_REVOKED:
                raise DeviceRefused(REVOKED_STATUS, f"the device was revoked on the website ({url} answered 401)")
            text = str(detail) if detail else response.text[:200]
            raise DeviceRefused(REFUSED_STATUS, f"{url} refused the device token (HTTP 401: {text})")
        return response


def probe_api(config: Config, session: requests.Session | None = None) -> tuple[str | None, str]:
    """For check-config: (problem, note). GET on the token endpoint, which answers 405 (POST only) when the
    URL is right: it finds a wrong host or path without a login attempt (which would count toward a lockout)."""
    paired = config.device_token is not None
    url = (config.upload_server or "").rstrip("/") + (wire.DEVICE_TOKEN_PATH if paired else wire.TOKEN_PATH)
    checked = "the device token is checked at upload" if paired else "the password is checked at upload"
    session = session or requests.Session()
    try:
        response = session.get(url, timeout=config.api_timeout, headers={"User-Agent": f"p1edge/{__version__}"})
    except requests.RequestException as exc:
        return f"cannot reach {url}: {_first_line(exc)}", ""
    if response.status_code == 404:
        if paired:
            return f"GET {url} answered 404 Not Found: is the server in the token file right? (p1edge pair again)", ""
        return f"GET {url} answered 404 Not Found: api.url must be the server's base URL (without /api/...)", ""
    if response.status_code >= 500:
        return f"GET {url} answered HTTP {response.status_code} (server error)", ""
    return None, f"the server answers at {url} (HTTP {response.status_code}; {checked})"


_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")]+")


def _first_line(exc: BaseException) -> str:
    """The useful part of a requests error (urllib3 nests the socket error three reprs deep)."""
    text = str(exc).strip()
    errno = _ERRNO.search(text)
    if errno:
        return errno.group().strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= 200 else line[:197] + "..."


@dataclass
class Outcome:
    sent: int = 0
    created: int = 0
    duplicates: int = 0
    dead: int = 0


def _body(bodies: list[str]) -> bytes:
    return ('{"readings":[' + ",".join(bodies) + "]}").encode("ascii")


def spool_mark(spool: Spool) -> tuple[str, int] | None:
    """Name and size of the newest spool segment: it changes when the reader appends (or starts a segment)."""
    newest = None
    with os.scandir(spool.segments_dir) as entries:
        for entry in entries:
            if entry.name.endswith(".jsonl") and (newest is None or entry.name > newest.name):
                newest = entry
    if newest is None:
        return None
    try:
        return newest.name, newest.stat().st_size
    except FileNotFoundError:
        return newest.name, -1


def next_slot_wake(now: float) -> float:
    """The first moment after `now` that is SLOT_SETTLE_SECONDS past a quarter-hour boundary (epoch seconds)."""
    return ((now - SLOT_SETTLE_SECONDS) // SLOT_SECONDS + 1) * SLOT_SECONDS + SLOT_SETTLE_SECONDS


class LiveSender:
    """Posts the reader's latest snapshot (the live file) to LIVE_PATH every `live.interval` seconds.

    It runs in a thread of its own with a session of its own, so a slow or hanging live endpoint never delays the
    quarter-hour uploads (nor they it). A snapshot that fails is dropped: the next one replaces it. Nothing is
    spooled and nothing is written to disk: the counters are in memory and go into uploader-state.json whenever
    the uploader writes it. Only a paired Pi sends (the device token); `device` returns the uploader's current one.
    """

    def __init__(
        self,
        config: Config,
        device: Callable[[], DeviceToken | None],
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        stop: threading.Event | None = None,
    ) -> None:
        if config.live_path is None or config.live_interval <= 0:
            raise ValueError("live snapshots are off (live.interval = 0) or have no live.file")
        self.path = config.live_path
        self.interval = config.live_interval
        self.timeout = min(config.api_timeout, config.live_interval)
        self.stale_after = max(LIVE_STALE_INTERVALS * self.interval, LIVE_STALE_MIN_SECONDS)
        self.device = device
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = f"p1edge/{__version__}"
        self.clock = clock  # the wall clock: the file's modification time says how fresh it is
        self.stop = stop or threading.Event()
        self.thread: threading.Thread | None = None
        self._lock = threading.Lock()  # the counters are read by the uploader's thread (report)
        self.sent = 0
        self.stale = 0
        self.dropped: Counter[str] = Counter()
        self.last_sent_at: str | None = None
        self.last_error: str | None = None
        self.last_error_at: str | None = None
        self.note: str | None = None  # why nothing is being sent right now, for `status`
        self._last_key: tuple[str, str] | None = None
        self._logged: set[str] = set()  # conditions already logged (until a snapshot is accepted again)

    # --- one look at the file --------------------------------------------------------------------------------
    def step(self) -> float:
        """Post the live file when it holds a new, fresh snapshot; return the seconds until the next look.
        Never raises for what the file, the network or the server do."""
        device = self.device()
        if device is None:
            self._log_once("unpaired", logging.INFO, "%s; not sending them", LIVE_UNPAIRED)
            self.note = LIVE_UNPAIRED
            return TOKEN_CHECK_SECONDS
        live = load_live_file(self.path)
        if live is None or abs(self.clock() - live.written_at) > self.stale_after:
            with self._lock:
                self.stale += 1
            self.note = f"no fresh snapshot in {self.path} (is the reader running?)"
            self._log_once(
                "stale",
                logging.INFO,
                "live snapshots: %s is missing or older than %.0f s (is the reader running?); sending nothing",
                self.path,
                self.stale_after,
            )
            return self.interval
        if "stale" in self._logged or self.note == LIVE_UNPAIRED:
            self._logged.discard("stale")
            self.note = None
        if live.key == self._last_key:
            return self.interval
        self._last_key = live.key  # delivered or dropped, a snapshot is posted once
        return self._post(device, live)

    def _post(self, device: DeviceToken, live: LiveFile) -> float:
        url = device.server.rstrip("/") + wire.LIVE_PATH
        body = json.dumps(live.snapshot, separators=(",", ":"), ensure_ascii=True).encode("ascii")
        headers = {"Authorization": f"Bearer {device.token}", "Content-Type": "application/json"}
        try:
            response = self.session.post(url, data=body, headers=headers, timeout=self.timeout)
        except requests.Timeout:
            return self._drop("timeout", f"no answer from {url} within {self.timeout:g} s")
        except requests.RequestException as exc:
            return self._drop("network", f"POST {url}: {_first_line(exc)}")
        status = response.status_code
        if 200 <= status < 300:
            return self._accepted()
        detail = _json(response).get("detail")
        if status == 401:
            reason = REVOKED_STATUS if detail == wire.DEVICE_REVOKED else REFUSED_STATUS
            text = f"{url} answered 401 ({detail or response.text[:200]}): {reason}"
            message = "live snapshots: %s; trying once a minute"
            self._log_once(f"401 {device.fingerprint}", logging.WARNING, message, text)
            self._drop("device token refused", text)
            self.note = f"{reason}; trying once a minute"
            return LIVE_REFUSED_SECONDS
        if status == 404:
            # The meter appears on the server with its first quarter-hour reading; until then every snapshot of
            # it is refused, and saying so every 10 s would drown the log.
            text = f"{url} does not know meter {live.snapshot['serial']} yet (404: {detail or response.text[:200]})"
            self._log_once("404", logging.INFO, "live snapshots: %s; dropping them until it does", text)
            self.note = "the server does not know this meter yet (it appears with the first quarter-hour upload)"
            return self._drop("unknown meter", text)
        if status == 429:
            delay = max(self.interval, min(_retry_after(response) or 0.0, LIVE_RETRY_AFTER_CAP_SECONDS))
            self._drop("throttled", f"{url} answered 429 (throttled)")
            return delay
        if status >= 500:
            return self._drop("server error", f"{url} answered HTTP {status}")
        # 400 (wire.error_body) or another refusal: the snapshot breaks the contract; logged once, not retried
        text = f"{url} refused the snapshot (HTTP {status}): {_json(response).get(wire.ERRORS_KEY) or detail}"
        self._log_once(f"refused {status}", logging.WARNING, "live snapshots: %s", text)
        return self._drop("refused", text)

    def _accepted(self) -> float:
        with self._lock:
            self.sent += 1
            self.last_sent_at = self._now_iso()
        if self._logged - {"unpaired"}:
            logger.info("live snapshots: the server accepts them again")
        self._logged.clear()
        self.note = None
        return self.interval

    def _drop(self, reason: str, text: str) -> float:
        """Count a snapshot that did not get through; the ones that say nothing lasting (a timeout, a 5xx, 429)
        only at debug level: the next snapshot comes in a few seconds."""
        logger.debug("live snapshot dropped (%s): %s", reason, text)
        with self._lock:
            self.dropped[reason] += 1
            self.last_error = text
            self.last_error_at = self._now_iso()
        return self.interval

    def _log_once(self, condition: str, level: int, message: str, *args: Any) -> None:
        if condition not in self._logged:
            self._logged.add(condition)
            logger.log(level, message, *args)

    def _now_iso(self) -> str:
        return datetime.fromtimestamp(self.clock(), UTC).isoformat()

    # --- the thread ------------------------------------------------------------------------------------------
    def run(self) -> None:
        """Step every interval (measured from the start of each step, so a slow answer does not stretch the
        cadence) until stopped."""
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                delay = self.step()
            except Exception:  # a bug here must cost live snapshots, never the uploader
                logger.exception("live snapshot failed; trying again in %.0f s", LIVE_REFUSED_SECONDS)
                delay = LIVE_REFUSED_SECONDS
            self.stop.wait(max(0.0, delay - (time.monotonic() - started)))

    def start(self) -> None:
        self.stop.clear()
        self.thread = threading.Thread(target=self.run, name="p1edge-live", daemon=True)
        self.thread.start()
        logger.info("live snapshots: %s to the server every %g s", self.path, self.interval)

    def close(self) -> None:
        """Stop the thread; a request in flight ends within its timeout."""
        self.stop.set()
        if self.thread is not None:
            self.thread.join(self.timeout + 1.0)
            self.thread = None

    def report(self) -> dict[str, Any]:
        """The counters for uploader-state.json (`p1edge status`, the "live" line)."""
        with self._lock:
            return {
                "interval": self.interval,
                "file": str(self.path),
                "sent": self.sent,
                "dropped": dict(self.dropped),
                "stale": self.stale,
                "last_sent_at": self.last_sent_at,
                "last_error": self.last_error,
                "last_error_at": self.last_error_at,
                "note": self.note,
            }


class Uploader:
    """Step functions of the uploader service; `run()` is the loop around them."""

    def __init__(
        self,
        config: Config,
        spool: Spool,
        client: ApiClient | None = None,
        *,
        stop: threading.Event | None = None,
        sleep: Callable[[float], Any] | None = None,
        clock: Callable[[], float] = time.time,
        reload_config: Callable[[], Config] | None = None,
    ) -> None:
        self.config = config
        self.spool = spool
        self.client = client or ApiClient(config, clock=clock)
        self.stop = stop or threading.Event()
        self.sleep = sleep or self.stop.wait
        self.clock = clock
        self.reload_config = reload_config  # re-reads the config file when it changes while a login is parked
        self.failures = 0
        self.state = load_state(spool.dir, UPLOADER_STATE)
        # Counters and the last error live in memory: uploader-state.json is written at most every
        # state.write_interval seconds and at the end of run(); a refusal of the token or the password at once.
        self.state_file = StateFile(
            spool.dir, UPLOADER_STATE, interval=config.state_write_interval, fsync=config.state_fsync, clock=clock
        )
        self.io = IoMeter(clock)
        self.token_stamp = file_stamp(config.device_token_file)  # `p1edge pair` replacing the file changes it
        # Live snapshots follow the device token the quarter-hour loop uses (a new pairing included).
        self.live: LiveSender | None = None
        if config.live_interval > 0 and config.live_path is not None:
            self.live = LiveSender(config, lambda: self.client.device, clock=clock)

    # --- one batch ----------------------------------------------------------------------------------------
    def deliver(self, bodies: list[str], outcome: Outcome) -> None:
        """Deliver `bodies` (some may end in the dead-letter file); raises Retry when that is not possible now."""
        if not bodies:
            return
        response = self.client.post_readings(_body(bodies))
        status = response.status_code
        if 200 <= status < 300:
            data = _json(response)
            outcome.sent += len(bodies)
            outcome.created += int(data.get("created", 0))
            outcome.duplicates += int(data.get("duplicates", 0))
            return
        if status == 429:
            raise Retry("throttled by the server (429)", _retry_after(response))
        if status >= 500:
            raise Retry(f"server error HTTP {status}", _retry_after(response))
        if status == 400:
            errors = wire.item_errors(_json(response), len(bodies))
            if errors:
                for index in sorted(errors):
                    self._dead(bodies[index], errors[index])
                outcome.dead += len(errors)
                logger.warning(
                    "server refused %d of %d readings; dead-lettered, resending the rest", len(errors), len(bodies)
                )
                self.deliver([b for i, b in enumerate(bodies) if i not in errors], outcome)
                return
        if status in (400, 413):
            if len(bodies) > 1:  # refused as a whole without saying which item: narrow it down
                half = len(bodies) // 2
                self.deliver(bodies[:half], outcome)
                self.deliver(bodies[half:], outcome)
                return
            self._dead(bodies[0], [{"message": f"HTTP {status}: {response.text[:500]}"}])
            outcome.dead += 1
            return
        raise Retry(f"HTTP {status} from POST {self.client.base}{wire.READINGS_PATH}: {response.text[:200]}")

    def _dead(self, body: str, errors: list[dict[str, Any]]) -> None:
        self.spool.dead_letter({"record": json.loads(body), "errors": errors})

    def step(self) -> Outcome | None:
        """Send one batch from the spool; None when the spool is empty. Raises Retry/AuthError."""
        with self.spool.uploader_lock():
            batch: Batch = self.spool.read_batch(self.config.batch_size)
            if not batch.bodies:
                if batch.end is not None and batch.end != self.spool.ack_position():
                    self.spool.ack(batch.end, rejects=batch.rejects)  # only corrupt lines / empty segments
                return None
            self._device_gate()
            self._login_gate()
            outcome = Outcome()
            try:
                self.deliver(batch.bodies, outcome)
            except DeviceRefused as exc:  # nothing acknowledged: the whole batch stays in the spool
                self._refuse_device(exc)
                raise DeviceIdle(exc.status, logged=True) from exc
            assert batch.end is not None
            self.spool.ack(batch.end, rejects=batch.rejects)
        self.failures = 0
        self._record_success(outcome)
        return outcome

    # --- state ---------------------------------------------------------------------------------------------
    def _now_iso(self) -> str:
        return datetime.fromtimestamp(self.clock(), UTC).isoformat()

    def save_state(self, *, force: bool = True) -> None:
        """Write uploader-state.json now (force: a refusal, the end of run()), or only when the interval passed."""
        if not force and not self.state_file.due():
            return
        self.state["updated_at"] = self._now_iso()
        self.state["io"] = self.io.snapshot()
        self.state["live"] = self.live.report() if self.live is not None else {"interval": 0}
        self.state_file.write(self.state)

    def _record_success(self, outcome: Outcome) -> None:
        state = self.state
        state["last_upload_at"] = self._now_iso()
        for key in ("sent", "created", "duplicates", "dead"):
            state[f"total_{key}"] = int(state.get(f"total_{key}", 0)) + getattr(outcome, key)
        self.save_state(force=False)

    def _record_error(self, reason: str) -> None:
        self.state["last_error"] = reason
        self.state["last_error_at"] = self._now_iso()
        self.save_state(force=False)

    # --- the device token -----------------------------------------------------------------------------------
    def _check_token_file(self) -> None:
        """Use the token file as `p1edge pair` left it: a new pairing, a replaced one, or none (file removed)."""
        path = self.config.device_token_file
        stamp = file_stamp(path)
        if stamp == self.token_stamp:
            return
        self.token_stamp = stamp
        problem: str | None = None
        try:
            device = read_token_file(path)
        except TokenFileError as exc:
            device, problem = None, str(exc)
        if device is not None:
            problem = url_problem(device.server, self.config.allow_insecure, f"the server in {path}")
        if problem:  # keep what we have; check-config names the problem too
            logger.error("ignoring the changed token file: %s", problem)
            return
        current = self.client.device
        if device is not None and current is not None and device.fingerprint == current.fingerprint:
            return
        self.client.use_device(device)
        self.config = replace(self.config, device_token=device)
        if device is not None:
            logger.info("token file %s changed: %s", path, device.describe())
        else:
            logger.warning("token file %s removed: this Pi is no longer paired", path)

    def _device_gate(self) -> None:
        """Raise DeviceIdle while the token the server refused is still the one in the token file, or while there
        is neither a token nor a (deprecated) password: nothing is sent, so a revoked Pi cannot storm the server."""
        self._check_token_file()
        refused = self.state.get("device_refused")
        device = self.client.device
        if device is None:
            if not (self.config.api_url and self.config.api_username and self.config.api_password):
                raise DeviceIdle(UNPAIRED_STATUS)
            if isinstance(refused, dict):  # the token file was removed: the operator chose the password again
                self.state.pop("device_refused", None)
                self.save_state()
            return
        if not isinstance(refused, dict):
            return
        if refused.get("token") == device.fingerprint:
            raise DeviceIdle(str(refused.get("status") or REFUSED_STATUS))
        logger.info("a new device token (%s): resuming uploads", device.describe())
        self.state.pop("device_refused", None)
        self.save_state()

    def _refuse_device(self, exc: DeviceRefused) -> None:
        device = self.client.device
        assert device is not None
        self.state["device_refused"] = {
            "at": datetime.fromtimestamp(self.clock(), UTC).isoformat(),
            "status": exc.status,
            "reason": exc.reason,
            "token": device.fingerprint,
            "server": device.server,
            "name": device.name,
        }
        self.state["last_error"] = f"{exc.status} ({exc.reason})"
        self.state["last_error_at"] = self._now_iso()
        self.save_state()
        logger.error(
            "%s: %s; uploads stopped, the spool is kept (%d readings); a new `p1edge pair` resumes them (the token "
            "file %s is checked every %.0f s)",
            exc.status,
            exc.reason,
            self.spool.backlog()[0],
            self.config.device_token_file,
            TOKEN_CHECK_SECONDS,
        )

    # --- a refused password ---------------------------------------------------------------------------------
    def _fingerprint(self, salt: str) -> str:
        """Which credentials were refused, without keeping the password (a salted hash of it)."""
        config = self.config
        text = "\0".join([salt, config.api_url or "", config.api_username or "", config.api_password or ""])
        return hashlib.sha256(text.encode()).hexdigest()

    def _config_stamp(self) -> list[Any] | None:
        """mtime, size and content hash of the config file: any change (even a `touch`) allows a new login."""
        path = self.config.path
        if path is None:
            return None
        try:
            with open(path, "rb") as handle:
                info = os.fstat(handle.fileno())
                return [info.st_mtime_ns, info.st_size, hashlib.sha256(handle.read()).hexdigest()]
        except OSError:
            return None

    def _park(self, reason: str) -> None:
        salt = secrets.token_hex(8)
        now = self.clock()
        until = now + LOGIN_PARK_SECONDS
        self.state["login_refused"] = {
            "at": datetime.fromtimestamp(now, UTC).isoformat(),
            "until": datetime.fromtimestamp(until, UTC).isoformat(),
            "reason": reason,
            "salt": salt,
            "credentials": self._fingerprint(salt),
            "config_file": self._config_stamp(),
        }
        self.save_state()
        logger.warning(
            "%s; not trying this password again until the configuration changes or %s",
            reason,
            self.state["login_refused"]["until"],
        )

    def _unpark(self, why: str) -> None:
        logger.info("%s: logging in again", why)
        self.state.pop("login_refused", None)
        self.save_state()

    def _login_gate(self) -> None:
        """Raise LoginParked while the refused credentials are unchanged and the hour has not passed."""
        parked = self.state.get("login_refused")
        if not isinstance(parked, dict) or self.client.access is not None or self.client.device is not None:
            return
        stamp = self._config_stamp()
        if stamp != parked.get("config_file"):
            if self.reload_config is not None:
                try:
                    config = self.reload_config()
                except ConfigError as exc:
                    logger.error("the configuration changed but is invalid; still not logging in: %s", exc)
                    parked["config_file"] = stamp  # wait for the next change rather than log this every check
                    self.save_state()
                    raise LoginParked(str(exc), self.clock() + PARK_CHECK_SECONDS) from None
                self.config = config
                self.client.configure(config)
            self._unpark(f"the configuration file {self.config.path} changed")
            return
        if self._fingerprint(str(parked.get("salt", ""))) != parked.get("credentials"):
            self._unpark("the configured credentials changed")
            return
        try:
            until = datetime.fromisoformat(str(parked.get("until"))).timestamp()
        except ValueError:
            until = 0.0  # an unreadable state file: try, at worst one more refusal
        if self.clock() >= until:
            self._unpark("an hour has passed since the password was refused")
            return
        raise LoginParked(
            f"{parked.get('reason')} (at {parked.get('at')}); not retried until the config changes or "
            f"{parked.get('until')}",
            until,
        )

    # --- the loop -------------------------------------------------------------------------------------------
    def wait_for_readings(self, mark: tuple[str, int] | None) -> None:
        """Sleep until the next quarter-hour slot plus the settle delay, or until the spool differs from `mark`
        (looked at every SPOOL_CHECK_SECONDS), or until stopped."""
        wake = next_slot_wake(self.clock())
        while not self.stop.is_set() and spool_mark(self.spool) == mark:
            left = wake - self.clock()
            if left <= 0:
                return
            self.sleep(min(SPOOL_CHECK_SECONDS, left))

    def run(self, *, once: bool = False, idle_seconds: float | None = None) -> int:
        """Drain the spool; with once, exit when empty (0), when the server is unreachable (75) or when it refused
        the password, now or within the last hour with the same configuration, or the device token (2).

        An empty spool waits for the next reading (`wait_for_readings`), or `api.upload_poll` seconds when that is
        set, or `idle_seconds` when given. The state file is written on the way out.

        In service mode live snapshots go out meanwhile from their own thread; `once` sends none (it drains the
        spool and exits; a snapshot is not a reading)."""
        poll = idle_seconds if idle_seconds is not None else (self.config.upload_poll or None)
        live = self.live if not once else None
        if live is not None:
            live.start()
        try:
            return self._loop(once, poll)
        finally:
            if live is not None:
                live.close()
            self.save_state()

    def _loop(self, once: bool, poll: float | None) -> int:
        idle_logged = False
        while not self.stop.is_set():
            mark = spool_mark(self.spool)  # before the step: an append during it wakes the wait at once
            try:
                outcome = self.step()
                idle_logged = False
            except DeviceIdle as exc:
                if once:
                    if not exc.logged:
                        logger.error("upload stopped: %s", exc.status)
                    return EXIT_AUTH
                if not idle_logged and not exc.logged:  # once (e.g. after a restart), not every minute
                    logger.warning(
                        "not uploading: %s (checking the token file every %.0f s)", exc.status, TOKEN_CHECK_SECONDS
                    )
                    idle_logged = True
                self.sleep(TOKEN_CHECK_SECONDS)
                continue
            except LoginParked as exc:
                if once:
                    logger.error("upload stopped: %s", exc.reason)
                    return EXIT_AUTH
                self.sleep(max(1.0, min(PARK_CHECK_SECONDS, exc.until - self.clock())))
                continue
            except AuthError as exc:
                self._record_error(str(exc))
                self._park(str(exc))
                if once:
                    return EXIT_AUTH
                self.sleep(PARK_CHECK_SECONDS)
                continue
            except Retry as exc:
                self._record_error(exc.reason)
                if once and not (exc.retry_after is not None and exc.retry_after <= ONCE_RETRY_AFTER_LIMIT):
                    logger.error("upload stopped: %s", exc.reason)
                    return EXIT_TEMPFAIL
                delay = exc.retry_after if exc.retry_after is not None else backoff_delay(self.failures)
                self.failures += 1
                logger.warning("upload failed (%s); retrying in %.1f s", exc.reason, delay)
                self.sleep(delay)
                continue
            if outcome is None:
                if once:
                    return 0
                if poll is not None:
                    self.sleep(poll)
                else:
                    self.wait_for_readings(mark)
            else:
                logger.info(
                    "delivered %d readings (%d new, %d duplicates, %d dead-lettered)",
                    outcome.sent,
                    outcome.created,
                    outcome.duplicates,
                    outcome.dead,
                )
        return 0


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
