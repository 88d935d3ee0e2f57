"""The digest circuit breaker, against a real SMTP server (aiosmtpd) that
answers 451 to every recipient: the run stops after the configured number of
deferrals in a row, releases the sender lease, and a later run against a
healthy server sends every digest exactly once."""

from __future__ import annotations

import pytest

from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db import digests as digest_store
from paperfeed.digest import runner
from tests.smtp_server import SMTPServer
from tests.test_digest import MONDAY, confirmed, mail_settings, seed_papers  # noqa: F401

EMAILS = [f"reader{i}@example.org" for i in range(8)]


def test_a_server_refusing_everything_stops_the_run_and_a_later_run_sends_once(
    mail_settings: Settings,  # noqa: F811
    db: Database,
    smtp_server: SMTPServer,
) -> None:
    seed_papers(db)
    for address in EMAILS:
        confirmed(mail_settings, db, address)
    mail_settings.smtp_retry_attempts = 2
    mail_settings.digest_max_consecutive_deferrals = 3
    smtp_server.inbox.refused_recipients.update(
        dict.fromkeys(EMAILS, "451 4.3.0 Mailbox temporarily unavailable")
    )

    first = runner.run(mail_settings, db, periods=[MONDAY.isoformat()], personal=None)
    assert first.claimed == 8 and first.sent == 0
    assert first.deferred == 3
    assert "stopped after 3 digests in a row were deferred" in first.stopped
    assert "451 4.3.0 Mailbox temporarily unavailable" in first.stopped
    assert first.stopped in first.summary()
    with db.connect() as conn:
        assert digest_store.lock_holder(conn) is None  # the lease is released
        rows = digest_store.logs(conn)
    assert [r["status"] for r in rows] == ["pending"] * 8  # nothing lost
    assert [r["attempts"] for r in rows] == [1, 1, 1, 0, 0, 0, 0, 0]
    assert smtp_server.inbox.messages == []

    smtp_server.inbox.refused_recipients.clear()  # the server recovers
    second = runner.run(mail_settings, db, periods=[MONDAY.isoformat()], personal=None)
    assert second.sent == 8 and second.claimed == 0 and not second.stopped
    third = runner.run(mail_settings, db, periods=[MONDAY.isoformat()], personal=None)
    assert third.sent == 0
    assert smtp_server.inbox.count_by_recipient() == dict.fromkeys(EMAILS, 1)


@pytest.mark.parametrize("limit", [2, 0])
def test_deferrals_that_are_not_in_a_row_or_with_the_breaker_off_do_not_stop(
    mail_settings: Settings,  # noqa: F811
    db: Database,
    smtp_server: SMTPServer,
    limit: int,
) -> None:
    seed_papers(db)
    for address in EMAILS[:5]:
        confirmed(mail_settings, db, address)
    mail_settings.smtp_retry_attempts = 1
    mail_settings.digest_max_consecutive_deferrals = limit
    refused = [EMAILS[1], EMAILS[3]] if limit else EMAILS[:5]
    smtp_server.inbox.refused_recipients.update(dict.fromkeys(refused, "451 4.3.0 Busy"))
    report = runner.run(mail_settings, db, periods=[MONDAY.isoformat()], personal=None)
    assert report.stopped == ""
    assert report.deferred == len(refused) and report.sent == 5 - len(refused)
