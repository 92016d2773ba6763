"""Business logic of the meters app. Views, the API, management commands and the edge call these functions.

Interface (implementation in progress): see each function's docstring.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestError:
    index: int  # position of the item in the submitted list
    field: str  # DESIGN.md field name, "serial", "timestamp" or "non_field_errors"
    message: str


@dataclass(frozen=True)
class IngestResult:
    created: int
    duplicates: int
    registered_serials: tuple[str, ...] = ()  # unknown serials that became the acting user's meters


class IngestRejected(Exception):
    """The batch was refused as a whole; nothing was stored. ``errors`` lists every bad item by index and field."""

    def __init__(self, errors: Sequence[IngestError]) -> None:
        super().__init__(f"{len(errors)} invalid item(s)")
        self.errors = list(errors)


def ingest_readings(user, items: Sequence[Mapping[str, Any]]) -> IngestResult:
    """Validate, authorise and store quarter-hour readings atomically.

    ``items`` are plain dicts with ``serial``, ``timestamp`` (aware datetime or ISO 8601 string; naive means
    Europe/Brussels), optional ``measured_at`` and the DESIGN.md reading fields (numbers, Decimals or numeric
    strings). Raises ``IngestRejected`` (nothing stored) when any item is invalid or not writable by ``user``.
    """
    raise NotImplementedError
