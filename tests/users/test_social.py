"""Social login: buttons only for configured providers, and no linking of accounts by e-mail."""

from __future__ import annotations

import runpy
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user
from social_core.backends import utils as social_backend_utils
from social_core.backends.github import GithubOAuth2

pytestmark = pytest.mark.django_db

PROVIDER_ENV = (
    "SOCIAL_AUTH_GOOGLE_OAUTH2_KEY",
    "SOCIAL_AUTH_GOOGLE_OAUTH2_SECRET",
    "SOCIAL_AUTH_GITHUB_KEY",
    "SOCIAL_AUTH_GITHUB_SECRET",
    "SOCIAL_AUTH_AZUREAD_V2_OAUTH2_KEY",
    "SOCIAL_AUTH_AZUREAD_V2_OAUTH2_SECRET",
)


def _settings_with_env(monkeypatch, **env) -> dict:
    """Execute energy_app/settings.py afresh with this environment (Django's live settings stay untouched)."""
    for name in PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_module("energy_app.settings", run_name="settings_under_test")


@pytest.fixture
def fresh_social_backends():
    # social-core caches the backend classes it loaded from AUTHENTICATION_BACKENDS.
    social_backend_utils.BACKENDSCACHE.clear()
    yield
    social_backend_utils.BACKENDSCACHE.clear()


def test_it_offers_no_provider_without_keys(monkeypatch):
    config = _settings_with_env(monkeypatch)
    assert config["SOCIAL_PROVIDERS"] == []
    assert not any("social_core" in backend for backend in config["AUTHENTICATION_BACKENDS"])


def test_it_needs_both_key_and_secret(monkeypatch):
    config = _settings_with_env(
        monkeypatch,
        SOCIAL_AUTH_GITHUB_KEY="gh-id",
        SOCIAL_AUTH_GITHUB_SECRET="gh-secret",
        SOCIAL_AUTH_GOOGLE_OAUTH2_KEY="google-id-without-secret",
    )
    assert config["SOCIAL_PROVIDERS"] == [("github", "GitHub")]
    assert "social_core.backends.github.GithubOAuth2" in config["AUTHENTICATION_BACKENDS"]
    assert "social_core.backends.google.GoogleOAuth2" not in config["AUTHENTICATION_BACKENDS"]


def test_it_enables_all_three_providers(monkeypatch):
    config = _settings_with_env(monkeypatch, **{name: "x" for name in PROVIDER_ENV})
    assert [label for _, label in config["SOCIAL_PROVIDERS"]] == ["Google", "GitHub", "Microsoft"]
    # axes must stay first so a locked account is refused before any backend runs.
    assert config["AUTHENTICATION_BACKENDS"][0] == "axes.backends.AxesStandaloneBackend"


def test_it_never_associates_by_email(monkeypatch):
    config = _settings_with_env(monkeypatch, **{name: "x" for name in PROVIDER_ENV})
    assert "social_core.pipeline.social_auth.associate_by_email" not in config["SOCIAL_AUTH_PIPELINE"]
    assert "social_core.pipeline.user.create_user" in config["SOCIAL_AUTH_PIPELINE"]


def test_it_shows_no_social_buttons_when_none_is_configured(client, settings):
    settings.SOCIAL_PROVIDERS = []
    html = client.get("/login/").content.decode()
    assert "/oauth/login/" not in html
    assert "Or log in with" not in html


def test_it_shows_a_button_per_configured_provider(client, settings):
    settings.SOCIAL_PROVIDERS = [("github", "GitHub"), ("azuread-v2-oauth2", "Microsoft")]
    html = client.get("/login/?next=/week/").content.decode()
    assert 'action="/oauth/login/github/"' in html
    assert 'action="/oauth/login/azuread-v2-oauth2/"' in html
    assert "/oauth/login/google-oauth2/" not in html
    assert html.count('name="next" value="/week/"') == 3  # the password form and both providers


@pytest.fixture
def github_enabled(settings, fresh_social_backends):
    settings.SOCIAL_AUTH_GITHUB_KEY = "gh-client-id"
    settings.SOCIAL_AUTH_GITHUB_SECRET = "gh-client-secret"
    settings.SOCIAL_PROVIDERS = [("github", "GitHub")]
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, "social_core.backends.github.GithubOAuth2"]


def test_it_refuses_a_provider_that_is_not_configured(client, fresh_social_backends):
    assert client.post("/oauth/login/github/").status_code == 404


def test_it_starts_social_login_only_by_post(client, github_enabled):
    assert client.get("/oauth/login/github/").status_code == 405


def test_it_sends_the_browser_to_the_provider(client, github_enabled):
    response = client.post("/oauth/login/github/")
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert (target.scheme, target.netloc, target.path) == ("https", "github.com", "/login/oauth/authorize")
    assert parse_qs(target.query)["client_id"] == ["gh-client-id"]


def test_it_does_not_log_into_an_existing_account_with_the_same_email(client, github_enabled, alice, monkeypatch):
    # Only the two HTTP calls to GitHub are replaced; the whole pipeline runs for real.
    monkeypatch.setattr(GithubOAuth2, "request_access_token", lambda self, *a, **k: {"access_token": "tok"})
    monkeypatch.setattr(
        GithubOAuth2,
        "user_data",
        lambda self, *a, **k: {"id": 4242, "login": "alice", "email": "alice@example.org"},
    )
    start = client.post("/oauth/login/github/")
    state = parse_qs(urlsplit(start["Location"]).query)["state"][0]
    response = client.get("/oauth/complete/github/", {"code": "abc", "state": state})
    assert response.status_code == 302
    user = get_user(client)
    assert user.is_authenticated
    assert user.pk != alice.pk
    assert not alice.social_auth.exists()
