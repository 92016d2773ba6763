"""Meter pages (prototype paths under /serialNumbers/)."""

from __future__ import annotations

import logging
import uuid

from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404

from meters.models import Meter

logger = logging.getLogger(__name__)


def _get_meter_for_user(request: HttpRequest, code: str | uuid.UUID) -> Meter:
    """The request user's meter with this public code; 404 for unknown codes and for other users' meters."""
    try:
        code = uuid.UUID(str(code))
    except ValueError:
        raise Http404("No such meter") from None
    return get_object_or_404(Meter, code=code, owner=request.user)
