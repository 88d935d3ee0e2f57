"""Opening local inputs: plain or gzip, decided by content rather than by name."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from paperfeed.models import SourceFormatError

GZIP_MAGIC = b"\x1f\x8b"


def open_text(path: Path) -> IO[str]:
    if not path.is_file():
        raise SourceFormatError(f"{path}: no such file")
    with path.open("rb") as raw:
        magic = raw.read(2)
    if magic == GZIP_MAGIC:
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="strict")
    return path.open("r", encoding="utf-8", errors="strict")


def numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line) for every non-blank line, streaming; decoding and
    gzip errors become SourceFormatError naming the file and line."""
    lineno = 0
    try:
        with open_text(path) as handle:
            for lineno, line in enumerate(handle, start=1):  # noqa: B007
                if line.strip():
                    yield lineno, line
    except UnicodeDecodeError as exc:
        raise SourceFormatError(f"{path}:{lineno + 1}: not UTF-8 text ({exc.reason})") from exc
    except (EOFError, gzip.BadGzipFile, OSError) as exc:
        raise SourceFormatError(f"{path}:{lineno + 1}: broken gzip stream ({exc})") from exc
