"""``manage.py partition_readings``: keep the month partitions of the readings ahead (``meters.partitions``).

Run it daily: from a timer (systemd, a Container Apps job), or ``--loop 86400`` as a long-running service (docker
compose); the Docker entrypoint also runs it once after migrating. Each run creates the partitions of the running
month and the ``--ahead`` months after it that are missing, and gives a partition to every month whose readings
wait in the DEFAULT partition. ``--drop-before YYYY-MM`` drops the whole months before that one (retention);
``--list`` shows the partitions and changes nothing. On SQLite and SQL Server the readings stay in one table and
the command says so and does nothing.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections, router
from django.utils import timezone

from meters import partitions
from meters.management.loop import run_every
from meters.models import Reading

_MONTH = re.compile(r"(\d{4})-(\d{2})")


def parse_month(text: str) -> date:
    """The first day of the month ``YYYY-MM``; ``CommandError`` naming --drop-before and the form otherwise."""
    match = _MONTH.fullmatch(text.strip())
    if match is None or not 1 <= int(match[2]) <= 12:
        raise CommandError(f"--drop-before must be a month written YYYY-MM, e.g. 2024-01; got {text!r}")
    return date(int(match[1]), int(match[2]), 1)


class Command(BaseCommand):
    help = (
        "Create the month partitions of the readings ahead (PostgreSQL), move readings out of the DEFAULT "
        "partition, optionally drop the months before --drop-before."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--ahead",
            type=int,
            default=partitions.MONTHS_AHEAD,
            metavar="N",
            help=f"Months after the running one that must have a partition (default {partitions.MONTHS_AHEAD}).",
        )
        parser.add_argument(
            "--drop-before",
            metavar="YYYY-MM",
            help="Also drop every partition of a month before this one (retention). Not later than this month.",
        )
        parser.add_argument(
            "--list", action="store_true", dest="list_only", help="List the partitions and change nothing."
        )
        parser.add_argument(
            "--loop",
            type=int,
            default=0,
            metavar="SECONDS",
            help="Run forever, one pass every SECONDS (e.g. 86400), until SIGTERM or SIGINT. Default: one pass.",
        )

    def handle(
        self,
        *args: Any,
        ahead: int = partitions.MONTHS_AHEAD,
        drop_before: str | None = None,
        list_only: bool = False,
        loop: int = 0,
        **options: Any,
    ) -> None:
        before = parse_month(drop_before) if drop_before is not None else None
        if ahead < 0:
            raise CommandError("--ahead must be 0 or more")
        if loop < 0:
            raise CommandError("--loop needs a number of seconds above 0")
        if list_only and (before is not None or loop):
            raise CommandError("--list changes nothing: leave out --drop-before and --loop")
        if before is not None and loop:
            # A fixed month in a loop would never move on: retention passes its own cutoff each time.
            raise CommandError("--drop-before is a one-off: leave out --loop")
        if loop:
            self._run_forever(loop, ahead, before)
        elif not partitions.is_partitioned():
            self._not_partitioned()
        elif list_only:
            self._list()
        else:
            self._pass(ahead, before)

    def _not_partitioned(self) -> None:
        vendor = connections[router.db_for_write(Reading)].vendor
        if vendor == "postgresql":
            raise CommandError(
                f"{Reading._meta.db_table} is not partitioned: apply the migrations first (manage.py migrate)"
            )
        self.stdout.write(
            f"partition_readings: partitioning is PostgreSQL-only; on {vendor} the readings stay in one table, "
            "nothing to do"
        )

    def _pass(self, ahead: int, before: date | None) -> None:
        now = timezone.now()
        month = partitions.local_month(now)
        if before is not None and before > month:
            # Later than the running month would drop readings that are still being written.
            raise CommandError(f"--drop-before {before:%Y-%m} is after the running month; nothing was dropped")
        try:
            report = partitions.ensure_partitions(now, ahead)
        except partitions.PartitionBusy as exc:
            raise CommandError(f"{exc}; run partition_readings again later") from None
        for new in report.created:
            self.stdout.write(
                f"created {new.name} ({new.month:%Y-%m}, {new.moved_rows} reading(s) moved from the default partition)"
            )
        if not report.created:
            self.stdout.write(f"partitions up to {partitions.add_months(month, ahead):%Y-%m} exist; nothing created")
        if before is None:
            return
        try:
            dropped = partitions.drop_partitions(before)
        except partitions.PartitionBusy as exc:
            raise CommandError(f"{exc}; run partition_readings again later") from None
        for name in dropped:
            self.stdout.write(f"dropped {name}")
        if not dropped:
            self.stdout.write(f"no partition ends before {before:%Y-%m}; nothing dropped")

    def _list(self) -> None:
        for p in partitions.partitions():
            rows = "not counted yet" if p.rows_estimate is None else f"~{p.rows_estimate} reading(s)"
            if p.is_default:
                self.stdout.write(f"{p.name}  default  {rows}")
                continue
            month = f"{p.month:%Y-%m}" if p.month else "-"
            start = p.start.isoformat() if p.start else "MINVALUE"
            end = p.end.isoformat() if p.end else "MAXVALUE"
            self.stdout.write(f"{p.name}  {month}  [{start}, {end})  {rows}")

    def _run_forever(self, seconds: int, ahead: int, before: date | None) -> None:
        def one_pass() -> None:
            # Checked each pass: a service started before the migrations (or on SQLite) keeps waiting instead of
            # exiting, which a container's restart policy would turn into a restart loop.
            if partitions.is_partitioned():
                self._pass(ahead, before)
            else:
                self._not_partitioned()

        run_every(seconds, one_pass, "partition_readings")
        self.stdout.write("partition_readings: stopped")
