"""Keyphrases and a one-sentence TL;DR of a paper, extracted offline.

Both come from the vectors the embed job computes anyway (index/embedding.py):
the encoder's per-token states of ``document_text`` (title. abstract) are
mean-pooled over each candidate phrase and each abstract sentence, so neither
costs another forward pass. The method was chosen by bench/summaries_eval.py
against 50 hand-labelled papers (docs/summaries.md):

- keyphrases, KeyBERT-style: candidates are noun-phrase-like n-grams (runs of
  content words between stopwords and punctuation, 1-3 words), each ranked by
  the cosine of its pooled vector with the document's vector, then picked by
  maximal marginal relevance so that five chips are not five variants of one
  phrase;
- TL;DR: the abstract sentence whose pooled vector is nearest the document's,
  plus a bonus for contribution cues ("we propose", "this paper presents") and
  a penalty for sentences about code availability, links and background.

Text past the encoder's token cap has no token states; its candidates and
sentences are scored without the vector part (cues and frequency only).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from paperfeed.index.embedder import Embedder, document_text

# Bump when the recipe changes: stored rows with another method are recomputed.
METHOD_VERSION = "span-mmr.1"

MAX_KEYPHRASES = 5
MAX_WORDS = 3
MAX_TLDR_CHARS = 600  # the longest labelled contribution sentence has 468
# Added to a candidate's cosine (weights set on the labelled papers, bench/summaries_eval.py):
TITLE_BONUS = 0.3  # the phrase occurs in the title
WORDS_BONUS = 0.1  # per word past the first (up to three words)
FREQUENCY_BONUS = 0.05  # per extra occurrence, up to three
MMR_DIVERSITY = 0.3
CUE_BONUS = 0.15

# English function words plus the words every abstract uses, which are never
# a keyphrase on their own and never start or end one.
STOPWORDS = frozenset(
    """
    a about above across after again against all almost also although always am among an and
    another any are around as at be because been before being below between both but by can
    cannot could did do does doing done down during each either enough etc even ever every few
    for from further had has have having he her here hers him his how however i if in into is it
    its itself just least less many may might more most much must my neither no nor not now of
    off often on once one only onto or other others otherwise our ours out over own per rather
    same several she should since so some such than that the their theirs them themselves then
    there thereby therefore these they this those though through thus to too toward towards
    under until up upon us very via was we well were what whatever when where whereas whether
    which while who whom whose why will with within without would yet you your
    able achieve achieves achieved achieving address addresses addressing allow allows
    approach approaches based best better challenge challenges challenging compared
    comprehensive conduct consider considered current demonstrate demonstrates demonstrating
    design designed develop developed different due effective effectively efficient
    enable enables enabling existing experiment experiments experimental extensive
    extensively first further furthermore given high however improve improved improves
    improving including introduce introduces introducing key large largely lead leads
    leverage leverages leveraging method methods moreover multiple new novel outperform
    outperforms paper particular performance present presents previous prior problem
    propose proposed proposes provide provides providing recent recently remain remains
    result results second show shows shown significant significantly simple state-of-the-art
    strong study studies superior task tasks three two use used uses using various well-known
    work works yield yields
    """.split()  # noqa: SIM905 (a word list reads better as text)
)

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9]*(?:[-'/][A-Za-z0-9]+)*")
# A sentence ends at . ! ? (and closing quotes or brackets) before a space and
# an upper-case letter, digit or opening bracket, unless the word before the
# period is a known abbreviation or a single letter (initials, "Fig. 3").
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"(\[]?[A-Z0-9$\\])")
_ABBREVIATIONS = frozenset(
    "e.g i.e et al vs fig figs eq eqs ref refs sec resp approx cf no viz incl".split()  # noqa: SIM905
)
_CUE = re.compile(
    r"\b(?:we|this (?:paper|work|study|article)|our (?:method|approach|framework|work|paper)|"
    r"here(?:in)?,? we|in this (?:paper|work|study))\s+(?:\w+\s+){0,2}?"
    r"(?:propose|present|introduce|develop|design|formulate|construct|build|offer|"
    r"describe|study|investigate|analy[sz]e|examine|conduct|contribute|demonstrate|"
    r"employ|create|release|provide|devise|establish)",
    re.IGNORECASE,
)
_NAMED_CUE = re.compile(
    r"\b(?:proposes|presents|introduces|our core contribution|we call|dubbed|named)\b",
    re.IGNORECASE,
)
_PENALTY = re.compile(
    r"https?://|\bgithub\b|\bcode (?:is|and|will)|\bavailable at\b|\bproject page\b|"
    r"\bwill be (?:made )?(?:publicly )?(?:released|available)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Teaser:
    keyphrases: list[str]
    tldr: str


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the sentences of ``text``."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        before = text[start : match.start()].rstrip("\"')]")
        last = before.rsplit(" ", 1)[-1].lower().rstrip(".!?")
        if last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha()):
            continue
        end = len(text[: match.end()].rstrip())
        if end > start:
            spans.append((start, end))
        start = match.end()
    tail = text[start:].rstrip()
    if tail:
        spans.append((start, start + len(tail)))
    return spans


@dataclass(frozen=True, slots=True)
class Candidate:
    key: str  # lower-cased words: the same phrase wherever it occurs
    surface: str  # as shown
    spans: list[tuple[int, int]]  # every occurrence, in characters of the text


def _shown(words: Sequence[str]) -> str:
    # Keep acronyms and names with inner capitals (GPT-2, DINOv2, LoRA); lower
    # the rest, which is capitalized by title case or sentence start only.
    return " ".join(w if w[1:] != w[1:].lower() else w.lower() for w in words)


def candidates(text: str, *, max_words: int = MAX_WORDS) -> list[Candidate]:
    """Noun-phrase-like n-grams of ``text``: runs of content words that no
    stopword, punctuation or number interrupts, and every n-gram of them up to
    ``max_words`` words; no part of speech tagger (none ships offline)."""
    runs: list[list[re.Match[str]]] = []
    run: list[re.Match[str]] = []
    previous_end = -1
    for match in _WORD.finditer(text):
        word = match.group()
        gap = text[previous_end : match.start()] if previous_end >= 0 else " "
        content = (
            word.lower() not in STOPWORDS
            and not word.isdigit()
            and len(word) > 1
            and not re.fullmatch(r"[\d.,%]+", word)
        )
        if not content or (run and gap.strip()):
            if run:
                runs.append(run)
            run = []
        if content:
            run.append(match)
        previous_end = match.end()
    if run:
        runs.append(run)
    found: dict[str, Candidate] = {}
    for words in runs:
        for size in range(1, max_words + 1):
            for i in range(len(words) - size + 1):
                part = words[i : i + size]
                if size == 1 and len(part[0].group()) < 3:
                    continue
                key = " ".join(m.group().lower() for m in part)
                span = (part[0].start(), part[-1].end())
                known = found.get(key)
                if known is None:
                    found[key] = Candidate(key, _shown([m.group() for m in part]), [span])
                else:
                    known.spans.append(span)
    return list(found.values())


def mmr(
    relevance: np.ndarray, vectors: np.ndarray, k: int, diversity: float = MMR_DIVERSITY
) -> list[int]:
    """Maximal marginal relevance: indices of ``k`` items, each the most
    relevant one after subtracting its closeness to those already picked."""
    if len(relevance) == 0:
        return []
    picked = [int(np.argmax(relevance))]
    redundancy = np.full(len(relevance), -np.inf, dtype=np.float32)
    while len(picked) < min(k, len(relevance)):
        redundancy = np.maximum(redundancy, vectors @ vectors[picked[-1]])
        score = (1 - diversity) * relevance - diversity * redundancy
        score[picked] = -np.inf
        picked.append(int(np.argmax(score)))
    return picked


def sentence_score(sentence: str, position: int) -> float:
    """The cue part of a sentence's TL;DR score (added to its centrality)."""
    score = 0.0
    if _CUE.search(sentence) or _NAMED_CUE.search(sentence):
        score += CUE_BONUS
    if _PENALTY.search(sentence):
        score -= 1.0
    if len(sentence.split()) < 6:
        score -= 0.2
    return score


def _dedupe_nested(picked: list[Candidate]) -> list[Candidate]:
    # "language models" adds nothing beside "large language models".
    keep: list[Candidate] = []
    for c in picked:
        if any(
            f" {c.key} " in f" {o.key} " for o in picked if o is not c and len(o.key) > len(c.key)
        ):
            continue
        keep.append(c)
    return keep


def extract(
    text: str,
    abstract_start: int,
    document_vector: np.ndarray,
    span_vectors: _SpanEncoder,
    *,
    k: int = MAX_KEYPHRASES,
) -> Teaser:
    """Keyphrases of ``text`` (title. abstract) and the TL;DR sentence of its
    abstract part (from ``abstract_start``); ``span_vectors`` gives unit
    vectors of character spans of ``text`` (pooled token states, or separate
    embeddings of the span's text)."""
    found = candidates(text)
    keyphrases: list[str] = []
    if found:
        first_spans = [c.spans[0] for c in found]
        vectors, covered = span_vectors(first_spans)
        # A candidate past the token cap has no vector: it ranks on its bonuses
        # alone (a zero vector would also look maximally novel to MMR).
        relevance = np.where(covered, vectors @ document_vector, 0.0)
        relevance += np.array(
            [
                TITLE_BONUS * (c.spans[0][1] <= abstract_start)
                + WORDS_BONUS * min(c.key.count(" "), 2)
                + FREQUENCY_BONUS * min(len(c.spans) - 1, 3)
                for c in found
            ],
            dtype=np.float32,
        )
        # MMR over the best few only: the rest would never be picked.
        best = np.argsort(-relevance)[: 6 * k]
        picked = [found[best[i]] for i in mmr(relevance[best], vectors[best], k + 3)]
        keyphrases = [c.surface for c in _dedupe_nested(picked)][:k]
    spans = [
        (abstract_start + s, abstract_start + e) for s, e in split_sentences(text[abstract_start:])
    ]
    tldr = ""
    if spans:
        vectors, covered = span_vectors(spans)
        central = vectors @ document_vector
        central = np.where(
            covered, central, float(central[covered].mean()) if covered.any() else 0.0
        )
        scores = [central[i] + sentence_score(text[s:e], i) for i, (s, e) in enumerate(spans)]
        chosen = int(np.argmax(scores))
        tldr = text[spans[chosen][0] : spans[chosen][1]]
        if len(tldr) > MAX_TLDR_CHARS:  # a run-on "sentence" the splitter could not cut
            tldr = tldr[:MAX_TLDR_CHARS].rsplit(" ", 1)[0] + "…"
    return Teaser(keyphrases, tldr)


class _SpanEncoder:
    """Unit vectors of character spans of one text (see ``extract``)."""

    def __call__(self, spans: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


class PooledSpans(_SpanEncoder):
    """Spans pooled from the token states of the document's own forward pass:
    a span's sum is the difference of two prefix sums of the token states."""

    def __init__(self, states: np.ndarray, offsets: Sequence[tuple[int, int]]) -> None:
        # Special tokens ([CLS], [SEP]) have empty offsets; the others are in order.
        rows = [i for i, (s, e) in enumerate(offsets) if e > s]
        self.starts = np.array([offsets[i][0] for i in rows], dtype=np.int64)
        self.ends = np.array([offsets[i][1] for i in rows], dtype=np.int64)
        self.dim = states.shape[1]
        prefix = np.zeros((len(rows) + 1, self.dim), dtype=np.float32)
        # Row by row: np.cumsum along the first axis is several times slower here.
        for k, row in enumerate(rows):
            np.add(prefix[k], states[row], out=prefix[k + 1])
        self.prefix = prefix

    def __call__(self, spans: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        out = np.zeros((len(spans), self.dim), dtype=np.float32)
        covered = np.zeros(len(spans), dtype=bool)
        if not spans or not len(self.starts):
            return out, covered
        span_starts = np.array([s for s, _ in spans], dtype=np.int64)
        span_ends = np.array([e for _, e in spans], dtype=np.int64)
        first = np.searchsorted(self.ends, span_starts, side="right")  # first token ending after
        last = np.searchsorted(self.starts, span_ends, side="left")  # past the last starting before
        covered = last > first
        sums = self.prefix[last[covered]] - self.prefix[first[covered]]
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        out[covered] = sums / np.clip(norms, 1e-12, None)
        return out, covered


class EmbeddedSpans(_SpanEncoder):
    """Spans embedded one by one as texts of their own: for embedders without
    token states (sentence-transformers), and the bench's KeyBERT reference."""

    def __init__(self, embed: Callable[[Sequence[str]], np.ndarray], text: str) -> None:
        self.embed = embed
        self.text = text

    def __call__(self, spans: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        vectors = self.embed([self.text[s:e] for s, e in spans])
        return np.asarray(vectors, dtype=np.float32), np.ones(len(spans), dtype=bool)


def abstract_start(title: str, abstract: str) -> int:
    """Where the abstract begins in ``models.document_text(title, abstract)``."""
    title = " ".join(title.split())
    if not " ".join(abstract.split()):
        return len(title)  # no abstract: no TL;DR (the title is not one)
    return len(title) + 2 if title else 0


def embed_with_teasers(
    embedder: Embedder, titles: Sequence[str], abstracts: Sequence[str]
) -> tuple[np.ndarray, list[Teaser]]:
    """Document vectors of the papers and their teasers, in one forward pass
    where the embedder hands out token states, else with extra span embeddings."""
    texts = [document_text(t, a) for t, a in zip(titles, abstracts, strict=True)]
    starts = [abstract_start(t, a) for t, a in zip(titles, abstracts, strict=True)]
    teasers: list[Teaser | None] = [None] * len(texts)

    def hook(i: int, states: np.ndarray, offsets: Sequence[tuple[int, int]]) -> None:
        # The document's vector is the mean of the same states (mean pooling).
        pooled = states.mean(axis=0)
        pooled = pooled / max(float(np.linalg.norm(pooled)), 1e-12)
        teasers[i] = extract(texts[i], starts[i], pooled, PooledSpans(states, offsets))

    vectors = embedder.embed_with_tokens(texts, hook)
    if vectors is None:
        vectors = embedder.embed_documents(texts)
        for i, text in enumerate(texts):
            teasers[i] = extract(
                text, starts[i], vectors[i], EmbeddedSpans(embedder.embed_documents, text)
            )
    return vectors, [t if t is not None else Teaser([], "") for t in teasers]
