"""Author and organization names: the one place that decides when two spellings
are the same person or the same institution (docs/authors.md).

A name becomes a *key* (lower case, accents and punctuation gone, words joined
by "-"), which is both the author's identity and its URL (``/authors/{key}``).
Two names with the same key are one author. Besides that, one variant is merged
at link time (services/authors.py): a name whose given names are only initials
("J. Smith", "J.-P. Dupont") joins the one known author with full given names
those initials abbreviate ("John Smith", "Jean-Pierre Dupont"), and only when
exactly one such author is known; otherwise it stays an author of its own.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass

# Letters NFKD does not decompose into a base letter and a combining mark.
_FOLD = str.maketrans(
    {
        "ß": "ss",
        "ø": "o",
        "Ø": "o",
        "ł": "l",
        "Ł": "l",
        "đ": "d",
        "Đ": "d",
        "æ": "ae",
        "Æ": "ae",
        "œ": "oe",
        "Œ": "oe",
        "ı": "i",
        "þ": "th",
        "ð": "d",
    }
)
# A word: letters and digits of any script (CJK names keep their characters).
_WORD = re.compile(r"[^\W_]+")
# Keys are URL path segments and an indexed column: past this they are cut
# and made unique by a hash of the whole.
MAX_KEY = 200
# Suffixes that are not a surname: "John Smith Jr." is "John Smith".
_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv"})


def fold(text: str) -> str:
    """Lower case, without accents: "Künsch" -> "kunsch", "Łukasz" -> "lukasz"."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


def words(name: str) -> list[str]:
    """The name's words, folded; punctuation (".", "-", "'", ",") separates them."""
    return _WORD.findall(fold(name))


def _bounded(key: str) -> str:
    if len(key) <= MAX_KEY:
        return key
    digest = hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:12]
    return f"{key[: MAX_KEY - 13].rstrip('-')}-{digest}"


@dataclass(frozen=True, slots=True)
class AuthorName:
    """What linking needs of one written name."""

    key: str  # the identity: "john-a-smith"
    initials_key: str  # first initial and surname: "j-smith" (the merge candidates)
    initials: str  # every given name's initial, in order: "ja"
    abbreviated: bool  # every given name is an initial ("J. A. Smith")


@functools.lru_cache(maxsize=1 << 16)
def parse_author(name: str) -> AuthorName | None:
    """The keys of a written author name, or None when it has no letters at all.

    The surname is the last space-separated part (after dropping "Jr."-like
    suffixes), hyphens and all ("Leal-Taixé"); the given names are the parts
    before it, and each hyphen or full stop inside one starts another
    initial: "J.-P. Dupont" and "J.P. Dupont" have the initials "jp".
    Cached: a name recurs on an author's every paper and card.
    """
    parts = [w for w in (words(part) for part in name.split()) if w]
    while len(parts) > 1 and len(parts[-1]) == 1 and parts[-1][0] in _SUFFIXES:
        parts.pop()
    if not parts:
        return None
    key = _bounded("-".join(w for part in parts for w in part))
    surname = "-".join(parts[-1])
    given = [w for part in parts[:-1] for w in part]
    initials = "".join(g[0] for g in given)
    abbreviated = bool(given) and all(len(g) == 1 for g in given)
    initials_key = _bounded(f"{initials[:1]}-{surname}" if initials else surname)
    return AuthorName(key, initials_key, initials, abbreviated)


def abbreviates(short: AuthorName, full: AuthorName) -> bool:
    """Whether ``short`` ("J. Smith", "J. A. Smith") is an initials form of
    ``full`` ("John Smith", "John Albert Smith"): same surname, and the short
    form's initials are the full name's, or their beginning."""
    return (
        short.abbreviated
        and not full.abbreviated
        and short.initials_key == full.initials_key
        and full.initials.startswith(short.initials)
    )


def organization_key(name: str) -> str | None:
    """An affiliation's key: its words, folded; None when it has none.

    Only spelling is normalized ("Bologna University and INFN" and "bologna
    university & INFN" differ by "and"); departments and cities make other
    organizations.
    """
    parts = words(name)
    return _bounded("-".join(parts)) if parts else None


def split_affiliation(text: str) -> list[str]:
    """The organizations an affiliation string names. arXiv gives one per
    <arxiv:affiliation> element; some hold several separated by ";"."""
    return [p for p in (" ".join(part.split()) for part in text.split(";")) if p]
