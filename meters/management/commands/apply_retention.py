"""``manage.py apply_retention``: delete the raw quarter-hours older than ``RETENTION_RAW_DAYS`` (``meters.retention``).

Run it daily: from a timer (systemd ``p1energy-retention.timer``, a Container Apps job), or ``--loop 86400`` as a
long-running service (docker compose ``retention``). Each run prints the cutoff and what it deleted: readings and
quarter rollups before the cutoff, in batches of ``--batch`` rows (whole month partitions on PostgreSQL); day totals
and monthly peaks stay. ``--dry-run`` prints what would go and changes nothing. With the default (keep forever) it
says so and does nothing.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from meters import retention
from meters.management.loop import run_every


class Command(BaseCommand):
    help = (
        "Delete the readings and quarter rollups older than RETENTION_RAW_DAYS (day totals and monthly peaks stay), "
        "in small batches."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Print the cutoff and what would be deleted; change nothing."
        )
        parser.add_argument(
            "--batch",
            type=int,
            default=retention.BATCH_ROWS,
            metavar="ROWS",
            help=f"Rows deleted per transaction (default {retention.BATCH_ROWS}).",
        )
        parser.add_argument(
            "--loop",
            type=int,
            default=0,
            metavar="SECONDS",
            help="Run forever, one pass every SECONDS (e.g. 86400), until SIGTERM or SIGINT. Default: one pass.",
        )

    def handle(
        self, *args: Any, dry_run: bool = False, batch: int = retention.BATCH_ROWS, loop: int = 0, **options: Any
    ) -> None:
        if batch < 1:
            raise CommandError("--batch needs a number of rows above 0")
        if loop < 0:
            raise CommandError("--loop needs a number of seconds above 0")
        if dry_run and loop:
            raise CommandError("--dry-run changes nothing: leave out --loop")
        if loop:
            # The cutoff is computed again each pass: it moves on by a day every local midnight.
            run_every(loop, lambda: self._pass(batch, dry_run=False), "apply_retention")
            self.stdout.write("apply_retention: stopped")
        else:
            self._pass(batch, dry_run=dry_run)

    def _pass(self, batch: int, *, dry_run: bool) -> None:
        report = retention.apply_retention(batch=batch, dry_run=dry_run)
        if report.cutoff is None:
            self.stdout.write("apply_retention: RETENTION_RAW_DAYS is not set: raw quarter-hours are kept forever")
            return
        days = retention.keep_days()
        self.stdout.write(f"cutoff {report.cutoff.isoformat()} ({days} days): raw quarter-hours before it go")
        verb = "would delete" if dry_run else "deleted"
        self.stdout.write(
            f"{verb} {report.readings_deleted} reading(s), {report.quarters_deleted} quarter rollup(s) and "
            f"{report.intervals_deleted} imported Mijn Fluvius interval(s)"
            + ("" if dry_run else f" in {report.batches} batch(es), {report.seconds:.1f} s")
        )
        for name in report.partitions_dropped:
            self.stdout.write(f"{'would drop' if dry_run else 'dropped'} partition {name}")
        if report.neighbours_kept:
            self.stdout.write(
                f"kept {report.neighbours_kept} reading(s) just before the cutoff: the start of the first kept day"
            )
        self.stdout.write("day totals and monthly peaks are kept")
