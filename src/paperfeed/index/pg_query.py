"""Keyword queries on PostgreSQL: the query AST (paperfeed.query) rendered as SQL.

``papers.search_vector`` is a generated ``tsvector`` column (migration 0008)
with a GIN index. Title is weight A, abstract B (english stemming), authors C
(the ``simple`` configuration: names are not stemmed). The query language is
the same as on tantivy: fields (title:, abstract:, author:, cat:), phrases,
exclusions, AND/OR. A field becomes a weight restriction (``'graph':A``); a
phrase the ``<->`` operator. PostgreSQL's own parser turns each term's words
into a tsquery (one round trip per query, see ``TermParser``); the SQL then
carries those tsqueries as quoted constants, so no user text is ever parsed as
tsquery syntax or SQL.

Why the SQL is written as text, not built with SQLAlchemy: its words are
constants, so every statement is new; building and compiling a SQLAlchemy
tree for it cost about half of a search's client CPU, and caching the
compiled forms filled memory the garbage collector then walked
(docs/benchmarks.md, sessions 6 and 7). Every value in it goes through
``sql_string`` or is a number.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import String
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from paperfeed.db.code import CODE_KINDS
from paperfeed.db.engine import Database
from paperfeed.index.contracts import KeywordQuery
from paperfeed.query import And, Clauses, Node, Not, Or, Term, clean

SEARCH_VECTOR = "papers.search_vector"
WORD = re.compile(r"\w+")
TEXT_CONFIG = "english"
NAME_CONFIG = "simple"


@dataclass(frozen=True, slots=True)
class PgQuery(KeywordQuery):
    """A rendered query: which papers match, and the positive terms that score them."""

    cond: str  # SQL: a condition on a row of papers
    # Per positive term: its tsquery as text ("" when its words have no lexemes,
    # stop words only: such a term matches nothing and scores nothing).
    terms: tuple[str, ...] = ()
    # Per term: its field ("" for unfielded words), for the title boost.
    fields: tuple[str, ...] = ()
    title_boost: float = 0.25  # FieldWeights.title's default

    @property
    def tsquery_text(self) -> str | None:
        """One tsquery OR-ing the positive terms (for ts_headline)."""
        parts = [f"({t})" for t in self.terms if t]
        return " | ".join(parts) or None


_DIALECT = postgresql.dialect()
_QUOTE = String().literal_processor(_DIALECT)


def sql_string(value: str) -> str:
    """``value`` as an SQL string literal (quotes doubled, by SQLAlchemy's own
    PostgreSQL literal rendering). Query words go into the SQL text, not a bound
    parameter: a literal is a constant at parse time, so the planner folds
    what is computed from it once per query. With a parameter (or a regconfig
    cast from text, which is only stable) it ran for every row a query looked
    at: 300 us a row for a 12-word title, most of a slow query."""
    assert _QUOTE is not None
    return str(_QUOTE(value.replace("\x00", "")))


def matches(tsquery_text: str) -> str:
    """SQL: the paper matches this tsquery (a term of stop words matches none)."""
    if not tsquery_text:
        return "FALSE"
    return f"{SEARCH_VECTOR} @@ {sql_string(tsquery_text)}::tsquery"


def all_of(conds: Iterable[str]) -> str:
    return "(" + " AND ".join(["TRUE", *conds]) + ")"


def any_of(conds: Iterable[str]) -> str:
    return "(" + " OR ".join(["FALSE", *conds]) + ")"


def fetch(conn: Connection, sql: str) -> list[Any]:
    """Run one statement of this module's literal SQL. No bound parameters:
    every value is already quoted in it, so a "%" in a query word is doubled
    for the driver's placeholder syntax and reaches PostgreSQL as itself."""
    return list(conn.exec_driver_sql(sql.replace("%", "%%"), ()).all())


def has_code_sql() -> str:
    """The paper links to code (db.code.CODE_KINDS), as one SQL condition."""
    kinds = ", ".join(sql_string(k) for k in CODE_KINDS)
    return (
        "EXISTS (SELECT 1 FROM code_links WHERE code_links.paper_id = papers.id "  # noqa: S608 (quoted)
        f"AND code_links.kind IN ({kinds}))"
    )


def categories_match(values: Sequence[str]) -> str:
    """Any of the paper's categories, or their archive ("cs" for "cs.LG"), is in ``values``."""
    listed = ", ".join(sql_string(v) for v in values)
    return (
        "EXISTS (SELECT 1 FROM json_array_elements_text(papers.categories) AS cat(value) "  # noqa: S608 (quoted)
        f"WHERE lower(cat.value) IN ({listed}) "
        f"OR lower(split_part(cat.value, '.', 1)) IN ({listed}))"
    )


# How each kind of term is parsed: (configuration, weight labels) per branch.
# The body is title and abstract (A, B), as tantivy's; authors are C.
_BRANCHES: dict[str, tuple[tuple[str, str], ...]] = {
    "author": ((NAME_CONFIG, "C"),),
    "title": ((TEXT_CONFIG, "A"),),
    "abstract": ((TEXT_CONFIG, "AB"),),
    "": ((TEXT_CONFIG, "AB"), (NAME_CONFIG, "C")),
}
_PARSED_LIMIT = 20000  # parsed terms a TermParser keeps
_LEXEME_SQL = sql_string("'(?:[^']|'')*'")  # a quoted lexeme in tsquery text


class TermParser:
    """Terms' words as tsquery text, parsed by one database's PostgreSQL (another
    server may have other text search dictionaries), each once: words recur
    across searches, and a search renders its query twice (the dense side's
    constraint)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._parsed: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def parse(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """(field, words) -> the tsquery text of ``words`` as a phrase, parsed by
        PostgreSQL's own parser (as the indexed text was: hyphenated words, numbers,
        stop words all line up), each lexeme labelled with the field's weights
        ('graph' -> 'graph':A); an unfielded term ORs the body's and the authors'.
        One round trip for all the terms not parsed before."""
        found: dict[tuple[str, str], str] = {}
        missing: list[tuple[str, str]] = []
        for key in dict.fromkeys(keys):
            known = self._parsed.get(key)
            if known is None:
                missing.append(key)
            else:
                found[key] = known
        if not missing:
            return found
        selects = []
        for n, (field, words) in enumerate(missing):
            branches = [
                "regexp_replace(phraseto_tsquery("
                f"{sql_string(config)}::regconfig, {sql_string(words)})::text, "
                f"{_LEXEME_SQL}, {sql_string(chr(92) + '&:' + labels)}, 'g')::tsquery"
                for config, labels in _BRANCHES[field]
            ]
            selects.append(f"SELECT {n} AS n, ({' || '.join(branches)})::text AS q")
        with uncached(self.db) as conn:
            rows = fetch(conn, " UNION ALL ".join(selects))
        with self._lock:
            if len(self._parsed) + len(missing) > _PARSED_LIMIT:
                self._parsed.clear()  # rarely: a plain bound, not an LRU
            for row in rows:
                key = missing[int(row[0])]
                found[key] = self._parsed[key] = str(row[1] or "")
        return found


def _text_terms(node: Node | None) -> Iterator[tuple[str, str]]:
    """The (field, words) of every term of ``node`` that PostgreSQL parses."""
    if node is None:
        return
    if isinstance(node, Term):
        if node.field != "cat" and WORD.search(node.text):
            yield (node.field or "", clean(node.text))
    elif isinstance(node, Not):
        yield from _text_terms(node.child)
    elif isinstance(node, And | Or):
        for child in node.children:
            yield from _text_terms(child)
    else:
        assert isinstance(node, Clauses)
        for child in (*node.must, *node.should, *node.must_not):
            yield from _text_terms(child)


class _Renderer:
    """The query AST as SQL, with every term's tsquery already parsed."""

    def __init__(self, parsed: dict[tuple[str, str], str]) -> None:
        self.parsed = parsed

    def term(self, term: Term) -> PgQuery | None:
        if term.field == "cat":
            value = term.text.strip().lower()
            return PgQuery(categories_match([value])) if value else None
        if not WORD.search(term.text):
            return None
        field = term.field or ""
        tsq = self.parsed[(field, clean(term.text))]
        return PgQuery(matches(tsq), (tsq,), (field,))

    def node(self, node: Node | None) -> PgQuery | None:
        if node is None:
            return None
        if isinstance(node, Term):
            return self.term(node)
        if isinstance(node, Not):
            inner = self.node(node.child)
            return _bool([], [], [inner]) if inner is not None else None
        if isinstance(node, And):
            must: list[PgQuery] = []
            must_not: list[PgQuery] = []
            for child in node.children:
                if isinstance(child, Not):
                    if (q := self.node(child.child)) is not None:
                        must_not.append(q)
                elif (q := self.node(child)) is not None:
                    must.append(q)
            return _bool(must, [], must_not)
        if isinstance(node, Or):
            return _bool([], [q for c in node.children if (q := self.node(c)) is not None], [])
        assert isinstance(node, Clauses)
        return _bool(
            [q for c in node.must if (q := self.node(c)) is not None],
            [q for c in node.should if (q := self.node(c)) is not None],
            [q for c in node.must_not if (q := self.node(c)) is not None],
        )


def _bool(must: list[PgQuery], should: list[PgQuery], must_not: list[PgQuery]) -> PgQuery | None:
    """Lucene's semantics, as the tantivy side: with a must, shoulds only score;
    without one, one should must match; only exclusions: all but those."""
    if not must and not should and not must_not:
        return None
    conds = [q.cond for q in must]
    if should and not must:
        conds.append(any_of(q.cond for q in should))
    conds += [f"NOT ({q.cond})" for q in must_not]
    return PgQuery(
        all_of(conds),
        tuple(t for q in must + should for t in q.terms),
        tuple(f for q in must + should for f in q.fields),
    )


def render_node(parser: TermParser, node: Node | None) -> PgQuery | None:
    """``node`` as SQL for the parser's database (one round trip to parse new words)."""
    return _Renderer(parser.parse(_text_terms(node))).node(node)


@contextmanager
def uncached(db: Database) -> Iterator[Connection]:
    """A connection whose statements SQLAlchemy does not keep compiled.

    A search's SQL carries its words as literals (see ``sql_string``), so it
    never comes again: caching it only filled the engine's compiled cache with
    500 statements, ~600k objects the garbage collector walked in every full
    collection. At 1M papers that was 300+ ms of client CPU in ~1 % of the
    searches, the whole p99 (docs/benchmarks.md, session 6)."""
    with db.connect() as conn:
        yield conn.execution_options(compiled_cache=None)


def date_literal(value: date) -> str:
    return f"{sql_string(value.isoformat())}::date"
