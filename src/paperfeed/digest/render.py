"""Digest emails: Jinja2 HTML (autoescaped: titles and abstracts come from
outside) with a plain-text alternative, and the headers that mail clients
need for one-click unsubscribe (RFC 8058) and threading."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape

from paperfeed.config import Settings
from paperfeed.digest import tokens
from paperfeed.digest.schedule import label
from paperfeed.models import safe_url
from paperfeed.trending import Period

TEMPLATES = Path(__file__).parent / "templates"

env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"], default_for_string=True, default=False),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def _shorten(text: str, limit: int = 300) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def _authors(authors: list[str], limit: int = 5) -> str:
    authors = list(authors or [])
    if len(authors) <= limit:
        return ", ".join(authors)
    return ", ".join(authors[:limit]) + f" and {len(authors) - limit} more"


env.filters["shorten"] = _shorten
env.filters["authors"] = _authors
env.filters["safe_url"] = safe_url


def mail_domain(settings: Settings) -> str:
    return urlsplit(settings.base_url).hostname or "localhost"


def message_id_for(settings: Settings, subscription_id: int, period: str) -> str:
    """The same Message-ID every time this digest is (re)sent: receiving systems
    that see a resend after a crash can tell it is the same message."""
    tag = hmac.new(
        settings.secret().encode(), f"{subscription_id}/{period}".encode(), hashlib.sha256
    ).hexdigest()[:12]
    return f"<digest.{subscription_id}.{period}.{tag}@{mail_domain(settings)}>"


def paper_url(settings: Settings, paper_id: str) -> str:
    return f"{settings.base_url.rstrip('/')}/papers/{quote(paper_id, safe='/')}"


@dataclass(frozen=True)
class Links:
    unsubscribe: str
    manage: str
    view: str
    unsubscribe_mailto: str


def links_for(settings: Settings, subscription_id: int, period: str) -> Links:
    base = settings.base_url.rstrip("/")
    unsub = tokens.make(settings, tokens.UNSUBSCRIBE, subscription_id)
    manage = tokens.make(settings, tokens.MANAGE, subscription_id)
    view = tokens.make(settings, tokens.VIEW, [subscription_id, period])
    sender = parseaddr(settings.mail_from)[1] or f"paperfeed@{mail_domain(settings)}"
    return Links(
        unsubscribe=f"{base}/unsubscribe/{unsub}",
        manage=f"{base}/digest/manage/{manage}",
        view=f"{base}/digest/view/{view}",
        unsubscribe_mailto=f"mailto:{sender}?subject={quote('unsubscribe ' + unsub)}",
    )


def render_digest(
    settings: Settings,
    *,
    period_label: str,
    content: dict[str, Any],
    papers: dict[str, dict[str, Any]],
    links: Links | None,
) -> tuple[str, str]:
    """(plain text, HTML) of one digest: its composed ``content`` with the rows
    of its ``papers``; ``links`` None for the browser view (no unsubscribe)."""
    sections = []
    for section in content.get("sections", []):
        items = []
        for item in section["items"]:
            paper = papers.get(item["id"])
            if paper is None:  # deleted since the digest was composed
                continue
            items.append(
                {
                    "paper": paper,
                    "note": item.get("note", ""),
                    "url": paper_url(settings, paper["id"]),
                }
            )
        if items:
            sections.append({"title": section["title"], "items": items})
    context = {
        "site_name": settings.site_name,
        "base_url": settings.base_url.rstrip("/"),
        "period_label": period_label,
        "sections": sections,
        "links": links,
    }
    return env.get_template("digest.txt").render(context), env.get_template("digest.html").render(
        context
    )


def subject_for(settings: Settings, period: Period, content: dict[str, Any]) -> str:
    count = sum(len(s["items"]) for s in content.get("sections", []))
    what = "daily papers" if period.kind == "day" else "papers of the week"
    return f"{settings.site_name}: {count} {what}, {label(period)}"


def digest_message(
    settings: Settings,
    *,
    to: str,
    subject: str,
    text: str,
    html: str,
    message_id: str,
    links: Links,
    date: Any,
) -> Message:
    """multipart/alternative (text, then HTML), UTF-8, base64 bodies.

    Built with the compat32 classes rather than EmailMessage: the modern
    policy re-parses and refolds every header and was most of the CPU time of
    sending ten thousand digests (bench/digest.py); these headers need none of
    it (ASCII except the subject, which Header encodes)."""
    # Our own boundary: left to the email package, it is checked against the
    # body with a freshly compiled regex per message. "=_" never occurs in
    # base64 text or in the parts' ASCII headers, so this one cannot collide.
    message = MIMEMultipart("alternative", boundary=f"=_paperfeed_{secrets.token_hex(12)}")
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = Header(subject, "utf-8").encode() if not subject.isascii() else subject
    message["Message-ID"] = message_id
    message["Date"] = format_datetime(date)
    message["List-Id"] = f"{settings.site_name} digest <digest.{mail_domain(settings)}>"
    # RFC 2369 + RFC 8058: mail clients show an "Unsubscribe" button that POSTs
    # "List-Unsubscribe=One-Click" to the https URL, no cookie, no confirmation.
    message["List-Unsubscribe"] = f"<{links.unsubscribe}>, <{links.unsubscribe_mailto}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"
    message.attach(_utf8_part(text, "plain"))
    message.attach(_utf8_part(html, "html"))
    return message


def _utf8_part(body: str, subtype: str) -> Message:
    """What ``MIMEText(body, subtype, "utf-8")`` builds, byte for byte, with the
    base64 done by ``base64.encodebytes`` (C, one call) instead of the email
    package's line-by-line Python loop (about 5% of the sender's CPU under
    cProfile)."""
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    part["Content-Transfer-Encoding"] = "base64"
    part.set_payload(base64.encodebytes(body.encode("utf-8")).decode("ascii"))
    return part


def confirmation_message(settings: Settings, *, to: str, confirm_url: str) -> EmailMessage:
    context = {"site_name": settings.site_name, "confirm_url": confirm_url}
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = f"Confirm your {settings.site_name} digest subscription"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(env.get_template("confirm.txt").render(context))
    message.add_alternative(env.get_template("confirm.html").render(context), subtype="html")
    return message


def already_subscribed_message(settings: Settings, *, to: str, manage_url: str) -> EmailMessage:
    """The answer to a subscribe request for an address that already gets
    digests. Mailing it (rather than nothing) keeps the web answer and its
    timing the same for every address: the form reveals no subscriber."""
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = f"You already get the {settings.site_name} digest"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        f"Someone (we hope you) asked to receive {settings.site_name} paper digests at "
        "this address, which already gets them. Nothing has changed.\n\n"
        f"Change what you receive, or unsubscribe, here:\n{manage_url}\n"
    )
    return message
