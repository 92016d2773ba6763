"""``manage.py run_alerts`` every minute wherever the server runs: the compose service, the systemd timer, and the
Azure job in docs/operations.md."""

from __future__ import annotations

import yaml

from .conftest import ROOT

COMPOSE = ROOT / "docker" / "compose.yaml"
UNITS = ROOT / "infrastructure" / "systemd"
GUIDE = ROOT / "docs" / "operations.md"


def _unit(name: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def test_it_runs_the_alerts_loop_from_the_apps_image_and_environment():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    app, alerts = services["app"], services["alerts"]

    assert alerts["command"] == ["python", "manage.py", "run_alerts", "--loop", "60"]
    assert (alerts["image"], alerts["build"]) == (app["image"], app["build"])
    assert alerts["depends_on"] == {"app": {"condition": "service_healthy"}}
    assert alerts["restart"] == "unless-stopped"
    assert alerts["healthcheck"] == {"disable": True}  # no gunicorn in it
    differences = {k: v for k, v in alerts["environment"].items() if app["environment"].get(k) != v}
    assert differences == {
        "MIGRATE_ON_START": "0",
        "DJANGO_SUPERUSER_USERNAME": "",
        "DJANGO_SUPERUSER_PASSWORD": "",
        "DJANGO_SUPERUSER_EMAIL": "",
    }
    assert set(alerts["environment"]) == set(app["environment"])


def test_it_ships_a_systemd_timer_that_runs_one_pass_every_minute():
    timer = _unit("p1energy-alerts.timer")
    service = _unit("p1energy-alerts.service")

    assert timer["OnCalendar"] == ["*-*-* *:*:00"]
    assert timer["Unit"] == ["p1energy-alerts.service"]
    assert timer["WantedBy"] == ["timers.target"]
    assert service["Type"] == ["oneshot"]
    assert service["ExecStart"][0].split()[1:] == ["manage.py", "run_alerts"]
    assert service["User"] == ["p1energy"]
    assert service["NoNewPrivileges"] == ["yes"]
    assert service["ProtectSystem"] == ["strict"]


def test_it_documents_every_way_to_run_the_alerts():
    section = GUIDE.read_text().split("\n## Alerts", 1)[1].split("\n## ", 1)[0]

    for needed in (
        "run_alerts --loop 60",
        "infrastructure/systemd/p1energy-alerts.service",
        "p1energy-alerts.timer",
        '--cron-expression "*/1 * * * *"',
        "X-P1-Signature",
        "X-P1-Timestamp",
    ):
        assert needed in section, needed
