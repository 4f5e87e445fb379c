"""One access log line per request (logger ``vidserve.access``): method, route template,
status, duration and the video it was about. INFO for writes and errors, DEBUG for
successful reads (polling clients make one every second) and the ops endpoints."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vidserve.api.middleware.scope import route_template, video_of

log = logging.getLogger("vidserve.access")
_QUIET_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            method: str = scope["method"]
            quiet = status < 400 and (method in ("GET", "HEAD") or scope["path"] in _QUIET_PATHS)
            level = logging.DEBUG if quiet else logging.INFO
            if log.isEnabledFor(level):
                elapsed = time.perf_counter() - started
                route = route_template(scope)
                log.log(
                    level,
                    "%s %s %d %.1fms",
                    method,
                    route,
                    status,
                    elapsed * 1000,
                    extra={
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "video_id": video_of(scope),
                    },
                )
