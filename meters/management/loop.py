"""The loop of a management command run as a long-lived service (``--loop SECONDS``): run_alerts, partition_readings.

One pass every ``seconds`` until SIGTERM or SIGINT, which stop it cleanly after the pass under way. A pass that
fails (database away, a lock not granted) is logged and the next one tries again.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from django.db import close_old_connections

logger = logging.getLogger(__name__)


def run_every(seconds: int, one_pass: Callable[[], None], name: str) -> None:
    """Call ``one_pass`` now and then every ``seconds`` until a stop signal; ``name`` labels the log lines."""
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # The handlers are put back afterwards: call_command runs this in the caller's process (the tests).
    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not stop.is_set():
            try:
                one_pass()
            except Exception:  # logged with its traceback; the next pass tries again
                logger.exception("%s: the pass failed", name)
            if stop.wait(seconds):
                break
            # A database that restarted leaves a broken connection behind: drop it before the next pass (not
            # before the first, which may run inside a caller's transaction, as call_command in a test does).
            close_old_connections()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
