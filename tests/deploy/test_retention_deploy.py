"""``manage.py apply_retention`` daily wherever the server runs: the compose service, the systemd timer, the setting
in the compose environment and docker/env.example, and docs/operations.md ("Retention")."""

from __future__ import annotations

import yaml

from .conftest import ROOT

COMPOSE = ROOT / "docker" / "compose.yaml"
ENV_EXAMPLE = ROOT / "docker" / "env.example"
UNITS = ROOT / "infrastructure" / "systemd"
GUIDE = ROOT / "docs" / "operations.md"


def _unit(name: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def test_it_runs_the_retention_loop_daily_from_the_apps_image_and_environment():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    app, loop = services["app"], services["retention"]

    assert loop["command"] == ["python", "manage.py", "apply_retention", "--loop", "86400"]
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
    # The app reads the setting too: ingest refuses readings older than the cutoff.
    assert app["environment"]["RETENTION_RAW_DAYS"] == "${RETENTION_RAW_DAYS:-}"  # empty: forever
    assert "\nRETENTION_RAW_DAYS=\n" in ENV_EXAMPLE.read_text()


def test_it_ships_a_systemd_timer_that_runs_one_pass_a_day_after_the_partitions():
    timer = _unit("p1energy-retention.timer")
    service = _unit("p1energy-retention.service")

    assert timer["OnCalendar"] == ["*-*-* 03:47:00"]
    assert timer["OnCalendar"] != _unit("p1energy-partitions.timer")["OnCalendar"]
    assert timer["Persistent"] == ["true"]  # a day missed while the machine was off runs at boot
    assert timer["Unit"] == ["p1energy-retention.service"]
    assert timer["WantedBy"] == ["timers.target"]
    assert service["Type"] == ["oneshot"]
    assert service["ExecStart"][0].split()[1:] == ["manage.py", "apply_retention"]
    # The same user, settings and sandbox as the partitions pass.
    partitions = _unit("p1energy-partitions.service")
    for key in (
        "User",
        "Group",
        "WorkingDirectory",
        "EnvironmentFile",
        "NoNewPrivileges",
        "ProtectSystem",
        "ReadWritePaths",
    ):
        assert service[key] == partitions[key], key
    assert (UNITS / "p1energy-retention.timer").read_text().count("systemctl enable --now p1energy-retention") == 1


def test_it_documents_retention_and_every_way_to_run_it():
    guide = GUIDE.read_text()
    section = guide.split("\n## Retention", 1)[1].split("\n## ", 1)[0]

    for needed in (
        "RETENTION_RAW_DAYS",
        "apply_retention --loop 86400",
        "--dry-run",
        "infrastructure/systemd/p1energy-retention.service",
        "p1energy-retention.timer",
        "DayEnergy",
        "MonthEnergy",
        "No readings",
        "rebuild_rollups",
    ):
        assert needed in section, needed
