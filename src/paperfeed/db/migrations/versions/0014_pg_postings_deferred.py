"""PostgreSQL: a bulk load may defer the posting table, and rebuild it once.

The triggers of migration 0013 keep ``lexical_postings`` current row by row
of its index: each paper adds ~117 rows at random places of a B-tree that
reaches ~10 GB at 1M papers. Storing 1M papers took 2,026 s with them against
595 s without (docs/benchmarks.md, session 9). A bulk loader (a large ingest
run, ``migrate-data``, the benchmarks' build) now sets the transaction-local
setting ``paperfeed.postings = 'deferred'``: the triggers then only mark the
table stale in ``meta``, and ``db.postings.rebuild_postings`` rebuilds it in one
pass (INSERT ... SELECT, then one sorted index build) and clears the mark.

The mark is written in the same transaction as the papers, so a loader killed
before its rebuild leaves it set: searches then skip the stale table (they rank
by rare terms instead, as before 0013) until the next rebuild. No search ever
reads postings that miss committed papers.

On SQLite this migration does nothing.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014_pg_postings_deferred"
down_revision: str | None = "0013_pg_postings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The mark's key is db.postings.POSTINGS_STALE_KEY.
STALE = "SELECT 1 FROM meta WHERE key = 'lexical_postings_stale'"

# The same bodies as 0013's, each after the same check.
DEFERRED = """
    IF current_setting('paperfeed.postings', true) = 'deferred' THEN
        INSERT INTO meta (key, value) VALUES ('lexical_postings_stale', 'true')
        ON CONFLICT (key) DO NOTHING;
        RETURN NULL;
    END IF;
"""

ADDED = """
    INSERT INTO lexical_postings (lexeme, impact, paper_id)
    SELECT p.* FROM added, paperfeed_postings(added.search_vector, added.id) AS p;
    RETURN NULL;
"""

REMOVED = """
    DELETE FROM lexical_postings AS l
    USING removed, paperfeed_postings(removed.search_vector, removed.id) AS p
    WHERE l.lexeme = p.lexeme AND l.impact = p.impact AND l.paper_id = p.paper_id;
    RETURN NULL;
"""

CHANGED = """
    DELETE FROM lexical_postings AS l
    USING removed, paperfeed_postings(removed.search_vector, removed.id) AS p
    WHERE l.lexeme = p.lexeme AND l.impact = p.impact AND l.paper_id = p.paper_id
      AND NOT EXISTS (SELECT 1 FROM added WHERE added.id = removed.id
                      AND added.search_vector = removed.search_vector);
    INSERT INTO lexical_postings (lexeme, impact, paper_id)
    SELECT p.* FROM added, paperfeed_postings(added.search_vector, added.id) AS p
    WHERE NOT EXISTS (SELECT 1 FROM removed WHERE removed.id = added.id
                      AND removed.search_vector = added.search_vector);
    RETURN NULL;
"""

BODIES = {
    "paperfeed_postings_added": ADDED,
    "paperfeed_postings_removed": REMOVED,
    "paperfeed_postings_changed": CHANGED,
}


def _replace(name: str, body: str) -> None:
    op.execute(
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN\n{body}END\n$$"
    )


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, body in BODIES.items():
        _replace(name, DEFERRED + body)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, body in BODIES.items():
        _replace(name, body)
    # 0013's searches do not know the mark: a stale table is rebuilt first.
    if op.get_bind().exec_driver_sql(STALE).first() is not None:
        op.execute("DROP INDEX ix_lexical_postings")
        op.execute("TRUNCATE lexical_postings")
        op.execute(
            "INSERT INTO lexical_postings (lexeme, impact, paper_id) "
            "SELECT p.* FROM papers, paperfeed_postings(papers.search_vector, papers.id) AS p"
        )
        op.execute(
            "CREATE INDEX ix_lexical_postings ON lexical_postings (lexeme, impact DESC, paper_id)"
        )
        op.execute("DELETE FROM meta WHERE key = 'lexical_postings_stale'")
