"""/profile/, section "Alerts": the settings with their limits, the webhook's signing secret, the latest alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache

from meters.models import Alert, Meter
from users.models import Profile, alert_settings_for, profile_for

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


def _alerts(client, **values):
    data = {
        "section": "alerts",
        "alerts-alert_peak_threshold_kw": "",
        "alerts-alert_offline_minutes": "60",
        "alerts-alert_webhook_url": "",
    }
    for name, value in values.items():
        if value is True:
            data[f"alerts-{name}"] = "on"
        elif value is not False:
            data[f"alerts-{name}"] = value
    return client.post("/profile/", data)


def _alert(owner, meter, kind="peak", minutes=0, **fields):
    return Alert.objects.create(
        owner=owner,
        meter=meter,
        kind=kind,
        key=NOW - timedelta(minutes=15 * minutes),
        created_at=NOW - timedelta(minutes=minutes),
        payload={"kind": kind},
        **fields,
    )


def test_it_redirects_anonymous_visitors_to_the_login(client):
    response = client.get("/profile/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/profile/")


def test_it_starts_with_alerts_off_and_e_mail_on(alice):
    profile = profile_for(alice)

    assert (profile.alert_peak, profile.alert_offline, profile.alert_offline_minutes, profile.alert_email) == (
        False,
        False,
        60,
        True,
    )
    assert profile.alert_peak_threshold_kw is None
    assert profile.alert_webhook_url == ""


def test_it_saves_the_alert_settings(alice_client, alice):
    response = _alerts(
        alice_client,
        alert_peak=True,
        alert_peak_threshold_kw="5,5",
        alert_offline=True,
        alert_offline_minutes="30",
        alert_email=False,
        alert_webhook_url="https://hooks.example.org/p1?token=abc",
    )

    assert response.status_code == 302
    assert response["Location"] == "/profile/"
    profile = profile_for(alice)
    assert profile.alert_peak
    assert profile.alert_offline
    assert not profile.alert_email
    assert profile.alert_peak_threshold_kw == Decimal("5.5")
    assert profile.alert_offline_minutes == 30
    assert profile.alert_webhook_url == "https://hooks.example.org/p1?token=abc"
    assert "Your alert settings are saved." in alice_client.get("/profile/").content.decode()


def test_it_makes_new_settings_count_at_once(alice_client, alice):
    assert alert_settings_for(alice.pk).peak is False  # now in the cache for a minute

    _alerts(alice_client, alert_peak=True, alert_email=True)

    assert alert_settings_for(alice.pk).peak is True


def test_it_does_not_touch_prices_or_language_when_saving_alerts(alice_client, alice):
    profile = profile_for(alice)
    profile.price_gas = Decimal("1.25")
    profile.language = "nl"
    profile.save()

    _alerts(alice_client, alert_peak=True, alert_email=True)

    profile.refresh_from_db()
    assert (profile.price_gas, profile.language, profile.alert_peak) == (Decimal("1.25"), "nl", True)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("alert_peak_threshold_kw", "-1", "greater than or equal to 0"),
        ("alert_peak_threshold_kw", "many", "enter a number"),
        ("alert_offline_minutes", "4", "greater than or equal to 5"),
        ("alert_offline_minutes", "1441", "less than or equal to 1440"),
        ("alert_offline_minutes", "", "This field is required."),
        ("alert_webhook_url", "http://hooks.example.org/p1", "Use an https:// address"),
        ("alert_webhook_url", "ftp://hooks.example.org/p1", "Use an https:// address"),
        ("alert_webhook_url", "not a url", "Enter a valid URL."),
    ],
)
def test_it_refuses_bad_values_beside_their_field(alice_client, alice, field, value, message):
    response = _alerts(alice_client, alert_peak=True, alert_offline=True, **{field: value})

    assert response.status_code == 200
    form = response.context["alerts_form"]
    assert list(form.errors) == [field]
    assert message in " ".join(form.errors[field])
    html = response.content.decode()
    assert f'id="id_alerts-{field}_error"' in html
    assert profile_for(alice).alert_peak is False  # nothing saved


def test_it_accepts_plain_http_only_for_a_loopback_host_or_with_debug(alice_client, alice, settings):
    assert _alerts(alice_client, alert_webhook_url="http://127.0.0.1:9000/hook").status_code == 302
    assert _alerts(alice_client, alert_webhook_url="http://localhost:9000/hook").status_code == 302
    assert _alerts(alice_client, alert_webhook_url="http://[::1]:9000/hook").status_code == 302
    assert _alerts(alice_client, alert_webhook_url="http://192.168.1.20/hook").status_code == 200

    settings.DEBUG = True
    assert _alerts(alice_client, alert_webhook_url="http://192.168.1.20/hook").status_code == 302
    assert profile_for(alice).alert_webhook_url == "http://192.168.1.20/hook"


def test_it_shows_the_signing_secret_to_its_owner_and_makes_a_new_one(alice_client, alice, caplog):
    old = profile_for(alice).alert_webhook_secret
    assert len(old) >= 40
    assert old in alice_client.get("/profile/").content.decode()

    response = alice_client.post("/profile/", {"section": "webhook-secret"})

    assert response.status_code == 302
    new = Profile.objects.get(user=alice).alert_webhook_secret
    assert new != old
    assert len(new) >= 40
    page = alice_client.get("/profile/")
    assert new in page.content.decode()
    assert old not in page.content.decode()
    assert "no-cache" in page["Cache-Control"] or "max-age=0" in page["Cache-Control"]
    assert new not in caplog.text
    assert old not in caplog.text


def test_it_gives_every_account_its_own_secret(alice, bob):
    assert profile_for(alice).alert_webhook_secret != profile_for(bob).alert_webhook_secret


def test_it_lists_the_latest_twenty_alerts_with_each_channels_result(alice_client, alice, alice_meter):
    for minute in range(25):
        _alert(alice, alice_meter, minutes=minute + 1)
    _alert(
        alice,
        alice_meter,
        kind="offline",
        minutes=0,
        email_status="sent",
        webhook_status="retrying",
        attempts=1,
        next_attempt_at=NOW + timedelta(minutes=1),
        last_error="webhook: HTTP 500",
    )

    html = alice_client.get("/profile/").content.decode()

    assert html.count("data-alert=") == 20
    newest = html.split('data-kind="offline"', 1)[1].split("</tr>", 1)[0]
    assert 'data-channel="email" data-status="sent"' in newest
    assert 'data-channel="webhook" data-status="retrying"' in newest
    assert "webhook: HTTP 500" in newest
    assert "Home" in newest


def test_it_never_shows_another_accounts_alerts(bob_client, alice, bob, alice_meter):
    _alert(alice, alice_meter, last_error="webhook: secret-ish detail of alice")
    Meter.objects.create(serial="1SAG2200000022", name="Shed", owner=bob)

    html = bob_client.get("/profile/").content.decode()

    assert "data-alert=" not in html
    assert "secret-ish detail of alice" not in html
    assert "No alert was sent yet." in html


def test_it_keeps_the_cached_settings_apart_per_account(alice, bob):
    profile = profile_for(alice)
    profile.alert_peak = True
    profile.save()
    cache.clear()

    assert alert_settings_for(alice.pk).peak is True
    assert alert_settings_for(bob.pk).peak is False
