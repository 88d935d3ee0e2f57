"""PostgreSQL: an impact-ordered posting table beside the tsvector, kept by triggers.

A ranked keyword search on PostgreSQL used to score the first rows GIN
returned for its rarest terms, in heap order, not by score: at 1M papers a
common-word query read posting lists of 100k+ papers and scored 2,000 rows
to keep its cost bounded, and still missed some of the best
(docs/benchmarks.md, sessions 7 and 8). ``lexical_postings`` holds one row per
(lexeme, paper) with the lexeme's BM25 impact in that paper, without the idf
(a constant per lexeme), so the index on (lexeme, impact DESC) hands out each
lexeme's best papers first: a search reads the top of each of its terms'
lists, adds them up with their idf, and scores only the best few hundred
exactly (``index.pg_keyword.PgLexicalIndex``). The tsvector and its GIN index stay:
they decide what matches, and serve every other search.

The impact is BM25's tf part (k1 1.2, b 0.75, length = distinct lexemes
against a fixed average of 120) plus 0.25 when the lexeme is in the title, as
index.pg_keyword scores. It only orders candidates (the exact score is computed after),
so the fixed average does no harm as the corpus grows; it must not change
without rebuilding the table, because deletes find old rows by recomputing it.

Statement-level triggers with transition tables keep the table current: a
bulk COPY of 50,000 papers is one INSERT ... SELECT, not 50,000.

On SQLite this migration does nothing: tantivy does this job there.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013_pg_postings"
down_revision: str | None = "0012_index_queue_order"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTIONS = """
CREATE FUNCTION paperfeed_postings(v tsvector, paper text)
RETURNS TABLE (lexeme text, impact real, paper_id text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT u.lexeme,
           (2.2 * cardinality(u.positions)
              / (cardinality(u.positions) + 1.2 * (0.25 + 0.75 * length(v) / 120.0))
            + CASE WHEN 'A' = ANY(u.weights) THEN 0.25 ELSE 0 END)::real,
           paper
    FROM unnest(v) AS u
$$;

CREATE FUNCTION paperfeed_postings_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lexical_postings (lexeme, impact, paper_id)
    SELECT p.* FROM added, paperfeed_postings(added.search_vector, added.id) AS p;
    RETURN NULL;
END
$$;

CREATE FUNCTION paperfeed_postings_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM lexical_postings AS l
    USING removed, paperfeed_postings(removed.search_vector, removed.id) AS p
    WHERE l.lexeme = p.lexeme AND l.impact = p.impact AND l.paper_id = p.paper_id;
    RETURN NULL;
END
$$;

-- An update touches the postings of the papers whose text changed only
-- (votes, flags and dates change far more often than words).
CREATE FUNCTION paperfeed_postings_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
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
END
$$;

CREATE FUNCTION paperfeed_postings_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE lexical_postings;
    RETURN NULL;
END
$$;
"""

TRIGGERS = """
CREATE TRIGGER papers_postings_insert AFTER INSERT ON papers
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION paperfeed_postings_added();
CREATE TRIGGER papers_postings_update AFTER UPDATE ON papers
    REFERENCING OLD TABLE AS removed NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION paperfeed_postings_changed();
CREATE TRIGGER papers_postings_delete AFTER DELETE ON papers
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION paperfeed_postings_removed();
CREATE TRIGGER papers_postings_truncate AFTER TRUNCATE ON papers
    FOR EACH STATEMENT EXECUTE FUNCTION paperfeed_postings_truncated();
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE TABLE lexical_postings ("
        "lexeme text NOT NULL, impact real NOT NULL, paper_id text NOT NULL)"
    )
    op.execute(FUNCTIONS)
    # Existing papers first, the index after: one sorted build, not row by row.
    op.execute(
        "INSERT INTO lexical_postings (lexeme, impact, paper_id) "
        "SELECT p.* FROM papers, paperfeed_postings(papers.search_vector, papers.id) AS p"
    )
    # paper_id is a key column, not INCLUDEd: a delete finds its rows by all three.
    op.execute(
        "CREATE INDEX ix_lexical_postings ON lexical_postings (lexeme, impact DESC, paper_id)"
    )
    op.execute(TRIGGERS)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for trigger in ("insert", "update", "delete", "truncate"):
        op.execute(f"DROP TRIGGER IF EXISTS papers_postings_{trigger} ON papers")
    op.execute("DROP TABLE IF EXISTS lexical_postings")
    for function in (
        "paperfeed_postings_added()",
        "paperfeed_postings_removed()",
        "paperfeed_postings_changed()",
        "paperfeed_postings_truncated()",
        "paperfeed_postings(tsvector, text)",
    ):
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
