"""The one mapping from exceptions to OpenAI's error envelope.

``{"error": {"message", "type", "param", "code"}}``; a ``VidserveError`` carries all four, a
``MediaError`` (an image or video the client sent that cannot be used) becomes a 400 on the
parameter that carried it (``MEDIA_PARAMS``), and the router's ``HTTPException`` s (no route:
404, or a 307 to the path without its trailing slash; wrong method: 405 with ``Allow``) are
answered as the live service answers them. Any other exception is a bug: it is logged with
the request id and the client gets a plain 500 that never includes the exception's text.
:class:`vidserve.api.middleware.errors.ErrorMiddleware` is where each is turned into a response.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from vidserve.errors import InvalidRequest, RateLimited, StorageFull, VidserveError
from vidserve.media.errors import MediaError, MediaSubject

MEDIA_PARAMS: dict[MediaSubject, str] = {"image": "input_reference", "video": "video"}


def envelope(message: str, type_: str, param: str | None, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def media_error(exc: MediaError) -> InvalidRequest:
    """The 400 for an unusable image (``input_reference``) or video (``video``)."""
    return InvalidRequest(exc.message, param=MEDIA_PARAMS[exc.subject], code=exc.code)


def error_response(exc: VidserveError | MediaError) -> JSONResponse:
    """(Every response gets its ``x-request-id`` from ``api/middleware/request_id.py``.)"""
    if isinstance(exc, MediaError):
        exc = media_error(exc)
    headers = {}
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
    )


def http_error_response(scope: Scope, exc: HTTPException) -> Response:
    """The router's own errors: no route for the path (404, or a 307 to the same path without
    its trailing slash when a route serves that), or none for the method (405)."""
    routes: list[BaseRoute] = scope["app"].router.routes
    method, shown = scope["method"], _shown_path(scope)
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        slashless = _without_trailing_slash(routes, scope)
        if slashless is not None:
            return Response(status_code=307, headers={"Location": slashless})
        message, code = f"Invalid URL ({method} {shown})", None
    elif exc.status_code == 405:
        message, code = f"Method {method} is not allowed on {shown}.", "method_not_allowed"
        headers["Allow"] = ", ".join(_allowed_methods(routes, scope))
    else:
        message, code = str(exc.detail), None
    return JSONResponse(
        envelope(message, "invalid_request_error", None, code),
        status_code=exc.status_code,
        headers=headers or None,
    )


def _shown_path(scope: Scope) -> str:
    path: str = scope["path"]
    return path[:200].encode("ascii", "replace").decode()


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(routes: list[BaseRoute], scope: Scope) -> list[str]:
    """Every method some route of this path answers (Starlette names one route's only):
    asked of the routes themselves, one method at a time."""
    return [
        method
        for method in _METHODS
        if any(r.matches({**scope, "method": method})[0] is Match.FULL for r in routes)
    ]


def _without_trailing_slash(routes: list[BaseRoute], scope: Scope) -> str | None:
    """The path without its trailing slash, as a relative Location, if a route serves it.
    (Starlette's own slash redirect builds an absolute one from the client's Host header.)"""
    path: str = scope["path"]
    if not path.endswith("/") or path == "/" or path.startswith("//"):
        return None
    slashless = {**scope, "path": path.rstrip("/")}
    if not slashless["path"] or not any(
        r.matches(slashless)[0] is not Match.NONE for r in routes
    ):
        return None
    query = scope.get("query_string", b"").decode("latin-1")
    return quote(slashless["path"], safe="/:@!$&'()*+,;=-._~") + (f"?{query}" if query else "")
