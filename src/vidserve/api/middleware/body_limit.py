"""Refuse request bodies larger than ``VIDSERVE_MAX_REQUEST_BYTES`` with a 413: at once when
``Content-Length`` says so (the body is not read; the server closes the connection after the
response), else as soon as the bytes received pass the limit (``receive()`` raises
:class:`~vidserve.errors.PayloadTooLarge`, which the route's error handler answers)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vidserve.api.errors import error_response
from vidserve.errors import PayloadTooLarge


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.limit = max_body_bytes

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"The request body is larger than this server accepts ({self.limit} bytes).",
            code="request_too_large",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > self.limit:
                    await error_response(self._too_large())(scope, receive, send)
                    return
                break
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise self._too_large()
            return message

        await self.app(scope, limited_receive, send)
