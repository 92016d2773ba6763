"""``manage.py run_alerts``: offline / back alerts and the retries that are due (``meters.alerts.run_alerts``).

Run it every minute: once per call from a timer (systemd, a Container Apps job), or ``--loop 60`` as a long-running
service (docker compose), which stops cleanly on SIGTERM or SIGINT after the pass under way.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from meters.alerts import run_alerts

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Send offline and back alerts and retry failed deliveries; once, or every SECONDS with --loop."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--loop",
            type=int,
            default=0,
            metavar="SECONDS",
            help="Run forever, one pass every SECONDS (e.g. 60), until SIGTERM or SIGINT. Default: one pass.",
        )

    def handle(self, *args: Any, loop: int = 0, **options: Any) -> None:
        if loop < 0:
            raise CommandError("--loop needs a number of seconds above 0")
        if not loop:
            self.stdout.write(run_alerts().line())  # an error fails the run, and the timer's log shows it
            return
        self._run_forever(loop)

    def _run_forever(self, seconds: int) -> None:
        stop = threading.Event()

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        # The handlers are put back afterwards: call_command runs this in the caller's process (the tests).
        previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            while not stop.is_set():
                try:
                    self.stdout.write(run_alerts().line())
                except Exception:  # a pass that fails (database away) is logged; the next one tries again
                    logger.exception("run_alerts: the pass failed")
                if stop.wait(seconds):
                    break
                # A database that restarted leaves a broken connection behind: drop it before the next pass (not
                # before the first, which may run inside a caller's transaction, as call_command in a test does).
                close_old_connections()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write("run_alerts: stopped")
