"""ASGI middleware: request ids, body size limit, and the last-resort 500.

Pure ASGI (no BaseHTTPMiddleware) so streaming responses and throughput are unaffected.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vidserve import logging as log_context
from vidserve.api.errors import error_response, internal_error_response
from vidserve.errors import PayloadTooLarge, VidserveError, storage_full
from vidserve.ids import clean_request_id

log = logging.getLogger("vidserve.api")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        request_id = clean_request_id(
            headers.get(b"x-request-id", b"").decode("latin-1") or None
        )
        scope.setdefault("state", {})["request_id"] = request_id
        log_context.request_id.set(request_id)  # each request runs in a task of its own
        started = False
        limit = self.max_body_bytes

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                present = message.get("headers", [])
                if not any(name.lower() == b"x-request-id" for name, _ in present):
                    message["headers"] = [*present, (b"x-request-id", request_id.encode())]
            await send(message)

        too_large = PayloadTooLarge(
            f"The request body is larger than this server accepts ({limit} bytes).",
            code="request_too_large",
        )
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _drain_or_ignore(receive, limit)
            await error_response(too_large, request_id)(scope, receive, send_with_id)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_large
            return message

        try:
            await self.app(scope, limited_receive, send_with_id)
        except VidserveError as exc:  # raised from receive(), outside the route's handlers
            if started:
                raise
            await error_response(exc, request_id)(scope, receive, send_with_id)
        except Exception as exc:
            full = storage_full(exc)
            if full is None:
                log.exception("unhandled error (request %s)", request_id)
            else:
                log.error("storage full (request %s): %s", request_id, exc)
            if started:
                raise
            if full is not None:
                await error_response(full, request_id)(scope, receive, send_with_id)
                return
            await internal_error_response(request_id)(scope, receive, send_with_id)


async def _drain_or_ignore(receive: Receive, limit: int) -> Any:
    """Do not read a body we refuse; the server closes the connection after the response."""
    return None
