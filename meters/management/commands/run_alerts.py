"""``manage.py run_alerts``: offline / back alerts and the retries that are due (``meters.alerts.run_alerts``).

Run it every minute: once per call from a timer (systemd, a Container Apps job), or ``--loop 60`` as a long-running
service (docker compose), which stops cleanly on SIGTERM or SIGINT after the pass under way.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from meters.alerts import run_alerts
from meters.management.loop import run_every


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
        run_every(seconds, lambda: self.stdout.write(run_alerts().line()), "run_alerts")
        self.stdout.write("run_alerts: stopped")
