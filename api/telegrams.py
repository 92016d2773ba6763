"""Raw P1 telegrams posted to ``/api/v1/telegrams`` -> ingest items, with the edge's own parser and sampler."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from p1edge.framing import split_telegrams
from p1edge.sampling import first_per_slot
from p1edge.telegram import TelegramError, parse_telegram

from meters.services import IngestError, IngestRejected


@dataclass(frozen=True)
class TelegramBatch:
    telegram_count: int
    items: tuple[dict[str, Any], ...]  # one per (serial, quarter-hour): the earliest telegram of the slot
    positions: tuple[int, ...]  # positions[i] = index of the telegram that items[i] came from


def telegram_items(text: str) -> TelegramBatch:
    """Frame, parse (CRC checked) and sample ``text``.

    Raises ``IngestRejected`` listing every telegram that cannot become a reading by its position (from 0),
    so one bad telegram stores nothing; an empty list of errors never happens.
    """
    telegrams = split_telegrams(text)
    if not telegrams:
        raise IngestRejected([IngestError(0, "telegram", "No complete P1 telegram ('/' ... '!CRC') in the body.")])
    readings: list[dict[str, Any]] = []
    origin: dict[tuple[str, datetime], int] = {}
    errors: list[IngestError] = []
    for position, telegram in enumerate(telegrams):
        try:
            reading = parse_telegram(telegram)
        except TelegramError as exc:
            errors.append(IngestError(position, "telegram", exc.reason))
            continue
        readings.append(reading)
        origin.setdefault((reading["serial"], reading["measured_at"]), position)
    if errors:
        raise IngestRejected(errors)
    items = first_per_slot(readings)
    positions = tuple(origin[(item["serial"], item["measured_at"])] for item in items)
    return TelegramBatch(telegram_count=len(telegrams), items=tuple(items), positions=positions)
