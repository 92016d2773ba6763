"""A real Django server in a subprocess (gunicorn on loopback, temp SQLite file) that tests and the bench can
kill and restart. The edge talks to it over HTTP only; nothing here imports Django (``tests.conftest`` does so only
inside its fixtures)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import requests

from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DjangoServer:
    def __init__(self, directory: Path, *, workers: int = 2, env: dict[str, str] | None = None) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.db = self.directory / "db.sqlite3"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.process: subprocess.Popen | None = None
        self.env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{self.db}",
            "SECRET_KEY": secrets.token_urlsafe(40),
            "DEBUG": "0",
            "ALLOWED_HOSTS": "127.0.0.1",
            "PYTHONPATH": str(ROOT),
            **(env or {}),
        }

    def manage(self, *args: str) -> None:
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True, capture_output=True)

    def prepare(self, username: str, password: str, template: Path | None = None) -> None:
        """Migrate (or copy an already migrated database file) and create the device's user."""
        if template is not None and template.exists():
            shutil.copy(template, self.db)
        else:
            self.manage("migrate", "--noinput")
        code = (
            "from django.contrib.auth import get_user_model; import os; "
            "get_user_model().objects.create_user(os.environ['E2E_USER'], password=os.environ['E2E_PASSWORD'])"
        )
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env={**self.env, "E2E_USER": username, "E2E_PASSWORD": password},
            check=True,
            capture_output=True,
        )

    def start(self, timeout: float = 30.0) -> None:
        log = open(self.directory / "server.log", "ab")
        self.process = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "energy_app.wsgi:application",
                "-b",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--timeout",
                "120",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        wait_for(self._healthy, timeout=timeout, interval=0.1, message=lambda: f"a healthy server; {self._log_tail()}")

    def _healthy(self) -> bool:
        """Whether /healthz answers 200; RuntimeError (ending the wait) when the server process has exited."""
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"server exited: {self._log_tail()}")
        with contextlib.suppress(requests.RequestException):
            return requests.get(self.url + "/healthz", timeout=2).status_code == 200
        return False

    def _log_tail(self) -> str:
        return "its log ends: " + (self.directory / "server.log").read_text()[-2000:]

    def kill(self) -> None:
        """SIGKILL the whole process group (gunicorn master and workers)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def readings(self) -> list[tuple]:
        """(serial, timestamp, import_t1_kwh) of every stored reading, read from the database file."""
        with contextlib.closing(sqlite3.connect(self.db)) as db:
            return db.execute(
                "SELECT m.serial, r.timestamp, r.import_t1_kwh FROM meters_reading r "
                "JOIN meters_meter m ON m.id = r.meter_id ORDER BY m.serial, r.timestamp"
            ).fetchall()

    def count_readings(self, serial: str) -> int:
        with contextlib.closing(sqlite3.connect(self.db)) as db:
            query = "SELECT COUNT(*) FROM meters_reading r JOIN meters_meter m ON m.id = r.meter_id WHERE m.serial = ?"
            return db.execute(query, (serial,)).fetchone()[0]
