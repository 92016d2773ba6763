"""Internal links are written as URL names, never as literal paths; the main nav still marks the current page."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.shortcuts import resolve_url
from social_django.utils import load_strategy

from tests.meters.series_truth import SLOT, build, epoch

ROOT = Path(__file__).resolve().parents[2]

# A link, form target or source that starts with one "/": a path on this site. "//host/..." is another site's, and
# {% static %} / {% url %} output is not in the template's text, so neither matches.
LITERAL_PATH = re.compile(r"""\b(?:href|action|src)\s*=\s*["']/(?!/)""", re.IGNORECASE)

# The main nav's links, with the aria-current they carry.
MAIN_NAV = re.compile(r'<nav\b[^>]*aria-label="Main"[^>]*>(.*?)</nav>', re.DOTALL)
NAV_LINK = re.compile(r"<a\b([^>]*)>\s*([^<]*?)\s*</a>")


def _templates() -> list[Path]:
    return sorted(path for path in ROOT.glob("*/templates/**/*") if path.is_file())


def test_it_writes_no_literal_internal_path_in_templates():
    templates = _templates()
    assert any(path.name == "base.html" for path in templates), f"no templates found under {ROOT}/*/templates/"
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in templates
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if LITERAL_PATH.search(line)
    ]
    assert not offenders, "literal internal paths; write {% url 'app:name' %} instead:\n" + "\n".join(offenders)


NOW = datetime(2024, 6, 11, 10, 7, tzinfo=UTC)


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(("path", "label"), [("/day/", "Day"), ("/week/", "Week")])
def test_it_marks_the_current_page_in_the_main_nav(alice_client, alice_meter, path, label):
    slot = datetime.fromtimestamp(epoch(NOW) // SLOT * SLOT, tz=UTC)
    build(alice_meter, slot, slot)  # one reading, so the dashboards render instead of sending to /serialNumbers/

    response = alice_client.get(path)

    assert response.status_code == 200
    nav = MAIN_NAV.search(response.content.decode())
    assert nav, "no main nav on the page"
    links = {text: attrs for attrs, text in NAV_LINK.findall(nav[1])}
    assert f'href="{path}"' in links[label]
    current = [text for text, attrs in links.items() if 'aria-current="page"' in attrs]
    assert current == [label]


def test_it_resolves_the_login_settings_names_to_the_prototype_paths(rf):
    request = rf.get("/")
    request.session = {}
    strategy = load_strategy(request)  # social-auth reads them through its strategy, which resolves *_URL names

    assert resolve_url(settings.LOGIN_URL) == "/login/"
    # The prototype's root, which goes on to /day/ (or /now/ while a meter sends live power).
    assert resolve_url(settings.LOGIN_REDIRECT_URL) == "/"
    assert resolve_url(settings.LOGOUT_REDIRECT_URL) == "/login/"
    assert strategy.setting("LOGIN_ERROR_URL") == "/login/"
