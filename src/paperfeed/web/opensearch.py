"""``/opensearch.xml``: the OpenSearch 1.1 description of the search page, so
a browser's address bar (and any OpenSearch client) can search Paperfeed.
Every page links it from its head (``<link rel="search">``)."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from fastapi import APIRouter, Request
from fastapi.responses import Response

from paperfeed.config import Settings
from paperfeed.web.deps import settings_of
from paperfeed.web.schemas import text_responses

router = APIRouter()
NAMESPACE = "http://a9.com/-/spec/opensearch/1.1/"
MEDIA_TYPE = "application/opensearchdescription+xml"


def description(settings: Settings) -> bytes:
    base = settings.base_url.rstrip("/")
    ET.register_namespace("", NAMESPACE)
    root = ET.Element(f"{{{NAMESPACE}}}OpenSearchDescription")

    def add(tag: str, text: str | None = None, **attributes: str) -> None:
        ET.SubElement(root, f"{{{NAMESPACE}}}{tag}", attributes).text = text

    add("ShortName", settings.site_name[:16])  # the spec's limit
    add("Description", f"Search research papers on {settings.site_name}")
    add("InputEncoding", "UTF-8")
    add("Image", f"{base}/favicon.ico", height="16", width="16", type="image/x-icon")
    add("Url", type="text/html", method="get", template=f"{base}/search?q={{searchTerms}}")
    add(
        "Url",
        type="application/atom+xml",
        template=f"{base}/feeds/search.xml?q={{searchTerms}}",
    )
    add("Url", type=MEDIA_TYPE, rel="self", template=f"{base}/opensearch.xml")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


@router.get(
    "/opensearch.xml",
    response_class=Response,
    responses=text_responses(MEDIA_TYPE, 200),
    summary="OpenSearch description of the search page",
)
def opensearch(request: Request) -> Response:
    return Response(description(settings_of(request)), media_type=MEDIA_TYPE)
