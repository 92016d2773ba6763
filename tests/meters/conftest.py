"""Fixtures for the meters suite: reading items as a device sends them, and meters built in code."""

from __future__ import annotations

import pytest

from meters.models import Meter


@pytest.fixture
def alice_meter(alice) -> Meter:
    return Meter.objects.create(serial="1SAG1100000292", name="Home", owner=alice)
