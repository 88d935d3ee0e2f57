"""Structured logs: one JSON object per line on stderr, from the stdlib ``logging``.

Every record carries the request id (web) or job id (workers) of the work it
belongs to, through a context variable set by the web middleware and the job
runner, so one request or job can be followed through the log of many processes.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id: ContextVar[str | None] = ContextVar("paperfeed_request_id", default=None)
job_id: ContextVar[str | None] = ContextVar("paperfeed_job_id", default=None)

# Attributes every LogRecord has; anything else was passed with extra={...}.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if (rid := request_id.get()) is not None:
            entry["request_id"] = rid
        if (jid := job_id.get()) is not None:
            entry["job_id"] = jid
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class QuietLibraries(logging.Filter):
    """Keeps only the warnings of libraries that log their set-up at INFO
    ("Loading faiss with AVX2 support", the ONNX optimizer's fusion counts).
    By file, not logger name: onnxruntime's optimizer modules log under
    top-level names (``onnx_model_bert``, ``fusion_attention``...)."""

    PACKAGES = ("/faiss/", "/onnxruntime/", "/onnx/")

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or not any(
            package in record.pathname for package in self.PACKAGES
        )


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for the root logger (idempotent)."""
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler.formatter, JsonFormatter):
            root.setLevel(level.upper())
            return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(QuietLibraries())
    root.addHandler(handler)
    root.setLevel(level.upper())
