"""Hostile or broken request bodies get a 4xx with the API's error shape, never a 500, and store nothing."""

from __future__ import annotations

import json

import pytest

from meters.models import Reading
from tests.api.conftest import ALICE_SERIAL, make_telegram, prototype_reading
from tests.factories import reading_item

pytestmark = pytest.mark.django_db

JSON_ENDPOINTS = ["/api/v1/readings", "/api-auth/setData", "/api/v1/token/", "/api-auth/token/"]
# Codecs that Python's codecs.lookup() knows but that are not text encodings (bytes-to-bytes or str-to-str), one
# that always fails, and a bz2 "charset" that would decompress a small body into a large one.
NOT_TEXT_CHARSETS = ["rot13", "zlib", "base64", "hex", "uu", "bz2_codec", "undefined"]


def _readings_body() -> bytes:
    return json.dumps({"readings": [reading_item(ALICE_SERIAL, "2024-03-01T10:00:00+01:00")]}).encode()


@pytest.mark.parametrize("url", JSON_ENDPOINTS)
def test_it_answers_400_to_json_nested_too_deep_to_parse(alice_api, alice_meter, url):
    body = "[" * 100_000 + "]" * 100_000

    response = alice_api.generic("POST", url, body, content_type="application/json")

    assert response.status_code == 400
    assert "nested" in response.json()["detail"]


def test_it_answers_400_to_a_deep_object_too(alice_api, alice_meter):
    body = '{"a":' * 100_000 + "1" + "}" * 100_000
    response = alice_api.generic("POST", "/api/v1/readings", body, content_type="application/json")
    assert response.status_code == 400


@pytest.mark.parametrize("charset", NOT_TEXT_CHARSETS)
@pytest.mark.parametrize("url", JSON_ENDPOINTS)
def test_it_refuses_a_json_charset_that_is_not_a_text_encoding(alice_api, alice_meter, url, charset):
    body = _readings_body() if url.endswith("readings") else json.dumps(prototype_reading()).encode()

    response = alice_api.generic("POST", url, body, content_type=f"application/json; charset={charset}")

    assert response.status_code in (400, 415)
    assert charset in response.json()["detail"]
    assert not Reading.objects.exists()


@pytest.mark.parametrize("charset", NOT_TEXT_CHARSETS)
def test_it_refuses_a_telegram_charset_that_is_not_a_text_encoding(alice_api, alice_meter, charset):
    body = make_telegram("240301101500W").encode("ascii")

    response = alice_api.generic("POST", "/api/v1/telegrams", body, content_type=f"text/plain; charset={charset}")

    assert response.status_code in (400, 415)
    assert charset in response.json()["detail"]
    assert not Reading.objects.exists()


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", "us-ascii", "iso-8859-1"])
def test_it_still_reads_bodies_in_real_text_charsets(alice_api, alice_meter, charset):
    response = alice_api.generic(
        "POST", "/api/v1/readings", _readings_body(), content_type=f"application/json; charset={charset}"
    )
    assert response.status_code == 200, response.content
    telegram = make_telegram("240301111500W").encode("ascii")
    response = alice_api.generic("POST", "/api/v1/telegrams", telegram, content_type=f"text/plain; charset={charset}")
    assert response.status_code == 200, response.content
    assert Reading.objects.count() == 2
