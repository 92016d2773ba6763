"""``manage.py rebuild_rollups [SERIAL ...]``: recompute the stored rollups from the raw readings.

Ingest keeps the rollups up to date by itself; run this after restoring readings from a backup, after a change to
the series rules, or to check (``--check`` compares what is stored with a rebuild and changes nothing). Each meter
is rebuilt a local month per transaction, so uploads keep going meanwhile; progress is printed per month.

With retention on (``RETENTION_RAW_DAYS``, ``meters.retention``) only what lies from the retention cutoff on is
rebuilt; the quarters, days and months before it stay as stored, since their readings are gone (``--check`` compares
the same way). Empty ``RETENTION_RAW_DAYS`` for the run to rebuild old days from restored readings.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from meters import retention
from meters.claims import InvalidSerial, normalise_serial
from meters.models import Meter
from meters.series import rollups


class Command(BaseCommand):
    help = "Recompute the quarter, day and month rollups from the readings, for the given meters or all of them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("serials", nargs="*", metavar="SERIAL", help="Meters to rebuild. Default: every meter.")
        parser.add_argument(
            "--check",
            action="store_true",
            help="Compare the stored rollups with a rebuild (rolled back) and exit 1 on a difference.",
        )

    def handle(self, *args: Any, serials: list[str], check: bool = False, **options: Any) -> None:
        meters = Meter.objects.order_by("serial")
        if serials:
            try:
                wanted = {normalise_serial(s) for s in serials}
            except InvalidSerial as exc:
                raise CommandError(f"SERIAL: {exc}") from None
            meters = meters.filter(serial__in=wanted)
            unknown = sorted(wanted - set(meters.values_list("serial", flat=True)))
            if unknown:
                raise CommandError(f"No meter with serial {', '.join(unknown)}")
        total = meters.count()
        differing = []
        cut = retention.cutoff(timezone.now())
        if cut is not None:
            self.stdout.write(
                f"retention: the rollups before {cut.isoformat()} stay as stored ({retention.keep_days()} days kept)"
            )
        for n, meter in enumerate(meters.iterator(), start=1):
            if check:
                if not self._matches(meter):
                    differing.append(meter.serial)
                continue

            def progress(month: Any, serial: str = meter.serial) -> None:
                self.stdout.write(f"  {serial} {month.isoformat()[:7]}")

            report = rollups.rebuild(meter.pk, progress=progress)
            self.stdout.write(
                f"{n}/{total} {meter.serial}: {report.quarters} quarters, {report.days} days, {report.months} months"
            )
        if check:
            if differing:
                raise CommandError(f"Rollups differ from the readings for {', '.join(differing)}")
            self.stdout.write(f"{total} meter(s): rollups match the readings")

    def _matches(self, meter: Meter) -> bool:
        with transaction.atomic():
            before = rollups.snapshot(meter.pk)
            rollups.rebuild(meter.pk)
            same = rollups.snapshot(meter.pk) == before
            transaction.set_rollback(True)
        return same
