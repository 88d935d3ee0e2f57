"""The application object: one ``Paperfeed`` per process, made from the Settings.

It owns what a process keeps between requests or jobs: the database (its
connection pool), the keyword and vector indexes, the caches, and the tuning
(paperfeed.tuning). Every
interface gets one and calls the services (``paperfeed.services``) with it:

- the CLI: ``cli.app.open_app()``, one per command;
- the web app: ``create_app`` keeps it in ``app.state.paperfeed``, and routes
  reach it through the ``web.deps.paperfeed_of`` dependency;
- the job workers: ``jobs.execute`` takes it, and an RQ worker process makes
  one at start (``jobs.run_worker``).

Tests make one per test (tests/conftest.py), so no cache outlives its test.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from paperfeed.config import Settings
from paperfeed.db import Database
from paperfeed.db.locks import named_lock
from paperfeed.index.backends import open_indexes
from paperfeed.search import QueryVectorCache
from paperfeed.tuning import Tuning

if TYPE_CHECKING:
    from paperfeed.recommend import Recommender

__all__ = ["Database", "Paperfeed"]


class Paperfeed:
    """One process's Paperfeed: settings, database, indexes and caches."""

    def __init__(
        self, settings: Settings, db: Database | None = None, tuning: Tuning | None = None
    ) -> None:
        self.settings = settings
        self.tuning = tuning or Tuning()
        self.db = db if db is not None else Database(settings.database_url_resolved)
        self.indexes = open_indexes(settings, self.db, self.tuning.index)
        # Embedding a query is most of a search's CPU time; popular queries repeat.
        self.query_vectors = QueryVectorCache()
        self._recommender: Recommender | None = None

    @property
    def recommender(self) -> Recommender:
        """The personal feed's features and models (made on first use: it
        brings in scipy and fits the instance's vocabulary when first asked)."""
        if self._recommender is None:
            from paperfeed.recommend import Recommender

            self._recommender = Recommender(self.settings, self.db, self.tuning.recommend)
        return self._recommender

    def named_lock(
        self, name: str, *, on_wait: Callable[[], None] | None = None
    ) -> AbstractContextManager[None]:
        """Held by one process at a time, across processes and hosts (a job's
        identity); released by the server or kernel when the holder dies."""
        return named_lock(
            self.db, name, lock_dir=self.settings.index_dir.parent / "locks", on_wait=on_wait
        )

    def close(self) -> None:
        self.db.dispose()

    def __enter__(self) -> Paperfeed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
