"""Streaming downloads with ``ETag``, ``If-None-Match`` and single-range ``Range`` (206/416),
or a 307 to a presigned bucket URL when ``VIDSERVE_CONTENT_REDIRECT`` is on."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from vidserve.service.videos import Content
from vidserve.store.blobs import BlobStore

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")


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
        n = int(last)
        if n == 0:
            return "unsatisfiable"
        return (max(size - n, 0), size)
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    if start >= size or (last and int(last) < start):
        return "unsatisfiable"
    return (start, end)


def content_response(request: Request, blobs: BlobStore, content: Content) -> Response:
    size = content.meta.size
    headers = {
        "ETag": content.etag,
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, max-age=3600",
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
