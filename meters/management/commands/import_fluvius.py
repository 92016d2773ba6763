"""``manage.py import_fluvius METER FILE [--skip-errors]``: import a Mijn Fluvius export for one meter.

METER is the meter's serial (``1SAG1100000292``) or its public code. The file is a quarter-hour totals, day totals,
monthly peaks or gas export in any header variant (``meters.fluvius``; docs/operations.md, "Mijn Fluvius
history"). Progress is printed every 50,000 rows; a refused file (another meter's, bad rows) stores nothing, has its
errors listed by line and column, and makes the command exit non-zero.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from meters.claims import MeterError, normalise_serial
from meters.fluvius.imports import ImportRefused, ImportReport, import_file
from meters.models import Meter

_SHOWN_ERRORS = 50


def _meter(text: str) -> Meter:
    try:
        return Meter.objects.get(code=uuid.UUID(text))
    except (ValueError, Meter.DoesNotExist):
        pass
    try:
        return Meter.objects.get(serial=normalise_serial(text))
    except (MeterError, Meter.DoesNotExist):
        raise CommandError(_("No meter with serial or code %(meter)s.") % {"meter": text}) from None


class Command(BaseCommand):
    help = "Import a Mijn Fluvius export (quarter-hours, day totals, monthly peaks, gas) for one meter."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("meter", metavar="METER", help="The meter's serial or code.")
        parser.add_argument("file", metavar="FILE", help="The CSV downloaded from Mijn Fluvius.")
        parser.add_argument("--skip-errors", action="store_true", help="Store the good rows and skip the bad ones.")

    def handle(self, *args: Any, meter: str, file: str, skip_errors: bool, **options: Any) -> None:
        found = _meter(meter)
        try:
            with open(file, "rb") as handle:
                report = import_file(
                    found,
                    handle,
                    skip_errors=skip_errors,
                    progress=lambda rows: self.stdout.write(_("%(rows)d rows read") % {"rows": rows}),
                    file_name=file,
                )
        except OSError as exc:
            raise CommandError(
                _("%(file)s cannot be read: %(error)s") % {"file": file, "error": exc.strerror or exc}
            ) from None
        except ImportRefused as exc:
            self._errors(exc.report)
            raise CommandError(str(exc)) from None
        self._errors(report)
        self.stdout.write(self._summary(report))
        for d in report.differences:
            self.stdout.write(
                _("%(day)s %(register)s: Pi %(p1).3f kWh, Fluvius %(fluvius).3f kWh")
                % {"day": d.day, "register": d.register_label, "p1": d.p1_wh / 1000, "fluvius": d.fluvius_wh / 1000}
            )

    def _errors(self, report: ImportReport) -> None:
        for error in report.errors[:_SHOWN_ERRORS]:
            self.stderr.write(str(error))
        if report.error_count > _SHOWN_ERRORS:
            self.stderr.write(_("%(count)d more errors not shown") % {"count": report.error_count - _SHOWN_ERRORS})

    def _summary(self, report: ImportReport) -> str:
        return _(
            "%(rows)d rows read (%(kinds)s): %(stored)d stored, %(unchanged)d unchanged, %(skipped)d skipped; "
            "%(first)s to %(last)s; %(flagged)d register-days where the Pi and Fluvius disagree"
        ) % {
            "rows": report.rows,
            "kinds": ", ".join(f"{k} {v}" for k, v in report.kinds.items()) or "-",
            "stored": report.stored,
            "unchanged": report.unchanged,
            "skipped": report.skipped,
            "first": report.first.isoformat() if report.first else "-",
            "last": report.last.isoformat() if report.last else "-",
            "flagged": len(report.differences),
        }
