"""The admins' roles page: only admins see it or change roles, every form
needs the session's CSRF token, grant and revoke work (on both backends) and
each change leaves a row in the audit trail."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from paperfeed import readers as core
from paperfeed.cli import app as cli_app
from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db.tables import role_changes
from tests.readers_helpers import csrf_from, new_client, sign_in


def audit(db: Database) -> list[tuple[str, str | None, str, str]]:
    with db.connect() as conn:
        rows = conn.execute(select(role_changes).order_by(role_changes.c.id)).all()
    return [(r.email, r.old_role, r.new_role, r.changed_by) for r in rows]


def role_of(db: Database, email: str) -> str:
    return next(r.role for r in core.list_readers(db) if r.email == email)


def signed_in_admin(client: TestClient, settings: Settings, db: Database) -> core.Reader:
    core.grant_role(db, "root@example.org", "admin")  # as `paperfeed users grant` does
    return sign_in(client, settings, db, "root@example.org")


def test_only_admins_see_or_change_roles(client: TestClient, settings: Settings, db: Database):
    anonymous = client.get("/admin/roles", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/signin")
    sign_in(client, settings, db, "curator@example.org")
    core.grant_role(db, "curator@example.org", "curator")
    assert client.get("/admin/roles").status_code == 403
    assert "Roles" not in client.get("/").text.split("<main")[0]  # no nav link either
    token = csrf_from(client.get("/account").text)
    before = audit(db)
    response = client.post(
        "/admin/roles", data={"email": "friend@example.org", "role": "admin", "csrf_token": token}
    )
    assert response.status_code == 403
    me = core.list_readers(db)[0]
    response = client.post(f"/admin/roles/{me.id}", data={"role": "admin", "csrf_token": token})
    assert response.status_code == 403
    assert role_of(db, "curator@example.org") == "curator"
    assert "friend@example.org" not in {r.email for r in core.list_readers(db)}
    assert audit(db) == before


def test_forged_csrf_is_refused(client: TestClient, settings: Settings, db: Database):
    signed_in_admin(client, settings, db)
    core.grant_role(db, "ed@example.org", "curator")
    ed = next(r for r in core.list_readers(db) if r.email == "ed@example.org")
    token = csrf_from(client.get("/admin/roles").text)
    other_session = csrf_from(new_client(client).get("/signin").text)
    before = audit(db)
    for forged in ({}, {"csrf_token": "x" * 43}, {"csrf_token": other_session}):
        grant = client.post(
            "/admin/roles", data={"email": "mal@example.org", "role": "admin"} | forged
        )
        assert grant.status_code == 403 and "Nothing was changed" in grant.text
        revoke = client.post(f"/admin/roles/{ed.id}", data={"role": "reader"} | forged)
        assert revoke.status_code == 403
    assert role_of(db, "ed@example.org") == "curator"
    assert "mal@example.org" not in {r.email for r in core.list_readers(db)}
    assert audit(db) == before
    assert (
        client.post(
            f"/admin/roles/{ed.id}", data={"role": "reader", "csrf_token": token}
        ).status_code
        == 200
    )  # the real token still works (after the redirect)


def test_grant_and_revoke_from_the_page(client: TestClient, settings: Settings, db: Database):
    admin = signed_in_admin(client, settings, db)
    page = client.get("/admin/roles")
    assert page.status_code == 200
    token = csrf_from(page.text)
    # Grant curator to an address that never signed in: it gets an account.
    done = client.post(
        "/admin/roles",
        data={"email": "New.Curator@Example.org", "role": "curator", "csrf_token": token},
        follow_redirects=False,
    )
    assert done.status_code == 303
    page = client.get(done.headers["location"])
    assert "new.curator@example.org is now curator." in page.text
    assert role_of(db, "new.curator@example.org") == "curator"
    # The new curator signs in and curates; after the revoke, no longer.
    curator = new_client(client)
    target = sign_in(curator, settings, db, "new.curator@example.org")
    assert curator.get("/curation").status_code == 200
    assert (
        client.post(
            f"/admin/roles/{target.id}", data={"role": "admin", "csrf_token": token}
        ).status_code
        == 200
    )
    assert role_of(db, "new.curator@example.org") == "admin"
    assert curator.get("/admin/roles").status_code == 200  # takes effect at once
    assert (
        client.post(
            f"/admin/roles/{target.id}", data={"role": "reader", "csrf_token": token}
        ).status_code
        == 200
    )
    assert role_of(db, "new.curator@example.org") == "reader"
    assert curator.get("/curation").status_code == 403
    assert curator.get("/admin/roles").status_code == 403
    # The audit trail: the CLI's grant of the first admin, then the page's three.
    assert audit(db) == [
        ("root@example.org", None, "admin", core.CLI_ACTOR),
        ("new.curator@example.org", None, "curator", admin.email),
        ("new.curator@example.org", "curator", "admin", admin.email),
        ("new.curator@example.org", "admin", "reader", admin.email),
    ]
    page = client.get("/admin/roles").text
    assert "new.curator@example.org admin &rarr; reader, by root@example.org" in page.replace(
        "\u2192", "&rarr;"
    )


def test_bad_input_is_named_escaped_and_changes_nothing(
    client: TestClient, settings: Settings, db: Database
):
    admin = signed_in_admin(client, settings, db)
    token = csrf_from(client.get("/admin/roles").text)
    before = audit(db)
    bad = client.post(
        "/admin/roles",
        data={"email": "<script>alert(1)</script>", "role": "curator", "csrf_token": token},
    )
    assert bad.status_code == 400 and "not an email address" in bad.text
    assert "<script>alert(1)</script>" not in bad.text and "&lt;script&gt;" in bad.text
    bad = client.post(
        "/admin/roles", data={"email": "a@example.org", "role": "emperor", "csrf_token": token}
    )
    assert bad.status_code == 400 and "unknown role &#39;emperor&#39;" in bad.text
    own = client.post(f"/admin/roles/{admin.id}", data={"role": "reader", "csrf_token": token})
    assert own.status_code == 400 and "cannot change your own role" in own.text
    missing = client.post("/admin/roles/99999", data={"role": "curator", "csrf_token": token})
    assert missing.status_code == 404
    assert role_of(db, "root@example.org") == "admin"
    assert audit(db) == before


def test_cli_grant_is_audited(cli_env: Settings, db: Database):
    runner = CliRunner()
    assert runner.invoke(cli_app, ["users", "grant", "ann@example.org", "curator"]).exit_code == 0
    assert runner.invoke(cli_app, ["users", "grant", "ann@example.org", "curator"]).exit_code == 0
    assert runner.invoke(cli_app, ["users", "grant", "ann@example.org", "reader"]).exit_code == 0
    assert audit(db) == [
        ("ann@example.org", None, "curator", core.CLI_ACTOR),  # no row for a no-op
        ("ann@example.org", "curator", "reader", core.CLI_ACTOR),
    ]
