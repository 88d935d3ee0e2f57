"""All storage. Nothing outside this package writes SQL.

``Database`` owns the engine; the modules beside it (papers, ...) hold the
queries, each taking a SQLAlchemy ``Connection`` so callers choose the
transaction boundaries.
"""

from paperfeed.db.engine import Database, migrate

__all__ = ["Database", "migrate"]
