"""What every route needs from the request, in one place: the runtime, the caller's project,
the ``Idempotency-Key`` header, and the video a request is about (for the access log).

Plain functions on the ``Request`` (not FastAPI ``Depends``): they cost nothing on the hot
path, and the bearer scheme is declared in the OpenAPI document by ``api/openapi.py``.
"""

from __future__ import annotations

from starlette.requests import Request

from vidserve import contract
from vidserve import logging as log_context
from vidserve.errors import InvalidValue
from vidserve.runtime import Runtime


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


async def authorize(request: Request) -> str:
    """The caller's project (checks the bearer key and the rate limit)."""
    return await runtime(request).authorize(request.headers.get("authorization"))


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not 1 <= len(key) <= contract.MAX_IDEMPOTENCY_KEY:
        raise InvalidValue(
            "Invalid 'Idempotency-Key' header: expected 1 to "
            f"{contract.MAX_IDEMPOTENCY_KEY} characters.",
            param="Idempotency-Key",
        )
    return key


def about_video(request: Request, video_id: str) -> None:
    """Name the video this request is about: on its access log line (``scope["state"]``) and
    on every log line written while it runs."""
    request.scope.setdefault("state", {})["video_id"] = video_id
    log_context.video_id.set(video_id)
