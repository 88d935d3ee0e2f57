"""URL convertors shared by the pages, the API and the feeds."""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor


class PaperIdConvertor(Convertor[str]):
    """``{x:paper_id}``: a paper id in a URL: one path segment, or an old-style
    arXiv id with its one slash (``hep-th/9901001``). Narrower than ``:path``,
    so ``/papers/date/...`` and other routers' ``/papers/{id}/...`` routes are
    never taken for paper ids, whatever order the routers are included in."""

    regex = r"[a-z][a-z\-]+(?:\.[A-Z]{2})?/\d{7}|[^/]+?"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("paper_id", PaperIdConvertor())
