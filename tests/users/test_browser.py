"""The account pages in a real Chromium: styled, errors tied to inputs, visible focus, no sideways scroll on phones."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def _described_text(page, selector: str) -> str:
    return page.evaluate(
        """(selector) => {
            const input = document.querySelector(selector);
            return (input.getAttribute('aria-describedby') || '').split(' ')
                .map(id => document.getElementById(id)).filter(Boolean)
                .map(el => el.innerText).join(' | ');
        }""",
        selector,
    )


def test_it_logs_in_by_email_after_a_visible_error(page, alice, password):
    # next= keeps this test independent of the dashboard pages behind /day/.
    page.goto("/login/?next=/help/")
    page.get_by_label("Username or e-mail").fill("alice@example.org")
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Log in").last.click()
    alert = page.get_by_role("alert")
    assert alert.is_visible()
    assert "Wrong username/e-mail or password" in alert.inner_text()

    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").last.click()
    page.wait_for_url("**/help/")
    assert "Signed in as alice" in page.get_by_role("banner").inner_text()


def test_it_ties_register_errors_to_their_inputs(page, alice):
    page.goto("/register/")
    page.get_by_label("Username").fill("Alice")
    page.get_by_label("E-mail").fill("someone@example.org")
    page.locator("#id_password1").fill("sunny-rooftop-kwh-77")
    page.locator("#id_password2").fill("sunny-rooftop-kwh-77")
    page.get_by_role("button", name="Register").last.click()
    page.wait_for_load_state()
    username = page.locator("#id_username")
    assert username.get_attribute("aria-invalid") == "true"
    assert "This username is already taken" in _described_text(page, "#id_username")
    assert page.locator("#id_username_error").is_visible()


def test_it_loads_the_theme_and_shows_keyboard_focus(page):
    page.goto("/login/")
    button_colour = page.locator("main button[type=submit]").evaluate("el => getComputedStyle(el).backgroundColor")
    assert button_colour == "rgb(22, 99, 193)"  # brand-600 from the built CSS
    page.locator("#id_username").focus()
    ring = page.locator("#id_username").evaluate("el => getComputedStyle(el).boxShadow")
    assert ring not in ("", "none")


@pytest.mark.parametrize("path", ["/login/", "/register/", "/help/", "/password-reset/"])
def test_it_fits_a_phone_screen(page, path):
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(path)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0


def test_it_fits_the_profile_page_on_a_phone(page, alice, password):
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto("/login/?next=/profile/")
    page.get_by_label("Username or e-mail").fill("alice")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").last.click()
    page.wait_for_url("**/profile/")
    assert page.get_by_role("heading", name="Prices", exact=True).is_visible()
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
