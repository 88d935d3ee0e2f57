"""Papers in Hugging Face's response shapes (``/api/daily_papers``,
``/api/papers/...``), as plain dicts: the JSON API and the MCP tools both
write them, so an agent sees the same fields as an HTTP client."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from typing import Any

from paperfeed import trending


def object_id(*parts: str) -> str:
    # HF ids are 24-hex MongoDB ObjectIds; derive stable ones of the same form.
    return hashlib.sha1("\x1f".join(parts).encode(), usedforsecurity=False).hexdigest()[:24]


def _author_ids(paper_id: str, names: list[str]) -> list[str]:
    """``object_id(paper_id, str(i), name)`` for each author, with the common
    prefix hashed once (a search response hashes ~120 authors)."""
    prefix = hashlib.sha1(f"{paper_id}\x1f".encode(), usedforsecurity=False)
    out = []
    for i, name in enumerate(names):
        h = prefix.copy()
        h.update(f"{i}\x1f{name}".encode())
        out.append(h.hexdigest()[:24])
    return out


def _iso(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    # "2025-03-04T05:06:07.089Z", HF's form (isoformat: a third of strftime's cost).
    # The two common cases first, as as_utc would give them: a day is midnight
    # UTC, and SQLite's naive datetimes are UTC.
    if type(value) is date:
        return value.isoformat() + "T00:00:00.000Z"
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.isoformat(timespec="milliseconds") + "Z"
    return trending.as_utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# The response shapes are built as plain dicts and serialized by pydantic-core
# in one call: building the pydantic models of web/api.py for every paper and author
# was ~1 ms of a 20-hit search request. The models stay the documented schema
# (OpenAPI, ``response_model``), and tests check that these dicts validate
# against them and serialize to the same JSON.


def hf_paper_dict(paper: dict[str, Any], published: str | None = None) -> dict[str, Any]:
    """A paper in HFPaper's shape (by alias, None fields left out).
    ``published``: ``published_at(paper)`` when the caller has it already."""
    paper_id = paper["id"]
    names = paper.get("authors") or []
    shaped: dict[str, Any] = {
        "id": paper_id,
        "authors": [
            {"_id": object_id, "name": name, "hidden": False}
            for object_id, name in zip(_author_ids(paper_id, names), names, strict=True)
        ],
        "publishedAt": published or published_at(paper),
    }
    on_daily = _iso(paper.get("featured_date") or paper.get("listing_date"))
    if on_daily is not None:
        shaped["submittedOnDailyAt"] = on_daily
    shaped["title"] = paper["title"]
    submitter = paper.get("submitted_by")
    if submitter:
        shaped["submittedOnDailyBy"] = {
            "_id": object_id("user", submitter),
            "avatarUrl": "",
            "isPro": False,
            "fullname": submitter,
            "user": submitter,
            "type": "user",
        }
    shaped["summary"] = paper.get("abstract") or ""
    shaped["upvotes"] = int(paper.get("upvotes", paper.get("imported_upvotes")) or 0)
    # HF fills these with a model's summary and keywords; here they are the
    # offline extractive TL;DR and keyphrases (docs/summaries.md).
    if paper.get("tldr"):
        shaped["ai_summary"] = paper["tldr"]
    if paper.get("keyphrases"):
        shaped["ai_keywords"] = list(paper["keyphrases"])
    # Code links (trending.with_code), in HF's field names, when the paper has them.
    if paper.get("project_page"):
        shaped["projectPage"] = paper["project_page"]
    if paper.get("github_repo"):
        shaped["githubRepo"] = paper["github_repo"]
        if paper.get("github_stars") is not None:
            shaped["githubStars"] = int(paper["github_stars"])
    organization = hf_organization(paper)
    if organization is not None:
        shaped["organization"] = organization
    return shaped


def hf_organization(paper: dict[str, Any]) -> dict[str, Any] | None:
    """HF's organization object for a paper HF listed under one (kept at
    ingest, papers.organization). Affiliations from arXiv are not put here:
    HF's field names one Hub account, and an affiliation is none; they are on
    the paper page and /organizations/{key}."""
    org = paper.get("organization")
    if not isinstance(org, dict) or not (org.get("name") or org.get("fullname")):
        return None
    name = org.get("name") or org["fullname"]
    shaped = {"_id": object_id("organization", name), "name": name}
    shaped["fullname"] = org.get("fullname") or name
    if org.get("avatar"):
        shaped["avatar"] = org["avatar"]
    return shaped


def hf_daily_dict(paper: dict[str, Any]) -> dict[str, Any]:
    """A daily-papers item in HFDailyPaper's shape (by alias, None fields left out)."""
    published = published_at(paper)
    shaped: dict[str, Any] = {
        "paper": hf_paper_dict(paper, published),
        "publishedAt": published,
        "title": paper["title"],
        "summary": paper.get("abstract") or "",
        "mediaUrls": [],
        "numComments": int(paper.get("num_comments") or 0),
    }
    # huggingface_hub's PaperInfo reads the code fields from the item's top
    # level (HF's own answer has them only in ``paper``): both, so its
    # list_daily_papers and list_papers see them.
    for key in ("projectPage", "githubRepo", "githubStars"):
        if key in shaped["paper"]:
            shaped[key] = shaped["paper"][key]
    submitter = paper.get("submitted_by")
    if submitter:
        shaped["submittedBy"] = {
            "_id": object_id("user", submitter),
            "avatarUrl": "",
            "fullname": submitter,
            "name": submitter,
            "type": "user",
            "isPro": False,
            "isHf": False,
            "isHfAdmin": False,
            "isMod": False,
            "followerCount": 0,
            "isUserFollowing": False,
        }
    organization = hf_organization(paper)
    if organization is not None:
        shaped["organization"] = organization
    shaped["isAuthorParticipating"] = False
    # huggingface_hub reads a daily item's ai_summary / ai_keywords beside
    # "paper", not inside it: both places carry them.
    for key in ("ai_summary", "ai_keywords"):
        if key in shaped["paper"]:
            shaped[key] = shaped["paper"][key]
    return shaped


def published_at(paper: dict[str, Any]) -> str:
    return (
        _iso(paper.get("published"))
        or _iso(paper.get("listing_date"))
        or _iso(paper.get("created_at"))
        or _iso(datetime.now(UTC))
        or ""
    )
