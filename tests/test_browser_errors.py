"""The 404 page and the favicon in Debian chromium."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser import LiveServer, screenshot

pytestmark = pytest.mark.browser


def test_a_mistyped_address_shows_a_page_that_searches(
    browser_page: Any, live_server: LiveServer
) -> None:
    page = browser_page
    answer = page.goto("/trendin")
    assert answer is not None and answer.status == 404
    page.get_by_role("heading", name="Page not found").wait_for()
    screenshot(page, "error-404")
    page.get_by_label("Search the papers instead").fill("attention")
    page.get_by_label("Search the papers instead").press("Enter")
    page.wait_for_url("**/search?q=attention")
    # The page's own 404 is the one console error (no blocked script or style).
    assert [e for e in page.console_errors if "status of 404" not in e] == []


def test_the_browser_finds_the_favicon(browser_page: Any, live_server: LiveServer) -> None:
    page = browser_page
    page.goto("/")
    href = page.locator("link[rel=icon]").get_attribute("href")
    icon = page.request.get(f"{live_server.url}{href}")
    assert icon.status == 200 and icon.headers["content-type"] == "image/svg+xml"
    ico = page.request.get(f"{live_server.url}/favicon.ico")
    assert ico.status == 200 and ico.headers["content-type"] == "image/x-icon"
    # The icon decodes as an image in the browser.
    page.goto("/favicon.ico")
    width = page.evaluate("() => document.images[0] && document.images[0].naturalWidth")
    assert width and width > 0
