"""What the web accepts in request parameters, decided once for every route.

- Numbers (``page``, ``per_page``, ``p``, ``limit``, ids) are written with the
  ASCII digits 0-9 only. ``str.isdigit()`` also takes ``²`` and ``①``, which
  ``int()`` then refuses, and ``int()`` refuses more than 4,300 digits: both
  were 500s. A malformed number is a 422 (or the page's own 400 message).
- Row ids (collections, saved searches, tokens, readers) are stored as signed
  64-bit integers. A well-formed id outside 1..2**63-1 is an id no row can
  have: a 404, decided here rather than by the database driver, which
  overflows on it.
- Text holds no control characters other than tab, line feed and carriage
  return (``models.CONTROL_CHARACTER``): PostgreSQL cannot store NUL, SQLite
  can, and neither is wanted in a title, an address or an SMTP command.
  ``reject_control_characters`` applies this to every route's path, query
  string, form fields and JSON strings, so both backends answer the same.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BeforeValidator

from paperfeed.models import control_character

# The id columns are INTEGER: 64 bits on SQLite but 32 on PostgreSQL, so one
# bound for both backends is the smaller one (no row can have a larger id).
MAX_ROW_ID = 2**31 - 1
_INTEGER = re.compile(r"-?[0-9]+")
_MAX_DIGITS = 20  # more than any bound a parameter here has; int() of 5,000 digits is refused
# A control character in a raw query string, escaped or not (tab, LF and CR
# included: they are allowed, and only send the query to the full check).
_RAW_CONTROL = re.compile(rb"%(?:[01][0-9a-fA-F]|7[fF])|[\x00-\x1f\x7f]")


class NoSuchRow(Exception):
    """An id no row can have. Not a ValueError, so pydantic lets it through
    its validation (which would make it a 422) to web.auth's 404 handler."""


def whole_number(value: str | None, name: str, default: int, low: int, high: int) -> int:
    """``value`` (a query-string or form value) as an int from ``low`` to
    ``high``, ``default`` when absent; ValueError naming ``name`` otherwise."""
    text = (value or "").strip()
    if not text:
        return default
    if len(text) <= _MAX_DIGITS and _INTEGER.fullmatch(text) and low <= int(text) <= high:
        return int(text)
    raise ValueError(f"{name} must be a whole number from {low} to {high}, not {text[:40]!r}")


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def flag(value: str | None, name: str) -> bool:
    """A yes/no query-string value (1/0, true/false, yes/no, on/off; absent is
    no); ValueError naming ``name`` otherwise."""
    text = (value or "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{name} must be 1 or 0 (true or false), not {text[:40]!r}")


def _ascii_integer(value: Any) -> Any:
    # Before pydantic's own parsing, which also takes " 5", "+5", "1_000" and "5.0".
    if isinstance(value, str) and not _INTEGER.fullmatch(value):
        raise ValueError("must be a whole number written with the digits 0-9")
    return value


def _row_id(value: Any) -> Any:
    number = value
    if isinstance(value, str):
        _ascii_integer(value)  # malformed: a 422
        # More digits than any 64-bit id (int() refuses 4,300 and more): no row.
        number = int(value) if len(value.removeprefix("-")) <= 19 else MAX_ROW_ID + 1
    if isinstance(number, int) and not 1 <= number <= MAX_ROW_ID:
        raise NoSuchRow(f"no such id: {str(value)[:40]} (ids run from 1 to {MAX_ROW_ID})")
    return number


# ``Annotated[WholeNumber, Query(ge=..., le=...)]`` for numeric query parameters.
WholeNumber = Annotated[int, BeforeValidator(_ascii_integer)]
# The type of every row id in a path or form: malformed is a 422, out of range a 404.
RowId = Annotated[int, BeforeValidator(_row_id)]


def _control_character_error(where: tuple[str, ...], text: str) -> dict[str, Any] | None:
    found = control_character(text)
    if found is None:
        return None
    # No "input": echoing it back is what the caller got wrong (and a lone
    # surrogate beside the NUL could not even be encoded).
    return {
        "type": "control_character",
        "loc": where,
        "msg": f"contains the control character {found}, which Paperfeed does not accept",
    }


def _json_strings(body: Any) -> list[tuple[tuple[str, ...], str]]:
    """(location, string) for every key and string value in a decoded JSON
    body; iterative, so a deeply nested body cannot exhaust the stack."""
    found: list[tuple[tuple[str, ...], str]] = []
    stack: list[tuple[tuple[str, ...], Any]] = [(("body",), body)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            found.append((where, value))
        elif isinstance(value, dict):
            for key, item in value.items():
                found.append(((*where, str(key)), str(key)))
                stack.append(((*where, str(key)), item))
        elif isinstance(value, list):
            stack.extend(((*where, str(index)), item) for index, item in enumerate(value))
    return found


async def reject_control_characters(request: Request) -> None:
    """An app-wide dependency: a path, query parameter, form field or JSON
    string with a control character is malformed, a 422 naming where (400 in
    HF's shape on the HF-compatible routes). Runs before the route's own
    parameters are read, so no route and no backend ever sees such text."""
    errors = [_control_character_error(("path",), request.scope["path"])]
    if _RAW_CONTROL.search(request.scope["query_string"]):  # else no parsing: ~1 us a request
        errors += [
            _control_character_error(("query", name), text)
            for name, value in request.query_params.multi_items()
            for text in (name, value)
        ]
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()  # parsed once: the route reads the same object
            errors += [
                _control_character_error(("body", name), value)
                for name, value in form.multi_items()
                if isinstance(value, str)
            ]
        elif content_type.startswith("application/json"):
            try:
                body = json.loads(await request.body())
            except (ValueError, RecursionError):
                body = None  # the route's own parsing reports a body that is not JSON
            errors += [_control_character_error(where, text) for where, text in _json_strings(body)]
    found = [error for error in errors if error is not None]
    if found:
        raise RequestValidationError(found)
