"""Keep one reading per quarter-hour: the first valid telegram of each slot of the meter clock.

The slot is derived from the telegram's own clock, not from "a telegram at :00:00", so a lost or rejected
:00:00 telegram only moves the reading to :00:01 (the prototype lost the whole quarter).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from p1edge.wire import slot_start

logger = logging.getLogger(__name__)


class QuarterSampler:
    """Stateful filter for a live stream of parsed readings (one per second).

    `offer()` returns the reading with its `timestamp` when it is the first one seen for a new slot of its
    meter, else None. `last_slots` can be seeded from the spool so a restarted reader does not emit a second
    reading for the slot it already stored. A meter clock that goes back is a meter fault: such readings are
    dropped (logged once per slot) rather than re-emitting slots that were already stored.
    """

    def __init__(self, last_slots: dict[str, datetime] | None = None) -> None:
        self.last_slots: dict[str, datetime] = dict(last_slots or {})

    def offer(self, reading: dict[str, Any]) -> dict[str, Any] | None:
        slot = slot_start(reading["measured_at"])
        serial = reading["serial"]
        last = self.last_slots.get(serial)
        if last is not None and slot <= last:
            if slot < last:
                logger.debug("meter %s clock at %s is before the last stored slot %s", serial, slot, last)
            return None
        self.last_slots[serial] = slot
        return {**reading, "timestamp": slot}


def first_per_slot(readings: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The reading with the earliest meter clock of each (serial, slot), with `timestamp` set.

    Pure and order-independent (a batch of telegrams may arrive shuffled); result sorted by serial, slot.
    """
    best: dict[tuple[str, datetime], dict[str, Any]] = {}
    for reading in readings:
        key = (reading["serial"], slot_start(reading["measured_at"]))
        kept = best.get(key)
        if kept is None or reading["measured_at"] < kept["measured_at"]:
            best[key] = reading
    return [{**best[key], "timestamp": key[1]} for key in sorted(best)]
