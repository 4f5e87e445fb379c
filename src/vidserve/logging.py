"""Structured logs: every line carries the request id and the video id it is about.

Two context variables hold them: ``request_id`` is set by the request middleware for the whole
request (``vidserve.api.middleware``), ``video_id`` by whatever works on one video (the worker
while it runs a job, the access log once a response names a video). A filter copies both onto
every ``LogRecord``, so any logger, ours or a library's, gets them without passing them around.

Formats (``VIDSERVE_LOG_FORMAT``):

- ``json``: one JSON object per line: ``ts`` (RFC 3339, UTC, milliseconds), ``level``,
  ``logger``, ``message``, ``request_id`` / ``video_id`` when set, ``exc`` (the traceback)
  when there is one, plus any ``extra={...}`` fields given to the logging call.
- ``text``: ``time level logger [req=... video=...]: message`` for a terminal.
- ``auto`` (default): ``json`` unless stderr is a terminal.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal, TextIO

request_id: ContextVar[str | None] = ContextVar("vidserve_request_id", default=None)
video_id: ContextVar[str | None] = ContextVar("vidserve_video_id", default=None)

LogFormat = Literal["auto", "json", "text"]

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
) | {"message", "asctime", "request_id", "video_id", "taskName", "color_message"}


@contextmanager
def bound_video(video: str | None) -> Iterator[None]:
    """Tag every log line inside the block with ``video``."""
    token = video_id.set(video)
    try:
        yield
    finally:
        video_id.reset(token)


class ContextFilter(logging.Filter):
    """Copies the current request id and video id onto each record (never overwrites)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id.get()
        if getattr(record, "video_id", None) is None:
            record.video_id = video_id.get()
        return True


def _timestamp(created: float) -> str:
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "video_id"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        parts = []
        rid = getattr(record, "request_id", None)
        vid = getattr(record, "video_id", None)
        if rid:
            parts.append(f"req={rid}")
        if vid:
            parts.append(f"video={vid}")
        record.context = f" [{' '.join(parts)}]" if parts else ""
        return super().format(record)


def resolve_format(fmt: LogFormat, stream: TextIO) -> Literal["json", "text"]:
    if fmt != "auto":
        return fmt
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def setup_logging(level: str, fmt: LogFormat = "auto", stream: TextIO | None = None) -> None:
    """Configure the root logger once per process: one stderr handler, our formatter, the
    context filter. Libraries' loggers (uvicorn, alembic) propagate to it."""
    out = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(out)
    handler.addFilter(ContextFilter())
    handler.setFormatter(
        JsonFormatter() if resolve_format(fmt, out) == "json" else TextFormatter()
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lib = logging.getLogger(name)
        lib.handlers.clear()
        lib.propagate = True
    logging.getLogger("alembic").setLevel(logging.WARNING)
