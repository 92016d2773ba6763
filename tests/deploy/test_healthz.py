"""/healthz: the container HEALTHCHECK and App Service probe. No login, no data, a real database ping."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from django.test import override_settings

from meters.models import Meter

from .conftest import ROOT, clean_env, free_port


@pytest.mark.django_db
def test_it_answers_ok_without_login_and_shows_no_data(client, alice):
    Meter.objects.create(serial="1SAG1100000292", name="Alice home", owner=alice)

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    body = response.content.decode()
    assert "alice" not in body
    assert "1SAG" not in body
    assert "Alice home" not in body
    assert "no-cache" in response.headers["Cache-Control"]


@pytest.mark.django_db
def test_it_is_not_redirected_to_https(client):
    # The probe speaks plain HTTP inside the container; a 301 would read as unhealthy.
    with override_settings(SECURE_SSL_REDIRECT=True, ALLOWED_HOSTS=["testserver"]):
        response = client.get("/healthz")
        assert response.status_code == 200
        assert client.get("/admin/").status_code == 301


@pytest.mark.django_db
def test_it_only_answers_get(client):
    assert client.post("/healthz").status_code == 405


def test_it_answers_503_when_the_database_is_unreachable():
    # A real unreachable PostgreSQL (a closed local port), in a fresh interpreter so settings pick it up.
    script = (
        "import django, json; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/healthz');"
        "print(json.dumps({'status': r.status_code, 'body': r.json()}))"
    )
    env = clean_env(
        DATABASE_URL=f"postgres://nobody@127.0.0.1:{free_port()}/absent?connect_timeout=2",
        DJANGO_SETTINGS_MODULE="energy_app.settings",
        ALLOWED_HOSTS="testserver",
        LOG_LEVEL="CRITICAL",
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {"status": 503, "body": {"status": "error", "database": "unreachable"}}
