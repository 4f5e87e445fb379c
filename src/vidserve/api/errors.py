"""The one mapping from exceptions to OpenAI's error envelope.

``{"error": {"message", "type", "param", "code"}}``; a ``VidserveError`` carries all four. Any
other exception is a bug: it is logged with the request id and the client gets a plain 500
that never includes the exception's text.
"""

from __future__ import annotations

import math
from typing import Any

from starlette.responses import JSONResponse

from vidserve.errors import RateLimited, VidserveError


def envelope(message: str, type_: str, param: str | None, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def error_response(exc: VidserveError, request_id: str | None = None) -> JSONResponse:
    headers = {}
    if request_id:
        headers["x-request-id"] = request_id
    if isinstance(exc, RateLimited):
        headers["retry-after"] = str(max(1, math.ceil(exc.retry_after)))
        headers["retry-after-ms"] = str(max(1, math.ceil(exc.retry_after * 1000)))
    return JSONResponse(
        envelope(exc.message, exc.error_type, exc.param, exc.code),
        status_code=exc.status_code,
        headers=headers,
    )


def internal_error_response(request_id: str) -> JSONResponse:
    return JSONResponse(
        envelope(
            f"The server had an error while processing your request (request id {request_id}).",
            "server_error",
            None,
            None,
        ),
        status_code=500,
        headers={"x-request-id": request_id},
    )
