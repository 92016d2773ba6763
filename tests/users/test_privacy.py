"""The privacy page (/privacy/): what is stored, for how long, who sees it, where it is hosted; linked everywhere."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_it_says_how_long_quarter_hours_are_kept_and_where_they_are_hosted(client, settings):
    settings.RETENTION_RAW_DAYS = 730
    settings.PRIVACY_HOSTING = "Microsoft Azure, region westeurope"
    settings.PRIVACY_CONTACT = "privacy@example.org"
    html = client.get(reverse("users:privacy")).content.decode()
    assert "kept for 730 days" in html
    assert "Microsoft Azure, region westeurope" in html
    assert "privacy@example.org" in html
    assert "administrators of this server" in html


def test_it_says_readings_are_kept_until_deleted_without_a_retention_period(client, settings):
    settings.RETENTION_RAW_DAYS = None
    settings.PRIVACY_HOSTING = ""
    html = client.get(reverse("users:privacy")).content.decode()
    assert "no time limit set" in html
    assert "operator's own machine" in html


@pytest.mark.parametrize("language", ["nl", "fr", "de", "en"])
def test_it_links_the_privacy_page_in_the_footer_of_every_page_in_every_language(client, language):
    page = client.get(reverse("users:login"), HTTP_ACCEPT_LANGUAGE=language)
    assert reverse("users:privacy") in page.content.decode()
    assert client.get(reverse("users:privacy"), HTTP_ACCEPT_LANGUAGE=language).status_code == 200
