"""Every route of the JSON API (as /openapi.json names it) and the MCP tool
that does the same through the same function, or why no tool does.
tests/test_mcp.py fails when a route is missing here, or names no tool."""

from __future__ import annotations

_OWNER = "none: edits and deletions stay with the reader (web or API); agents add"
_NOT_AGENTS = "none: API tokens are managed by their owner, never by an agent"
_LINK = "none: a digest subscription is reached by its emailed link, not a reader's token"

API_ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/api/search"): "search_papers",
    ("GET", "/api/papers/search"): "search_papers",
    ("GET", "/api/papers/{paper_id}"): "get_paper",
    ("GET", "/api/daily_papers"): "trending",
    ("POST", "/api/recommend"): "recommend",
    ("GET", "/api/me"): "whoami",
    ("GET", "/api/me/saved"): "my_library",
    ("GET", "/api/me/hidden"): "my_library",
    ("GET", "/api/me/upvoted"): "my_library",
    ("GET", "/api/me/papers/{paper_id}"): "paper_state",
    ("POST", "/api/papers/{paper_id}/upvote"): "upvote_paper",
    ("DELETE", "/api/papers/{paper_id}/upvote"): "upvote_paper",  # on=false
    ("POST", "/api/papers/{paper_id}/upvote/toggle"): "upvote_paper",
    ("POST", "/api/papers/{paper_id}/save"): "save_paper",
    ("DELETE", "/api/papers/{paper_id}/save"): "save_paper",  # on=false
    ("POST", "/api/papers/{paper_id}/hide"): "hide_paper",
    ("DELETE", "/api/papers/{paper_id}/hide"): "hide_paper",  # on=false
    ("GET", "/api/collections"): "my_collections",
    ("POST", "/api/collections"): "create_collection",
    ("GET", "/api/collections/{collection_id}"): "get_collection",
    ("PUT", "/api/collections/{collection_id}/papers/{paper_id}"): "add_to_collection",
    ("GET", "/api/me/saved_searches"): "my_saved_searches",
    ("POST", "/api/me/saved_searches"): "create_saved_search",
    ("PATCH", "/api/collections/{collection_id}"): _OWNER,
    ("DELETE", "/api/collections/{collection_id}"): _OWNER,
    ("DELETE", "/api/collections/{collection_id}/papers/{paper_id}"): _OWNER,
    ("PUT", "/api/me/saved_searches/{search_id}"): _OWNER,
    ("DELETE", "/api/me/saved_searches/{search_id}"): _OWNER,
    ("POST", "/api/papers/{paper_id}/curation"): "none: curators decide for everyone",
    ("GET", "/api/me/tokens"): _NOT_AGENTS,
    ("POST", "/api/me/tokens"): _NOT_AGENTS,
    ("DELETE", "/api/me/tokens/{token_id}"): _NOT_AGENTS,
    ("POST", "/api/submissions"): "none: a submission fetches from arXiv for everyone",
    ("GET", "/api/me/submissions"): "none: goes with submitting",
    ("POST", "/api/digest/subscribe"): "none: subscribing confirms by email",
    ("GET", "/api/digest/subscription/{token}"): _LINK,
    ("PUT", "/api/digest/subscription/{token}"): _LINK,
    ("GET", "/api/authors/{key}"): "get_author",
    ("PUT", "/api/me/following/{key}"): "follow_author",
    ("DELETE", "/api/me/following/{key}"): "follow_author",  # on=false
    ("GET", "/api/me/following"): "my_followed_authors",
    ("GET", "/api/me/following/papers"): "my_followed_authors",  # papers=N
    ("GET", "/api/organizations/{key}"): (
        "none: organizations are browsed on their pages; get_paper and get_author "
        "answer what an agent asks about a paper's people"
    ),
}
# Tools without a JSON route, and what they share with the pages instead.
PAGE_TWINS = {
    "read_paper": "GET /papers/{id}.md (export.markdown)",
    "similar_papers": "the paper page's Similar papers (services.search.similar)",
}
