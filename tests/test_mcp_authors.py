"""The MCP author tools: get_author answers as GET /api/authors/{key},
follow_author needs a write token and its follows stay the owner's."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from paperfeed.app import Paperfeed
from paperfeed.services import authors as author_service
from paperfeed.services.ingest import store
from tests.helpers import make_paper
from tests.mcp_support import Library, call, local_client, refused, run_async, seed


@pytest.fixture
def library(paperfeed: Paperfeed) -> Library:
    found = seed(paperfeed)
    store(
        paperfeed,
        [
            make_paper("2502.00001", authors=["Laura Leal-Taixé", "Cengiz Öztireli"]),
            make_paper("2502.00002", authors=["L. Leal-Taixe"], categories=["cs.CV"]),
        ],
    )
    return found


def test_get_author_is_the_json_apis_answer(
    paperfeed: Paperfeed, client: TestClient, library: Library
) -> None:
    async def go() -> dict:
        async with local_client(paperfeed, library.alice_read_token) as mcp:
            return await call(mcp, "get_author", key="laura-leal-taixe")

    tool = run_async(go)
    assert tool == client.get("/api/authors/laura-leal-taixe").json()
    assert tool["total"] == 2  # "L. Leal-Taixe" is hers
    assert {c["key"] for c in tool["coauthors"]} == {"cengiz-oztireli"}

    async def missing() -> str:
        async with local_client(paperfeed, library.alice_read_token) as mcp:
            return await refused(mcp, "get_author", key="nobody-here")

    assert "no author" in run_async(missing)


def test_follow_author_needs_write_and_stays_private(
    paperfeed: Paperfeed, library: Library
) -> None:
    async def go() -> None:
        async with local_client(paperfeed, library.alice_read_token) as reader_only:
            assert "'write' scope" in await refused(
                reader_only, "follow_author", key="laura-leal-taixe"
            )
        async with local_client(paperfeed, library.alice_token) as alice:
            done = await call(alice, "follow_author", key="laura-leal-taixe")
            assert done == {
                "key": "laura-leal-taixe",
                "name": "Laura Leal-Taixé",
                "following": True,
            }
            mine = await call(alice, "my_followed_authors")
            assert [a["key"] for a in mine["authors"]] == ["laura-leal-taixe"]
            assert {p["id"] for p in mine["papers"]} == {"2502.00001", "2502.00002"}
        async with local_client(paperfeed, library.bob_token) as bob:
            assert (await call(bob, "my_followed_authors"))["authors"] == []
            theirs = await call(bob, "get_author", key="laura-leal-taixe")
            assert theirs["following"] is False
        async with local_client(paperfeed, library.alice_token) as alice:
            await call(alice, "follow_author", key="laura-leal-taixe", on=False)
            assert (await call(alice, "my_followed_authors"))["authors"] == []

    run_async(go)
    assert author_service.followed(paperfeed, library.alice) == []
