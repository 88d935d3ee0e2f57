"""Embedded mode: ``paperfeed serve`` sends due digests itself.

A daemon thread wakes every ``digest_check_interval_seconds`` and runs the same
``runner.run`` that ``paperfeed digest send`` runs from cron. Running it often
is harmless: claiming is idempotent (the send log's unique key), and the sender
lock keeps a second server process, or a cron job, from sending at the same
time. Turn it off with PAPERFEED_DIGEST_SCHEDULER=false when cron does the job.
"""

from __future__ import annotations

import logging
import threading

from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.digest import runner
from paperfeed.digest.mailer import MailerError

log = logging.getLogger(__name__)


class DigestScheduler:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="digest-scheduler", daemon=True)
        self.runs = 0
        self.ran = threading.Event()  # set after each run, for whoever waits on it
        self.last_report: runner.RunReport | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def run_once(self) -> runner.RunReport | None:
        try:
            report = runner.run(self.settings, self.db)
            self.last_report = report
        except runner.SenderBusy as exc:
            log.info("digest run skipped: %s", exc)
            return None
        except MailerError as exc:
            log.warning("digest run stopped: %s", exc)
            return None
        finally:
            self.runs += 1
            self.ran.set()
        if report.claimed or report.sent or report.failed or report.deferred:
            log.info("digests: %s", report.summary())
        return report

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # keep serving pages whatever a run hits
                log.exception("digest run failed")
            self._stop.wait(self.settings.digest_check_interval_seconds)
