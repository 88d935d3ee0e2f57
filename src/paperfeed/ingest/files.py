"""Opening local inputs: plain or gzip, decided by content rather than by name."""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from paperfeed.models import Skipped, SourceFormatError

GZIP_MAGIC = b"\x1f\x8b"


def is_gzip(path: Path) -> bool:
    if not path.is_file():
        raise SourceFormatError(f"{path}: no such file")
    with path.open("rb") as raw:
        return raw.read(2) == GZIP_MAGIC


def open_bytes(path: Path) -> io.BufferedIOBase:
    if is_gzip(path):
        return gzip.open(path, "rb")
    return path.open("rb")


def verify_gzip(path: Path) -> None:
    """Read a gzip file through once (CRC and length checked at the end).

    A truncated or corrupt archive is only noticed at its end, after earlier
    batches would have been committed; checking first keeps the promise that
    a broken file writes nothing. It costs about 1 s per 130 MB decompressed.
    """
    try:
        with gzip.open(path, "rb") as handle:
            while handle.read(1 << 20):
                pass
    except (EOFError, gzip.BadGzipFile, OSError, zlib.error) as exc:
        raise SourceFormatError(f"{path}: broken gzip file ({exc})") from exc


def numbered_lines(path: Path) -> Iterator[tuple[int, str | Skipped]]:
    """(line number, line) for every non-blank line, streaming; gzip errors
    become SourceFormatError naming the file and line.

    Each line is decoded on its own, so a line that is not UTF-8 is named by
    its own number (a text stream decodes 8 KB ahead and cannot tell which).
    It comes back as Skipped; if it is the first line, the file is not text
    at all (an image...) and SourceFormatError is raised instead.
    """
    if is_gzip(path):
        verify_gzip(path)
    lineno = 0
    first = True
    try:
        with open_bytes(path) as handle:
            for lineno, raw in enumerate(handle, start=1):  # noqa: B007
                if not raw.strip():
                    continue
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    problem = f"not UTF-8 text ({exc.reason} at byte {exc.start + 1})"
                    if first:
                        raise SourceFormatError(f"{path}:{lineno}: {problem}") from exc
                    yield lineno, Skipped(f"{path}:{lineno}", problem)
                    continue
                first = False
                yield lineno, line
    except (EOFError, gzip.BadGzipFile, OSError) as exc:
        raise SourceFormatError(f"{path}:{lineno + 1}: broken gzip stream ({exc})") from exc


def json_lines(path: Path) -> Iterator[tuple[str, Any]]:
    """("file:line", decoded JSON value) for every line, streaming.

    A line that is not JSON comes back as a Skipped value naming the file and
    line; if the very first line is not JSON the file is not JSON lines at all
    (an HTML page, an image...) and SourceFormatError is raised instead.
    """
    first = True
    for lineno, line in numbered_lines(path):
        where = f"{path}:{lineno}"
        if isinstance(line, Skipped):
            yield where, line
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            problem = f"{exc.msg.removesuffix(' at')} at column {exc.colno}"
            if first:
                raise SourceFormatError(f"{where}: not a JSON-lines file ({problem})") from exc
            yield where, Skipped(where, f"invalid JSON ({problem})")
            continue
        first = False
        yield where, value
