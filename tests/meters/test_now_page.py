"""The Now page (/now/) and its polled fragment (/now/panel/): what the owner sees, what others get, the 304 while
nothing changed, the offline sentence, and the landing page that picks Now while a meter is live."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from meters import live
from meters.ingest import ingest_readings
from tests.factories import ALICE_SERIAL, reading_item

pytestmark = pytest.mark.django_db

# Tuesday 1 December 2026, 18:07:30 in Brussels.
T0 = datetime(2026, 12, 1, 17, 7, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def _send(user, measured_at: datetime = T0, **values) -> None:
    data = {
        "serial": ALICE_SERIAL,
        "measured_at": measured_at.isoformat(),
        "power_import_kw": "3.412",
        "power_export_kw": "0",
        "l1_import_kw": "1.210",
        "l1_voltage_v": "231.4",
        "l1_current_a": "5.3",
        "tariff": 2,
        "avg_demand_kw": "2.904",
        **values,
    }
    live.receive_snapshot(user, data, now=measured_at)


def _panel(client: Client, meter, **headers):
    return client.get(reverse("dashboard:now-panel"), {"meter": str(meter.code)}, **headers)


def test_it_shows_the_owner_power_now_and_the_peak_guard(alice, alice_client, alice_meter):
    _send(alice)
    page = alice_client.get(reverse("dashboard:now"), {"meter": str(alice_meter.code)})
    assert page.status_code == 200
    html = page.content.decode()
    assert "3.41\u00a0kW" in html  # import now
    assert "night" in html  # tariff 2
    assert "231.4\u00a0V" in html
    # 450 s at 2.904 kW then 3.412 kW: 3.16 kW projected, over the 2.5 kW minimum by 0.66 kW.
    assert "Heading for a new month peak" in html
    assert "3.16\u00a0kW" in html
    assert "0.66\u00a0kW" in html
    assert "7 min 30 s left" in html
    assert "data-offline hidden" in html


def test_it_says_when_the_quarter_stays_under_the_peak(alice, alice_client, alice_meter):
    _send(alice, avg_demand_kw="1.000", power_import_kw="1.000")
    html = _panel(alice_client, alice_meter).content.decode()
    assert "headroom" in html
    assert "Heading for a new month peak" not in html


def test_it_tells_the_owner_the_pi_is_offline(alice, alice_client, alice_meter, clock):
    _send(alice)
    clock.shift(timedelta(minutes=20))
    html = _panel(alice_client, alice_meter).content.decode()
    assert "Pi offline since 18:07" in html
    assert "data-online hidden" in html


def test_it_explains_a_meter_without_live_data(alice, alice_client, alice_meter):
    ingest_readings(alice, [reading_item(ALICE_SERIAL, "2026-12-01T17:45:00+01:00")])
    html = alice_client.get(reverse("dashboard:now")).content.decode()
    assert "No live power from this meter yet" in html
    assert "Last quarter-hour reading: Tue 1 Dec 17:45" in html


def test_it_answers_304_while_the_snapshot_is_the_same(alice, alice_client, alice_meter, clock, settings):
    settings.LIVE_MIN_INTERVAL = 0
    _send(alice)
    first = _panel(alice_client, alice_meter)
    assert first["X-Live-Age"] == "0"
    clock.shift(4)
    again = _panel(alice_client, alice_meter, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    assert again["X-Live-Age"] == "4"
    _send(alice, T0 + timedelta(seconds=4), power_import_kw="0.500")
    changed = _panel(alice_client, alice_meter, HTTP_IF_NONE_MATCH=first["ETag"])
    assert changed.status_code == 200
    assert "0.50\u00a0kW" in changed.content.decode()


def test_it_shows_another_account_nothing(alice, bob_client, alice_meter):
    _send(alice)
    assert bob_client.get(reverse("dashboard:now"), {"meter": str(alice_meter.code)}).status_code == 404
    assert _panel(bob_client, alice_meter).status_code == 404


def test_it_sends_anonymous_visitors_to_the_login(client, alice, alice_meter):
    _send(alice)
    for response in (client.get(reverse("dashboard:now")), _panel(client, alice_meter)):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("users:login"))


def test_it_lands_on_now_while_a_meter_is_live_and_on_day_otherwise(alice, alice_client, alice_meter, clock):
    assert alice_client.get(reverse("dashboard:home"))["Location"] == reverse("dashboard:day")
    _send(alice)
    clock.shift(30)
    landing = alice_client.get(reverse("dashboard:home"))["Location"]
    assert landing == f"{reverse('dashboard:now')}?meter={alice_meter.code}"
    clock.shift(61)
    assert alice_client.get(reverse("dashboard:home"))["Location"] == reverse("dashboard:day")


def test_it_speaks_the_users_language(alice, alice_client, alice_meter):
    _send(alice)
    html = alice_client.get(reverse("dashboard:now"), HTTP_ACCEPT_LANGUAGE="nl").content.decode()
    assert 'lang="nl"' in html
    assert "3,41\u00a0kW" in html
