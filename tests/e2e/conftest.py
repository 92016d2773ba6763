"""Browser tests: Debian's chromium driven by Playwright for Python (no browser download), against live_server.

The session-wide ``browser`` fixture lives in tests/conftest.py (one Playwright instance per run).

The clock is frozen (ticking from a fixed instant) on the server with time-machine and in the browser with
Playwright's clock, so the tests never depend on today's date. The default instant is the hardest one for the
dashboards: 00:20 on the 1st of a month, when the running month holds one day's first quarter-hour. Cookies are
session cookies so a frozen instant far from the real date cannot expire them in the browser.

Options (environment):
  DASHBOARD_SCREENSHOTS=docs/screenshots   save day/week/month screenshots there
  DASHBOARD_STATIC_DIR=/tmp/static         extra static directory searched first (e.g. a freshly built styles.css)
"""

from __future__ import annotations

import math
import os
from datetime import datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from meters.models import Meter
from tests.meters.series_truth import BRUSSELS, SLOT, build, is_day_tariff


@pytest.fixture(autouse=True)
def _extra_static_dir(settings):
    extra = os.environ.get("DASHBOARD_STATIC_DIR")
    if extra:
        settings.STATICFILES_DIRS = [extra, *getattr(settings, "STATICFILES_DIRS", [])]


FROZEN_NOW = datetime(2026, 12, 1, 0, 20, tzinfo=BRUSSELS)


@pytest.fixture
def frozen_now() -> datetime:
    """The instant the server and the browser believe it is; override in a test module to move it."""
    return FROZEN_NOW


@pytest.fixture(autouse=True)
def _frozen_clock(frozen_now, settings):
    settings.SESSION_EXPIRE_AT_BROWSER_CLOSE = True
    settings.CSRF_COOKIE_AGE = None
    with time_machine.travel(frozen_now, tick=True):
        yield


def new_page(browser, frozen_now: datetime, **options):
    """A page in a fresh context whose JavaScript clock starts at ``frozen_now``."""
    options = {"viewport": {"width": 1280, "height": 900}, "locale": "en-GB", "timezone_id": "UTC", **options}
    context = browser.new_context(**options)
    context.clock.install(time=frozen_now)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


@pytest.fixture
def page(browser, frozen_now):
    page = new_page(browser, frozen_now)
    yield page
    page.context.close()


def _household(ep: int, scale: float = 1.0, solar_kwp: float = 2.0) -> tuple[float, float]:
    """A plausible Belgian household: (consumption W, solar W) for the quarter starting at ``ep``."""
    t = datetime.fromtimestamp(ep, BRUSSELS)
    h = t.hour + t.minute / 60
    noise = ((ep // SLOT) * 2654435761 % 1000) / 1000  # deterministic, looks random
    load = 170 + 90 * noise
    if 6.75 <= h < 8.25:
        load += 900 + 600 * noise  # breakfast, kettle
    if 17.5 <= h < 19.5 and noise > 0.25:
        load += 1700 + 900 * noise  # cooking
    if 19.5 <= h < 23:
        load += 350 + 150 * noise
    if t.weekday() == 5 and 10 <= h < 11.5:
        load += 2100  # washing machine
    solar = 0.0
    if 8 < h < 17:
        solar = solar_kwp * 1000 * 0.55 * math.sin(math.pi * (h - 8) / 9) * (0.5 + 0.5 * noise)
    return load * scale, solar


def _energy(ep: int, scale: float = 1.0, solar_kwp: float = 2.0) -> tuple[int, int, int, int]:
    load, solar = _household(ep, scale, solar_kwp)
    imp, exp = round(max(0.0, load - solar) / 4), round(max(0.0, solar - load) / 4)
    return (imp, 0, exp, 0) if is_day_tariff(ep) else (0, imp, 0, exp)


def _phases(ep: int, scale: float = 1.0, solar_kwp: float = 2.0):
    load, solar = _household(ep, scale, solar_kwp)
    # The inverter feeds L1; cooking sits on L2 and L3.
    l1 = 0.45 * min(load, 600) - solar
    rest = load - 0.45 * min(load, 600)
    l2, l3 = rest * 0.55, rest * 0.45
    imports = (max(l1, 0) / 1000, l2 / 1000, l3 / 1000)
    exports = (max(-l1, 0) / 1000, 0.0, 0.0)
    return imports, exports


def _cabin_energy(ep: int) -> tuple[int, int, int, int]:
    return _energy(ep, scale=0.4, solar_kwp=0)


@pytest.fixture
def alice_meters(alice, transactional_db):
    """Alice's two meters with 35 days of quarter-hours up to the current slot (of the frozen clock)."""
    now = timezone.now()
    last = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 15)
    home = Meter.objects.create(serial="1SAG1100000292", name="Home", owner=alice)
    cabin = Meter.objects.create(serial="1SAG3100716957", name="Cabin", owner=alice)
    # A 2-hour upload gap three days ago shows as estimated (amber) bars.
    gap_start = int((last - timedelta(days=3)).replace(hour=10, minute=0).timestamp())
    gap = set(range(gap_start, gap_start + 8 * SLOT, SLOT))
    build(home, last - timedelta(days=35), last, energy=_energy, phase_kw=_phases, skip=gap)
    build(
        cabin,
        last - timedelta(days=35),
        last - timedelta(seconds=SLOT),
        energy=_cabin_energy,
        gas=False,
        phases=1,
        phase_kw=lambda ep: _phases(ep, 0.4, 0),
    )
    return home, cabin


def login(page, base_url: str, username: str, password: str, landing: str = "/day/") -> None:
    page.goto(f"{base_url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form[action='/login/'] [type=submit]")
    page.wait_for_url(f"{base_url}{landing}**")
