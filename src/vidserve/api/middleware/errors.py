"""Every error of a request becomes OpenAI's envelope here, and only here.

A ``VidserveError`` or ``MediaError`` (from a route, or from ``receive()``: the body limit) is
answered as itself, the router's ``HTTPException`` (404, 405) as the live service answers it
(:mod:`vidserve.api.errors`), a full disk or bucket (:func:`vidserve.errors.storage_full`) as a
503 ``storage_full`` with ``Retry-After``; anything else is a bug: logged with the request id,
answered with a 500 that never shows the exception's text. After the response has started
nothing can be answered any more, and the exception goes on to the server.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vidserve.api.errors import error_response, http_error_response, internal_error_response
from vidserve.errors import VidserveError, storage_full
from vidserve.media.errors import MediaError

log = logging.getLogger("vidserve.api")


class ErrorMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_and_watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        except (VidserveError, MediaError) as exc:
            if started:
                raise
            await error_response(exc)(scope, receive, send)
        except HTTPException as exc:
            if started:
                raise
            await http_error_response(scope, exc)(scope, receive, send)
        except Exception as exc:
            request_id = _request_id(scope) or "unknown"
            full = storage_full(exc)  # a full disk or bucket: a 503 that says so, not a bug
            if full is None:
                log.exception("unhandled error (request %s)", request_id)
            else:
                log.error("storage full (request %s): %s", request_id, exc)
            if started:
                raise
            if full is not None:
                await error_response(full)(scope, receive, send)
                return
            await internal_error_response(request_id)(scope, receive, send)


def _request_id(scope: Scope) -> str | None:
    found = scope.get("state", {}).get("request_id")
    return found if isinstance(found, str) else None
