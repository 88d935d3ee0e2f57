"""The PostgreSQL keyword posting table's upkeep (migrations 0013-0015), and VACUUM.

Storage only: the table is read by the keyword index (index/pg_postings.py).
A bulk load defers the posting table and rebuilds it once (migration 0014):
the triggers' row-by-row index upkeep made storing 1M papers 3.4x slower.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from paperfeed.db.engine import Database

POSTINGS_STALE_KEY = "lexical_postings_stale"
REBUILD_MEMORY_MB = 1024  # maintenance_work_mem for the rebuild's index sort
# Autovacuum after 2 % of the rows are new (5 % dead), not PostgreSQL's 20 %:
# searches read the lists with index-only scans, which visit the heap for every
# row on a page not yet vacuumed (migration 0015).
POSTINGS_STORAGE = (
    "autovacuum_vacuum_insert_scale_factor = 0.02, autovacuum_vacuum_scale_factor = 0.05"
)


def defer_postings(conn: Connection) -> None:
    """For the rest of this transaction, writes to papers leave the posting
    table alone and mark it stale (committed with them); ``rebuild_postings``
    makes it current again. Nothing on SQLite."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SELECT set_config('paperfeed.postings', 'deferred', true)")


def estimated_papers(conn: Connection) -> int:
    """The planner's estimate of the papers stored (no count of the table;
    0 before the first ANALYZE, and on SQLite, where nothing is deferred)."""
    if conn.dialect.name != "postgresql":
        return 0
    found = conn.exec_driver_sql(
        "SELECT reltuples FROM pg_class WHERE oid = 'papers'::regclass"
    ).first()
    return max(0, int(found[0])) if found else 0


def postings_stale(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    found = conn.execute(
        text("SELECT 1 FROM meta WHERE key = :key"), {"key": POSTINGS_STALE_KEY}
    ).first()
    return found is not None


def rebuild_postings(db: Database, *, force: bool = False) -> bool:
    """Rebuild the posting table from every paper if a deferred write left it
    stale (or ``force``); True if it did. Writers to papers wait meanwhile (a share lock);
    searches go on reading the old table (they skip it: it is marked stale)
    until the new one replaces it, in the same transaction as the mark's
    removal, then vacuums it. Minutes at 1M papers, so a bulk loader calls it
    once, at its end."""
    if db.backend != "postgresql":
        return False
    with db.begin() as conn:
        if not force and not postings_stale(conn):
            return False
        conn.exec_driver_sql("LOCK TABLE papers IN SHARE MODE")
        if not force and not postings_stale(conn):  # rebuilt by another while we waited
            return False
        conn.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{int(REBUILD_MEMORY_MB)}MB'")
        conn.exec_driver_sql("DROP TABLE IF EXISTS lexical_postings_next")
        conn.exec_driver_sql(
            "CREATE TABLE lexical_postings_next "
            "(lexeme text NOT NULL, impact real NOT NULL, paper_id text NOT NULL) "
            f"WITH ({POSTINGS_STORAGE})"
        )
        conn.exec_driver_sql(
            "INSERT INTO lexical_postings_next (lexeme, impact, paper_id) "
            "SELECT p.* FROM papers, paperfeed_postings(papers.search_vector, papers.id) AS p"
        )
        conn.exec_driver_sql(
            "CREATE INDEX ix_lexical_postings_next "
            "ON lexical_postings_next (lexeme, impact DESC, paper_id)"
        )
        conn.exec_driver_sql("DROP TABLE lexical_postings")
        conn.exec_driver_sql("ALTER TABLE lexical_postings_next RENAME TO lexical_postings")
        conn.exec_driver_sql("ALTER INDEX ix_lexical_postings_next RENAME TO ix_lexical_postings")
        conn.execute(text("DELETE FROM meta WHERE key = :key"), {"key": POSTINGS_STALE_KEY})
    # Until its pages are marked all-visible, every posting a search reads is
    # also read from the heap (at 75k papers, keyword searches on a rebuilt
    # table took half again as long until vacuumed).
    vacuum(db, "lexical_postings")
    return True


def vacuum(db: Database, table: str) -> None:
    """VACUUM (ANALYZE) ``table`` (a name of ours, not user input), outside any
    transaction: after a bulk write, so that neither the first searches nor
    the autovacuum that would follow pay for it."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
