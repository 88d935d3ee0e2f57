"""Readers' Markdown (comments) to safe HTML.

markdown-it-py parses CommonMark with raw HTML off (a tag stays visible text)
and images off (no remote fetches, no data: URIs); dollarmath keeps ``$...$``
and ``$$...$$`` away from emphasis and emits it as TeX text in a ``math``
element, which the page's KaTeX (trust off: no ``\\href``, no HTML) renders.
nh3 then keeps only an allow-list of tags, attributes and URL schemes, and
marks every link ``rel="nofollow ugc noopener"``: the parser is not the last
line of defence.
"""

from __future__ import annotations

from html import escape
from typing import Any

import nh3
from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin

MAX_BODY = 10_000  # characters of Markdown per comment

TAGS = {
    "p", "br", "hr", "a", "em", "strong", "code", "pre", "blockquote",
    "ul", "ol", "li", "h3", "h4", "h5", "h6", "span", "div",
}  # fmt: skip
ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
CLASSES = {"span": {"math"}, "div": {"math"}}
URL_SCHEMES = {"http", "https", "mailto"}


def _math_inline(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    return f'<span class="math">\\({escape(tokens[idx].content)}\\)</span>'


def _math_display_inline(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    return f'<span class="math">\\[{escape(tokens[idx].content)}\\]</span>'


def _math_block(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    return f'<div class="math">\\[{escape(tokens[idx].content)}\\]</div>\n'


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False}).disable("image")
    md.use(dollarmath_plugin, allow_space=False, double_inline=True)
    md.add_render_rule("math_inline", _math_inline)
    md.add_render_rule("math_inline_double", _math_display_inline)
    md.add_render_rule("math_block", _math_block)
    md.add_render_rule("math_block_label", _math_block)
    return md


_MARKDOWN = _parser()


def render(markdown: str) -> str:
    """Sanitized HTML for a comment's Markdown."""
    html = _MARKDOWN.render(markdown)
    # Headings are demoted (h1/h2 belong to the page): nh3 drops the tags it does not allow.
    html = html.replace("<h1>", "<h3>").replace("</h1>", "</h3>")
    html = html.replace("<h2>", "<h3>").replace("</h2>", "</h3>")
    cleaned: str = nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        allowed_classes=CLASSES,
        url_schemes=URL_SCHEMES,
        link_rel="nofollow ugc noopener",
    )
    return cleaned
