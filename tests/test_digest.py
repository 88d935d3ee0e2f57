"""Digests end to end against a real SMTP server (aiosmtpd on 127.0.0.1):
double opt-in, the email itself, one-click unsubscribe, SMTP failures,
dropped connections and a sender killed mid-send."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from datetime import date
from email.message import EmailMessage, Message
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from paperfeed import jobs
from paperfeed.app import Paperfeed
from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import digests as digest_store
from paperfeed.db.papers import upsert_papers
from paperfeed.digest import runner, tokens
from paperfeed.digest import subscriptions as subs
from tests.helpers import make_paper
from tests.smtp_server import SMTPServer
from tests.workers import wait_for

MONDAY = date(2025, 6, 2)
TUESDAY = date(2025, 6, 3)
BASE = "https://papers.example.org"


@pytest.fixture
def mail_settings(settings: Settings, smtp_server: SMTPServer) -> Settings:
    settings.base_url = BASE
    settings.smtp_retry_base_seconds = 0.0  # retries without waiting
    return settings


def seed_papers(db: Database, day: date = MONDAY, count: int = 6, prefix: str = "2506.0") -> None:
    papers = [
        make_paper(
            f"{prefix}{i:04d}",
            title=f"Paper {i} on {day.isoformat()}",
            listing_date=day,
            upvotes=100 - i,
            categories=["cs.CL" if i % 2 else "cs.LG"],
        )
        for i in range(count)
    ]
    # A hostile title: must arrive escaped in HTML and intact in text.
    papers.append(
        make_paper(
            f"{prefix}9999",
            title='<script>alert("x")</script> & friends',
            listing_date=day,
            upvotes=1000,
        )
    )
    with db.begin() as conn:
        upsert_papers(conn, papers)


def confirmed(settings: Settings, db: Database, email: str, **prefs: object) -> dict:
    """A confirmed subscription, confirmed through the real token path."""
    sub = subs.subscribe(settings, db, email, preferences=dict(prefs), send=False)
    with db.connect() as conn:
        nonce = digest_store.get_subscription(conn, sub["id"])["confirm_nonce"]
    token = tokens.make(settings, tokens.CONFIRM, [sub["id"], nonce])
    return subs.confirm(settings, db, token)


def html_part(message: Message) -> str:
    assert isinstance(message, EmailMessage)
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def text_part(message: Message) -> str:
    assert isinstance(message, EmailMessage)
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.extend(v for k, v in attrs if k == "href" and v)


def hrefs(html: str) -> list[str]:
    parser = Links()
    parser.feed(html)
    return parser.hrefs


def path_of(url: str) -> str:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == BASE, url
    return parts.path


# ---------------------------------------------------------------- the whole path


def test_subscribe_confirm_digest_one_click_unsubscribe(
    mail_settings: Settings, db: Database, client: TestClient, smtp_server: SMTPServer
) -> None:
    seed_papers(db, MONDAY)
    seed_papers(db, TUESDAY, prefix="2506.1")
    inbox = smtp_server.inbox

    response = client.post("/api/digest/subscribe", json={"email": "Ada@Example.org"})
    assert response.status_code == 202
    [confirmation] = inbox.to("ada@example.org")
    assert "Confirm" in str(confirmation["Subject"])
    [confirm_url] = re.findall(r"https://\S+/digest/confirm/\S+", text_part(confirmation))
    assert confirm_url in hrefs(html_part(confirmation))

    # Nothing is sent before the address is confirmed.
    report = runner.run(mail_settings, db, periods=[MONDAY.isoformat()], personal=None)
    assert report.sent == 0 and len(inbox.to("ada@example.org")) == 1

    # GET only shows a button (link scanners must not confirm); POST confirms, once.
    assert client.get(path_of(confirm_url)).status_code == 200
    with db.connect() as conn:
        assert (
            digest_store.get_subscription_by_email(conn, "ada@example.org")["confirmed_at"] is None
        )
    assert client.post(path_of(confirm_url)).status_code == 200
    again = client.post(path_of(confirm_url))
    assert again.status_code == 400 and "already used" in again.text

    report = runner.run(mail_settings, db, periods=[MONDAY.isoformat()], personal=None)
    assert report.sent == 1
    [_, digest] = inbox.to("ada@example.org")

    # Headers: RFC 8058 one-click, with an https URL and a mailto.
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe_urls = re.findall(r"<([^>]+)>", str(digest["List-Unsubscribe"]))
    https_url = next(u for u in unsubscribe_urls if u.startswith("https://"))
    assert any(u.startswith("mailto:") for u in unsubscribe_urls)
    with db.connect() as conn:
        log = digest_store.logs(conn)[0]
    assert digest["Message-ID"] == log["message_id"] and log["status"] == "sent"

    # Body: every paper of the day links to its page; the hostile title is escaped.
    html, text = html_part(digest), text_part(digest)
    links = hrefs(html)
    for i in range(6):
        assert f"{BASE}/papers/2506.0{i:04d}" in links
        assert f"{BASE}/papers/2506.0{i:04d}" in text
    assert not any("2506.1" in link for link in links)  # Tuesday's papers wait
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert '<script>alert("x")</script> & friends' in text

    # "View in browser" shows the same digest.
    view = next(link for link in links if "/digest/view/" in link)
    page = client.get(path_of(view))
    assert page.status_code == 200 and "Paper 3 on 2025-06-02" in page.text

    # One click: a POST with no cookie and no CSRF token, as a mail client sends it.
    client.cookies.clear()
    response = client.post(
        path_of(https_url),
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    with db.connect() as conn:
        sub = digest_store.get_subscription_by_email(conn, "ada@example.org")
    assert sub["unsubscribed_at"] is not None
    assert client.post(path_of(https_url)).status_code == 200  # idempotent

    report = runner.run(mail_settings, db, periods=[TUESDAY.isoformat()], personal=None)
    assert report.sent == 0 and len(inbox.to("ada@example.org")) == 2


def test_tokens_are_bound_to_their_purpose(
    mail_settings: Settings, db: Database, client: TestClient
) -> None:
    sub = confirmed(mail_settings, db, "bob@example.org")
    unsub = tokens.make(mail_settings, tokens.UNSUBSCRIBE, sub["id"])
    assert client.post(f"/digest/confirm/{unsub}").status_code == 400
    assert client.get(f"/digest/manage/{unsub}").status_code == 400
    assert client.post(f"/unsubscribe/{unsub[:-2]}xx").status_code == 400
    with db.connect() as conn:
        assert digest_store.get_subscription(conn, sub["id"])["unsubscribed_at"] is None


def test_settings_page_edits_preferences(
    mail_settings: Settings, db: Database, client: TestClient
) -> None:
    sub = confirmed(mail_settings, db, "cy@example.org")
    manage = tokens.make(mail_settings, tokens.MANAGE, sub["id"])
    page = client.get(f"/digest/manage/{manage}")
    assert page.status_code == 200 and "cy@example.org" in page.text
    saved = client.post(
        f"/digest/manage/{manage}",
        data={
            "frequency": "weekly",
            "trending_count": "3",
            "personal_count": "0",
            "search_count": "2",
            "categories": "cs.CL, cs.LG",
            "keywords": "",
        },
    )
    assert saved.status_code == 200
    api = client.get(f"/api/digest/subscription/{manage}").json()
    assert api["frequency"] == "weekly" and api["trending_count"] == 3
    assert api["topics"] == {"categories": ["cs.CL", "cs.LG"], "keywords": []}
    assert api["include_saved_searches"] is False
    bad = client.put(f"/api/digest/subscription/{manage}", json={"trending_count": 999})
    assert bad.status_code == 422 and "trending_count" in bad.json()["detail"]


def test_bad_addresses_are_refused(client: TestClient) -> None:
    for email in ["", "no-at-sign", "a@b", "x@example.org\r\nBcc: y@example.org"]:
        response = client.post("/api/digest/subscribe", json={"email": email})
        assert response.status_code == 422, email


def test_topics_filter_and_each_paper_sent_once(
    mail_settings: Settings, db: Database, smtp_server: SMTPServer
) -> None:
    seed_papers(db, MONDAY)
    sub = confirmed(
        mail_settings, db, "dee@example.org", topics={"categories": ["cs.CL"], "keywords": []}
    )
    runner.run(mail_settings, db, periods=[MONDAY.isoformat()], personal=None)
    [daily] = smtp_server.inbox.to("dee@example.org")
    daily_ids = set(re.findall(r"/papers/(\d{4}\.\d{5})", text_part(daily)))
    assert daily_ids == {"2506.00001", "2506.00003", "2506.00005"}  # cs.CL only

    # The same week as a weekly digest: what was sent on Monday is not sent again.
    subs.update_preferences(db, sub["id"], {"frequency": "weekly", "topics": {}})
    runner.run(mail_settings, db, periods=["2025-W23"], personal=None)
    [_, weekly] = smtp_server.inbox.to("dee@example.org")
    weekly_ids = set(re.findall(r"/papers/(\d{4}\.\d{5})", text_part(weekly)))
    assert weekly_ids and not weekly_ids & daily_ids


# ---------------------------------------------------------------- SMTP failures


def test_transient_421_and_451_are_retried_and_delivered_once(
    mail_settings: Settings, db: Database, smtp_server: SMTPServer
) -> None:
    seed_papers(db)
    for name in ("ann", "ben", "cat"):
        confirmed(mail_settings, db, f"{name}@example.org")
    smtp_server.inbox.scripted_failures = ["421 4.7.0 Try again later", "451 4.3.0 Busy"]
    report = runner.run(mail_settings, db, periods=[MONDAY.isoformat()], personal=None)
    assert report.sent == 3 and report.deferred == 0
    assert smtp_server.inbox.count_by_recipient() == {
        "ann@example.org": 1,
        "ben@example.org": 1,
        "cat@example.org": 1,
    }
    with db.connect() as conn:
        logs = digest_store.logs(conn)
    # ann hit 421 (smtplib closes; we reconnect) and then 451: three tries, one email.
    assert [row["status"] for row in logs] == ["sent"] * 3
    assert smtp_server.inbox.connections == 2
    # Attempts are counted per run, not per SMTP try: one run, one attempt each.
    assert [row["attempts"] for row in logs] == [1, 1, 1]


def test_permanent_550_suppresses_and_is_not_retried(
    mail_settings: Settings, db: Database, smtp_server: SMTPServer
) -> None:
    seed_papers(db, MONDAY)
    seed_papers(db, TUESDAY, prefix="2506.1")
    confirmed(mail_settings, db, "ok@example.org")
    gone = confirmed(mail_settings, db, "gone@example.org")
    smtp_server.inbox.refused_recipients["gone@example.org"] = "550 5.1.1 No such user here"
    report = runner.run(mail_settings, db, periods=[MONDAY.isoformat()], personal=None)
    assert report.sent == 1 and report.failed == 1
    with db.connect() as conn:
        sub = digest_store.get_subscription(conn, gone["id"])
        log = digest_store.get_log(conn, gone["id"], MONDAY.isoformat())
    assert sub["suppressed_at"] is not None and "550 5.1.1 No such user" in sub["suppressed_reason"]
    assert log["status"] == "failed" and "550" in log["last_error"]

    data_before = smtp_server.inbox.data_commands
    report = runner.run(
        mail_settings, db, periods=[MONDAY.isoformat(), TUESDAY.isoformat()], personal=None
    )
    assert report.sent == 1 and report.failed == 0  # only ok@ for Tuesday
    assert smtp_server.inbox.data_commands == data_before + 1
    assert smtp_server.inbox.to("gone@example.org") == []


def test_dropped_connection_then_rerun_sends_each_reader_one_email(
    mail_settings: Settings, db: Database, smtp_server: SMTPServer
) -> None:
    seed_papers(db)
    emails = [f"reader{i}@example.org" for i in range(6)]
    for address in emails:
        confirmed(mail_settings, db, address)
    # One try per message, so the drops leave digests pending for the re-run.
    mail_settings.smtp_retry_attempts = 1
    smtp_server.inbox.drop_at = {2, 5}
    first = runner.run(mail_settings, db, periods=[MONDAY.isoformat()], personal=None)
    assert first.sent == 4 and first.deferred == 2
    second = runner.run(mail_settings, db, periods=[MONDAY.isoformat()], personal=None)
    assert second.sent == 2 and second.claimed == 0
    third = runner.run(mail_settings, db, periods=[MONDAY.isoformat()], personal=None)
    assert third.sent == 0
    assert smtp_server.inbox.count_by_recipient() == dict.fromkeys(emails, 1)


def test_dropped_connection_is_retried_on_a_new_connection(
    mail_settings: Settings, db: Database, smtp_server: SMTPServer
) -> None:
    seed_papers(db)
    emails = [f"reader{i}@example.org" for i in range(4)]
    for address in emails:
        confirmed(mail_settings, db, address)
    smtp_server.inbox.drop_at = {3}
    report = runner.run(mail_settings, db, periods=[MONDAY.isoformat()], personal=None)
    assert report.sent == 4
    assert smtp_server.inbox.connections == 2
    assert smtp_server.inbox.count_by_recipient() == dict.fromkeys(emails, 1)


def test_second_sender_is_refused_while_one_runs(mail_settings: Settings, db: Database) -> None:
    seed_papers(db)
    confirmed(mail_settings, db, "eve@example.org")
    with db.begin() as conn:  # a live holder: this very process, another run
        assert digest_store.acquire_lock(
            conn, f"{os.uname().nodename}:{os.getpid()}:other", runner.LEASE
        )
    with pytest.raises(runner.SenderBusy):
        runner.run(mail_settings, db, periods=[MONDAY.isoformat()], personal=None)
    with db.connect() as conn:
        assert digest_store.logs(conn) == []


def test_lock_of_a_dead_process_is_taken_over(
    mail_settings: Settings, db: Database, smtp_server: SMTPServer
) -> None:
    seed_papers(db)
    confirmed(mail_settings, db, "fay@example.org")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    with db.begin() as conn:
        owner = f"{os.uname().nodename}:{dead.stdout.strip()}:gone"
        assert digest_store.acquire_lock(conn, owner, runner.LEASE)
    report = runner.run(mail_settings, db, periods=[MONDAY.isoformat()], personal=None)
    assert report.sent == 1


# ---------------------------------------------------------------- a killed sender


def test_sender_killed_mid_send_then_rerun_no_duplicates_none_missing(
    mail_settings: Settings, db: Database, smtp_server: SMTPServer
) -> None:
    seed_papers(db)
    emails = [f"reader{i}@example.org" for i in range(8)]
    for address in emails:
        confirmed(mail_settings, db, address)
    inbox = smtp_server.inbox
    inbox.hold_at = 4  # the 4th message: the server has it, unanswered, when we kill
    env = dict(
        os.environ,
        PAPERFEED_DATABASE_URL=mail_settings.database_url_resolved,
        PAPERFEED_DATA_DIR=str(mail_settings.data_dir),
        PAPERFEED_SECRET_KEY=mail_settings.secret_key,
        PAPERFEED_BASE_URL=BASE,
        PAPERFEED_SMTP_HOST="127.0.0.1",
        PAPERFEED_SMTP_PORT=str(smtp_server.port),
        PAPERFEED_SMTP_RETRY_BASE_SECONDS="0",
        PAPERFEED_CONFIG=str(mail_settings.data_dir / "absent.toml"),
    )
    command = [sys.executable, "-c", "from paperfeed.cli import main; main()"]
    sender = subprocess.Popen(
        [*command, "digest", "send", "--period", MONDAY.isoformat()],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert inbox.held.wait(timeout=600), "the sender never reached the 4th message"
        sender.send_signal(signal.SIGKILL)
        sender.wait()
    finally:
        if sender.poll() is None:
            sender.kill()
            sender.wait()
        inbox.release.set()  # the held message is refused: its client is gone
    assert sender.returncode == -signal.SIGKILL
    assert len(inbox.messages) == 3
    with db.connect() as conn:
        logs = digest_store.logs(conn)
    assert len(logs) == 8  # all claimed before sending began
    assert sorted(r["status"] for r in logs) == ["pending"] * 5 + ["sent"] * 3

    inbox.hold_at = None
    rerun = subprocess.run(
        [*command, "digest", "send", "--period", MONDAY.isoformat()],
        env=env,
        capture_output=True,
        text=True,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert "5 sent" in rerun.stdout and "1 resent after a crash" in rerun.stdout
    assert inbox.count_by_recipient() == dict.fromkeys(emails, 1)
    with db.connect() as conn:
        assert {r["status"] for r in digest_store.logs(conn)} == {"sent"}


# ---------------------------------------------------------------- embedded mode


def _serve_digest_scheduler(settings: Settings, db: Database) -> jobs.Scheduler:
    """The digest entry of ``paperfeed serve``'s background jobs, on its own."""
    entries = [e for e in jobs.background_jobs(Paperfeed(settings, db)) if e.name == "digest"]
    assert [e.every_seconds for e in entries] == [settings.digest_check_interval_seconds]
    return jobs.Scheduler(Paperfeed(settings, db), entries)


def test_two_servers_send_each_digest_once(
    mail_settings: Settings, db: Database, smtp_server: SMTPServer
) -> None:
    from datetime import UTC, datetime

    from paperfeed.digest.schedule import current_period

    today = current_period("daily", datetime.now(UTC).date()).start
    seed_papers(db, today, prefix="2611.0")
    emails = [f"sched{i}@example.org" for i in range(5)]
    for address in emails:
        confirmed(mail_settings, db, address)
    config = mail_settings.model_copy(
        update={"digest_scheduler": True, "digest_check_interval_seconds": 3600.0}
    )
    # Two servers on the same database, as two `paperfeed serve` processes would be.
    databases = [Database(config.database_url_resolved) for _ in range(2)]
    schedulers = [_serve_digest_scheduler(config, database) for database in databases]
    try:
        for scheduler in schedulers:
            scheduler.start()  # each runs its digest entry at once
        for scheduler in schedulers:
            wait_for(lambda s=scheduler: s.status["digest"].runs >= 1, what="a digest run")
        # Later runs of either (as the interval passes) find nothing left to send.
        for scheduler in schedulers:
            scheduler.wake("digest")
        for scheduler in schedulers:
            wait_for(lambda s=scheduler: s.status["digest"].runs >= 2, what="another run")
    finally:
        for scheduler in schedulers:
            scheduler.stop()
        for database in databases:
            database.dispose()
    assert [s.status["digest"].failures for s in schedulers] == [0, 0]
    assert smtp_server.inbox.count_by_recipient() == dict.fromkeys(emails, 1)


def test_serve_skips_its_run_while_another_sender_holds_the_lease(
    mail_settings: Settings, db: Database, smtp_server: SMTPServer
) -> None:
    from datetime import UTC, datetime

    from paperfeed.digest.schedule import current_period

    seed_papers(db, current_period("daily", datetime.now(UTC).date()).start, prefix="2612.0")
    confirmed(mail_settings, db, "busy@example.org")
    other = f"{os.uname().nodename}:{os.getpid()}:cron"  # a live holder: a cron run, say
    with db.begin() as conn:
        assert digest_store.acquire_lock(conn, other, runner.LEASE)
    # A queued digest job (scale mode, `paperfeed jobs run digest`) fails, to be retried.
    with pytest.raises(runner.SenderBusy):
        jobs.execute(Paperfeed(mail_settings, db), jobs.JobSpec("digest"))
    mail_settings.digest_scheduler = True
    scheduler = _serve_digest_scheduler(mail_settings, db)
    status = scheduler.status["digest"]
    scheduler.start()
    try:
        wait_for(lambda: status.runs >= 1, what="the skipped run")
        assert status.failures == 0 and status.last_result is not None
        assert "skipped" in status.last_result and smtp_server.inbox.messages == []
        with db.begin() as conn:
            digest_store.release_lock(conn, other)
        scheduler.wake("digest")
        wait_for(lambda: status.runs >= 2, what="the run after the lease was freed")
    finally:
        scheduler.stop()
    assert status.last_result["sent"] == 1 and status.failures == 0
    assert smtp_server.inbox.count_by_recipient() == {"busy@example.org": 1}


def test_signed_in_reader_subscribes_from_the_account_with_csrf(
    settings: Settings, db: Database, client: TestClient
) -> None:
    from tests.readers_helpers import csrf_from, sign_in

    reader = sign_in(client, settings, db, "gil@example.org")
    page = client.get("/digest/settings")
    assert page.status_code == 200
    forged = client.post("/digest/settings", data={"frequency": "weekly"})
    assert forged.status_code == 403
    with db.connect() as conn:
        assert digest_store.get_subscription_by_email(conn, "gil@example.org") is None
    done = client.post(
        "/digest/settings",
        data={"frequency": "weekly", "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    with db.connect() as conn:
        sub = digest_store.get_subscription_by_email(conn, "gil@example.org")
    assert sub["reader_id"] == reader.id and digest_store.is_active(sub)
    assert sub["frequency"] == "weekly"
    manage = client.get("/digest/settings", follow_redirects=False)
    assert manage.status_code == 303 and manage.headers["location"].startswith("/digest/manage/")


def test_anonymous_subscribe_form_needs_its_csrf_token(
    settings: Settings, db: Database, smtp_server: SMTPServer, client: TestClient
) -> None:
    from tests.readers_helpers import csrf_from

    inbox = smtp_server.inbox
    page = client.get("/digest")
    assert page.status_code == 200
    token = csrf_from(page.text)
    # A cross-site post carries the visitor's cookie but cannot read the token.
    for forged in ({}, {"csrf_token": ""}, {"csrf_token": token[:-2] + "xx"}):
        response = client.post("/digest/subscribe", data={"email": "eve@example.org", **forged})
        assert response.status_code == 403 and "Nothing was changed" in response.text
    # A token from another visitor's session does not fit this one.
    with TestClient(client.app) as other:
        theirs = csrf_from(other.get("/digest").text)
    response = client.post(
        "/digest/subscribe", data={"email": "eve@example.org", "csrf_token": theirs}
    )
    assert response.status_code == 403
    with db.connect() as conn:
        assert digest_store.get_subscription_by_email(conn, "eve@example.org") is None
    assert inbox.messages == []

    # With the token: the same answer for a new address and a subscribed one.
    answers = []
    for email in ("eve@example.org", "eve@example.org", "Eve@Example.org"):
        response = client.post(
            "/digest/subscribe", data={"email": email, "frequency": "weekly", "csrf_token": token}
        )
        assert response.status_code == 200
        answers.append(response.text)
    assert answers[0] == answers[1] == answers[2] and "Check your inbox" in answers[0]
    # Not yet confirmed: each request mails a fresh link (the latest one works).
    assert len(inbox.to("eve@example.org")) == 3
    with db.connect() as conn:
        sub = digest_store.get_subscription_by_email(conn, "eve@example.org")
    assert sub["frequency"] == "weekly" and sub["confirmed_at"] is None


def test_subscribe_requests_are_rate_limited_and_mail_failures_named(
    settings: Settings, db: Database, smtp_server: SMTPServer, client: TestClient
) -> None:
    from tests.readers_helpers import csrf_from
    from tests.smtp_server import free_port

    settings.signin_limit_per_address = 2
    token = csrf_from(client.get("/digest").text)

    def form(email: str) -> int:
        data = {"email": email, "csrf_token": token}
        return client.post("/digest/subscribe", data=data).status_code

    assert [form("flood@example.org") for _ in range(3)] == [200, 200, 429]
    api = client.post("/api/digest/subscribe", json={"email": "FLOOD@example.org"})
    assert api.status_code == 429 and "Too many subscription requests" in api.json()["detail"]
    assert int(api.headers["Retry-After"]) > 0
    assert len(smtp_server.inbox.to("flood@example.org")) == 2
    assert form("other@example.org") == 200  # per address (the IP limit is higher)
    # Sign-in links keep their own count.
    assert (
        client.post(
            "/signin",
            data={"email": "flood@example.org", "csrf_token": token},
            follow_redirects=False,
        ).status_code
        == 303
    )

    settings.smtp_port = free_port()  # nothing listens there now
    down = client.post("/digest/subscribe", data={"email": "new@example.org", "csrf_token": token})
    assert down.status_code == 503 and "could not be sent right now" in down.text
    api = client.post("/api/digest/subscribe", json={"email": "new2@example.org"})
    assert api.status_code == 503


def test_subscribing_a_subscribed_address_looks_the_same_and_changes_nothing(
    settings: Settings, db: Database, smtp_server: SMTPServer, client: TestClient
) -> None:
    from tests.readers_helpers import csrf_from
    from tests.smtp_server import free_port

    confirmed(settings, db, "kim@example.org", frequency="daily")
    token = csrf_from(client.get("/digest").text)

    def ask(email: str) -> tuple[int, str]:
        data = {"email": email, "frequency": "weekly", "csrf_token": token}
        response = client.post("/digest/subscribe", data=data)
        return response.status_code, response.text

    assert ask("kim@example.org") == ask("new@example.org")
    [note] = smtp_server.inbox.to("kim@example.org")
    assert "already" in str(note["Subject"])
    [manage] = re.findall(r"http://\S+(/digest/manage/\S+)", note.get_content())
    assert client.get(manage).status_code == 200
    with db.connect() as conn:
        sub = digest_store.get_subscription_by_email(conn, "kim@example.org")
    assert sub["frequency"] == "daily" and digest_store.is_active(sub)  # untouched
    # With the mail server down, both get the same error too.
    settings.smtp_port = free_port()
    assert ask("kim@example.org")[0] == ask("new2@example.org")[0] == 503


SEARCH_PAPERS = [
    # (id, day, title, abstract, categories)
    ("2506.20001", MONDAY, "Graph neural networks for molecules", "We train models.", ["cs.LG"]),
    ("2506.20002", MONDAY, "Neural ranking over a citation graph", "Graph and neural.", ["cs.IR"]),
    ("2506.20003", MONDAY, "Transformer parsing", "A transformer for syntax.", ["cs.CL"]),
    ("2506.20004", MONDAY, "Transformer vision", "A transformer for images.", ["cs.CV"]),
    ("2506.20005", MONDAY, "Diffusion for text", "Diffusion language models.", ["cs.CL"]),
    ("2506.20006", MONDAY, "Diffusion for pictures", "Diffusion on image data.", ["cs.CV"]),
    ("2506.20007", TUESDAY, "Graph neural networks, day two", "Tuesday's graph paper.", ["cs.LG"]),
    ("2506.20008", TUESDAY, "Transformer parsing again", "Another transformer.", ["cs.CL"]),
]
# In this order: a paper appears once per digest, under the first search it matches.
SAVED_QUERIES = {
    "exclusion": "diffusion -image",
    "phrase": '"graph neural"',
    "category": "cat:cs.CL transformer",
}


def test_saved_search_section_is_the_sites_search_limited_to_the_period(
    mail_settings: Settings, db: Database, smtp_server: SMTPServer
) -> None:
    from paperfeed import readers as core
    from paperfeed.index.backends import open_indexes
    from paperfeed.ingest import pipeline
    from paperfeed.search import SearchRequest, search

    pipeline.ingest(
        db,
        [
            make_paper(pid, title=title, abstract=abstract, categories=cats, listing_date=day)
            for pid, day, title, abstract, cats in SEARCH_PAPERS
        ],
    )
    reader = core.grant_role(db, "sam@example.org", "reader")
    for name, query in SAVED_QUERIES.items():
        core.create_saved_search(db, reader, name, query)
    subs.subscribe_reader(db, reader.id, reader.email, {"trending_count": 0})

    report = runner.run(mail_settings, db, periods=[MONDAY.isoformat()], personal=None)
    assert report.sent == 1
    with db.connect() as conn:
        [log] = digest_store.logs(conn)
    sections = {
        s["title"].split("\u201c")[1].rstrip("\u201d"): [i["id"] for i in s["items"]]
        for s in log["content"]["sections"]
    }
    # What the search page finds for the same query and days, in the same
    # order, less the papers an earlier section of the digest already holds.
    taken: set[str] = set()
    for name, query in SAVED_QUERIES.items():
        wanted = SearchRequest(query=query, since=MONDAY, until=MONDAY)
        hits = search(open_indexes(mail_settings, db), wanted).hits
        found = [h.id for h in hits if h.id not in taken]
        assert sections[name] == found, name
        taken.update(found)
    # And what that means: an exclusion excludes, a phrase is a phrase (not
    # both words anywhere), a category is required while bare words only rank
    # (2506.20005 is cs.CL too, but already listed), and Tuesday's papers wait.
    assert sections == {
        "exclusion": ["2506.20005"],
        "phrase": ["2506.20001"],
        "category": ["2506.20003"],
    }
    [message] = smtp_server.inbox.to("sam@example.org")
    assert "Graph neural networks for molecules" in text_part(message)


# ---------------------------------------------------------------- CLI


def test_cli_preview_and_dry_run_send_nothing(
    cli_env: Settings, db: Database, smtp_server: SMTPServer, tmp_path
) -> None:
    from typer.testing import CliRunner

    from paperfeed.cli import app

    seed_papers(db)
    confirmed(cli_env, db, "hal@example.org", trending_count=3)
    out = tmp_path / "preview.html"
    cli = CliRunner()
    result = cli.invoke(
        app,
        ["digest", "preview", "hal@example.org", "--period", MONDAY.isoformat(), "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert len(re.findall(r'href="[^"]+/papers/2506\.0\d{4}"', html)) == 3
    assert "&lt;script&gt;" in html  # the most upvoted, hostile title, escaped

    dry = cli.invoke(app, ["digest", "send", "--period", MONDAY.isoformat(), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "hal@example.org: 3 papers" in dry.stdout
    with db.connect() as conn:
        assert digest_store.logs(conn) == []
    assert smtp_server.inbox.messages == []

    bad = cli.invoke(app, ["digest", "send", "--period", "2025-06-07"])  # a Saturday
    assert bad.exit_code == 2 and "weekend" in bad.output
    missing = cli.invoke(app, ["digest", "preview", "nobody@example.org"])
    assert missing.exit_code == 1 and "no subscription" in missing.output
