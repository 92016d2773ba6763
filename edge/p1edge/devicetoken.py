"""The device token file that `p1edge pair` writes and the uploader reads (RFC 8628 device authorization).

One JSON object, ``{"token", "server", "name", "paired_at"}``, mode 0600 from the moment it exists (created under a
temporary name with O_EXCL and mode 0600, fsync'd, renamed over the old one), so a crash leaves the old pairing or
the new one and no other user ever sees the secret.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from p1edge import wire

DEFAULT_DEVICE_TOKEN_FILE = "/var/lib/p1edge/device-token"  # noqa: S105 - a path, not a secret


class TokenFileError(ValueError):
    """The token file exists but cannot be used; the message names the file and what to do."""


@dataclass(frozen=True)
class DeviceToken:
    token: str = field(repr=False)  # the secret: never in a repr, a log line or a state file
    server: str
    name: str = ""
    paired_at: str = ""

    @property
    def fingerprint(self) -> str:
        """Which token the server refused, without keeping it (the token is random, so its hash reveals nothing)."""
        return hashlib.sha256(self.token.encode()).hexdigest()

    def describe(self) -> str:
        return f"paired with {self.server} as {self.name or '(no name)'}"


def read_token_file(path: str | os.PathLike[str]) -> DeviceToken | None:
    """The pairing in ``path``; None when the file does not exist (not paired), TokenFileError when it exists but
    holds no usable token."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except PermissionError:
        raise TokenFileError(
            f"{path} is not readable by this user (run as the service user: sudo -u p1edge p1edge ...)"
        ) from None
    except OSError as exc:  # a directory, an I/O error
        raise TokenFileError(f"{path} cannot be read ({exc.strerror or exc})") from None
    again = f"expected the JSON file written by `p1edge pair`; run p1edge pair again or delete {path}"
    try:
        data = json.loads(raw)
    except ValueError:
        raise TokenFileError(f"{path} is not valid JSON ({again})") from None
    if not isinstance(data, dict):
        raise TokenFileError(f"{path} holds no device token ({again})")
    token, server = data.get("token"), data.get("server")
    if not isinstance(token, str) or not token.startswith(wire.DEVICE_TOKEN_PREFIX) or token.strip() != token:
        raise TokenFileError(f"{path} holds no device token ({again})")
    if not isinstance(server, str) or not server.strip():
        raise TokenFileError(f"{path} names no server ({again})")
    name, paired_at = data.get("name"), data.get("paired_at")
    return DeviceToken(
        token=token,
        server=server.strip().rstrip("/"),
        name=name if isinstance(name, str) else "",
        paired_at=paired_at if isinstance(paired_at, str) else "",
    )


def mode_problem(path: str | os.PathLike[str]) -> str | None:
    """A token file other users can read (or write) gives them the device: name the file and the fix."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if mode & 0o077:
        return (
            f"{path} holds the device token and is open to group or others (mode {stat.S_IMODE(mode):04o}): "
            f"chmod 600 {path}"
        )
    return None


def file_stamp(path: str | os.PathLike[str]) -> tuple[int, int, int] | None:
    """(inode, mtime, size): changes whenever `p1edge pair` replaces the file (a rename is a new inode)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_mtime_ns, info.st_size)


def write_token_file(
    path: str | os.PathLike[str], device: DeviceToken, *, owner: tuple[int, int] | None = None
) -> None:
    """Replace ``path`` atomically with ``device``, mode 0600 from creation; ``owner`` (uid, gid) chowns it first
    (root pairing for the service user)."""
    path = Path(path)
    data = {"token": device.token, "server": device.server, "name": device.name, "paired_at": device.paired_at}
    body = (json.dumps(data, indent=1) + "\n").encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(tmp, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            if owner is not None:
                os.fchown(handle.fileno(), *owner)
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
