"""The one mapping from exceptions to OpenAI's error envelope.

``{"error": {"message", "type", "param", "code"}}``; a ``VidserveError`` carries all four, and
a ``MediaError`` (an image or video the client sent that cannot be used) becomes a 400 on the
parameter that carried it (``MEDIA_PARAMS``). Any other exception is a bug: it is logged with
the request id and the client gets a plain 500 that never includes the exception's text.
"""

from __future__ import annotations

import math
from typing import Any

from starlette.responses import JSONResponse

from vidserve.errors import InvalidRequest, RateLimited, StorageFull, VidserveError
from vidserve.media.errors import MediaError, MediaSubject

MEDIA_PARAMS: dict[MediaSubject, str] = {"image": "input_reference", "video": "video"}


def envelope(message: str, type_: str, param: str | None, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def media_error(exc: MediaError) -> InvalidRequest:
    """The 400 for an unusable image (``input_reference``) or video (``video``)."""
    return InvalidRequest(exc.message, param=MEDIA_PARAMS[exc.subject], code=exc.code)


def error_response(
    exc: VidserveError | MediaError, request_id: str | None = None
) -> JSONResponse:
    if isinstance(exc, MediaError):
        exc = media_error(exc)
    headers = {}
    if request_id:
        headers["x-request-id"] = request_id
    if isinstance(exc, RateLimited | StorageFull):
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
