"""The request id: the client's ``X-Request-Id`` (cleaned) or a new one, in
``scope["state"]["request_id"]``, on every log line of the request (``vidserve.logging``) and
on the response's ``x-request-id`` header."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vidserve import logging as log_context
from vidserve.ids import clean_request_id

_HEADER = b"x-request-id"


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = None
        for name, value in scope["headers"]:
            if name == _HEADER:
                given = value.decode("latin-1") or None
                break
        request_id = clean_request_id(given)
        scope.setdefault("state", {})["request_id"] = request_id
        log_context.request_id.set(request_id)  # each request runs in a task of its own
        header = (_HEADER, request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":  # no response sets it itself
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        await self.app(scope, receive, send_with_id)
