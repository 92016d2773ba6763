"""Alerts (meters.alerts): a quarter heading for a new month peak, a Pi offline and back; e-mail and a signed
webhook with retries. Snapshots go through the live service, mail to Django's test outbox, webhooks to a real HTTP
server on 127.0.0.1; time is frozen (``time_machine``)."""

from __future__ import annotations

import json
import re
import secrets
import signal
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import translation

from meters import alerts, live
from meters.ingest import ingest_readings
from meters.models import Alert, Meter
from tests.conftest import wait_for
from tests.factories import ALICE_SERIAL, reading_item
from users.models import profile_for

pytestmark = pytest.mark.django_db

# A winter Wednesday (Brussels = UTC+1); the quarter 12:00-12:15 UTC.
QUARTER = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
GUIDE = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


# --- helpers -------------------------------------------------------------------------------------------------------


class Receiver:
    """A webhook receiver: a real HTTP server in a thread that records each request and answers ``statuses`` in
    turn (the last one from then on)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.requests: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output clean

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/p1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_factory() -> Iterator:
    started: list[Receiver] = []

    def start(*statuses: int) -> Receiver:
        receiver = Receiver(list(statuses) or [200])
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.close()


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(QUARTER, tick=False)
    return time_machine


def alerts_of(alice, **settings: Any):
    """Alice's profile with the given alert settings saved."""
    profile = profile_for(alice)
    for name, value in settings.items():
        setattr(profile, name, value)
    profile.save()
    return profile


def post(clock, user, at: datetime, power: str = "5.0", demand: str | None = "4.2", **extra: Any) -> live.Snapshot:
    """A snapshot of alice's meter measured and received at ``at``, through the live service."""
    clock.move_to(at, tick=False)
    data: dict[str, Any] = {
        "serial": ALICE_SERIAL,
        "measured_at": at.isoformat(),
        "power_import_kw": power,
        "power_export_kw": "0",
        **extra,
    }
    if demand is not None:
        data["avg_demand_kw"] = demand
    return live.receive_snapshot(user, data, at)


def run(clock, at: datetime) -> str:
    clock.move_to(at, tick=False)
    out = StringIO()
    call_command("run_alerts", stdout=out)
    return out.getvalue()


def documented_verify():
    """The ``verify`` function of the Python snippet in docs/operations.md, section "Alerts", as a receiver would
    copy it."""
    section = GUIDE.read_text().split("\n## Alerts", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    namespace: dict[str, Any] = {}
    exec(compile(code, str(GUIDE), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace["verify"]


# --- the peak alert ------------------------------------------------------------------------------------------------


def test_it_sends_one_peak_alert_per_quarter(clock, alice, alice_meter, mailoutbox):
    alerts_of(alice, alert_peak=True)

    post(clock, alice, QUARTER + timedelta(minutes=5))
    post(clock, alice, QUARTER + timedelta(minutes=6), power="6.0")
    assert Alert.objects.filter(kind="peak").count() == 1
    assert len(mailoutbox) == 1

    post(clock, alice, QUARTER + timedelta(minutes=20))
    keys = list(Alert.objects.filter(kind="peak").order_by("key").values_list("key", flat=True))
    assert keys == [QUARTER, QUARTER + timedelta(minutes=15)]
    assert len(mailoutbox) == 2
    assert mailoutbox[0].to == ["alice@example.org"]


def test_it_keeps_one_alert_per_quarter_when_the_marker_is_lost(clock, alice, alice_meter, mailoutbox):
    """The cache marker only spares work; the unique (meter, kind, key) is what holds across workers."""
    alerts_of(alice, alert_peak=True)
    post(clock, alice, QUARTER + timedelta(minutes=5))
    from django.core.cache import cache

    cache.delete(f"alerts:peak:{alice_meter.pk}:{int(QUARTER.timestamp())}")

    post(clock, alice, QUARTER + timedelta(minutes=6))

    assert Alert.objects.filter(kind="peak").count() == 1
    assert len(mailoutbox) == 1


def test_it_sends_nothing_below_the_billed_minimum(clock, alice, alice_meter, mailoutbox):
    alerts_of(alice, alert_peak=True)

    post(clock, alice, QUARTER + timedelta(minutes=5), power="2.4", demand="2.5")

    assert not Alert.objects.exists()
    assert mailoutbox == []


def test_it_lets_a_snapshot_that_cannot_raise_an_alert_go_without_a_query(
    alice, alice_meter, django_assert_num_queries
):
    at = QUARTER + timedelta(minutes=5)
    calm = live.Snapshot(
        alice_meter.pk, ALICE_SERIAL, at, at, {"power_import_kw": Decimal("2.4"), "avg_demand_kw": Decimal("2.1")}
    )
    under_own_peak = live.Snapshot(
        alice_meter.pk,
        ALICE_SERIAL,
        at,
        at,
        {"power_import_kw": Decimal("5"), "avg_demand_kw": Decimal("4.2"), "month_peak_kw": Decimal("6.0")},
    )

    with django_assert_num_queries(0):
        alerts.check_peak(alice_meter, calm, at)
        alerts.check_peak(alice_meter, under_own_peak, at)


def test_it_sends_nothing_under_the_meters_own_month_peak(clock, alice, alice_meter, mailoutbox):
    alerts_of(alice, alert_peak=True)
    this_month = "2025-01-03T18:15:00+01:00"

    post(clock, alice, QUARTER + timedelta(minutes=5), month_peak_kw="6.0", month_peak_at=this_month)

    assert not Alert.objects.exists()


def test_it_ignores_last_months_peak_that_the_meter_still_sends(clock, alice, alice_meter, mailoutbox):
    alerts_of(alice, alert_peak=True)
    last_month = "2024-12-20T18:15:00+01:00"

    post(clock, alice, QUARTER + timedelta(minutes=5), month_peak_kw="6.0", month_peak_at=last_month)

    assert Alert.objects.filter(kind="peak").count() == 1


def test_it_warns_only_above_the_users_threshold(clock, alice, alice_meter, mailoutbox):
    alerts_of(alice, alert_peak=True, alert_peak_threshold_kw=Decimal("6"))

    post(clock, alice, QUARTER + timedelta(minutes=5))  # heading for 4.733 kW
    assert not Alert.objects.exists()

    post(clock, alice, QUARTER + timedelta(minutes=6), power="9.0", demand="6.0")  # (6 x 360 + 9 x 540) / 900
    [alert] = Alert.objects.all()
    assert alert.payload["projected_kw"] == "7.800"
    assert alert.payload["threshold_kw"] == "6.000"


def test_it_sends_nothing_with_the_peak_alert_off(clock, alice, alice_meter, mailoutbox):
    alerts_of(alice, alert_peak=False, alert_offline=True)

    post(clock, alice, QUARTER + timedelta(minutes=5), power="9.0", demand="8.0")

    assert not Alert.objects.exists()
    assert mailoutbox == []


def test_it_tells_the_projection_the_month_peak_the_euros_and_the_power_that_keeps_it_under(
    clock, alice, alice_meter, mailoutbox
):
    alerts_of(alice, alert_peak=True)

    post(clock, alice, QUARTER + timedelta(minutes=5))

    [alert] = Alert.objects.all()
    # So far 4.2 kW for 300 s, then 5.0 kW for 600 s: (1260 + 3000) / 900 = 4.733 kW against the 2.5 kW minimum.
    # 53.26 EUR/kW/year / 12 = 4.44 EUR per kW; 2.233 kW over = 9.91 EUR. (2.5 x 900 - 4.2 x 300) / 600 = 1.65 kW.
    assert {k: alert.payload[k] for k in ("projected_kw", "threshold_kw", "extra_cost_eur", "cost_per_kw_eur")} == {
        "projected_kw": "4.733",
        "threshold_kw": "2.500",
        "extra_cost_eur": "9.91",
        "cost_per_kw_eur": "4.44",
    }
    assert alert.payload["allowed_power_kw"] == "1.650"
    assert alert.payload["minutes_left"] == 10
    assert alert.payload["month_peak_kw"] is None
    body = mailoutbox[0].body
    assert "13:00 to 13:15" in body  # local time
    assert "4.73 kW" in body
    assert "€ 4.44" in body
    assert "€ 9.91" in body
    assert "To stay under 2.50 kW, keep the import power below 1.65 kW for the 10 minutes" in body
    assert "heading for a new month peak" in mailoutbox[0].subject


def test_it_writes_the_email_in_the_owners_language(clock, alice, alice_meter, mailoutbox):
    alerts_of(alice, alert_peak=True, language="nl")

    post(clock, alice, QUARTER + timedelta(minutes=5))

    [message] = mailoutbox
    [alert] = Alert.objects.all()
    assert (message.subject, message.body) == alerts.email_text(alert, "nl", "alice")
    assert "4,73 kW" in message.body  # Dutch numbers, whatever the catalogue holds yet
    with translation.override("en"):
        assert (message.subject, message.body) != alerts.email_text(alert, "en", "alice")


def test_it_signs_the_webhook_as_documented(clock, alice, alice_meter, receiver_factory):
    receiver = receiver_factory(204)
    profile = alerts_of(alice, alert_peak=True, alert_email=False, alert_webhook_url=receiver.url)
    at = QUARTER + timedelta(minutes=5)

    post(clock, alice, at)

    [request] = receiver.requests
    headers = request["headers"]
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "P1Energy-Alerts/1"
    assert headers["X-P1-Timestamp"] == str(int(at.timestamp()))
    verify = documented_verify()
    assert verify(profile.alert_webhook_secret, headers["X-P1-Timestamp"], headers["X-P1-Signature"], request["body"])
    assert not verify("another secret", headers["X-P1-Timestamp"], headers["X-P1-Signature"], request["body"])
    assert not verify(
        profile.alert_webhook_secret, headers["X-P1-Timestamp"], headers["X-P1-Signature"], request["body"] + b" "
    )
    body = json.loads(request["body"])
    assert body["kind"] == "peak"
    assert body["meter"] == {"code": str(alice_meter.code), "serial": ALICE_SERIAL, "name": "Home"}
    assert body["created_at"] == at.isoformat()
    assert body["projected_kw"] == "4.733"
    [alert] = Alert.objects.all()
    assert (alert.email_status, alert.webhook_status, alert.attempts) == ("skipped", "sent", 1)
    assert body == alert.payload


def test_it_refuses_a_stale_signature_in_the_documented_check(clock, alice, alice_meter, receiver_factory):
    receiver = receiver_factory(200)
    profile = alerts_of(alice, alert_peak=True, alert_email=False, alert_webhook_url=receiver.url)
    post(clock, alice, QUARTER + timedelta(minutes=5))
    [request] = receiver.requests
    headers = request["headers"]

    clock.move_to(QUARTER + timedelta(minutes=30), tick=False)  # a replay 25 minutes later

    assert not documented_verify()(
        profile.alert_webhook_secret, headers["X-P1-Timestamp"], headers["X-P1-Signature"], request["body"]
    )


def test_it_retries_a_failing_webhook_with_backoff_and_gives_up_after_six_attempts(
    clock, alice, alice_meter, receiver_factory, mailoutbox
):
    receiver = receiver_factory(500)
    alerts_of(alice, alert_peak=True, alert_webhook_url=receiver.url)
    start = QUARTER + timedelta(minutes=5)

    post(clock, alice, start)
    [alert] = Alert.objects.all()
    assert (alert.email_status, alert.webhook_status, alert.attempts) == ("sent", "retrying", 1)
    assert alert.next_attempt_at == start + timedelta(minutes=1)
    assert alert.last_error == "webhook: HTTP 500"

    run(clock, start + timedelta(seconds=59))
    assert len(receiver.requests) == 1  # not due yet

    # Attempts 2..6 at +1, +1+2, +3+4, +7+8, +15+16 minutes.
    for attempt, minutes in enumerate([1, 3, 7, 15, 31], start=2):
        out = run(clock, start + timedelta(minutes=minutes))
        assert len(receiver.requests) == attempt
        assert "1 retried" in out
    alert.refresh_from_db()
    assert (alert.email_status, alert.webhook_status, alert.attempts, alert.next_attempt_at) == (
        "sent",
        "failed",
        6,
        None,
    )
    assert "given up" in run(clock, start + timedelta(hours=3))
    assert len(receiver.requests) == 6
    assert len(mailoutbox) == 1  # the e-mail went out once, at the first attempt


def test_it_delivers_a_retried_webhook_once_the_receiver_answers(clock, alice, alice_meter, receiver_factory):
    receiver = receiver_factory(500, 503, 200)
    alerts_of(alice, alert_peak=True, alert_email=False, alert_webhook_url=receiver.url)
    start = QUARTER + timedelta(minutes=5)
    post(clock, alice, start)

    run(clock, start + timedelta(minutes=1))
    out = run(clock, start + timedelta(minutes=3))

    assert "1 retried (1 delivered, 0 given up)" in out
    [alert] = Alert.objects.all()
    assert (alert.webhook_status, alert.attempts, alert.next_attempt_at, alert.last_error) == ("sent", 3, None, "")
    bodies = {request["body"] for request in receiver.requests}
    assert len(bodies) == 1  # the same body every time; only the timestamp and signature are new
    assert len({request["headers"]["X-P1-Signature"] for request in receiver.requests}) == 3


def test_it_keeps_the_snapshot_when_the_webhook_cannot_be_reached(clock, alice, alice_meter, receiver_factory):
    receiver = receiver_factory(200)
    url = receiver.url
    receiver.close()  # nothing listens there any more
    alerts_of(alice, alert_peak=True, alert_email=False, alert_webhook_url=url)

    snapshot = post(clock, alice, QUARTER + timedelta(minutes=5))

    assert live.latest_snapshot(alice_meter.pk) == snapshot
    [alert] = Alert.objects.all()
    assert (alert.webhook_status, alert.last_error) == ("retrying", "webhook: could not connect")


def test_it_uses_the_settings_of_the_meters_owner_only(clock, alice, bob, alice_meter, mailoutbox):
    profile = profile_for(bob)
    profile.alert_peak = True
    profile.save()

    post(clock, alice, QUARTER + timedelta(minutes=5))

    assert not Alert.objects.exists()


# --- offline and back ----------------------------------------------------------------------------------------------


def test_it_reports_a_pi_offline_after_n_minutes_and_back_once(clock, alice, alice_meter, mailoutbox):
    alerts_of(alice, alert_offline=True, alert_offline_minutes=60)
    # The reading of the 10:00 UTC slot: the Pi was heard of at 10:00 (the Now page's "last seen", one rule).
    ingest_readings(alice, [reading_item(ALICE_SERIAL, QUARTER - timedelta(hours=2))])

    run(clock, QUARTER - timedelta(hours=1))  # 11:00 UTC: exactly 60 minutes
    assert not Alert.objects.exists()

    out = run(clock, QUARTER - timedelta(minutes=59))
    assert "1 offline, 0 back" in out
    [offline] = Alert.objects.all()
    assert (offline.kind, offline.key) == ("offline", QUARTER - timedelta(hours=2))
    assert "since 11:00" in mailoutbox[0].subject  # Brussels time
    assert "more than 60 minutes ago" in mailoutbox[0].body

    run(clock, QUARTER)
    assert Alert.objects.count() == 1  # still offline: no second alert

    post(clock, alice, QUARTER + timedelta(minutes=2), power="0.3", demand="0.3")
    out = run(clock, QUARTER + timedelta(minutes=3))
    assert "0 offline, 1 back" in out
    back = Alert.objects.get(kind="back")
    assert back.key == offline.key
    assert "sends data again" in mailoutbox[1].subject
    assert "silent from 11:00 to 13:02" in mailoutbox[1].body

    run(clock, QUARTER + timedelta(minutes=10))
    assert Alert.objects.count() == 2


def test_it_reports_a_second_silence_after_the_pi_came_back(clock, alice, alice_meter, mailoutbox):
    alerts_of(alice, alert_offline=True, alert_offline_minutes=5)
    post(clock, alice, QUARTER, power="0.3", demand="0.3")
    run(clock, QUARTER + timedelta(minutes=6))
    post(clock, alice, QUARTER + timedelta(minutes=7), power="0.3", demand="0.3")
    run(clock, QUARTER + timedelta(minutes=8))

    run(clock, QUARTER + timedelta(minutes=13))

    assert list(Alert.objects.order_by("created_at", "pk").values_list("kind", flat=True)) == [
        "offline",
        "back",
        "offline",
    ]


def test_it_sends_nothing_for_a_meter_never_heard_of(clock, alice, alice_meter, mailoutbox):
    alerts_of(alice, alert_offline=True, alert_offline_minutes=5)

    out = run(clock, QUARTER + timedelta(days=2))

    assert "1 meters checked, 0 offline" in out
    assert not Alert.objects.exists()
    assert mailoutbox == []


def test_it_sends_no_offline_alert_with_the_alert_off(clock, alice, alice_meter, mailoutbox):
    alerts_of(alice, alert_offline=False)
    post(clock, alice, QUARTER, power="0.3", demand="0.3")

    out = run(clock, QUARTER + timedelta(days=1))

    assert "0 meters checked" in out
    assert not Alert.objects.exists()


def test_it_counts_the_latest_snapshot_as_a_sign_of_life(clock, alice, alice_meter, mailoutbox):
    alerts_of(alice, alert_offline=True, alert_offline_minutes=30)
    ingest_readings(alice, [reading_item(ALICE_SERIAL, QUARTER - timedelta(hours=3))])
    post(clock, alice, QUARTER, power="0.3", demand="0.3")

    run(clock, QUARTER + timedelta(minutes=29))
    assert not Alert.objects.exists()
    run(clock, QUARTER + timedelta(minutes=31))
    assert Alert.objects.get().key == QUARTER


def test_it_loops_until_sigterm(clock, alice, alice_meter):
    out = StringIO()

    def stop_after_first_pass() -> None:
        wait_for(lambda: "meters checked" in out.getvalue(), timeout=30, message="the first pass")
        # To the main thread: a process-wide kill may land on this thread, and the main thread, asleep in the
        # loop's wait, would then never run the handler.
        signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)

    previous = signal.getsignal(signal.SIGTERM)
    stopper = threading.Thread(target=stop_after_first_pass, daemon=True)
    stopper.start()
    call_command("run_alerts", "--loop", "60", stdout=out)
    stopper.join(timeout=5)

    assert out.getvalue().splitlines()[-1] == "run_alerts: stopped"
    assert signal.getsignal(signal.SIGTERM) is previous


# --- records -------------------------------------------------------------------------------------------------------


def test_it_lists_alerts_read_only_in_the_admin(clock, client, django_user_model, alice, alice_meter):
    alerts_of(alice, alert_peak=True)
    post(clock, alice, QUARTER + timedelta(minutes=5))
    root = django_user_model.objects.create_superuser("root", "root@example.org", "x-admin-password-9")
    client.force_login(root)
    alert = Alert.objects.get()

    listing = client.get("/admin/meters/alert/").content.decode()

    assert ALICE_SERIAL in listing
    assert client.get("/admin/meters/alert/add/").status_code == 403
    page = client.get(f"/admin/meters/alert/{alert.pk}/change/").content.decode()
    assert 'name="kind"' not in page  # shown, not editable


def test_it_deletes_alerts_with_their_meter(clock, alice, alice_meter):
    alerts_of(alice, alert_peak=True)
    post(clock, alice, QUARTER + timedelta(minutes=5))

    Meter.objects.filter(pk=alice_meter.pk).delete()

    assert not Alert.objects.exists()


# --- the shared cache: Redis ---------------------------------------------------------------------------------------


@pytest.fixture
def redis_cache(settings, redis_url):
    import redis

    url = redis_url
    prefix = f"test-alerts-{secrets.token_hex(6)}"  # runs sharing the Redis never share a key
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url, "KEY_PREFIX": prefix}
    }
    yield
    connection = redis.Redis.from_url(url)
    for key in connection.scan_iter(match=f"{prefix}:*"):
        connection.delete(key)


def test_it_sends_one_peak_alert_per_quarter_on_redis(redis_cache, clock, alice, alice_meter, mailoutbox):
    alerts_of(alice, alert_peak=True)

    post(clock, alice, QUARTER + timedelta(minutes=5))
    post(clock, alice, QUARTER + timedelta(minutes=6))
    post(clock, alice, QUARTER + timedelta(minutes=16))

    assert Alert.objects.filter(kind="peak").count() == 2
    assert len(mailoutbox) == 2
