"""Pairing as a homeowner sees it, in Chromium: the code the Pi printed, the device it belongs to, approve, and the
Devices page with rename and revoke, by keyboard and at phone width.

DEVICE_SCREENSHOTS=/tmp saves device-code.png, device-approve.png and devices.png there (the closing note's).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from p1edge import wire

from meters import devices
from meters.models import Device
from tests.e2e.conftest import login, new_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _shot(page, name: str) -> None:
    folder = os.environ.get("DEVICE_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def test_a_homeowner_approves_a_pi_and_revokes_it_on_the_devices_page(
    browser, frozen_now, live_server, alice, password
):
    page = new_page(browser, frozen_now)
    login(page, live_server.url, "alice", password, landing="/serialNumbers/")
    code = devices.start_pairing("raspberrypi-kelder", "192.0.2.44")

    page.goto(f"{live_server.url}/device/")
    page.get_by_label("Code shown by the device").fill(code.user_code.lower().replace("-", ""))
    _shot(page, "device-code.png")
    page.keyboard.press("Enter")
    pairing = page.locator("[data-testid=pairing]")
    assert "raspberrypi-kelder" in pairing.inner_text()
    assert "192.0.2.44" in pairing.inner_text()
    assert code.user_code in pairing.inner_text()
    _shot(page, "device-approve.png")
    page.get_by_role("button", name="Approve this device").click()
    page.wait_for_url("**/devices/")

    token, device = devices.issue_token(wire.DEVICE_GRANT_TYPE, code.device_code)  # the Pi's next poll
    devices.authenticate(token, "192.0.2.44")
    page.reload()
    item = page.locator(f"[data-device='{device.pk}']")
    assert "raspberrypi-kelder" in item.inner_text()
    assert item.locator("[data-status=active]").count() == 1
    item.locator("summary").click()
    _shot(page, "devices.png")
    item.get_by_label("New name").fill("Kelder")
    item.get_by_role("button", name="Rename").click()
    assert "Kelder" in page.locator(f"[data-device='{device.pk}'] h3").inner_text()

    page.locator(f"[data-device='{device.pk}'] summary").click()
    page.locator(f"[data-device='{device.pk}']").get_by_role("button", name="Revoke").click()
    assert page.locator(f"[data-device='{device.pk}'] [data-status=revoked]").count() == 1
    assert Device.objects.get().revoked_at is not None
    with pytest.raises(devices.DeviceRevoked):
        devices.authenticate(token, "192.0.2.44")
    page.context.close()


def test_the_device_pages_fit_a_phone(browser, frozen_now, live_server, alice, password):
    page = new_page(browser, frozen_now, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    login(page, live_server.url, "alice", password, landing="/serialNumbers/")
    code = devices.start_pairing("a-pi-with-a-rather-long-hostname-for-a-phone", "2001:db8:1234:5678::44")

    for path in (f"/device/?user_code={code.user_code}", "/devices/"):
        page.goto(live_server.url + path)
        width = page.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
        assert width[0] <= width[1], f"{path} scrolls sideways: {width}"
    page.context.close()
