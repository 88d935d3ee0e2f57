"""The query language: parsing, repair of broken input, and the 10 KB limit."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paperfeed.index.lexical import render
from paperfeed.query import (
    MAX_QUERY_CHARS,
    And,
    Clauses,
    Not,
    Or,
    QueryError,
    Term,
    constraint,
    parse,
)

# Every case must give results or a clear QueryError, never anything else.
ABUSE = [
    "",
    "   ",
    '"',
    '"unbalanced quote',
    'unbalanced "quote',
    '""',
    "NEAR(",
    "NEAR(a b",
    "*",
    "**",
    "a*",
    ":",
    "::",
    "title:",
    "title:(",
    "author:)",
    "(",
    ")",
    "((((",
    "))))",
    "(a (b",
    "a) b(",
    "(" * 500 + "deep" + ")" * 3,
    "AND",
    "OR",
    "NOT",
    "a OR",
    "OR a",
    "a AND AND b",
    "- + -- ++",
    "-",
    "+",
    "-(",
    "cat:",
    "cat:*",
    "foo:bar",
    "title:title:title:x",
    '\\" \\\\ \\',
    "%s %d {0} ${x} `rm -rf` ; DROP TABLE papers; --",
    "cat:100%' OR 1=1 -- author:O'Brien%",  # quotes and % in every kind of term
    "title:'graph':A & ! | <-> 'x':*",  # tsquery syntax as words
    "<script>alert(1)</script>",
    "😀🚀 transformers 🤗",
    "😀",
    "مرحبا بالعالم attention",  # RTL
    "\u202eevil\u202c text",  # bidi override
    "nul\x00byte",
    "\x00",
    "e\u0301te\u0301 combining",  # combining marks
    "Z̴̡̧a̷l̶g̸o̵ text",
    "\ud800 lone surrogate",
    "\ufffd\ufeff bom",
    "x" * 3000,
    "word " * 700,
]


@pytest.mark.parametrize("text", ABUSE, ids=lambda t: repr(t[:20]))
def test_abuse_parses_and_renders(text: str) -> None:
    parsed = parse(text)
    render(parsed.root)  # builds a tantivy query without raising
    render(constraint(parsed.root))


def test_ten_kilobytes_is_a_clear_error() -> None:
    with pytest.raises(QueryError, match=r"too long: 10,240 characters \(at most 4,000\)"):
        parse("a" * 10240)
    parse("a " * (MAX_QUERY_CHARS // 2))  # at the limit is fine


def test_fields_phrases_exclusions() -> None:
    root = parse('title:diffusion author:"Ada Lovelace" cat:cs.CL "large model" -video words').root
    assert root == Clauses(
        must=(
            Term("diffusion", "title"),
            Term("Ada Lovelace", "author", phrase=True),
            Term("cs.CL", "cat"),
            Term("large model", None, phrase=True),
        ),
        should=(Term("words"),),
        must_not=(Term("video"),),
    )


def test_operators_and_precedence() -> None:
    # OR binds tighter than juxtaposition, AND tighter than OR.
    assert parse("a b OR c").root == Clauses(should=(Term("a"), Or((Term("b"), Term("c")))))
    assert parse("a OR b AND c").root == Or((Term("a"), And((Term("b"), Term("c")))))
    assert parse("a AND NOT b").root == And((Term("a"), Not(Term("b"))))
    assert parse("(a OR b) -c").root == Clauses(
        should=(Or((Term("a"), Term("b"))),), must_not=(Term("c"),)
    )
    assert parse("lower or and").root == Clauses(should=(Term("lower"), Term("or"), Term("and")))


def test_repairs() -> None:
    assert parse("(a OR b").root == Or((Term("a"), Term("b")))
    assert parse("a OR").root == Term("a")
    assert parse(") a (").root == Term("a")
    assert parse('"open phrase').root == Clauses(must=(Term("open phrase", phrase=True),))
    assert parse("title:").root is None
    assert parse("x-ray state-of-the-art").root == Clauses(
        should=(Term("x-ray"), Term("state-of-the-art"))
    )
    assert parse("title:(graph networks)").root == Clauses(
        must=(Term("graph", "title"), Term("networks", "title"))
    )
    assert parse("foo:bar").root == Term("foo:bar")  # not a field: plain text
    assert parse("(H2A)-histone").root == Clauses(should=(Term("H2A"), Term("-histone")))
    assert parse("a (-b)").root == Clauses(should=(Term("a"), Clauses(must_not=(Term("b"),))))


def test_free_text_for_dense_side() -> None:
    parsed = parse('title:graph "neural nets" author:Smith -vision cat:cs.LG pruning')
    assert parsed.free_text == "graph neural nets pruning"


def test_constraint_keeps_what_must_hold() -> None:
    assert constraint(parse("a b c").root) is None
    assert constraint(parse('a "b c" -d').root) == Clauses(
        must=(Term("b c", phrase=True),), must_not=(Term("d"),)
    )
    assert constraint(parse("title:x OR y").root) is None
    assert constraint(parse("title:x OR author:y").root) == Or(
        (Term("x", "title"), Term("y", "author"))
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_any_text_parses(text: str) -> None:
    parsed = parse(text)
    render(parsed.root)
    render(constraint(parsed.root))


QUERY_PIECES = st.sampled_from(
    ["a", "b", "title:", "author:", "cat:", '"', "(", ")", "-", "+", "AND", "OR", "NOT", " ", ":"]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(QUERY_PIECES, max_size=40))
def test_any_operator_soup_parses(pieces: list[str]) -> None:
    parsed = parse(" ".join(pieces))
    render(parsed.root)
    parsed = parse("".join(pieces))
    render(parsed.root)
