"""Raw P1 telegrams posted to ``/api/v1/telegrams`` -> ingest items, with the edge's own framer, parser and sampler.

The framer is linear with a maximum frame size and the parser raises nothing but ``TelegramError`` (a malformed
optional line is left out of the reading), so no body can hold a worker for long or answer a 500.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils.translation import gettext as _
from p1edge.framing import Framer
from p1edge.sampling import first_per_slot
from p1edge.telegram import TelegramError, parse_telegram_report

from meters.ingest import IngestError, IngestRejected

logger = logging.getLogger(__name__)


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
    framer = Framer()
    telegrams = framer.feed_text(text)
    if not telegrams:
        message = _("No complete P1 telegram ('/' ... '!CRC') in the body.")
        if framer.drop_reasons:
            dropped = ", ".join(f"{count} {reason}" for reason, count in sorted(framer.drop_reasons.items()))
            # The reasons are the framer's own tokens (p1edge.framing), English like the edge's logs.
            message += " " + _("Frames dropped: %(dropped)s.") % {"dropped": dropped}
        raise IngestRejected([IngestError(0, "telegram", message)])
    readings: list[dict[str, Any]] = []
    origin: dict[tuple[str, datetime], int] = {}
    errors: list[IngestError] = []
    for position, telegram in enumerate(telegrams):
        try:
            parsed = parse_telegram_report(telegram)
        except TelegramError as exc:
            errors.append(IngestError(position, "telegram", exc.reason))
            continue
        if parsed.dropped:
            logger.info("telegram %d kept without malformed optional fields: %s", position, "; ".join(parsed.details))
        reading = parsed.reading
        readings.append(reading)
        origin.setdefault((reading["serial"], reading["measured_at"]), position)
    if errors:
        raise IngestRejected(errors)
    items = first_per_slot(readings)
    positions = tuple(origin[(item["serial"], item["measured_at"])] for item in items)
    return TelegramBatch(telegram_count=len(telegrams), items=tuple(items), positions=positions)
