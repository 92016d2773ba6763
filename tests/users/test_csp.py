"""Content-Security-Policy (django-csp) and Permissions-Policy on every response (issue 12).

The policy allows scripts and styles from this site only (the vendored uPlot and dashboard.js), so an injected
inline script never runs; the browser tests load the pages as they are and see no violation.
"""

from __future__ import annotations

import runpy

import pytest

from meters.models import Meter
from tests.meters.series_truth import build, local

pytestmark = pytest.mark.django_db


def _directives(header: str) -> dict[str, list[str]]:
    parsed = {}
    for part in header.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def _settings(monkeypatch, **env: str) -> dict:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_module("energy_app.settings", run_name="settings_under_test")


@pytest.mark.parametrize("path", ["/login/", "/register/", "/help/", "/api/v1/meters/"])
def test_it_sends_a_strict_content_security_policy(client, path):
    response = client.get(path)
    header = response["Content-Security-Policy"]
    policy = _directives(header)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert "unsafe-inline" not in header
    assert "unsafe-eval" not in header


def test_it_sends_the_policy_on_the_dashboard(alice_client):
    response = alice_client.get("/day/")
    assert _directives(response["Content-Security-Policy"])["script-src"] == ["'self'"]


@pytest.mark.parametrize("path", ["/login/", "/api/v1/meters/", "/healthz"])
def test_it_turns_off_browser_features_the_site_does_not_use(client, path):
    header = client.get(path)["Permissions-Policy"]
    features = dict(item.strip().split("=", 1) for item in header.split(","))
    for feature in ("camera", "microphone", "geolocation", "payment", "usb", "accelerometer", "gyroscope"):
        assert features[feature] == "()", feature


def test_it_allows_the_qlik_tenant_only_when_qlik_is_configured(monkeypatch):
    plain = _settings(monkeypatch)["CONTENT_SECURITY_POLICY"]["DIRECTIVES"]
    assert not any("qlikcloud" in " ".join(values) for values in plain.values() if isinstance(values, list))

    qlik = _settings(
        monkeypatch,
        QLIK_TENANT_HOST="p1.eu.qlikcloud.com",
        QLIK_WEB_INTEGRATION_ID="web-id",
        QLIK_APP_ID="app-id",
        QLIK_OBJECT_IDS="obj1,obj2",
    )["CONTENT_SECURITY_POLICY"]["DIRECTIVES"]
    tenant = "https://p1.eu.qlikcloud.com"
    for directive in ("script-src", "style-src", "img-src", "font-src", "connect-src"):
        assert tenant in qlik[directive], directive
    assert "wss://p1.eu.qlikcloud.com" in qlik["connect-src"]
    assert "'unsafe-inline'" not in qlik["script-src"]


def test_it_lets_social_login_forms_redirect_to_the_configured_provider(monkeypatch):
    config = _settings(monkeypatch, SOCIAL_AUTH_GITHUB_KEY="key", SOCIAL_AUTH_GITHUB_SECRET="secret")
    assert config["CONTENT_SECURITY_POLICY"]["DIRECTIVES"]["form-action"] == ["'self'", "https://github.com"]


def test_it_only_reports_violations_while_debugging(monkeypatch):
    # Django's debug pages use inline styles and scripts; a developer still sees violations in the console.
    debugging = _settings(monkeypatch, DEBUG="1")
    assert "CONTENT_SECURITY_POLICY" not in debugging
    assert debugging["CONTENT_SECURITY_POLICY_REPORT_ONLY"]["DIRECTIVES"]["script-src"] == ["'self'"]
    production = _settings(monkeypatch, DEBUG="0", SECRET_KEY="k" + "-production-key-0123456789abcdefghijklmnopqrstuv")
    assert "CONTENT_SECURITY_POLICY_REPORT_ONLY" not in production
    assert "csp.middleware.CSPMiddleware" in production["MIDDLEWARE"]


# --- in a real browser -------------------------------------------------------------------------------------

# Collects what the page's policy blocked (the event) before any page script runs.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__cspViolations.push(`${e.effectiveDirective} blocked ${e.blockedURI || "inline"} at ${where}`);
});
"""


@pytest.fixture
def watched_page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    page.set_default_timeout(15_000)
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.console_log = console
    yield page
    context.close()


def _violations(page) -> list[str]:
    reported = page.evaluate("window.__cspViolations")
    logged = [line for line in page.console_log if "Content Security Policy" in line or "Permissions-Policy" in line]
    return reported + logged


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_it_loads_the_login_page_without_policy_violations(watched_page):
    response = watched_page.goto("/login/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "camera=()" in response.headers["permissions-policy"]
    watched_page.get_by_label("Username or e-mail").fill("nobody")
    watched_page.get_by_label("Password").fill("wrong-password")
    watched_page.get_by_role("button", name="Log in").last.click()
    watched_page.get_by_role("alert").wait_for()
    assert _violations(watched_page) == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("view", ["day", "week", "month"])
def test_it_draws_the_dashboards_without_policy_violations(watched_page, alice, password, view):
    meter = Meter.objects.create(serial="1SAG1100000292", name="Home", owner=alice)
    build(meter, local(2024, 3, 4), local(2024, 3, 5))
    page = watched_page
    page.goto("/login/?next=/day/")
    page.get_by_label("Username or e-mail").fill("alice")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").last.click()
    page.wait_for_url("**/day/**")

    response = page.goto(f"/{view}/?meter={meter.code}&date=2024-03-04")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector("#dashboard[data-charts-ready]")
    assert page.get_attribute("#dashboard", "data-charts-ready") == "true", page.inner_text("#chart-error")
    # The tooltip and legend markers are styled from JavaScript (CSSOM), which the policy allows.
    page.locator('[data-chart="import"] .u-over').first.hover()
    assert _violations(page) == []
