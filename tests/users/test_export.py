"""'Download all my data' (users.export, /data/export.zip, /api/v1/me/export): the ZIP's readings equal the database,
no secrets and nobody else's data in it, the same file from the API, and bounded memory for a long history."""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
import zipfile
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from p1edge import wire
from rest_framework.test import APIClient

from meters import devices, exports
from meters.bulk import insert_rows
from meters.models import READING_FIELDS, Alert, AuditEvent, Contract, Meter, MeterShare, Reading, ShareRole
from tests.api.conftest import jwt_client
from tests.factories import ALICE_SERIAL
from tests.meters.series_truth import build, epoch, local
from users import export
from users.models import profile_for

pytestmark = pytest.mark.django_db

GAS_SERIAL = "1SAG4400000333"
BOB_SERIAL = "1SAG2200000111"
BOB_SHARED_SERIAL = "1SAG3300000222"
NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def _unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None  # every member's CRC checks out
        return {name: archive.read(name) for name in archive.namelist()}


def _page_zip(client) -> bytes:
    response = client.get("/data/export.zip")
    assert response.status_code == 200, response.content[:200]
    assert response.streaming
    return b"".join(response.streaming_content)


def _field_value(name: str, text: str):
    """A CSV cell back as the model's Python value."""
    if text == "":
        return None
    kind = Reading._meta.get_field(name).get_internal_type()
    if kind == "DecimalField":
        return Decimal(text)
    if kind == "DateTimeField":
        return datetime.fromisoformat(text)
    return int(text)


@pytest.fixture
def household(alice, bob):
    """Alice: a meter with three days of readings, a contract and a share, and a gas meter with one reading; her
    profile, a device and an alert. Bob: a meter of his own and one he shares with alice."""
    home = Meter.objects.create(serial=ALICE_SERIAL, name="Home", owner=alice)
    truth = build(home, local(2026, 11, 27), local(2026, 11, 30), gas=False)
    Contract.objects.create(
        meter=home,
        name="Engie Dynamic",
        region="VL",
        area="Fluvius Antwerpen",
        energy_kind="dynamic",
        spot_factor=Decimal("0.1039"),
        spot_offset_ct=Decimal("1.5"),
        valid_from=date(2026, 1, 1),
    )
    MeterShare.objects.create(meter=home, email="dana@example.org", role=ShareRole.VIEWER, token_hash="a" * 64)
    garden = Meter.objects.create(serial=GAS_SERIAL, name="Garden house", owner=alice)
    Reading.objects.create(
        meter=garden,
        timestamp=datetime(2026, 11, 29, 12, 0, tzinfo=UTC),
        measured_at=datetime(2026, 11, 29, 12, 0, 4, tzinfo=UTC),
        import_t1_kwh=Decimal("1019.100"),
        import_t2_kwh=Decimal("2044.250"),
        export_t1_kwh=Decimal("0.000"),
        export_t2_kwh=Decimal("0.000"),
        tariff=1,
        power_import_kw=Decimal("0.321"),
        power_export_kw=Decimal("0.000"),
        gas_m3=Decimal("4321.123"),
        gas_at=datetime(2026, 11, 29, 11, 55, tzinfo=UTC),
        water_m3=Decimal("88.004"),
        water_at=datetime(2026, 11, 29, 11, 50, tzinfo=UTC),
        l1_voltage_v=Decimal("231.4"),
    )
    profile = profile_for(alice)
    profile.price_import_day = Decimal("0.3412")
    profile.alert_peak = True
    profile.alert_webhook_url = "https://hooks.example.org/p1"
    profile.save()
    code = devices.start_pairing("pi-kelder", "192.0.2.10", now=NOW)
    devices.approve(alice, code.user_code, now=NOW)
    _token, device = devices.issue_token(wire.DEVICE_GRANT_TYPE, code.device_code, now=NOW)
    device.meters.add(home)
    Alert.objects.create(
        owner=alice, meter=home, kind=Alert.Kind.PEAK, key=datetime(2026, 11, 28, 18, 0, tzinfo=UTC), payload={"kw": 4}
    )

    bobs = Meter.objects.create(serial=BOB_SERIAL, name="Bob's flat", owner=bob)
    build(bobs, local(2026, 11, 28), local(2026, 11, 28, 2))
    shared = Meter.objects.create(serial=BOB_SHARED_SERIAL, name="Parents", owner=bob)
    build(shared, local(2026, 11, 28), local(2026, 11, 28, 2))
    MeterShare.objects.create(
        meter=shared, email="alice@example.org", role=ShareRole.MANAGER, user=alice, token_hash="b" * 64,
        accepted_at=datetime(2026, 11, 20, 8, 0, tzinfo=UTC),
    )  # fmt: skip
    return {"home": home, "truth": truth, "garden": garden, "device": device, "profile": profile}


def test_it_puts_every_reading_of_each_owned_meter_in_its_csv_row_for_row(alice_client, household):
    files = _unzip(_page_zip(alice_client))

    for serial in (ALICE_SERIAL, GAS_SERIAL):
        meter = Meter.objects.get(serial=serial)
        text = files[f"readings/{serial}.csv"].decode("utf-8")
        # The very file the dashboard's CSV export gives for the whole history: one format.
        assert text == "".join(exports.lines(meter, exports.parse_request(None, None, "csv")))
        rows = list(csv.DictReader(io.StringIO(text)))
        stored = list(
            Reading.objects.filter(meter=meter)
            .order_by("timestamp")
            .values("timestamp", "measured_at", *READING_FIELDS)
        )
        assert len(rows) == len(stored) > 0
        for row, reading in zip(rows, stored, strict=True):
            assert datetime.fromisoformat(row["utc_time"]) == reading["timestamp"]
            assert datetime.fromisoformat(row["local_time"]) == reading["timestamp"]
            assert datetime.fromisoformat(row["measured_at"]) == reading["measured_at"]
            for name in READING_FIELDS:
                assert _field_value(name, row[name]) == reading[name], (serial, reading["timestamp"], name)

    gas = next(csv.DictReader(io.StringIO(files[f"readings/{GAS_SERIAL}.csv"].decode())))
    assert (gas["gas_m3"], gas["water_m3"]) == ("4321.123", "88.004")
    # Each quarter's energy is the known one of the ground truth.
    truth = household["truth"]
    for row in csv.DictReader(io.StringIO(files[f"readings/{ALICE_SERIAL}.csv"].decode())):
        known = truth.energy.get(epoch(datetime.fromisoformat(row["utc_time"])))
        if known is not None:
            assert [Decimal(row[c]) for c in exports.ENERGY_REGISTERS] == [Decimal(wh) / 1000 for wh in known]


def test_it_lists_account_meters_contracts_shares_alerts_and_devices(alice_client, alice, household):
    files = _unzip(_page_zip(alice_client))

    account = json.loads(files["account.json"])
    assert (account["username"], account["email"]) == ("alice", "alice@example.org")
    assert datetime.fromisoformat(account["date_joined"]) == alice.date_joined
    assert account["prices"]["import_day_eur_kwh"] == "0.3412"
    assert account["prices"]["gas_eur_m3"] is None  # the site default, shown in prices_in_use
    assert account["prices_in_use"]["import_day_eur_kwh"] == "0.3412"
    assert account["alert_settings"] == {
        "peak": True,
        "peak_threshold_kw": None,
        "offline": False,
        "offline_minutes": 60,
        "email": True,
        "webhook_url": "https://hooks.example.org/p1",
    }

    meters = {meter["serial"]: meter for meter in json.loads(files["meters.json"])}
    assert set(meters) == {ALICE_SERIAL, GAS_SERIAL}
    home = meters[ALICE_SERIAL]
    assert home["readings"] == Reading.objects.filter(meter=household["home"]).count()
    assert home["readings_file"] == f"readings/{ALICE_SERIAL}.csv"
    assert home["code"] == str(household["home"].code)
    [contract] = home["contracts"]
    stored = Contract.objects.get(meter=household["home"])
    expected = {f.name for f in Contract._meta.concrete_fields} - {"id", "meter"}
    assert set(contract) == expected
    assert contract["spot_factor"] == format(stored.spot_factor, "f")
    assert (contract["name"], contract["valid_from"], contract["valid_to"]) == ("Engie Dynamic", "2026-01-01", None)
    [share] = home["shares"]
    assert (share["email"], share["role"], share["accepted"]) == ("dana@example.org", "viewer", False)
    assert meters[GAS_SERIAL]["contracts"] == meters[GAS_SERIAL]["shares"] == []

    [alert] = json.loads(files["alerts.json"])
    assert (alert["meter_serial"], alert["kind"], alert["payload"]) == (ALICE_SERIAL, "peak", {"kw": 4})
    [device] = json.loads(files["devices.json"])
    assert (device["name"], device["paired_from"], device["meters"]) == ("pi-kelder", "192.0.2.10", [ALICE_SERIAL])
    assert device["revoked_at"] is None
    readme = files["README.txt"].decode()
    for name in ("account.json", "meters.json", "alerts.json", "devices.json", "shared_with_me.json", "kWh"):
        assert name in readme


def test_it_never_exports_a_secret(alice_client, alice, household):
    files = _unzip(_page_zip(alice_client))
    everything = b"\n".join(files.values())

    secrets = [
        household["profile"].alert_webhook_secret,
        household["device"].token_hash,
        alice.password,
        *MeterShare.objects.values_list("token_hash", flat=True),
    ]
    for secret in secrets:
        assert secret.encode() not in everything
    for key in (b"alert_webhook_secret", b"token_version", b"token_hash", b"password"):
        assert key not in everything


def test_it_lists_meters_shared_with_the_user_without_their_readings(alice_client, household):
    files = _unzip(_page_zip(alice_client))

    [shared] = json.loads(files["shared_with_me.json"])
    assert (shared["serial"], shared["name"], shared["role"]) == (BOB_SHARED_SERIAL, "Parents", "manager")
    assert datetime.fromisoformat(shared["accepted_at"]) == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    assert not any(BOB_SHARED_SERIAL.encode() in data for name, data in files.items() if name != "shared_with_me.json")


def test_it_never_shows_another_accounts_data(alice_client, household):
    files = _unzip(_page_zip(alice_client))

    assert sorted(name for name in files if name.startswith("readings/")) == [
        f"readings/{ALICE_SERIAL}.csv",
        f"readings/{GAS_SERIAL}.csv",
    ]
    everything = b"\n".join(files.values())
    for text in (BOB_SERIAL, "bob@example.org", "Bob's flat", '"bob"'):
        assert text.encode() not in everything


def test_it_serves_the_same_files_to_scripts_on_the_api(alice, alice_client, household):
    page = _unzip(_page_zip(alice_client))

    response = jwt_client(alice).get("/api/v1/me/export", HTTP_ACCEPT="application/zip")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    api = _unzip(b"".join(response.streaming_content))
    assert list(api) == list(page)
    assert api["meters.json"] == page["meters.json"]
    assert api[f"readings/{ALICE_SERIAL}.csv"] == page[f"readings/{ALICE_SERIAL}.csv"]


@time_machine.travel(NOW, tick=False)
def test_it_downloads_as_an_attachment_named_with_the_user_and_the_day(alice_client, household):
    response = alice_client.get("/data/export.zip")

    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="p1energy-alice-2026-12-02.zip"'
    assert "no-cache" in response["Cache-Control"]
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        assert archive.getinfo("README.txt").date_time == (2026, 12, 2, 10, 30, 0)  # local time, as unzip shows


def test_it_records_the_export_in_the_audit_log_with_counts_only(alice_client, household):
    _page_zip(alice_client)

    [event] = AuditEvent.objects.filter(kind="export")
    readings = Reading.objects.filter(meter__owner__username="alice").count()
    assert event.detail == {"meters": 2, "readings": readings}
    assert event.subject == str(Meter.objects.get(serial=ALICE_SERIAL).owner_id)


def test_it_exports_an_account_without_any_data(bob_client, bob):
    Meter.objects.filter(owner=bob).delete()

    files = _unzip(_page_zip(bob_client))

    assert sorted(files) == sorted(export.ExportManifest((), 0, 0, 0).files)
    assert json.loads(files["meters.json"]) == json.loads(files["alerts.json"]) == []
    assert json.loads(files["account.json"])["prices"]["import_day_eur_kwh"] is None


def test_it_refuses_anonymous_visitors(client):
    response = client.get("/data/export.zip")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")

    assert APIClient().get("/api/v1/me/export").status_code == 401
    assert not AuditEvent.objects.exists()


def test_it_refuses_a_device_token_on_the_api(alice, household):
    code = devices.start_pairing("pi", "192.0.2.11", now=NOW)
    devices.approve(alice, code.user_code, now=NOW)
    token, _device = devices.issue_token(wire.DEVICE_GRANT_TYPE, code.device_code, now=NOW)
    client = jwt_client(alice)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    assert client.get("/api/v1/me/export").status_code == 403


def _rss_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        return int(re.search(rf"^{field}:\s+(\d+) kB", status.read(), re.MULTILINE)[1])


def _peak_rss_from_now():
    """Measures the process's peak resident memory from now on (Linux: writing 5 to clear_refs resets VmHWM).

    Not tracemalloc: tracing every allocation made this export six times slower, and it misses zlib's and the
    database driver's own memory, which the resident size counts."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
            clear.write("5")
    except OSError as exc:
        pytest.skip(f"needs Linux's /proc/self/clear_refs ({exc})")
    baseline = _rss_kib("VmRSS")
    return lambda: (_rss_kib("VmHWM") - baseline) * 1024  # bytes


def test_it_streams_a_long_history_with_bounded_memory(alice, alice_meter):
    readings = 100_000
    start = datetime(2022, 1, 1, tzinfo=UTC)
    received = datetime(2026, 1, 1, tzinfo=UTC)
    phases = ["l1_current_a", "l2_current_a"]
    fields = ["meter_id", "timestamp", "measured_at", *wire.REGISTER_FIELDS, "power_import_kw", "power_export_kw"]
    rows = []
    for n in range(readings):
        slot = start + timedelta(minutes=15 * n)
        kwh = Decimal(n).scaleb(-2)
        # Values that vary like measurements, so the archive does not shrink to nearly nothing.
        noise = [Decimal((n * 7919 + p * 104729) % 99991 % 5000).scaleb(-2) for p in range(len(phases))]
        rows.append([alice_meter.pk, slot, slot, kwh, kwh, 0, 0, noise[0], 0, received, *noise])
    # A first export of a few days, so that what every first export allocates once (the database driver's buffers
    # and type caches, the compressor) is not counted as growth.
    insert_rows(connection, Reading, [*fields, "received_at", *phases], rows[:1000])
    for _chunk in export.export_zip(alice):
        pass
    insert_rows(connection, Reading, [*fields, "received_at", *phases], rows[1000:])
    del rows

    with tempfile.TemporaryFile() as sink:
        growth = _peak_rss_from_now()
        sizes = [sink.write(chunk) for chunk in export.export_zip(alice)]
        grown = growth()
        sink.seek(0)
        with zipfile.ZipFile(sink) as archive:
            member = archive.getinfo(f"readings/{ALICE_SERIAL}.csv")
            with archive.open(member) as csv_file:
                lines = sum(1 for _line in csv_file)

    assert lines == readings + 1  # and the header
    # What the export holds at most is one chunk of readings (meters.exports.CHUNK_SIZE rows, as Python objects and
    # in the database driver) and 64 KiB of output; the CSV alone is several times that.
    assert member.file_size > 15 * 2**20
    assert grown < 6 * 2**20, f"resident memory grew by {grown / 2**20:.1f} MiB"
    # The bytes left as they were made, never as one blob.
    assert len(sizes) > 10
    assert max(sizes) < 2**20
    assert min(sizes) > 0  # an empty chunk would end a chunked response early on some servers


def test_it_includes_what_was_imported_from_mijn_fluvius_as_stored(alice_client, household):
    from meters.models import FluviusDay, FluviusImport, FluviusInterval, FluviusPeak, FluviusRegister

    meter = Meter.objects.get(serial=ALICE_SERIAL)
    start = datetime(2024, 3, 31, 0, 0, tzinfo=UTC)
    FluviusInterval.objects.create(meter=meter, start=start, register=FluviusRegister.IMPORT_T2, value=173,
                                   status="estimated")  # fmt: skip
    FluviusDay.objects.create(meter=meter, day=start.date(), register=FluviusRegister.IMPORT_T2, value=4_020,
                              status="validated")  # fmt: skip
    FluviusPeak.objects.create(meter=meter, month=start.date().replace(day=1), peak_w=3_713, status="read")
    FluviusImport.objects.create(meter=meter, file_name="Verbruikshistoriek_kwartiertotalen.csv", rows=3, stored=3)

    files = _unzip(_page_zip(alice_client))

    text = files[f"mijn-fluvius/{ALICE_SERIAL}.csv"].decode()
    assert text.splitlines() == [
        "kind,start,minutes,register,value,unit,status",
        "interval,2024-03-31T00:00:00+00:00,15,import_t2,173,Wh,estimated",
        "day,2024-03-31,,import_t2,4020,Wh,validated",
        "month_peak,2024-03-01,,,3713,W,read",
    ]
    assert f"mijn-fluvius/{GAS_SERIAL}.csv" not in files  # nothing imported for that meter
    listed = {m["serial"]: m for m in json.loads(files["meters.json"])}
    imported = listed[ALICE_SERIAL]["imported_from_mijn_fluvius"]
    assert imported["values"] == 3
    assert imported["file"] == f"mijn-fluvius/{ALICE_SERIAL}.csv"
    assert [i["file_name"] for i in imported["imports"]] == ["Verbruikshistoriek_kwartiertotalen.csv"]
    assert "mijn-fluvius/<serial>.csv" in files["README.txt"].decode()
