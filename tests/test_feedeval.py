"""The feed benchmark's pieces on a small synthetic corpus: the baseline's
per-user-day score cache, the product ranker's variants and the metrics."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from paperfeed import feedeval as fe


def synthetic_corpus(topics: int = 40, per_topic: int = 8) -> fe.Corpus:
    """``topics`` topics of ``per_topic`` papers, one author each, listed
    one paper a day per topic (day 0..per_topic-1), with words of their own."""
    rng = random.Random(3)
    ids, titles, abstracts, cats, days, authors = [], [], [], [], [], []
    for t in range(topics):
        words = [f"t{t}word{k}" for k in range(12)]
        for p in range(per_topic):
            ids.append(f"{t:03d}.{p:05d}")
            titles.append(" ".join(rng.sample(words, 4)))
            abstracts.append(" ".join(rng.sample(words, 8)) + " common shared text")
            cats.append([f"cs.T{t % 7}"])
            days.append(700000 + p)
            authors.append([f"author-{t}"])
    corpus = fe.Corpus(ids, titles, abstracts, cats, np.asarray(days), authors)
    corpus.index = {pid: i for i, pid in enumerate(ids)}
    return corpus


def test_baseline_scores_are_kept_per_user_day_and_reused(tmp_path: Path) -> None:
    corpus = synthetic_corpus()
    [user, *_] = fe.build_user_days(corpus, days=1, users=5, min_library=2)
    feed = np.flatnonzero(corpus.days == user.day)
    baseline = fe.TfidfSVMBaseline(corpus, tmp_path)
    scores = baseline(user, feed)
    assert int(feed[np.argmax(scores)]) in user.relevant  # its own topic's paper first
    saved = list((tmp_path).glob("baseline-*/*.npy"))
    assert len(saved) == 1
    np.save(saved[0], np.arange(len(feed), dtype=np.float64))  # what a second run reads
    again = fe.TfidfSVMBaseline(corpus, tmp_path)
    assert again(user, feed).tolist() == list(range(len(feed)))


def test_product_ranker_scores_every_variant() -> None:
    corpus = synthetic_corpus()
    users = fe.build_user_days(corpus, days=2, users=10, min_library=2)
    rows = fe.needed_rows(corpus, users)
    rng = np.random.default_rng(1)
    topic_of = np.asarray([int(pid.split(".")[0]) for pid in corpus.ids])
    centers = rng.standard_normal((40, 16))
    vectors = centers[topic_of[rows]] + 0.1 * rng.standard_normal((len(rows), 16))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    background = fe.background_rows(corpus, 100)
    ranker = fe.ProductRanker(corpus, rows, vectors.astype(np.float32), background)
    result = fe.evaluate(corpus, users, {"paperfeed": ranker})  # type: ignore[dict-item]
    assert set(result) == set(fe.variants())
    assert result["paperfeed"]["all"]["recall@10"] == 1.0
    assert result["meaning only (embedding SVM)"]["all"]["recall@10"] == 1.0


def test_metrics() -> None:
    got = fe.metrics([5, 3, 9], {3})
    assert got["recall@10"] == 1.0 and got["mrr"] == 0.5
    assert fe.metrics([5, 3, 9], {7})["recall@10"] == 0.0


def test_month_instance_is_the_month_plus_its_readers_older_libraries() -> None:
    from datetime import date

    corpus = synthetic_corpus(topics=40, per_topic=8)  # days 700000..700007
    since, until = date.fromordinal(700005), date.fromordinal(700007)
    instance, users = fe.month_user_days(corpus, since, until, readers=10, library=3)
    month = {pid for pid, day in zip(corpus.ids, corpus.days, strict=True) if day >= 700005}
    assert month <= set(instance.ids)  # every paper of the month is in the pools
    readers = {u.author for u in users}
    assert len(readers) == 10
    for user in users:
        assert since.toordinal() <= user.day <= until.toordinal()
        library = [instance.ids[r] for r in user.library]
        assert len(library) == 3
        assert all(instance.days[r] < user.day for r in user.library)
        # The 3 latest earlier papers of that author, wherever they are.
        own = sorted(
            (
                pid
                for pid, names in zip(corpus.ids, corpus.authors, strict=True)
                if user.author in names and corpus.days[corpus.index[pid]] < user.day
            ),
            key=lambda pid: corpus.days[corpus.index[pid]],
        )
        assert library == own[-3:]
        relevant = [corpus.index[instance.ids[r]] for r in user.relevant]
        assert relevant
        assert all(
            user.author in corpus.authors[r] and corpus.days[r] == user.day for r in relevant
        )
    # Only the month and the chosen readers' libraries: no other old paper.
    old = set(instance.ids) - month
    assert old == {instance.ids[r] for u in users for r in u.library} - month
