"""ASGI middleware: request ids, body size limit, and the last-resort 500.

Pure ASGI (no BaseHTTPMiddleware) so streaming responses and throughput are unaffected.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vidserve import logging as log_context
from vidserve.api.errors import error_response, internal_error_response
from vidserve.errors import PayloadTooLarge, VidserveError
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
        except Exception:
            log.exception("unhandled error (request %s)", request_id)
            if started:
                raise
            await internal_error_response(request_id)(scope, receive, send_with_id)

