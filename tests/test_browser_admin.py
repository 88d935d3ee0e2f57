"""The admins' roles page in Debian chromium against a live server: an admin
grants the curator role, sees it in the list and the audit trail, revokes it."""

from __future__ import annotations

from typing import Any

import pytest

from paperfeed import readers as core
from paperfeed.db import Database
from tests.browser import screenshot
from tests.smtp_server import SMTPServer
from tests.test_browser_readers import sign_in_by_email

pytestmark = pytest.mark.browser


def test_admin_grants_and_revokes_a_role(browser_page: Any, db: Database, smtp_server: SMTPServer):
    page = browser_page
    core.grant_role(db, "boss@example.org", "admin")
    sign_in_by_email(page, smtp_server, "boss@example.org")
    page.get_by_role("link", name="Roles", exact=True).click()
    page.get_by_role("heading", name="Roles", exact=True).wait_for()
    page.get_by_label("Email address").fill("ed@example.org")
    page.get_by_label("Role", exact=True).select_option("curator")
    page.get_by_role("button", name="Grant").click()
    page.get_by_role("status").filter(has_text="ed@example.org is now curator.").wait_for()
    row = page.locator("tr", has_text="ed@example.org")
    assert "curator" in row.inner_text()
    assert (
        "ed@example.org (new account) → curator, by boss@example.org"
        in page.locator(".role-log").inner_text()
    )
    screenshot(page, "admin-roles")
    row.get_by_role("button", name="Revoke curator from ed@example.org").click()
    page.get_by_role("status").filter(has_text="ed@example.org is now reader.").wait_for()
    assert page.locator("tr", has_text="ed@example.org").count() == 0
    assert {r.email: r.role for r in core.list_readers(db)}["ed@example.org"] == "reader"
    assert page.dialogs == []
    assert [e for e in page.console_errors if "Content Security Policy" in e] == []
