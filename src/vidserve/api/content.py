"""Streaming downloads with ``ETag``, ``If-None-Match`` and single-range ``Range`` (206/416),
or a 307 to a presigned bucket URL when ``VIDSERVE_CONTENT_REDIRECT`` is on."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from vidserve.service.content import Content
from vidserve.store.blobs import BlobStore

_RANGE = re.compile(r"^[ \t]*bytes[ \t]*=[ \t]*([0-9]*)[ \t]*-[ \t]*([0-9]*)[ \t]*$")
_HUGE = 1 << 63  # past any object; a position of more digits is the same to us


def _position(digits: str) -> int:
    """A byte position of any length, without ``int()``'s digit limit (4300 digits)."""
    significant = digits.lstrip("0")
    return int(significant or "0") if len(significant) <= 18 else _HUGE


def parse_range(header: str, size: int) -> tuple[int, int] | None | str:
    """``(start, end_exclusive)``, None (serve all) or ``"unsatisfiable"``.

    Multi-range and malformed headers are ignored (RFC 9110 allows serving the whole body).
    """
    match = _RANGE.match(header)
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        n = _position(last)
        if n == 0:
            return "unsatisfiable"
        return (max(size - n, 0), size)
    start = _position(first)
    end = min(_position(last) + 1, size) if last else size
    if start >= size or (last and _position(last) < start):
        return "unsatisfiable"
    return (start, end)


def content_response(
    request: Request, blobs: BlobStore, content: Content, *, max_age: int = 3600
) -> Response:
    """``max_age``: how long a private cache may keep it (never past a signed URL's expiry)."""
    size = content.meta.size
    headers = {
        "ETag": content.etag,
        "Accept-Ranges": "bytes",
        "Cache-Control": f"private, max-age={max_age}" if max_age > 0 else "no-store",
    }
    inm = request.headers.get("if-none-match")
    if inm is not None and content.etag in [t.strip() for t in inm.split(",")]:
        return Response(status_code=304, headers=headers)
    redirect = blobs.presigned_url(content.key)
    if redirect is not None:
        # VIDSERVE_CONTENT_REDIRECT: the bucket serves the bytes (and Range) itself. The URL
        # is short-lived, so it must not be cached beyond this response.
        return Response(
            status_code=307,
            headers={"Location": redirect, "ETag": content.etag, "Cache-Control": "no-store"},
        )
    byte_range: tuple[int, int] | None | str = None
    header = request.headers.get("range")
    if header is not None:
        if_range = request.headers.get("if-range")
        if if_range is None or if_range.strip() == content.etag:
            byte_range = parse_range(header, size)
    if byte_range == "unsatisfiable":
        headers["Content-Range"] = f"bytes */{size}"
        return Response(status_code=416, headers=headers)
    start, end, status = 0, size, 200
    if isinstance(byte_range, tuple):
        start, end = byte_range
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    headers["Content-Length"] = str(end - start)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=content.content_type)
    return StreamingResponse(
        blobs.stream(content.key, start, end),
        status_code=status,
        headers=headers,
        media_type=content.content_type,
    )
