"""Code and project links: found in real abstracts (the arXiv cs 2025 export),
normalised, imported from HF daily papers, and stored at ingest on both backends."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from paperfeed.app import Paperfeed
from paperfeed.db import code as code_store
from paperfeed.db.tables import code_links, repositories, repository_stars
from paperfeed.ingest import hf_daily
from paperfeed.models import Paper
from paperfeed.services import code_links as links
from paperfeed.services.ingest import store
from tests.conftest import FIXTURES


def urls(text: str) -> list[tuple[str, str]]:
    return [(link.url, link.kind) for link in links.extract(text)]


# Sentences from abstracts of the arXiv cs 2025 export, as written (ids noted).
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # 2503.11787: www. and a trailing full stop
            "Our code is open-source and available at https://www.github.com/sremedios/eclare.",
            [("https://github.com/sremedios/eclare", "github")],
        ),
        (  # 2503.12418: LaTeX \href{url}{url}: one link
            "Code is available at \\href{https://github.com/xielaobanyy/causal-imt}"
            "{https://github.com/xielaobanyy/causal-imt}.",
            [("https://github.com/xielaobanyy/causal-imt", "github")],
        ),
        (  # 2503.12527: \textcolor{red}{...} and .git
            "The source code and video will be available at "
            "\\textcolor{red}{https://github.com/yiyscut/VIO-IPNet.git}.",
            [("https://github.com/yiyscut/VIO-IPNet", "github")],
        ),
        (  # 2503.12559: .git then a full stop
            "Our code is available at https://github.com/SCZwangxiao/video-FlexReduc.git.",
            [("https://github.com/SCZwangxiao/video-FlexReduc", "github")],
        ),
        (  # 2503.16983: a tree path, plain http
            "Code: http://github.com/PaddlePaddle/PaddleMIX/tree/develop/ppdiffusers/examples/ppvctrl.",
            [("https://github.com/PaddlePaddle/PaddleMIX", "github")],
        ),
        (  # 2504.10986: a tree path down to a folder
            "https://github.com/ai4colonoscopy/PraNet-V2/tree/main/binary_seg/jittor.",
            [("https://github.com/ai4colonoscopy/PraNet-V2", "github")],
        ),
        (  # 2503.12460: no scheme
            "The code is available at github.com/Xu3XiWang/CAD-GD.",
            [("https://github.com/Xu3XiWang/CAD-GD", "github")],
        ),
        (  # 2504.05995: GitLab in parentheses
            "The framework has been made publicly available for the community "
            "(https://gitlab.com/nativqa/nativqa-framework).",
            [("https://gitlab.com/nativqa/nativqa-framework", "gitlab")],
        ),
        (  # 2505.01325: a self-hosted GitLab
            "The benchmark is publicly available at: "
            "https://gitlab.ub.uni-bielefeld.de/s.kenneweg/TRAVELER",
            [("https://gitlab.ub.uni-bielefeld.de/s.kenneweg/TRAVELER", "gitlab")],
        ),
        (  # 2503.20417: a dataset, a model, and a video that is no project page
            "Our CFunSet is available at https://huggingface.co/datasets/ZhenghanYU/CFunSet and "
            "CFunModel is available at https://huggingface.co/ZhenghanYU/CFunModel. A demostration "
            "video of our work is available at https://youtu.be/MOsISOJ66Ms.",
            [
                ("https://huggingface.co/datasets/ZhenghanYU/CFunSet", "hf_dataset"),
                ("https://huggingface.co/ZhenghanYU/CFunModel", "hf_model"),
            ],
        ),
        (  # 2504.11468: a Space, in parentheses
            "achieves top-1 performance on Open LMM Reasoning Leaderboard "
            "(https://huggingface.co/spaces/opencompass/Open_LMM_Reasoning_Leaderboard) among",
            [
                (
                    "https://huggingface.co/spaces/opencompass/Open_LMM_Reasoning_Leaderboard",
                    "hf_space",
                )
            ],
        ),
        (  # 2503.12369: "page:https://" and a github.io project page
            "Code is available at our project page:https://studyingfufu.github.io/L2COcc/.",
            [("https://studyingfufu.github.io/L2COcc", "project")],
        ),
        (  # 2503.11892: a project page and the repository
            "Project page: https://taco-group.github.io/DecAlign and code: "
            "https://github.com/taco-group/DecAlign.",
            [
                ("https://taco-group.github.io/DecAlign", "project"),
                ("https://github.com/taco-group/DecAlign", "github"),
            ],
        ),
        (  # 2503.16563: an organization page is not a model; 2503.12061: anonymous code
            "available at huggingface.co/inceptionai. Our code is in "
            "https://anonymous.4open.science/r/EHNet.",
            [],
        ),
        ("No links here, nor a DOI: https://doi.org/10.1000/xyz123.", []),
        ("A user page https://github.com/sremedios is not a repository.", []),
    ],
)
def test_links_found_in_real_abstracts(text: str, expected: list[tuple[str, str]]) -> None:
    assert urls(text) == expected


def test_the_same_repository_twice_is_one_link() -> None:
    text = "Code: https://github.com/a-b/C.d and https://github.com/A-B/c.d/blob/main/README.md"
    assert urls(text) == [("https://github.com/a-b/C.d", "github")]


def test_the_hf_daily_fields_are_imported() -> None:
    item = json.loads((FIXTURES / "hf_daily_papers/daily_papers_item_2602.23229.json").read_text())
    paper = hf_daily.paper_from_item(item[0], where="fixture")
    assert isinstance(paper, Paper)
    assert paper.github_repo == "https://github.com/marco-garosi/CIRCLE"
    assert paper.project_page == "https://circle-lmm.github.io/"
    assert paper.github_stars == 9
    assert [(link.url, link.kind, source) for link, source in links.links_of(paper)] == [
        ("https://github.com/marco-garosi/CIRCLE", "github", "hf"),
        ("https://circle-lmm.github.io", "project", "hf"),
    ]


def test_odd_hf_link_values_are_dropped_not_the_paper() -> None:
    item = {
        "paper": {
            "id": "2602.00001",
            "title": "T",
            "summary": "S",
            "githubRepo": "javascript:alert(1)",
            "projectPage": ["not", "a", "url"],
            "githubStars": -3,
        }
    }
    paper = hf_daily.paper_from_item(item, where="x")
    assert isinstance(paper, Paper)
    assert (paper.github_repo, paper.project_page, paper.github_stars) == (None, None, None)


def _paper(pid: str, abstract: str, comment: str | None = None, **extra: object) -> Paper:
    return Paper(
        id=pid,
        title=f"Paper {pid}",
        abstract=abstract,
        authors=["A. Author"],
        source="jsonl",
        comment=comment,
        **extra,  # type: ignore[arg-type]
    )


def test_ingest_stores_links_and_repositories(paperfeed: Paperfeed) -> None:
    store(
        paperfeed,
        [
            _paper("2503.12559", "Code at https://github.com/SCZwangxiao/video-FlexReduc.git."),
            _paper("2503.00001", "No code.", comment="10 pages. Code: https://gitlab.com/g/p"),
            _paper("2503.00002", "Nothing to see."),
        ],
    )
    with paperfeed.db.connect() as conn:
        rows = conn.execute(select(code_links).order_by(code_links.c.paper_id)).all()
        repos = conn.execute(select(repositories.c.name, repositories.c.full_name)).all()
        with_code = code_store.ids_with_code(conn)
        shown = code_store.code_for(conn, ["2503.12559", "2503.00002"])
    assert [(r.paper_id, r.url, r.kind, r.source, r.repo) for r in rows] == [
        ("2503.00001", "https://gitlab.com/g/p", "gitlab", "comment", None),
        (
            "2503.12559",
            "https://github.com/SCZwangxiao/video-FlexReduc",
            "github",
            "abstract",
            "sczwangxiao/video-flexreduc",
        ),
    ]
    assert repos == [("sczwangxiao/video-flexreduc", "SCZwangxiao/video-FlexReduc")]
    assert with_code == {"2503.12559", "2503.00001"}
    assert shown["2503.12559"]["github_repo"] == "https://github.com/SCZwangxiao/video-FlexReduc"
    assert shown["2503.12559"]["github_stars"] is None
    assert "2503.00002" not in shown
    # Ingesting the same papers again adds nothing.
    again = store(
        paperfeed,
        [_paper("2503.12559", "Code at https://github.com/SCZwangxiao/video-FlexReduc.git.")],
    )
    assert again.unchanged == 1
    with paperfeed.db.connect() as conn:
        assert len(conn.execute(select(code_links)).all()) == 2


def test_hf_stars_fill_a_repository_github_was_not_asked_about(paperfeed: Paperfeed) -> None:
    item = json.loads((FIXTURES / "hf_daily_papers/daily_papers_item_2602.23229.json").read_text())
    paper = hf_daily.paper_from_item(item[0], where="fixture")
    assert isinstance(paper, Paper)
    store(paperfeed, [paper])
    with paperfeed.db.connect() as conn:
        shown = code_store.code_for(conn, ["2602.23229"])["2602.23229"]
        history = conn.execute(select(repository_stars.c.name, repository_stars.c.stars)).all()
    assert shown["github_repo"] == "https://github.com/marco-garosi/CIRCLE"
    assert shown["github_stars"] == 9
    assert shown["project_page"] == "https://circle-lmm.github.io"
    assert shown["code_url"] == "https://github.com/marco-garosi/CIRCLE"
    assert history == [("marco-garosi/circle", 9)]
