"""`p1edge pair`: the Pi's half of the OAuth 2.0 Device Authorization Grant (RFC 8628).

The Pi asks the server for a code (wire.DEVICE_CODE_PATH), shows the owner where to approve it (URL, user code and a
QR code of the complete URL), polls wire.DEVICE_TOKEN_PATH at the interval the server set (5 s longer after every
``slow_down``) and writes the device token it gets to the token file (devicetoken.write_token_file, mode 0600).
Clock and sleep are injectable, so tests run the whole exchange in microseconds.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urljoin

import requests

from p1edge import __version__, wire
from p1edge.devicetoken import DeviceToken, TokenFileError, read_token_file, write_token_file
from p1edge.uploader import _first_line, _json, _retry_after

DEFAULT_INTERVAL = 5.0  # RFC 8628 section 3.2: when the server sends no interval
SLOW_DOWN_SECONDS = 5.0  # RFC 8628 section 3.5: added to the interval for this and every later poll
MAX_ERROR_WAIT = 60.0  # the longest wait between polls while the server cannot be reached
EXPIRED = "the code expired before it was approved; run p1edge pair again"


class PairingError(Exception):
    """Pairing failed; the message is one line saying why and what to do."""


@dataclass(frozen=True)
class DeviceCode:
    device_code: str = field(repr=False)  # the secret half: only this Pi ever sends it
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: float
    interval: float


def _number(data: dict[str, Any], key: str, default: float | None) -> float | None:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return default
    return float(value)


class Pairing:
    """One pairing exchange with `server` (a base URL, already checked against the https rule)."""

    def __init__(
        self,
        server: str,
        *,
        session: requests.Session | None = None,
        timeout: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = time.sleep,
        note: Callable[[str], Any] = lambda _text: None,
    ) -> None:
        self.server = server.rstrip("/")
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = f"p1edge/{__version__}"
        self.timeout = timeout
        self.clock = clock
        self.sleep = sleep
        self.note = note  # progress lines for the person at the terminal ("still trying", "slowing down")
        self.interval = DEFAULT_INTERVAL
        self.failures = 0
        self.extra = 0.0

    def _post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.post(self.server + path, timeout=self.timeout, **kwargs)

    def request_code(self, name: str) -> DeviceCode:
        url = self.server + wire.DEVICE_CODE_PATH
        try:
            response = self._post(wire.DEVICE_CODE_PATH, json={"name": name})
        except requests.RequestException as exc:
            raise PairingError(f"cannot reach {url}: {_first_line(exc)}") from None
        status = response.status_code
        if status == 429:
            wait = _retry_after(response)
            when = f"in {wait:.0f} s" if wait is not None else "in a few minutes"
            raise PairingError(f"the server refuses more pairing requests from this address for now; try again {when}")
        if status in (404, 405):
            raise PairingError(
                f"HTTP {status} from POST {url}: --server must be the server's base URL (like https://p1.example.org)"
            )
        data = _json(response)
        if status != 200:
            detail = data.get("detail") or data.get("error_description") or data.get("error") or response.text[:200]
            raise PairingError(f"the server did not give a pairing code (HTTP {status} from POST {url}: {detail})")
        strings = {key: data.get(key) for key in ("device_code", "user_code", "verification_uri")}
        expires_in = _number(data, "expires_in", None)
        if not all(isinstance(value, str) and value for value in strings.values()) or expires_in is None:
            raise PairingError(f"POST {url} did not answer with a pairing code (is --server a P1 Energy server?)")
        verification = urljoin(self.server + "/", str(strings["verification_uri"]))
        complete = data.get("verification_uri_complete")
        return DeviceCode(
            device_code=str(strings["device_code"]),
            user_code=str(strings["user_code"]),
            verification_uri=verification,
            verification_uri_complete=urljoin(self.server + "/", complete) if isinstance(complete, str) else "",
            expires_in=expires_in,
            interval=_number(data, "interval", DEFAULT_INTERVAL) or DEFAULT_INTERVAL,
        )

    def poll(self, code: DeviceCode) -> str:
        """Poll until the owner approves (the device token), denies or the code expires (PairingError)."""
        form = {"grant_type": wire.DEVICE_GRANT_TYPE, "device_code": code.device_code}
        self.interval = code.interval
        self.failures = 0  # polls in a row that did not reach the server: wait longer each time
        self.extra = 0.0  # a Retry-After beyond the interval
        deadline = self.clock() + code.expires_in
        while True:
            wait = min(MAX_ERROR_WAIT, self.interval * 2**self.failures) if self.failures else self.interval
            self.sleep(max(self.extra, wait))
            self.extra = 0.0
            try:
                response = self._post(wire.DEVICE_TOKEN_PATH, data=form)
            except requests.RequestException as exc:
                self.failures += 1
                self.note(f"cannot reach {self.server + wire.DEVICE_TOKEN_PATH} ({_first_line(exc)}); still trying")
            else:
                token = self._answer(response)
                if token is not None:
                    return token
            if self.clock() >= deadline:
                raise PairingError(EXPIRED)

    def _answer(self, response: requests.Response) -> str | None:
        """The token from a poll's answer, None to poll again (interval adjusted), PairingError when it is over."""
        url = self.server + wire.DEVICE_TOKEN_PATH
        status = response.status_code
        data = _json(response)
        error = data.get("error")
        if status == 200:
            return self._token(data, url)
        if error == wire.AUTHORIZATION_PENDING:
            self.failures = 0
        elif error == wire.SLOW_DOWN:
            self.failures = 0
            self.interval += SLOW_DOWN_SECONDS
            self.note(f"the server asks to poll more slowly: every {self.interval:.0f} s")
        elif error == wire.ACCESS_DENIED:
            raise PairingError("the pairing request was denied on the website; nothing was paired")
        elif error == wire.EXPIRED_TOKEN:
            raise PairingError(EXPIRED)
        elif status == 429:  # a throttle in front of the endpoint: as slow_down, and honour Retry-After
            self.interval += SLOW_DOWN_SECONDS
            self.extra = _retry_after(response) or 0.0
        elif status >= 500:
            self.failures += 1
            self.note(f"the server answered HTTP {status}; still trying")
        else:  # invalid_grant (an unknown or already used code), or something that is no RFC 8628 answer
            description = data.get("error_description") or data.get("detail") or response.text[:200]
            what = f"{error}: {description}" if error else f"HTTP {status} from POST {url}: {description}"
            raise PairingError(f"the server refused the pairing ({what}); run p1edge pair again")
        return None

    @staticmethod
    def _token(data: dict[str, Any], url: str) -> str:
        token = data.get("access_token")
        token_type = data.get("token_type")
        if not isinstance(token, str) or not token.startswith(wire.DEVICE_TOKEN_PREFIX) or token.strip() != token:
            raise PairingError(f"POST {url} answered 200 without a device token; run p1edge pair again")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise PairingError(f"POST {url} answered with a token of type {token_type!r}, not Bearer")
        return token


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def qr_text(url: str, columns: int, *, unicode: bool = True) -> str | None:
    """`url` as a QR code for a terminal `columns` wide, or None when it does not fit or segno is not installed.

    Unicode half blocks (one column and half a line per module) when the terminal can show them, else ANSI
    reverse-video spaces (two columns and a line per module); both draw the light modules in the text colour, as a
    terminal with a dark background needs."""
    try:
        import segno
    except ImportError:
        return None
    code = segno.make(url, error="m", micro=False)
    width = code.symbol_size()[0] * (1 if unicode else 2)  # with the recommended quiet zone (4 modules a side)
    if width > columns:
        return None
    out = io.StringIO()
    code.terminal(out=out, compact=unicode)
    return out.getvalue()


def _can_show(out: TextIO, text: str) -> bool:
    try:
        text.encode(getattr(out, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def show_code(code: DeviceCode, name: str, server: str, out: TextIO, *, columns: int | None = None) -> None:
    """What the person at the terminal needs: where to go, what to type, and the QR code when it fits."""
    minutes = max(1, round(code.expires_in / 60))
    lines = [
        f"To pair this Pi as {name!r} with {server}, sign in there and",
        f"  open   {code.verification_uri}",
        f"  enter  {code.user_code}",
    ]
    if code.verification_uri_complete:
        lines.append(f"or open {code.verification_uri_complete}")
    print("\n".join(lines), file=out)
    if code.verification_uri_complete and out.isatty():
        unicode = _can_show(out, "\u2580\u2584\u2588")
        qr = qr_text(code.verification_uri_complete, columns or shutil.get_terminal_size().columns, unicode=unicode)
        if qr:
            print(f"or scan:\n{qr}", end="", file=out)
    print(f"The code expires in {minutes} min. Waiting for approval (Ctrl-C to cancel)...", file=out, flush=True)


def _directory_problem(token_file: Path) -> str | None:
    """Checked before asking for a code: an approved pairing that cannot be written would be lost."""
    parent = token_file.parent
    if not parent.is_dir():
        return (
            f"cannot write {token_file}: the directory {parent} does not exist "
            f"(create it: sudo install -d -o p1edge -g p1edge -m 0750 {parent})"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        return (
            f"cannot write {token_file}: {parent} is not writable by this user "
            f"(run as the service user: sudo -u p1edge p1edge pair ...)"
        )
    return None


def _service_owner(token_file: Path) -> tuple[int, int] | None:
    """Run as root (`sudo p1edge pair`), the file goes to the owner of its directory (the service user), or the
    uploader, running as that user, could not read a root-owned 0600 file."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    info = os.stat(token_file.parent)
    return (info.st_uid, info.st_gid) if info.st_uid != 0 else None


def run_pair(
    server: str,
    name: str,
    token_file: Path,
    *,
    timeout: float = 15.0,
    out: TextIO | None = None,
    err: TextIO | None = None,
    session: requests.Session | None = None,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], Any] | None = None,
    columns: int | None = None,
) -> int:
    """The whole `p1edge pair` after argument checks: 0 paired, 1 not (one line on `err` says why), 130 Ctrl-C."""
    out = out or sys.stdout
    err = err or sys.stderr
    problem = _directory_problem(token_file)
    if problem:
        print(f"p1edge pair: {problem}", file=err)
        return 1
    try:
        current = read_token_file(token_file)
    except TokenFileError:
        current = None  # unusable anyway: the new pairing replaces it
    if current is not None:
        print(
            f"this Pi is {current.describe()}; a new pairing replaces that token (revoke the old device on the "
            f"website's Devices page)",
            file=out,
        )
    pairing = Pairing(
        server,
        session=session,
        timeout=timeout,
        clock=clock or time.monotonic,
        sleep=sleep or time.sleep,
        note=lambda text: print(text, file=err, flush=True),
    )
    try:
        code = pairing.request_code(name)
        show_code(code, name, server, out, columns=columns)
        token = pairing.poll(code)
        device = DeviceToken(token=token, server=pairing.server, name=name, paired_at=now_iso())
        write_token_file(token_file, device, owner=_service_owner(token_file))
    except PairingError as exc:
        print(f"p1edge pair: {exc}", file=err)
        return 1
    except OSError as exc:
        print(
            f"p1edge pair: approved, but {token_file} could not be written ({exc.strerror or exc}); revoke the new "
            f"device on the website's Devices page and run p1edge pair again",
            file=err,
        )
        return 1
    except KeyboardInterrupt:  # Ctrl-C: no traceback; write_token_file leaves no temporary file behind
        print("", file=out)
        print("p1edge pair: cancelled; nothing was paired", file=err)
        return 130
    print(f"{device.describe()}; the device token is in {token_file} (mode 0600)", file=out)
    print("the uploader starts using it within a minute (or at once: sudo systemctl restart p1edge-uploader)", file=out)
    return 0
