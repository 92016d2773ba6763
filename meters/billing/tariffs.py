"""Versioned tariff data: VAT, network tariffs per distribution area, levies and contract presets.

The figures ship in ``meters/billing/data/tariffs.json`` (facts and sources: docs/tariffs.md); migration 0013 and
``manage.py load_tariffs [FILE]`` load them with :func:`load`, which adds or updates rows by their key and
``valid_from`` and never deletes. A row holds from its ``valid_from`` until the next row with the same key, so a new
year is a few rows of data, never code. :class:`TariffBook` answers "what held on this day" from memory: the tables
are a few dozen rows.
"""

from __future__ import annotations

import json
import logging
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.db import transaction

from meters.models import ContractPreset, Levy, NetworkTariff, VatRate

logger = logging.getLogger(__name__)

DATA_FILE = Path(__file__).with_name("data") / "tariffs.json"

# section -> (model name, the fields that identify a row besides valid_from)
_SECTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "vat": ("VatRate", ()),
    "network": ("NetworkTariff", ("area",)),
    "levies": ("Levy", ("code", "region", "household")),
    "presets": ("ContractPreset", ("key",)),
}


class TariffFileError(ValueError):
    """A tariff file that cannot be loaded: names the section, the row (from 1) and the field."""


@dataclass(frozen=True)
class LoadReport:
    created: int
    updated: int


def read_file(path: Path | str = DATA_FILE) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TariffFileError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise TariffFileError(f"{path}: expected a JSON object with the sections {', '.join(_SECTIONS)}")
    return data


def load(data: Mapping[str, Any], models: Mapping[str, Any] | None = None) -> LoadReport:
    """Add or update every row of ``data`` (the JSON of ``tariffs.json``). ``models`` maps model names to classes:
    a migration passes its historical models. Raises TariffFileError naming the row and field; nothing is stored
    then (one transaction)."""
    classes = models or {"VatRate": VatRate, "NetworkTariff": NetworkTariff, "Levy": Levy,
                         "ContractPreset": ContractPreset}  # fmt: skip
    created = updated = 0
    with transaction.atomic():
        for section, (model_name, keys) in _SECTIONS.items():
            model = classes[model_name]
            names = {f.name for f in model._meta.get_fields() if getattr(f, "concrete", False)}
            for n, row in enumerate(data.get(section, ()), start=1):
                if not isinstance(row, dict):
                    raise TariffFileError(f"{section} row {n}: expected an object")
                unknown = sorted(set(row) - names)
                if unknown:
                    raise TariffFileError(f"{section} row {n}: unknown field {unknown[0]!r}")
                missing = [k for k in (*keys, "valid_from") if k not in row]
                if missing:
                    raise TariffFileError(f"{section} row {n}: missing field {missing[0]!r}")
                values = _typed(model, row, section, n)
                lookup = {k: values.pop(k) for k in (*keys, "valid_from")}
                _, made = model.objects.update_or_create(**lookup, defaults=values)
                created += made
                updated += not made
    logger.info("tariffs: %d rows added, %d updated", created, updated)
    return LoadReport(created=created, updated=updated)


def _typed(model: Any, row: Mapping[str, Any], section: str, n: int) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in row.items():
        field = model._meta.get_field(name)
        try:
            values[name] = None if value is None else field.to_python(value)
        except Exception as exc:  # noqa: BLE001 - Django raises ValidationError or a TypeError here
            raise TariffFileError(f"{section} row {n}, field {name!r}: {value!r} is not valid ({exc})") from None
        if isinstance(values[name], Decimal):
            try:
                values[name].quantize(Decimal("1e-7"))
            except InvalidOperation:
                raise TariffFileError(f"{section} row {n}, field {name!r}: {value!r} has too many digits") from None
    return values


def _holding(rows: list[Any], day: date) -> Any | None:
    """The row in force on ``day`` of rows sorted by valid_from; None before the first."""
    i = bisect_right([r.valid_from for r in rows], day)
    return rows[i - 1] if i else None


class TariffBook:
    """The tariff tables in memory, for one computation (a bill, a series)."""

    def __init__(self) -> None:
        self._vat = list(VatRate.objects.order_by("valid_from"))
        self._network: dict[str, list[NetworkTariff]] = {}
        for t in NetworkTariff.objects.order_by("valid_from"):
            self._network.setdefault(t.area, []).append(t)
        self._levies: dict[tuple[str, str, str], list[Levy]] = {}
        for levy in Levy.objects.order_by("valid_from"):
            self._levies.setdefault((levy.code, levy.region, levy.household), []).append(levy)
        self._presets: dict[str, list[ContractPreset]] = {}
        for p in ContractPreset.objects.order_by("valid_from"):
            self._presets.setdefault(p.key, []).append(p)

    def vat(self, day: date) -> Decimal:
        row = _holding(self._vat, day)
        return Decimal(0) if row is None else row.rate

    def network(self, area: str, day: date) -> NetworkTariff | None:
        return _holding(self._network.get(area, []), day)

    def areas(self) -> dict[str, list[str]]:
        """Region code -> its areas, for forms."""
        out: dict[str, list[str]] = {}
        for area, rows in sorted(self._network.items()):
            out.setdefault(rows[-1].region, []).append(area)
        return out

    def levies(self, region: str, domiciled: bool, day: date) -> list[Levy]:
        """The levies in force on ``day`` for a household in ``region``: federal ones and the region's own."""
        wanted = {Levy.Household.ANY, Levy.Household.DOMICILED if domiciled else Levy.Household.OTHER}
        found = []
        for (_code, levy_region, household), rows in self._levies.items():
            if household in wanted and levy_region in ("", region):
                row = _holding(rows, day)
                if row is not None:
                    found.append(row)
        return sorted(found, key=lambda levy: (levy.region, levy.code))

    def presets(self, region: str, day: date) -> list[ContractPreset]:
        """The presets for ``region`` in force on ``day`` (a preset not yet in force then: its first version)."""
        found = []
        for rows in self._presets.values():
            row = _holding(rows, day) or rows[0]
            if row.region in ("", region):
                found.append(row)
        return sorted(found, key=lambda p: (p.energy_kind != "single", p.name, p.region))
