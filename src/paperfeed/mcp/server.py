"""Paperfeed's MCP server (the official ``mcp`` SDK's MCPServer).

Every tool calls the function its JSON API twin calls (mcp/coverage.py maps
each JSON route to its tool, or says why none; tests/test_mcp.py checks that
map against the app and the tools' fields against the API's). Answers are compact JSON text:
``detail="compact"`` (the default) keeps the fields an agent needs to choose
and cite; ``"full"`` gives the API's fields. No call returns more than
``MAX_ITEMS`` papers or ``MAX_CHARS`` characters of a paper.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.server.mcpserver.prompts.base import UserMessage
from mcp_types import ToolAnnotations
from pydantic import Field
from pydantic_core import to_json

from paperfeed import export, readers
from paperfeed import recommend as recommend_core
from paperfeed import trending as trending_core
from paperfeed.app import Paperfeed
from paperfeed.query import QueryError
from paperfeed.readers import Reader
from paperfeed.search import SearchRequest
from paperfeed.services import authors, listings
from paperfeed.services import comments as comments_service
from paperfeed.services import groups as groups_service
from paperfeed.services import library as library_service
from paperfeed.services import search as search_service
from paperfeed.services.hf_shapes import hf_daily_dict, hf_paper_dict

MAX_ITEMS = 100  # papers per call (search, trending); the JSON API's maximum too
MAX_CHARS = 16_000  # characters of a paper per read_paper call

COLLECTION_FIELDS = ("id", "name", "description", "is_public", "created_at", "paper_count")
SAVED_SEARCH_FIELDS = ("id", "name", "query", "created_at")
LIBRARY_KINDS = {"saved": "save", "upvoted": "vote", "hidden": "hide"}
# The JSON API's CommentOut less its HTML rendering (the Markdown says the same).
COMMENT_FIELDS = ("id", "paper_id", "parent_id", "depth", "author", "status", "body",
                  "created_at", "edited_at")  # fmt: skip
NOTE_FIELDS = ("paper_id", "collection_id", "body", "created_at", "updated_at", "title",
               "collection_name")  # fmt: skip
GROUP_FIELDS = ("id", "name", "description", "my_role")
SESSION_FIELDS = ("id", "starts_at", "title", "paper_ids", "presenter_id", "presenter_name")

Detail = Annotated[
    Literal["compact", "full"],
    Field(description="compact (default): the fields to choose and cite; full: the API's fields"),
]
PaperId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        description="A paper id as search_papers returns it, e.g. 2401.01234",
    ),
]
AuthorKey = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        description='An author key: the name lower-cased, accents and punctuation gone, "-" '
        'between words ("laura-leal-taixe"); get_paper\'s authors give the names',
    ),
]
CollectionId = Annotated[int, Field(ge=1, le=2**63 - 1, description="From my_collections")]
GroupId = Annotated[int, Field(ge=1, le=2**63 - 1, description="From my_groups")]
SessionId = Annotated[int, Field(ge=1, le=2**63 - 1, description="A session id from get_group")]

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)
WRITE = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
CREATE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)


@dataclass(frozen=True)
class Caller:
    """Who is calling: a token's reader (None: anonymous) and the key its
    calls are counted under."""

    reader: Reader | None
    rate_key: str


def caller_for(app: Paperfeed, token: str | None, address: str) -> Caller | str:
    """The caller a bearer token (or none) stands for, or why it is refused."""
    if token:
        reader = readers.reader_for_api_token(app.db, token)
        if reader is None:
            return "Invalid or revoked API token."
        return Caller(reader, "t:" + hashlib.sha256(token.encode()).hexdigest()[:40])
    if app.settings.mcp_anonymous_read:
        return Caller(None, "a:" + address[:300])
    return "Send 'Authorization: Bearer <API token>' (make one on your account page)."


def _authors(names: list[str]) -> list[str]:
    return names if len(names) <= 4 else [*names[:3], f"+{len(names) - 3} more"]


def _compact_hit(hit: dict[str, Any]) -> dict[str, Any]:
    keep = ("id", "title", "listing_date", "upvotes", "snippet")
    out = {**{k: hit[k] for k in keep}, "authors": _authors(hit["authors"])}
    # The code link and its stars, when the paper has one.
    out.update({k: hit[k] for k in ("code_url", "github_stars") if hit.get(k) is not None})
    return out


def _compact_paper(paper: dict[str, Any]) -> dict[str, Any]:
    """An HF-shaped paper with its authors as names (the HF shape gives each an id)."""
    keep = (
        "id",
        "title",
        "publishedAt",
        "submittedOnDailyAt",
        "upvotes",
        "ai_summary",
        "ai_keywords",
        "summary",
        "githubRepo",
        "githubStars",
        "projectPage",
    )
    out = {k: paper[k] for k in keep if k in paper}
    return {**out, "authors": _authors([a["name"] for a in paper["authors"]])}


def _utc(value: Any) -> Any:
    """Timestamps with their offset, as the API's UTCDateTime writes them
    (SQLite returns naive UTC datetimes)."""
    if isinstance(value, dict):
        return {k: _utc(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_utc(v) for v in value]
    return trending_core.as_utc(value) if isinstance(value, datetime) else value


def _pick(row: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {k: row.get(k) for k in fields}


def build_server(
    app: Paperfeed, stdio_caller: Callable[[], Caller | str] | None = None
) -> MCPServer:
    """The MCP server over ``app``. Over HTTP the caller comes from the
    request (``transports.Guard`` resolves it); otherwise from ``stdio_caller``."""
    db, settings = app.db, app.settings
    server = MCPServer(
        "paperfeed",
        title=settings.site_name,
        instructions=(
            "Research papers: search_papers finds them (query language: words, "
            '"phrases", title:/abstract:/author: fields, -exclusions); get_paper '
            "and read_paper give one; trending lists a day, week or month; recommend "
            "is the token owner's feed. Cite papers by id."
        ),
    )

    def caller(ctx: Context) -> Caller:
        request = ctx.request_context.request
        found = request.state.mcp_caller if request is not None else None
        if found is None and stdio_caller is not None:
            found = stdio_caller()
        if not isinstance(found, Caller):
            raise ToolError(found or "No credentials.")
        return found

    def run(ctx: Context, scope: str, work: Callable[[Reader | None], Any], *, own: bool) -> str:
        """Check the caller may (``scope``; ``own``: acts on the caller's own
        data, so needs a token), count the call, and do ``work``; a refusal
        or bad input becomes a tool error naming the problem."""
        who = caller(ctx)
        try:
            if who.reader is None and (own or scope != "read"):
                raise ToolError(
                    f"This tool needs an API token with the {scope!r} scope "
                    "(Authorization: Bearer pf_...)."
                )
            if who.reader is not None:
                readers.require_scope(who.reader, scope)
            readers.check_call_rate(settings, db, who.rate_key)
            return to_json(_utc(work(who.reader))).decode()
        except (
            readers.ReaderError,
            QueryError,
            trending_core.PeriodError,
            recommend_core.RecommendError,
        ) as exc:
            raise ToolError(str(exc)) from exc

    def paper_or_error(paper_id: str) -> dict[str, Any]:
        paper = listings.paper(app, paper_id)
        if paper is None:
            raise readers.NotFound(f"No paper {paper_id[:200]!r}; search_papers finds ids.")
        return paper

    # ------------------------------------------------------------ papers

    @server.tool(annotations=READ, structured_output=False)
    def search_papers(
        ctx: Context,
        query: Annotated[
            str,
            Field(
                max_length=1000,
                description='Words, "a phrase", title:/abstract:/author:/category: fields, '
                "-word to exclude, OR. Empty lists everything (with filters).",
            ),
        ] = "",
        category: Annotated[
            list[Annotated[str, Field(max_length=100)]],
            Field(max_length=20, description="arXiv categories, any of, e.g. cs.CL"),
        ] = [],  # noqa: B006 (pydantic copies defaults)
        author: Annotated[
            list[Annotated[str, Field(max_length=200)]],
            Field(max_length=20, description="Author names, any of"),
        ] = [],  # noqa: B006
        since: Annotated[date | None, Field(description="Listed on or after, YYYY-MM-DD")] = None,
        until: Annotated[date | None, Field(description="Listed on or before, YYYY-MM-DD")] = None,
        sort: Literal["relevance", "date", "upvotes"] = "relevance",
        has_code: Annotated[
            bool, Field(description="Only papers that link to code (has:code in the query)")
        ] = False,
        mode: Annotated[
            Literal["hybrid", "lexical", "dense"],
            Field(description="hybrid: keywords + meaning; lexical: keywords; dense: meaning"),
        ] = "hybrid",
        page: Annotated[int, Field(ge=1, le=10_000)] = 1,
        per_page: Annotated[int, Field(ge=1, le=MAX_ITEMS)] = 20,
        detail: Detail = "compact",
    ) -> str:
        """Search papers (the search page's and GET /api/search's search). Returns
        total, pages and hits (id, title, authors, listing_date, upvotes, snippet
        with matched words in <b>). Page on with page=2... Up to 100 per call."""
        wanted = SearchRequest(
            query=query,
            categories=tuple(category),
            authors=tuple(author),
            since=since,
            until=until,
            sort=sort,
            mode=mode,
            page=page,
            per_page=per_page,
            has_code=has_code,
        )

        def work(_: Reader | None) -> dict[str, Any]:
            found = search_service.search(app, wanted).as_json()
            if detail == "compact":
                found["hits"] = [_compact_hit(h) for h in found["hits"]]
            return found

        return run(ctx, "read", work, own=False)

    @server.tool(annotations=READ, structured_output=False)
    def get_paper(ctx: Context, paper_id: PaperId, detail: Detail = "compact") -> str:
        """One paper: title, authors, abstract (summary), dates, upvotes (as GET
        /api/papers/{id}). For the whole text with links, use read_paper."""

        def work(_: Reader | None) -> dict[str, Any]:
            paper = hf_paper_dict(paper_or_error(paper_id))
            return paper if detail == "full" else _compact_paper(paper)

        return run(ctx, "read", work, own=False)

    @server.tool(annotations=READ, structured_output=False)
    def read_paper(
        ctx: Context,
        paper_id: PaperId,
        offset: Annotated[int, Field(ge=0, description="Character to start at")] = 0,
        max_chars: Annotated[int, Field(ge=200, le=MAX_CHARS)] = 8000,
    ) -> str:
        """A paper as Markdown (title, authors, dates, categories, DOI, links to
        the arXiv page and PDF, abstract), in chunks: call again with
        offset=next_offset until next_offset is null."""

        def work(_: Reader | None) -> dict[str, Any]:
            paper = paper_or_error(paper_id)
            text = export.markdown(paper, f"{settings.base_url.rstrip('/')}/papers/{paper['id']}")
            end = offset + max_chars
            return {
                "id": paper["id"],
                "offset": offset,
                "next_offset": end if end < len(text) else None,
                "total_chars": len(text),
                "text": text[offset:end],
            }

        return run(ctx, "read", work, own=False)

    @server.tool(annotations=READ, structured_output=False)
    def trending(
        ctx: Context,
        period: Literal["day", "week", "month"] = "day",
        when: Annotated[
            str | None,
            Field(
                max_length=20,
                description="Which one: 2025-03-04 (day), 2025-W10 (week), 2025-03 (month); "
                "default: the latest that has papers",
            ),
        ] = None,
        sort: Annotated[
            Literal["trending", "publishedAt", "code"],
            Field(
                description="trending score, newest, or trending by code (GitHub stars "
                "gained in the period blended with upvotes; papers with code only)"
            ),
        ] = "trending",
        has_code: Annotated[bool, Field(description="Only papers that link to code")] = False,
        page: Annotated[int, Field(ge=0, le=100_000, description="From 0")] = 0,
        limit: Annotated[int, Field(ge=1, le=MAX_ITEMS)] = 20,
        detail: Detail = "compact",
    ) -> str:
        """The papers of a day, ISO week or month by trending score (readers'
        and Hugging Face upvotes, decaying with age), or by code (sort=code),
        as GET /api/daily_papers. Papers with code carry githubRepo,
        githubStars and projectPage."""

        def work(_: Reader | None) -> dict[str, Any]:
            latest = listings.latest_period
            chosen = trending_core.parse_period(period, when) if when else latest(app, period)
            if chosen is None:
                return {"period": None, "total": 0, "papers": []}
            listed = listings.list_papers(
                app, chosen, sort=sort, page=page, limit=limit, has_code=has_code
            ).page
            assert listed is not None
            items = [hf_daily_dict(p) for p in listed.papers]
            if detail == "compact":
                items = [_compact_paper(item["paper"]) for item in items]
                for item in items:
                    item.pop("summary", None)
            return {"period": chosen.slug, "page": page, "total": listed.total, "papers": items}

        return run(ctx, "read", work, own=False)

    @server.tool(annotations=READ, structured_output=False)
    def similar_papers(
        ctx: Context, paper_id: PaperId, limit: Annotated[int, Field(ge=1, le=50)] = 10
    ) -> str:
        """Papers nearest in meaning to one paper (as its page's "Similar papers"),
        each with its similarity (0-1). Empty while embeddings are not built."""

        def work(_: Reader | None) -> dict[str, Any]:
            paper = paper_or_error(paper_id)
            rows = search_service.similar(app, paper["id"], limit)
            fields = ("id", "title", "listing_date", "similarity")
            papers = [{**_pick(r, fields), "authors": _authors(r["authors"])} for r in rows]
            return {"id": paper["id"], "papers": papers}

        return run(ctx, "read", work, own=False)

    # ------------------------------------------------------------ the token owner's

    @server.tool(annotations=READ, structured_output=False)
    def recommend(
        ctx: Context,
        since: Annotated[date | None, Field(description="Listed on or after, YYYY-MM-DD")] = None,
        until: Annotated[date | None, Field(description="Listed on or before, YYYY-MM-DD")] = None,
        limit: Annotated[int, Field(ge=1, le=MAX_ITEMS)] = 20,
    ) -> str:
        """The token owner's "For you" feed: recent papers ranked by their saves,
        upvotes and hides (or chosen interests), each with the reason."""

        def work(reader: Reader | None) -> dict[str, Any]:
            assert reader is not None
            picks = recommend_core.for_reader(
                app.recommender, reader.id, since=since, until=until, limit=limit
            )
            return {"papers": [p.as_json() for p in picks]}

        return run(ctx, "read", work, own=True)

    @server.tool(annotations=READ, structured_output=False)
    def whoami(ctx: Context) -> str:
        """The reader this token belongs to (id, email, name, role)."""

        def work(reader: Reader | None) -> dict[str, Any]:
            assert reader is not None
            return {k: getattr(reader, k) for k in ("id", "email", "name", "role")}

        return run(ctx, "read", work, own=True)

    @server.tool(annotations=READ, structured_output=False)
    def my_library(
        ctx: Context,
        kind: Literal["saved", "upvoted", "hidden"] = "saved",
        query: Annotated[str, Field(max_length=200)] = "",
        page: Annotated[int, Field(ge=1, le=100_000)] = 1,
        per_page: Annotated[int, Field(ge=1, le=MAX_ITEMS)] = 50,
    ) -> str:
        """The token owner's saved, upvoted or hidden papers, newest first;
        ``query`` keeps the saved papers whose title, abstract or note has it."""

        def work(reader: Reader | None) -> dict[str, Any]:
            assert reader is not None
            if query.strip() and kind != "saved":
                raise readers.ReaderError("query searches the saved papers only (kind='saved').")
            papers = (
                library_service.search_library(app, reader, query)
                if query.strip()
                else readers.library(db, reader, LIBRARY_KINDS[kind])
            )
            start = (page - 1) * per_page
            chunk = [readers.paper_brief(p) for p in papers[start : start + per_page]]
            return {"kind": kind, "page": page, "total": len(papers), "papers": chunk}

        return run(ctx, "read", work, own=True)

    @server.tool(annotations=READ, structured_output=False)
    def paper_state(ctx: Context, paper_id: PaperId) -> str:
        """Whether the token owner saved, upvoted or hid a paper, and its upvotes."""
        return run(ctx, "read", lambda r: readers.paper_state(db, r, paper_id), own=True)

    @server.tool(annotations=READ, structured_output=False)
    def my_collections(ctx: Context) -> str:
        """The token owner's collections (id, name, description, paper_count)."""

        def work(reader: Reader | None) -> list[dict[str, Any]]:
            assert reader is not None
            return [_pick(c, COLLECTION_FIELDS) for c in readers.list_collections(db, reader)]

        return run(ctx, "read", work, own=True)

    def collection(reader: Reader | None, collection_id: int) -> dict[str, Any]:
        found, papers = readers.get_collection(db, reader, collection_id)
        return {
            **_pick({**found, "paper_count": len(papers)}, COLLECTION_FIELDS),
            "owner_name": found.get("owner_name"),
            "papers": [readers.paper_brief(p) for p in papers],
        }

    @server.tool(annotations=READ, structured_output=False)
    def get_collection(ctx: Context, collection_id: CollectionId) -> str:
        """One collection and its papers: the token owner's, or a public one."""
        return run(ctx, "read", lambda r: collection(r, collection_id), own=False)

    @server.tool(annotations=READ, structured_output=False)
    def my_saved_searches(ctx: Context) -> str:
        """The token owner's saved searches (their queries run in search_papers)."""

        def work(reader: Reader | None) -> list[dict[str, Any]]:
            assert reader is not None
            return [_pick(s, SAVED_SEARCH_FIELDS) for s in readers.list_saved_searches(db, reader)]

        return run(ctx, "read", work, own=True)

    @server.tool(annotations=READ, structured_output=False)
    def discussion(
        ctx: Context, paper_id: PaperId | None = None, session_id: SessionId | None = None
    ) -> str:
        """A paper's public discussion, or (session_id) a reading-group session's,
        for its members only: comments threaded, replies after their parent with
        ``depth``, bodies in Markdown."""
        if (paper_id is None) == (session_id is None):
            raise ToolError("Give either paper_id or session_id.")
        key = (
            comments_service.paper_thread(paper_id)
            if paper_id is not None
            else comments_service.session_thread(session_id or 0)
        )

        def work(reader: Reader | None) -> list[dict[str, Any]]:
            return [_pick(c, COMMENT_FIELDS) for c in comments_service.thread(app, reader, key)]

        return run(ctx, "read", work, own=session_id is not None)

    @server.tool(annotations=READ, structured_output=False)
    def my_notes(ctx: Context, query: Annotated[str, Field(max_length=200)] = "") -> str:
        """The token owner's private notes, newest first; ``query`` keeps those
        whose text or paper title has it."""

        def work(reader: Reader | None) -> list[dict[str, Any]]:
            assert reader is not None
            found = library_service.list_notes(app, reader, query)
            return [_pick(n, NOTE_FIELDS) for n in found]

        return run(ctx, "read", work, own=True)

    @server.tool(annotations=READ, structured_output=False)
    def get_note(ctx: Context, paper_id: PaperId, collection_id: CollectionId | None = None) -> str:
        """The token owner's note on a paper, or on a paper of one of their collections."""

        def work(reader: Reader | None) -> dict[str, Any]:
            assert reader is not None
            return _pick(
                library_service.get_note(app, reader, paper_id, collection_id), NOTE_FIELDS
            )

        return run(ctx, "read", work, own=True)

    @server.tool(annotations=READ, structured_output=False)
    def my_groups(ctx: Context) -> str:
        """The token owner's reading groups and their role in each."""

        def work(reader: Reader | None) -> list[dict[str, Any]]:
            assert reader is not None
            return [_pick(g, GROUP_FIELDS) for g in groups_service.my_groups(app, reader)]

        return run(ctx, "read", work, own=True)

    @server.tool(annotations=READ, structured_output=False)
    def get_group(ctx: Context, group_id: GroupId) -> str:
        """One of the token owner's reading groups: members and schedule of sessions."""

        def work(reader: Reader | None) -> dict[str, Any]:
            assert reader is not None
            found = groups_service.group_page(app, reader, group_id)
            return {
                **_pick(found, GROUP_FIELDS),
                "members": [_pick(m, ("reader_id", "name", "role")) for m in found["members"]],
                "sessions": [_pick(s, SESSION_FIELDS) for s in found["sessions"]],
            }

        return run(ctx, "read", work, own=True)

    # ------------------------------------------------------------ writes (scope: write)

    def flag_tool(name: str, kind: str, doc: str) -> None:
        def tool(ctx: Context, paper_id: PaperId, on: bool = True) -> str:
            def work(reader: Reader | None) -> dict[str, Any]:
                assert reader is not None
                return readers.set_flag(db, reader, kind, paper_id, on)

            return run(ctx, "write", work, own=True)

        tool.__doc__ = f"{doc} for the token owner (on=false undoes it). Returns the paper's state."
        server.add_tool(tool, name=name, annotations=WRITE, structured_output=False)

    flag_tool("save_paper", "save", "Save a paper to the library")
    flag_tool("upvote_paper", "vote", "Upvote a paper (it counts in trending)")
    flag_tool("hide_paper", "hide", "Hide a paper from lists and the feed")

    @server.tool(annotations=CREATE, structured_output=False)
    def create_collection(
        ctx: Context,
        name: Annotated[str, Field(min_length=1, max_length=200)],
        description: Annotated[str, Field(max_length=2000)] = "",
        is_public: bool = False,
    ) -> str:
        """Make a collection for the token owner; returns it with its id."""

        def work(reader: Reader | None) -> dict[str, Any]:
            assert reader is not None
            made = readers.create_collection(
                db, reader, name, description=description, is_public=is_public
            )
            return collection(reader, made)

        return run(ctx, "write", work, own=True)

    @server.tool(annotations=WRITE, structured_output=False)
    def add_to_collection(ctx: Context, collection_id: CollectionId, paper_id: PaperId) -> str:
        """Add a paper to one of the token owner's collections (again: no change)."""

        def work(reader: Reader | None) -> dict[str, Any]:
            assert reader is not None
            readers.add_to_collection(db, reader, collection_id, paper_id)
            return {"collection_id": collection_id, "paper_id": paper_id, "added": True}

        return run(ctx, "write", work, own=True)

    @server.tool(annotations=CREATE, structured_output=False)
    def create_saved_search(
        ctx: Context,
        query: Annotated[str, Field(min_length=1, max_length=1000)],
        name: Annotated[str, Field(max_length=200)] = "",
    ) -> str:
        """Save a search query for the token owner (it feeds their digest)."""

        def work(reader: Reader | None) -> dict[str, Any]:
            assert reader is not None
            made = readers.create_saved_search(db, reader, name, query)
            return _pick(readers.get_saved_search(db, reader, made), SAVED_SEARCH_FIELDS)

        return run(ctx, "write", work, own=True)

    @server.tool(annotations=WRITE, structured_output=False)
    def write_note(
        ctx: Context,
        paper_id: PaperId,
        body: Annotated[str, Field(max_length=library_service.NOTE_MAX)],
        collection_id: CollectionId | None = None,
    ) -> str:
        """Write the token owner's private note on a paper (or on a paper of one
        of their collections), replacing any earlier one; an empty body deletes it."""

        def work(reader: Reader | None) -> dict[str, Any] | None:
            assert reader is not None
            note = library_service.set_note(app, reader, paper_id, body, collection_id)
            return None if note is None else _pick(note, NOTE_FIELDS)

        return run(ctx, "write", work, own=True)

    # ------------------------------------------------------------ authors

    @server.tool(annotations=READ, structured_output=False)
    def get_author(
        ctx: Context,
        key: AuthorKey,
        page: Annotated[int, Field(ge=1, le=100_000)] = 1,
        per_page: Annotated[int, Field(ge=1, le=authors.MAX_PAGE_SIZE)] = 25,
    ) -> str:
        """An author by key (the /authors/{key} of a name: "ada-lovelace"):
        their papers newest first, co-authors and categories, as GET
        /api/authors/{key}. An initials form ("a-lovelace") answers for the one
        full name it fits; when several fit, ``candidates`` lists them."""

        def work(reader: Reader | None) -> dict[str, Any]:
            found = authors.author_page(app, key, reader=reader, page=page, per_page=per_page)
            return authors.author_page_dict(found)

        return run(ctx, "read", work, own=False)

    @server.tool(annotations=WRITE, structured_output=False)
    def follow_author(ctx: Context, key: AuthorKey, on: bool = True) -> str:
        """Follow an author for the token owner (on=false: unfollow): their
        papers come in the digest's "From authors you follow" section. Follows
        are private to the owner."""

        def work(reader: Reader | None) -> dict[str, Any]:
            assert reader is not None
            change = authors.follow if on else authors.unfollow
            return change(app, reader, key)

        return run(ctx, "write", work, own=True)

    @server.tool(annotations=READ, structured_output=False)
    def my_followed_authors(
        ctx: Context, papers: Annotated[int, Field(ge=0, le=authors.MAX_PAGE_SIZE)] = 20
    ) -> str:
        """The authors the token owner follows, and (``papers`` > 0) their
        newest papers."""

        def work(reader: Reader | None) -> dict[str, Any]:
            assert reader is not None
            followed = [
                {"key": a["key"], "name": a["name"], "followed_at": a["followed_at"]}
                for a in authors.followed(app, reader)
            ]
            ids = authors.followed_paper_ids(app, reader, limit=papers) if papers else []
            rows = authors.papers_by_id(app, ids)
            return {
                "authors": followed,
                "papers": [_compact_paper(hf_paper_dict(rows[i])) for i in ids if i in rows],
            }

        return run(ctx, "read", work, own=True)

    # ------------------------------------------------------------ resources and prompts

    def resource_caller(ctx: Context) -> Caller:
        try:
            who = caller(ctx)
            readers.check_call_rate(settings, db, who.rate_key)
            return who
        except (ToolError, readers.ReaderError) as exc:
            raise ResourceError(str(exc)) from exc

    @server.resource("paper://{paper_id}", mime_type="text/markdown")
    def paper_resource(paper_id: str, ctx: Context) -> str:
        """A paper as Markdown (as read_paper, whole)."""
        resource_caller(ctx)
        paper = listings.paper(app, paper_id)
        if paper is None:
            raise ResourceError(f"No paper {paper_id[:200]!r}")
        return export.markdown(paper, f"{settings.base_url.rstrip('/')}/papers/{paper['id']}")

    @server.resource("collection://{collection_id}", mime_type="application/json")
    def collection_resource(collection_id: str, ctx: Context) -> str:
        """A collection and its papers (the token owner's, or a public one)."""
        who = resource_caller(ctx)
        if not collection_id.isdigit() or not 0 < int(collection_id) < 2**63:
            raise ResourceError(f"A collection id is a number, not {collection_id[:40]!r}")
        try:
            return to_json(_utc(collection(who.reader, int(collection_id)))).decode()
        except readers.ReaderError as exc:
            raise ResourceError(str(exc)) from exc

    @server.prompt()
    def catch_me_up(
        field: Annotated[str, Field(description="A topic or arXiv category, e.g. cs.CL")],
    ) -> list[UserMessage]:
        """Catch me up on this week in my field."""
        return [
            UserMessage(
                f"Catch me up on this week in {field}. Call trending(period='week', "
                f"limit=50) and search_papers(query={field!r}, sort='upvotes', since=<7 "
                "days ago>), and recommend() for my own feed if you have a token. Pick the "
                "5-10 papers that matter most for this field, one line each on what is new, "
                "with their ids; read_paper on any you are unsure about."
            )
        ]

    @server.prompt()
    def related_work(
        abstract: Annotated[str, Field(max_length=5000, description="The abstract")],
    ) -> list[UserMessage]:
        """Related work for this abstract."""
        return [
            UserMessage(
                "Find related work for the abstract below. Run search_papers on its key "
                "claims and methods (mode='hybrid', a few queries), then similar_papers on "
                "the two closest hits. Group what you find by theme, one line per paper "
                "saying how it relates, citing ids.\n\nAbstract:\n" + abstract
            )
        ]

    return server
