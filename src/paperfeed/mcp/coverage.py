"""Every route of the JSON API (as /openapi.json names it) and the MCP tool
that does the same through the same function, or why no tool does.
tests/test_mcp.py fails when a route is missing here, or names no tool."""

from __future__ import annotations

_OWNER = "none: edits and deletions stay with the reader (web or API); agents add"
_NOT_AGENTS = "none: API tokens are managed by their owner, never by an agent"
_LINK = "none: a digest subscription is reached by its emailed link, not a reader's token"
_PUBLIC = "none: what is said in public is written by the reader, not an agent in their name"
_MEMBERS = "none: membership and schedules are the members' own decisions, on the web or API"
_ACCOUNT = "none: a whole account moves or goes only at its owner's hand"

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
    ("GET", "/api/me/notes"): "my_notes",
    ("GET", "/api/me/saved/search"): "my_library",  # query=...
    ("GET", "/api/papers/{paper_id}/note"): "get_note",
    ("PUT", "/api/papers/{paper_id}/note"): "write_note",
    ("DELETE", "/api/papers/{paper_id}/note"): "write_note",  # body=""
    ("GET", "/api/collections/{collection_id}/notes/{paper_id}"): "get_note",
    ("PUT", "/api/collections/{collection_id}/notes/{paper_id}"): "write_note",
    ("POST", "/api/me/import"): "none: an import file comes from the reader's own machine",
    ("POST", "/api/me/import/zotero"): "none: needs the reader's Zotero key, which is never kept",
    ("GET", "/api/me/export"): _ACCOUNT,
    ("POST", "/api/me/delete"): _ACCOUNT,
    ("GET", "/api/papers/{paper_id}/comments"): "discussion",
    ("POST", "/api/papers/{paper_id}/comments"): _PUBLIC,
    ("PATCH", "/api/comments/{comment_id}"): _PUBLIC,
    ("DELETE", "/api/comments/{comment_id}"): _OWNER,
    ("PUT", "/api/comments/{comment_id}/hidden"): "none: curators moderate for everyone",
    ("DELETE", "/api/comments/{comment_id}/hidden"): "none: curators moderate for everyone",
    ("GET", "/api/groups"): "my_groups",
    ("POST", "/api/groups"): _MEMBERS,
    ("GET", "/api/groups/{group_id}"): "get_group",
    ("POST", "/api/groups/join"): _MEMBERS,
    ("DELETE", "/api/groups/{group_id}/membership"): _MEMBERS,
    ("POST", "/api/groups/{group_id}/sessions"): _MEMBERS,
    ("DELETE", "/api/groups/{group_id}/sessions/{session_id}"): _MEMBERS,
    ("GET", "/api/groups/sessions/{session_id}/comments"): "discussion",  # session_id=...
    ("POST", "/api/groups/sessions/{session_id}/comments"): _PUBLIC,
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
