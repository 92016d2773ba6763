"""``manage.py import_prices FILE [FILE ...]``: store day-ahead prices from price files (``-``: standard input).

Each file is either the ENTSO-E transparency export or a plain ``start,price_eur_mwh`` CSV
(``meters.billing.spot``; ``docs/operations.md``, "Day-ahead prices"). A file is stored whole or not at all: a bad
one has every bad row printed to stderr (line, column, message) and stores nothing; the other files are still
imported, and the command then exits non-zero. Re-importing a file overwrites its quarters with the same prices.
"""

from __future__ import annotations

import sys
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from meters.billing.spot import PriceFileError, PriceImport, import_prices


class Command(BaseCommand):
    help = "Import day-ahead prices (EUR/MWh per quarter-hour) from ENTSO-E exports or start,price_eur_mwh CSVs."
    # call_command(..., stdin=...) stands in for standard input in tests.
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", metavar="FILE", help="Price files; - reads standard input.")

    def handle(self, *args: Any, files: list[str], **options: Any) -> None:
        failed: list[str] = []
        for name in files:
            try:
                result = self._import(name, options.get("stdin"))
            except PriceFileError as exc:
                for error in exc.errors:
                    self.stderr.write(f"{name}: {error}")
                if exc.total > len(exc.errors):
                    self.stderr.write(
                        _("%(file)s: %(count)d more errors not shown")
                        % {"file": name, "count": exc.total - len(exc.errors)}
                    )
                self.stderr.write(
                    _("%(file)s: %(count)d error(s); nothing was stored from this file.")
                    % {"file": name, "count": exc.total}
                )
                failed.append(name)
                continue
            except OSError as exc:
                self.stderr.write(
                    _("%(file)s: cannot be read: %(error)s") % {"file": name, "error": exc.strerror or exc}
                )
                failed.append(name)
                continue
            self.stdout.write(self._summary(name, result))
        if failed:
            raise CommandError(_("Nothing was stored from %(files)s.") % {"files": ", ".join(failed)})

    def _import(self, name: str, stdin: IO[Any] | None) -> PriceImport:
        if name == "-":
            # Bytes where there are any, so a file that is not UTF-8 is reported by line like any bad row.
            stream = stdin if stdin is not None else getattr(sys.stdin, "buffer", sys.stdin)
            return import_prices(stream)
        with open(name, "rb") as handle:
            return import_prices(handle)

    def _summary(self, name: str, result: PriceImport) -> str:
        return _(
            "%(file)s: rows %(rows)d, created %(created)d, updated %(updated)d, first %(first)s, last %(last)s"
        ) % {
            "file": name,
            "rows": result.rows,
            "created": result.created,
            "updated": result.updated,
            "first": result.first.isoformat() if result.first else "-",
            "last": result.last.isoformat() if result.last else "-",
        }
