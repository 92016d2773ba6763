"""Small JSON state files in the spool directory (counters for `p1edge status`), written atomically."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from p1edge.spool import write_atomically

logger = logging.getLogger(__name__)

READER_STATE = "reader-state.json"
UPLOADER_STATE = "uploader-state.json"


def load_state(directory: Path, name: str) -> dict[str, Any]:
    try:
        data = json.loads((directory / name).read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        logger.warning("ignoring unreadable state file %s: %s", name, exc)
        return {}
    return data if isinstance(data, dict) else {}


def save_state(directory: Path, name: str, state: dict[str, Any]) -> None:
    write_atomically(directory / name, json.dumps(state, indent=1, sort_keys=True).encode())
