"""The uploader service: spool -> batches of up to 500 -> POST {api_url}/api/v1/readings with a JWT."""

from __future__ import annotations

import base64
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from p1edge import __version__
from p1edge.config import Config
from p1edge.spool import Batch, Spool
from p1edge.state import UPLOADER_STATE, load_state, save_state

logger = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 300.0
RETRY_AFTER_CAP_SECONDS = 3600.0
ONCE_RETRY_AFTER_LIMIT = 60.0
EXIT_TEMPFAIL = 75  # sysexits EX_TEMPFAIL: `upload --once` stopped because the server is unreachable


class AuthError(Exception):
    """The server refused the configured credentials."""


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

    def __init__(self, config: Config, session: requests.Session | None = None, clock=time.time) -> None:
        self.base = (config.api_url or "").rstrip("/")
        self.username = config.api_username or ""
        self.password = config.api_password or ""
        self.timeout = config.api_timeout
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = f"p1edge/{__version__}"
        self.clock = clock
        self.access: str | None = None
        self.refresh: str | None = None
        self.access_exp: float | None = None

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
        response = self._post("/api/v1/token/", json={"username": self.username, "password": self.password})
        if response.status_code in (400, 401, 403):
            raise AuthError(f"login as {self.username!r} refused ({response.status_code}): {response.text[:200]}")
        if response.status_code == 429:
            raise Retry("login throttled (429)", _retry_after(response))
        if response.status_code != 200:
            raise Retry(f"login failed: HTTP {response.status_code}")
        self._take_tokens(response.json())
        logger.info("logged in to %s as %s", self.base, self.username)

    def _refresh(self) -> None:
        if self.refresh:
            response = self._post("/api/v1/token/refresh/", json={"refresh": self.refresh})
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
        for attempt in range(2):
            token = self.ensure_token()
            response = self._post(
                "/api/v1/readings",
                data=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            if response.status_code != 401 or attempt:
                return response
            logger.info("access token refused (401): logging in again")
            self.access = None
        return response


@dataclass
class Outcome:
    sent: int = 0
    created: int = 0
    duplicates: int = 0
    dead: int = 0


def _body(bodies: list[str]) -> bytes:
    return ('{"readings":[' + ",".join(bodies) + "]}").encode("ascii")


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
    ) -> None:
        self.config = config
        self.spool = spool
        self.client = client or ApiClient(config)
        self.stop = stop or threading.Event()
        self.sleep = sleep or self.stop.wait
        self.failures = 0
        self.state = load_state(spool.dir, UPLOADER_STATE)

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
            errors = _item_errors(_json(response), len(bodies))
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
        raise Retry(f"HTTP {status} from the server: {response.text[:200]}")

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
            outcome = Outcome()
            self.deliver(batch.bodies, outcome)
            assert batch.end is not None
            self.spool.ack(batch.end, rejects=batch.rejects)
        self.failures = 0
        self._record_success(outcome)
        return outcome

    # --- state ---------------------------------------------------------------------------------------------
    def _record_success(self, outcome: Outcome) -> None:
        state = self.state
        state["last_upload_at"] = datetime.now(UTC).isoformat()
        for key in ("sent", "created", "duplicates", "dead"):
            state[f"total_{key}"] = int(state.get(f"total_{key}", 0)) + getattr(outcome, key)
        save_state(self.spool.dir, UPLOADER_STATE, state)

    def _record_error(self, reason: str) -> None:
        self.state["last_error"] = reason
        self.state["last_error_at"] = datetime.now(UTC).isoformat()
        save_state(self.spool.dir, UPLOADER_STATE, self.state)

    # --- the loop -------------------------------------------------------------------------------------------
    def run(self, *, once: bool = False, idle_seconds: float = 10.0) -> int:
        """Drain the spool; with once, exit when empty (0) or when the server is unreachable (75)."""
        while not self.stop.is_set():
            try:
                outcome = self.step()
            except (Retry, AuthError) as exc:
                reason = exc.reason if isinstance(exc, Retry) else str(exc)
                retry_after = exc.retry_after if isinstance(exc, Retry) else None
                self._record_error(reason)
                if once and not (retry_after is not None and retry_after <= ONCE_RETRY_AFTER_LIMIT):
                    logger.error("upload stopped: %s", reason)
                    return 2 if isinstance(exc, AuthError) else EXIT_TEMPFAIL
                delay = retry_after if retry_after is not None else backoff_delay(self.failures)
                self.failures += 1
                logger.warning("upload failed (%s); retrying in %.1f s", reason, delay)
                self.sleep(delay)
                continue
            if outcome is None:
                if once:
                    return 0
                self.sleep(idle_seconds)
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


def _item_errors(data: dict[str, Any], count: int) -> dict[int, list[dict[str, Any]]]:
    """{index: [error, ...]} from a 400 body {"errors": [{"index", "field", "message"}]}; {} if not per item."""
    errors: dict[int, list[dict[str, Any]]] = {}
    items = data.get("errors")
    if not isinstance(items, list):
        return {}
    for item in items:
        index = item.get("index") if isinstance(item, dict) else None
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < count:
            return {}  # an error we cannot pin to an item: do not guess
        errors.setdefault(index, []).append(item)
    return errors
