"""Author-name normalisation (paperfeed.names) on real names of the arXiv cs
2025 export: which spellings are one author, and which initials forms merge."""

from __future__ import annotations

import pytest

from paperfeed.names import abbreviates, organization_key, parse_author, split_affiliation


def key(name: str) -> str:
    parsed = parse_author(name)
    assert parsed is not None
    return parsed.key


@pytest.mark.parametrize(
    "spellings",
    [
        # Case (all from the corpus, each pair on different papers).
        ("Yang Liu", "Yang liu"),
        ("Yanfeng Gu", "YanFeng Gu", "YanFeng GU"),
        ("Tat-Seng Chua", "Tat-seng Chua"),
        ("Anton van den Hengel", "Anton Van Den Hengel"),
        # Accents.
        ("Luisa Gallée", "Luisa Gallee"),
        ("Aleksandra Pižurica", "Aleksandra Pizurica"),
        ("Cengiz Öztireli", "Cengiz Oztireli"),
        ("Grzegorz Wilczyński", "Grzegorz Wilczynski"),
        # Punctuation: hyphens, full stops, spaces.
        ("Laura Leal-Taixé", "Laura Leal-Taixe"),
        ("Paula Andrea Pérez-Toro", "Paula Andrea Perez-Toro", "Paula Andrea Pérez Toro"),
        ("Tomás Arias-Vergara", "Tomas Arias Vergara"),
        ("Celso M. de Melo", "Celso M de Melo", "Celso M. De Melo"),
        ("MD. Jahidul Islam", "Md Jahidul Islam"),
        # Letters NFKD keeps whole.
        ("Łukasz Kaiser", "Lukasz Kaiser"),
        ("Jürgen Schmidhuber", "Jurgen Schmidhuber"),
    ],
)
def test_spellings_of_one_author_share_a_key(spellings: tuple[str, ...]) -> None:
    assert len({key(s) for s in spellings}) == 1, [key(s) for s in spellings]


def test_the_key_is_a_readable_url_segment() -> None:
    assert key("Laura Leal-Taixé") == "laura-leal-taixe"
    assert key("Celso M. de Melo") == "celso-m-de-melo"
    assert key("John Smith Jr.") == "john-smith"
    # Other scripts keep their letters.
    assert key("王小明") == "王小明"
    assert parse_author("...") is None
    assert len(key("A" * 300 + " Smith")) <= 200


def test_different_people_keep_different_keys() -> None:
    # Middle initials are part of the name: "Vishal M. Patel" is not "Vishal Patel".
    assert key("Vishal M. Patel") != key("Vishal Patel")
    assert key("Yang Liu") != key("Yang Li")


def test_initials_forms() -> None:
    short = parse_author("J. M. M. Montiel")
    full = parse_author("José M. M. Montiel")
    assert short is not None and full is not None
    assert short.abbreviated and not full.abbreviated
    assert abbreviates(short, full)
    s_smith, full_smith = parse_author("M. J. Smith"), parse_author("Michael J. Smith")
    assert s_smith is not None and full_smith is not None and abbreviates(s_smith, full_smith)
    # "J.-P." is two initials.
    jp = parse_author("J.-P. Dupont")
    assert jp is not None and jp.initials == "jp" and jp.abbreviated
    jean_pierre = parse_author("Jean-Pierre Dupont")
    assert jean_pierre is not None and abbreviates(jp, jean_pierre)
    # A different first initial, or initials the full name does not begin with: no.
    for other in ("Gregory Stevens", "Michael Smith"):
        parsed = parse_author(other)
        assert parsed is not None
        assert not abbreviates(s_smith, parsed)
    # A full name never "abbreviates" another.
    mike = parse_author("Mike Walmsley")
    assert mike is not None and not abbreviates(mike, mike)


def test_organization_keys() -> None:
    assert organization_key("Bologna University and INFN") == "bologna-university-and-infn"
    assert organization_key("Université Paris-Saclay") == organization_key(
        "Universite Paris Saclay"
    )
    assert organization_key(" ;; ") is None
    assert split_affiliation("MIT; Google Research ;") == ["MIT", "Google Research"]


def test_a_hyphenated_surname_stays_one_surname() -> None:
    short, full = parse_author("L. Leal-Taixe"), parse_author("Laura Leal-Taixé")
    assert short is not None and full is not None
    assert short.abbreviated and short.initials_key == full.initials_key == "l-leal-taixe"
    assert abbreviates(short, full)
    dotted = parse_author("J.P. Dupont")
    assert dotted is not None and dotted.initials == "jp" and dotted.abbreviated
