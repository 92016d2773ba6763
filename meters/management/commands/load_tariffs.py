"""``manage.py load_tariffs [FILE]``: add or update tariff rows (VAT, network tariffs, levies, presets).

Without FILE, the shipped ``meters/billing/data/tariffs.json`` (which migration 0013 loaded). Rows are matched by
their key and ``valid_from``; nothing is deleted. A bad row names its section, number and field; nothing is stored.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from meters.billing import tariffs


class Command(BaseCommand):
    help = "Add or update versioned tariff data from a JSON file (default: the shipped figures)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", nargs="?", default=str(tariffs.DATA_FILE))

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = tariffs.load(tariffs.read_file(options["file"]))
        except tariffs.TariffFileError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{options['file']}: {report.created} rows added, {report.updated} updated")
