"""Public pages, login-required pages and the admin's profile inline."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/profile/", "/password-change/", "/password-change/done/"])
def test_it_sends_anonymous_visitors_to_login_with_next(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={path}"


@pytest.mark.parametrize("path", ["/profile/", "/password-change/", "/password-change/done/", "/help/"])
def test_it_serves_account_pages_to_a_logged_in_user(alice_client, path):
    assert alice_client.get(path).status_code == 200


def test_it_serves_help_to_anyone_with_the_install_steps(client):
    response = client.get("/help/")
    assert response.status_code == 200
    html = response.content.decode()
    for needle in (
        "P1 port",
        "RJ12",
        "pip install --no-deps ./edge",
        "/etc/p1edge/config.toml",
        "p1edge-reader",
        "p1edge-uploader",
        "1.8.1",
        "capacity tariff",
        "Privacy",
    ):
        assert needle in html, needle


@pytest.mark.parametrize(
    "path",
    ["/login/", "/register/", "/help/", "/password-reset/", "/password-reset/done/", "/password-reset-complete/"],
)
def test_it_serves_public_pages_with_the_theme(client, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/css/dist/styles.css" in html
    assert '<main id="main"' in html


def test_it_shows_the_profile_inline_on_the_admin_user_page(client, staff, alice):
    staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    response = client.get(f"/admin/auth/user/{alice.pk}/change/")
    assert response.status_code == 200
    assert 'name="profile-0-price_import_day"' in response.content.decode()


def test_it_saves_prices_from_the_admin(client, staff, alice):
    from users.models import profile_for

    staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    data = {
        "username": "alice",
        "email": "alice@example.org",
        "is_active": "on",
        "date_joined_0": "2024-01-01",
        "date_joined_1": "00:00:00",
        "profile-TOTAL_FORMS": "1",
        "profile-INITIAL_FORMS": "0",
        "profile-MIN_NUM_FORMS": "0",
        "profile-MAX_NUM_FORMS": "1",
        "profile-0-price_gas": "1.11",
        "profile-0-user": str(alice.pk),
    }
    response = client.post(f"/admin/auth/user/{alice.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    assert str(profile_for(alice).price_gas) == "1.1100"
