"""``manage.py partition_readings`` daily wherever the server runs on PostgreSQL: the compose service, the systemd
timer, the entrypoint after migrating, and docs/scaling.md (docs/scaling.md, "Partitions")."""

from __future__ import annotations

import yaml

from .conftest import ROOT

COMPOSE = ROOT / "docker" / "compose.yaml"
UNITS = ROOT / "infrastructure" / "systemd"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
GUIDE = ROOT / "docs" / "scaling.md"


def _unit(name: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def test_it_runs_the_partitions_loop_daily_from_the_apps_image_and_environment():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    app, loop = services["app"], services["partitions"]

    assert loop["command"] == ["python", "manage.py", "partition_readings", "--loop", "86400"]
    assert (loop["image"], loop["build"]) == (app["image"], app["build"])
    assert loop["depends_on"] == {"app": {"condition": "service_healthy"}}  # app migrated before this starts
    assert loop["restart"] == "unless-stopped"
    assert loop["healthcheck"] == {"disable": True}  # no gunicorn in it
    differences = {k: v for k, v in loop["environment"].items() if app["environment"].get(k) != v}
    assert differences == {
        "MIGRATE_ON_START": "0",
        "DJANGO_SUPERUSER_USERNAME": "",
        "DJANGO_SUPERUSER_PASSWORD": "",
        "DJANGO_SUPERUSER_EMAIL": "",
    }


def test_it_ships_a_systemd_timer_that_runs_one_pass_a_day():
    timer = _unit("p1energy-partitions.timer")
    service = _unit("p1energy-partitions.service")

    assert timer["OnCalendar"] == ["*-*-* 03:17:00"]
    assert timer["Persistent"] == ["true"]  # a day missed while the machine was off runs at boot
    assert timer["Unit"] == ["p1energy-partitions.service"]
    assert timer["WantedBy"] == ["timers.target"]
    assert service["Type"] == ["oneshot"]
    assert service["ExecStart"][0].split()[1:] == ["manage.py", "partition_readings"]
    # The same user, settings and sandbox as the alerts pass.
    alerts = _unit("p1energy-alerts.service")
    for key in ("User", "Group", "WorkingDirectory", "EnvironmentFile", "NoNewPrivileges", "ProtectSystem"):
        assert service[key] == alerts[key], key
    assert (UNITS / "p1energy-partitions.timer").read_text().count("systemctl enable --now p1energy-partitions") == 1


def test_it_makes_the_partitions_ahead_right_after_migrating_without_failing_the_start():
    script = ENTRYPOINT.read_text()
    migrate = script.index("manage.py migrate --no-input")
    partition = script.index("manage.py partition_readings ||")

    assert migrate < partition < script.index("else")  # only where this container migrates


def test_it_documents_the_partitions_and_every_way_to_run_them():
    guide = GUIDE.read_text()
    partitions = guide.split("\n## Partitions", 1)[1].split("\n## ", 1)[0]

    for needed in (
        "meters_reading_pYYYYMM",
        "meters_reading_default",
        "partition_readings --loop 86400",
        "infrastructure/systemd/p1energy-partitions.service",
        "p1energy-partitions.timer",
        "--drop-before",
        "pg_partman",
    ):
        assert needed in partitions, needed
    citus = guide.split("\n## Citus", 1)[1].split("\n## ", 1)[0]
    for needed in ("create_distributed_table", "create_reference_table", "not verified", "test_partitions.py"):
        assert needed in citus, needed
