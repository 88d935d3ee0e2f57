"""The search query language, parsed into a small AST that never fails on odd input.

Syntax (case-insensitive field names):

    word                 a term, searched in title, abstract and authors
    "a phrase"           the words in this order (an unbalanced quote runs to the end)
    title:word           only in the title; also title:"a phrase" and title:(a b)
    abstract:word        only in the abstract
    author:name          only in the author list (author:"Ada Lovelace")
    cat:cs.CL            category; cat:cs matches every cs.* category
    has:code             only papers that link to code (a repository or a
                         Hugging Face model, dataset or Space)
    -word  NOT word      exclude papers matching it
    +word                require it
    a OR b, a AND b      explicit operators (upper case); OR binds tighter than
                         juxtaposition, AND tighter than OR
    ( ... )              grouping; unbalanced parentheses are repaired

Juxtaposed bare words are OPTIONAL (the default operator is OR): BM25 ranks
papers that contain more of them first, and long natural-language queries
still find something. ``paperfeed eval`` measured this against AND (see
docs/benchmarks.md). Phrases and fielded terms at the top level are REQUIRED,
because a reader who quotes or names a field means it.

Anything else (``*``, ``:``, ``NEAR(``, emoji, stray operators) is plain text
that the analyzer reduces to words or drops. The only error is a query too
long to be a search (``QueryError``), which the web layer maps to HTTP 400.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

MAX_QUERY_CHARS = 4000  # a pasted abstract fits; 10 KB of anything does not
MAX_DEPTH = 16  # deeper parentheses are treated as plain grouping-free text
MAX_TERMS = 256  # terms beyond this are ignored, to bound query cost

FIELDS = {
    "title": "title",
    "ti": "title",
    "abstract": "abstract",
    "abs": "abstract",
    "author": "author",
    "au": "author",
    "authors": "author",
    "cat": "cat",
    "category": "cat",
}


class QueryError(ValueError):
    """A query that cannot be searched; the message says why, for the reader."""


# ---------------------------------------------------------------- the AST


@dataclass(frozen=True)
class Term:
    text: str
    field: str | None = None  # None: title + abstract + authors
    phrase: bool = False


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Clauses:
    """Juxtaposed clauses: required, optional (the default operator) and excluded."""

    must: tuple[Node, ...] = ()
    should: tuple[Node, ...] = ()
    must_not: tuple[Node, ...] = ()


Node = Term | Not | And | Or | Clauses


@dataclass
class ParsedQuery:
    raw: str
    root: Node | None  # None: no search terms (a filter-only query)
    free_text: str  # the words for the dense (semantic) side
    terms: list[Term] = field(default_factory=list)
    has_code: bool = False  # the query said has:code (a filter, not a term)

    @property
    def is_empty(self) -> bool:
        return self.root is None


# ---------------------------------------------------------------- lexer


@dataclass(frozen=True)
class _Tok:
    kind: str  # word | phrase | field | ( | ) | - | + | AND | OR | NOT
    text: str = ""


_BREAK = set('()"') | {" ", "\t", "\n", "\r"}


def clean(text: str) -> str:
    """NFKC (so combining marks join their letters, as in the index) and no
    control characters (NUL, bidi overrides and the like become spaces)."""
    text = unicodedata.normalize("NFKC", text)
    # Fast path (C speed): isprintable() is False for every character of the
    # categories below, so printable text, which almost every stored abstract
    # is, has nothing to replace. Snippets call this on every hit's abstract.
    if text.isprintable():
        return text
    return "".join(
        " " if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") else c
        for c in text
    )


def _lex(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "()":
            tokens.append(_Tok(c))
            i += 1
        elif c == '"':
            end = text.find('"', i + 1)
            end = n if end < 0 else end
            tokens.append(_Tok("phrase", text[i + 1 : end]))
            i = end + 1
        elif (
            c in "-+"
            and (i == 0 or text[i - 1].isspace() or text[i - 1] == "(")
            and i + 1 < n
            and not text[i + 1].isspace()
            and text[i + 1] not in "-+"
        ):
            # A prefix only at the start of a clause: "x-ray" and "(H2A)-histone"
            # are words, not exclusions.
            tokens.append(_Tok(c))
            i += 1
        else:
            j = i
            while j < n and text[j] not in _BREAK:
                j += 1
            word = text[i:j]
            i = j
            name, colon, rest = word.partition(":")
            if colon and name.lower() in FIELDS:
                tokens.append(_Tok("field", FIELDS[name.lower()]))
                if rest:
                    tokens.append(_Tok("word", rest))
            elif word in ("AND", "OR", "NOT"):
                tokens.append(_Tok(word))
            elif word in ("&&", "||"):
                tokens.append(_Tok("AND" if word == "&&" else "OR"))
            else:
                tokens.append(_Tok("word", word))
    return tokens


# ---------------------------------------------------------------- parser


class _Parser:
    """Recursive descent that repairs instead of failing: a dangling operator
    is dropped, an unmatched ')' ignored, a missing ')' implied at the end."""

    def __init__(self, tokens: list[_Tok]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0
        self.term_count = 0

    def peek(self) -> _Tok | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def next(self) -> _Tok:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def sequence(self, field_name: str | None, closing: bool) -> Node | None:
        must: list[Node] = []
        should: list[Node] = []
        must_not: list[Node] = []
        while (tok := self.peek()) is not None:
            if tok.kind == ")":
                if closing:
                    break
                self.pos += 1  # unmatched: ignore
                continue
            if tok.kind in ("AND", "OR"):
                self.pos += 1  # an operator with nothing on its left
                continue
            prefix = None
            if tok.kind in ("-", "+", "NOT"):
                prefix = "-" if tok.kind in ("-", "NOT") else "+"
                self.pos += 1
            node = self.or_expr(field_name)
            if node is None:
                continue
            if prefix == "-":
                must_not.append(_unwrap_not(node))
            elif prefix == "+" or _is_required(node):
                must.append(node)
            else:
                should.append(node)
        return _clauses(must, should, must_not)

    def or_expr(self, field_name: str | None) -> Node | None:
        parts = [self.and_expr(field_name)]
        while (tok := self.peek()) is not None and tok.kind == "OR":
            self.pos += 1
            parts.append(self.and_expr(field_name))
        kept = tuple(p for p in parts if p is not None)
        if len(kept) <= 1:
            return kept[0] if kept else None
        return Or(kept)

    def and_expr(self, field_name: str | None) -> Node | None:
        parts = [self.unary(field_name)]
        while (tok := self.peek()) is not None and tok.kind == "AND":
            self.pos += 1
            parts.append(self.unary(field_name))
        kept = tuple(p for p in parts if p is not None)
        if len(kept) <= 1:
            return kept[0] if kept else None
        return And(kept)

    def unary(self, field_name: str | None) -> Node | None:
        # A loop, not a recursion per prefix: "NOT " a thousand times fits in
        # the query length and overflowed the stack. Only the parity of the
        # negations matters (NOT NOT x is x), so the tree stays shallow too.
        negated = False
        while (tok := self.peek()) is not None and tok.kind in ("-", "+", "NOT"):
            self.pos += 1
            negated ^= tok.kind != "+"
        child = self.atom(field_name)
        return Not(child) if negated and child is not None else child

    def atom(self, field_name: str | None) -> Node | None:
        tok = self.peek()
        if tok is None or tok.kind in (")", "AND", "OR"):
            return None  # the caller drops the dangling operator
        self.pos += 1
        if tok.kind == "(":
            if self.depth >= MAX_DEPTH:
                return None  # deeper groups flatten into their parent
            self.depth += 1
            inner = self.sequence(field_name, closing=True)
            self.depth -= 1
            if (close := self.peek()) is not None and close.kind == ")":
                self.pos += 1
            return inner
        if tok.kind == "field":
            following = self.peek()
            if following is None or following.kind not in ("word", "phrase", "("):
                return None  # "title:" with nothing after it
            return self.atom(tok.text)
        if tok.kind in ("word", "phrase"):
            return self.term(tok.text, field_name, phrase=tok.kind == "phrase")
        return None

    def term(self, text: str, field_name: str | None, *, phrase: bool) -> Term | None:
        text = " ".join(text.split())
        if not text or self.term_count >= MAX_TERMS:
            return None
        self.term_count += 1
        return Term(text=text, field=field_name, phrase=phrase)


def _is_required(node: Node) -> bool:
    """Top-level phrases and fielded terms must match (see the module docstring)."""
    return isinstance(node, Term) and (node.phrase or node.field is not None)


def _unwrap_not(node: Node) -> Node:
    return node.child if isinstance(node, Not) else node


def _clauses(must: list[Node], should: list[Node], must_not: list[Node]) -> Node | None:
    if not must and not must_not and len(should) == 1:
        return should[0]
    if not must and not should and not must_not:
        return None
    return Clauses(tuple(must), tuple(should), tuple(must_not))


def _collect_terms(node: Node | None, out: list[Term], positive: bool = True) -> None:
    if node is None:
        return
    if isinstance(node, Term):
        if positive:
            out.append(node)
    elif isinstance(node, Not):
        _collect_terms(node.child, out, not positive)
    elif isinstance(node, And | Or):
        for child in node.children:
            _collect_terms(child, out, positive)
    else:
        for child in node.must + node.should:
            _collect_terms(child, out, positive)
        for child in node.must_not:
            _collect_terms(child, out, not positive)


def parse(raw: str) -> ParsedQuery:
    """Parse a reader's query. Raises QueryError only when it is too long."""
    if len(raw) > MAX_QUERY_CHARS:
        raise QueryError(
            f"query is too long: {len(raw):,} characters (at most {MAX_QUERY_CHARS:,})"
        )
    text = clean(raw)
    text, has_code = _take_has_code(text)
    tokens = _lex(text)
    root = _Parser(tokens).sequence(None, closing=False)
    terms: list[Term] = []
    _collect_terms(root, terms)
    if root is not None and all(t.kind in ("word", "phrase", "(", ")") for t in tokens):
        # Plain words: the dense model reads the query as typed, punctuation too.
        free = " ".join(text.split())
    else:
        free = " ".join(t.text for t in terms if t.field in (None, "title", "abstract"))
    return ParsedQuery(raw=raw, root=root, free_text=free, terms=terms, has_code=has_code)


_HAS_CODE = re.compile(r"(?<![^\s(])has:code(?![^\s)])", re.IGNORECASE)


def _take_has_code(text: str) -> tuple[str, bool]:
    """``has:code`` anywhere at the top of the query is a filter: taken out of
    the text (so it is no search term), and said so. Any other ``has:`` is text."""
    if "has:" not in text.lower():
        return text, False
    kept, found = _HAS_CODE.subn(" ", text)
    return kept, found > 0


def constraint(node: Node | None) -> Node | None:
    """The part of a query that every hit must satisfy, whatever ranked it.

    Dense retrieval finds papers by meaning, not by words, so its hits are
    checked against this: the query with every optional free-text term
    replaced by "anything". Exclusions, fields, phrases and explicit ANDs stay.
    ``None`` means no constraint.
    """
    return _constraint(node)


def _constraint(node: Node | None) -> Node | None:
    if node is None:
        return None
    if isinstance(node, Term):
        return node if (node.field is not None or node.phrase) else None
    if isinstance(node, Not):
        return node  # an exclusion always holds
    if isinstance(node, Or):
        kids = [_constraint(c) for c in node.children]
        if any(k is None for k in kids):
            return None  # one branch is "anything", so the OR is too
        return Or(tuple(k for k in kids if k is not None))
    if isinstance(node, And):
        kept = tuple(k for k in (_constraint(c) for c in node.children) if k is not None)
        return None if not kept else kept[0] if len(kept) == 1 else And(kept)
    must = tuple(k for k in (_constraint(c) for c in node.must) if k is not None)
    if not must and not node.must_not:
        return None
    return Clauses(must=must, should=(), must_not=node.must_not)
