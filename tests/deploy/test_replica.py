"""The read replica (DATABASE_REPLICA_URL, energy_app.routers): dashboard, series and API reads go to it, writes and a
writer's next reads to the primary, and nothing changes without one.

The tests add a ``replica`` alias that mirrors the test database, as ``TEST: {"MIRROR": "default"}`` does in a
deployment's test run: a second connection to the same data. Routing needs tests outside a test transaction (inside
one every read stays on the primary, by design), so the database tests here are transactional.
"""

from __future__ import annotations

import copy
import runpy
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router, transaction
from django.test import RequestFactory, override_settings
from django.test.utils import CaptureQueriesContext
from p1edge import wire
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView
from rest_framework_simplejwt.tokens import RefreshToken

from energy_app.routers import ReplicaReadsMixin, ReplicaRouter, reading_from_replica, replica_reads
from meters import devices
from meters.models import Meter, Reading
from tests.factories import ALICE_SERIAL, reading_item
from tests.meters.series_truth import build, local

NOW = datetime(2024, 6, 12, 14, 7, tzinfo=UTC)
BOTH = ["default", "replica"]
db_with_replica = pytest.mark.django_db(transaction=True, databases=BOTH)


@pytest.fixture(scope="module", autouse=True)
def _replica_alias(django_db_setup):
    """A ``replica`` alias for this module: a copy of the test database's settings, marked as its mirror."""
    primary = connections["default"].settings_dict
    config = {**copy.deepcopy(primary), "TEST": {**primary["TEST"], "MIRROR": "default"}}
    # connections.settings is settings.DATABASES itself; the second line is for the day they differ.
    connections.settings["replica"] = config
    settings.DATABASES.setdefault("replica", config)
    yield
    connections["replica"].close()
    del connections["replica"]
    connections.settings.pop("replica", None)
    settings.DATABASES.pop("replica", None)


@pytest.fixture
def _fast_password_hashing(settings):
    # Overrides the conftest's fixture of this name: hashing strength is not what these tests look at.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@replica_reads
def _probe(request):
    """Stands in for a dashboard view: where its reading queries would go."""
    return router.db_for_read(Reading)


def _reads_of(user) -> str:
    request = RequestFactory().get("/day/")
    request.user = user
    return _probe(request)


def _rename(client, meter: Meter, name: str = "Cottage") -> None:
    response = client.post(f"/serialNumbers/updateMeterName/{meter.code}", {"name": name})
    assert response.status_code == 302


def _jwt(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


def _label(model) -> str:
    # The database cache's stand-in model has no label.
    return getattr(model._meta, "label", model._meta.app_label)


class RecordingRouter(ReplicaRouter):
    """The router, noting each answer: (read or write, model label, alias)."""

    calls: list[tuple[str, str, str | None]] = []

    def db_for_read(self, model, **hints):
        alias = super().db_for_read(model, **hints)
        self.calls.append(("read", _label(model), alias))
        return alias

    def db_for_write(self, model, **hints):
        alias = super().db_for_write(model, **hints)
        self.calls.append(("write", _label(model), alias))
        return alias


@pytest.fixture
def recorded():
    RecordingRouter.calls = []
    with override_settings(DATABASE_ROUTERS=["tests.deploy.test_replica.RecordingRouter"]):
        yield RecordingRouter.calls


def _aliases(calls, action: str, label: str = "meters.Reading") -> set[str | None]:
    return {alias for kind, model, alias in calls if kind == action and model == label}


def _meters_reads(calls) -> set[str | None]:
    return {alias for kind, model, alias in calls if kind == "read" and model.startswith("meters.")}


# --- the router ------------------------------------------------------------------------------------------------------


def test_it_reads_from_the_replica_only_inside_a_replica_block():
    assert router.db_for_read(Reading) == "default"
    with reading_from_replica():
        assert router.db_for_read(Reading) == "replica"
        assert router.db_for_read(Meter) == "replica"
    assert router.db_for_read(Reading) == "default"


def test_it_always_writes_to_the_primary():
    with reading_from_replica():
        assert router.db_for_write(Reading) == "default"
        assert router.db_for_write(Meter, instance=Meter(serial="1SAG1100000292")) == "default"
    assert router.allow_relation(Meter(), Reading()) is True


def test_it_keeps_the_cache_table_and_sessions_on_the_primary():
    # Throttle counters and lockouts are read, then written: a lagging copy would lose counts.
    with reading_from_replica():
        assert router.db_for_read(caches["default"].cache_model_class) == "default"
        assert router.db_for_read(Session) == "default"


def test_it_never_migrates_the_replica():
    assert ReplicaRouter().allow_migrate("replica", "meters", "reading") is False
    assert ReplicaRouter().allow_migrate("default", "meters", "reading") is True


@db_with_replica
def test_it_keeps_reads_inside_a_transaction_on_the_primary():
    fetched_from_replica = Meter(serial="1SAG1100000292")
    fetched_from_replica._state.db = "replica"
    with reading_from_replica():
        assert router.db_for_read(Reading) == "replica"
        with transaction.atomic():
            assert router.db_for_read(Reading) == "default"
            # Not Django's fallback to the instance's own alias: the transaction must read its own writes.
            assert router.db_for_read(Reading, instance=fetched_from_replica) == "default"
        assert router.db_for_read(Reading) == "replica"


# --- the pin after a write ---------------------------------------------------------------------------------------


@db_with_replica
def test_it_reads_alice_from_the_primary_right_after_her_write_and_bob_still_from_the_replica(
    alice, bob, alice_meter, alice_client, clock
):
    assert _reads_of(alice) == "replica"
    _rename(alice_client, alice_meter)

    assert _reads_of(alice) == "default"
    assert _reads_of(bob) == "replica"


@db_with_replica
def test_it_sends_alice_back_to_the_replica_once_her_pin_ran_out(alice, alice_meter, alice_client, clock, settings):
    settings.REPLICA_PIN_SECONDS = 10
    _rename(alice_client, alice_meter)

    clock.shift(timedelta(seconds=9))
    assert _reads_of(alice) == "default"
    clock.shift(timedelta(seconds=2))
    assert _reads_of(alice) == "replica"


@db_with_replica
def test_it_does_not_pin_anyone_when_the_pin_is_zero_seconds(alice, alice_meter, alice_client, clock, settings):
    settings.REPLICA_PIN_SECONDS = 0
    _rename(alice_client, alice_meter)
    assert _reads_of(alice) == "replica"


@db_with_replica
def test_it_pins_the_user_of_an_api_write_authenticated_by_jwt(alice, alice_meter, clock):
    upload = {"readings": [reading_item(ALICE_SERIAL, (NOW - timedelta(hours=1)).isoformat())]}
    response = _jwt(alice).post(wire.READINGS_PATH, upload, format="json")
    assert response.status_code < 300, response.content

    assert _reads_of(alice) == "default"


@db_with_replica
def test_it_does_not_pin_the_owner_for_the_uploads_of_a_paired_device(alice, alice_meter, clock):
    # A Pi uploads every few seconds: pinning its owner would keep the owner off the replica for good.
    code = devices.start_pairing("raspberrypi", "192.0.2.10")
    devices.approve(alice, code.user_code)
    clock.shift(timedelta(seconds=code.interval))
    token, _ = devices.issue_token(wire.DEVICE_GRANT_TYPE, code.device_code)
    pi = APIClient()
    pi.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    upload = {"readings": [reading_item(ALICE_SERIAL, (NOW - timedelta(hours=1)).isoformat())]}
    response = pi.post(wire.READINGS_PATH, upload, format="json")
    assert response.status_code < 300, response.content

    assert _reads_of(alice) == "replica"


@db_with_replica
def test_it_does_nothing_without_a_replica_alias(
    alice, alice_meter, alice_client, clock, monkeypatch, django_assert_num_queries
):
    monkeypatch.delitem(settings.DATABASES, "replica")
    with django_assert_num_queries(0):  # not even the pin's cache read
        assert _reads_of(alice) == "default"
    with reading_from_replica():
        assert ReplicaRouter().db_for_read(Reading) is None
    _rename(alice_client, alice_meter)
    monkeypatch.undo()

    assert _reads_of(alice) == "replica"  # the write above recorded no pin


# --- the views -----------------------------------------------------------------------------------------------


@db_with_replica
def test_it_reads_the_dashboards_from_the_replica_and_writes_to_the_primary(
    alice, alice_meter, alice_client, clock, recorded
):
    build(alice_meter, local(2024, 6, 10, 23), local(2024, 6, 11, 23, 45) + timedelta(minutes=15))
    recorded.clear()
    for page in ("day", "week", "month", "now", "now/panel"):
        assert alice_client.get(f"/{page}/?meter={alice_meter.code}&date=2024-06-11").status_code == 200, page
    assert _aliases(recorded, "read") == {"replica"}  # the readings the ORM fetched (the week's edge neighbours)
    assert _meters_reads(recorded) == {"replica"}  # meters, readings, rollups
    # Before the view: the session, the user and the pin itself, on the primary.
    assert _aliases(recorded, "read", "sessions.Session") == {"default"}

    recorded.clear()
    _rename(alice_client, alice_meter, "Cottage")
    assert _aliases(recorded, "write", "meters.Meter") == {"default"}
    assert _meters_reads(recorded) == {"default"}  # a POST never reads the replica

    recorded.clear()
    assert alice_client.get(f"/week/?meter={alice_meter.code}&date=2024-06-11").status_code == 200
    assert _meters_reads(recorded) == {"default"}  # alice just wrote
    assert router.db_for_read(Reading) == "default"  # and the views left no replica block behind


@db_with_replica
def test_it_runs_every_reading_query_of_a_dashboard_on_the_replica(alice, alice_meter, alice_client, clock):
    build(alice_meter, local(2024, 6, 10, 23), local(2024, 6, 11, 23, 45) + timedelta(minutes=15))
    with (
        CaptureQueriesContext(connections["default"]) as primary,
        CaptureQueriesContext(connections["replica"]) as replica,
    ):
        assert alice_client.get(f"/day/?meter={alice_meter.code}&date=2024-06-11").status_code == 200

    assert any('"meters_reading"' in query["sql"] for query in replica.captured_queries)
    assert [query["sql"] for query in primary.captured_queries if '"meters_reading"' in query["sql"]] == []


@db_with_replica
def test_it_reads_the_series_readings_and_live_api_from_the_replica_until_the_user_writes(
    alice, alice_meter, clock, recorded
):
    build(alice_meter, local(2024, 6, 11), local(2024, 6, 11, 6))
    api = _jwt(alice)
    base = f"/api/v1/meters/{alice_meter.code}"
    for path in (f"{base}/series/?view=day&date=2024-06-11", f"{base}/readings/", f"{base}/live"):
        recorded.clear()
        assert api.get(path).status_code == 200, path
        assert _aliases(recorded, "read", "meters.Meter") == {"replica"}, path
        if path.endswith("/readings/"):
            assert _aliases(recorded, "read") == {"replica"}
    assert router.db_for_read(Reading) == "default"

    upload = {"readings": [reading_item(ALICE_SERIAL, (NOW - timedelta(hours=1)).isoformat())]}
    assert api.post(wire.READINGS_PATH, upload, format="json").status_code < 300
    recorded.clear()
    assert api.get(f"{base}/readings/").status_code == 200
    assert _aliases(recorded, "read") == {"default"}


class _Failing(ReplicaReadsMixin, APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    seen: list[str] = []

    def get(self, request):
        self.seen.append(router.db_for_read(Reading))
        raise RuntimeError("a bug in a view")

    def post(self, request):
        self.seen.append(router.db_for_read(Reading))
        return Response(status=201)


def test_it_leaves_no_replica_block_behind_when_a_drf_view_raises():
    view = _Failing.as_view()
    with pytest.raises(RuntimeError):
        view(RequestFactory().get("/"))
    assert view(RequestFactory().post("/")).status_code == 201

    assert _Failing.seen == ["replica", "default"]  # the POST read from the primary
    assert router.db_for_read(Reading) == "default"


# --- settings ------------------------------------------------------------------------------------------------


def _load_settings(monkeypatch, **env) -> dict:
    """Execute energy_app/settings.py afresh with extra environment variables."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_module("energy_app.settings", run_name="settings_under_test")


def test_it_adds_a_mirrored_replica_alias_when_database_replica_url_is_set(monkeypatch):
    loaded = _load_settings(monkeypatch, DATABASE_REPLICA_URL="postgres://reader:pw@p1-replica.example.org:5432/p1")
    replica = loaded["DATABASES"]["replica"]
    assert (replica["ENGINE"], replica["HOST"], replica["NAME"]) == (
        "django.db.backends.postgresql",
        "p1-replica.example.org",
        "p1",
    )
    assert replica["TEST"] == {"MIRROR": "default"}
    assert loaded["DATABASE_ROUTERS"] == ["energy_app.routers.ReplicaRouter"]


def test_it_has_no_replica_without_database_replica_url_but_keeps_the_router(monkeypatch):
    monkeypatch.delenv("REPLICA_PIN_SECONDS", raising=False)
    loaded = _load_settings(monkeypatch, DATABASE_REPLICA_URL=" ")
    assert set(loaded["DATABASES"]) == {"default"}
    assert loaded["DATABASE_ROUTERS"] == ["energy_app.routers.ReplicaRouter"]
    assert loaded["REPLICA_PIN_SECONDS"] == 10


@pytest.mark.parametrize("url", ["mysql://reader@replica/p1", "postgres://reader@replica:5432/", "replica.example"])
def test_it_names_database_replica_url_for_a_bad_value(monkeypatch, url):
    with pytest.raises(ImproperlyConfigured, match=r"^DATABASE_REPLICA_URL must"):
        _load_settings(monkeypatch, DATABASE_REPLICA_URL=url)


def test_it_refuses_a_negative_pin(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="REPLICA_PIN_SECONDS must be at least 0"):
        _load_settings(monkeypatch, REPLICA_PIN_SECONDS="-1")
