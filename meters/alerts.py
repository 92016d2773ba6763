"""Alerts (issue 16): placeholder until the alert service lands."""

from __future__ import annotations

from datetime import datetime

from meters.live import Snapshot
from meters.models import Meter


def check_peak(meter: Meter, snapshot: Snapshot, now: datetime) -> None:
    """Called by ``meters.live.receive_snapshot`` for every kept snapshot."""
