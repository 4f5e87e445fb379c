"""The web studio: its static files at ``/``, the served-models listing, and short-lived
signed content URLs.

The studio (``vidserve/web/``: plain HTML, JS and CSS, no build step) talks to the public
``/v1`` API with the key the user typed. What it needs beyond OpenAI's API lives under
``/vidserve/``:

- ``GET /vidserve/server`` (no key): ``{"dev_mode": bool, "status", "checks"}``. In dev mode
  (no key configured anywhere, loopback only) every key works, so the studio skips its key
  page; ``status`` and ``checks`` are those of ``/readyz``, always with a 200, for the
  studio's status dot.
- ``GET /vidserve/models`` (Bearer key): each served model's capabilities: sizes, seconds,
  the lengths an extension may add and the longest an extended video may get, and whether it
  takes an image reference, remixes, edits, extends, shows characters and makes sound. The
  studio builds its forms from these (and never probes an endpoint to learn whether it
  exists). OpenAI's ``GET /v1/models`` has no room for those, and this server does not
  pretend to serve the rest of OpenAI's models API.
- ``GET /vidserve/videos/{video_id}/content_url?variant=`` (Bearer key) returns
  ``{"url": "/vidserve/content/<token>", "expires_at": ...}``: a URL for one variant of one
  video that works *without* the Authorization header for ``VIDSERVE_CONTENT_URL_TTL_SECONDS``.
  A ``<video src>`` cannot send headers, and fetching the whole file as a blob first would
  delay playback and defeat Range requests; with the signed URL the browser streams and
  seeks with ``Range`` like any media URL. The token is AES-256-GCM over (project, video,
  variant, expiry) with a key from ``VIDSERVE_CONTENT_URL_SECRET`` (random per process when
  unset): it reveals nothing (no key, no project name), cannot be widened to another video or
  variant, and its response is never cacheable for longer than the token lives.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import APIRouter, Query, Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from vidserve import contract, ids
from vidserve.api.content import content_response
from vidserve.api.ops.health import readiness
from vidserve.api.routing import ThinRoute
from vidserve.api.videos.params import parse_variant
from vidserve.errors import NotFound
from vidserve.runtime import Runtime
from vidserve.service.edits import MAX_TOTAL_SECONDS
from vidserve.settings import Settings

WEB_DIR = Path(__file__).resolve().parent.parent / "web"

STUDIO_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ContentSigner:
    """Mints and checks the tokens of signed content URLs.

    A token is AES-256-GCM over ``[project, video_id, variant, expires]`` (a random nonce
    each): authenticated, so it cannot be forged or widened, and encrypted, so it shows
    nothing of what it carries (no project name in plain base64).
    """

    _AAD = b"vidserve content url v2"

    def __init__(self, secret: str, ttl_seconds: int) -> None:
        raw = secret.encode() if secret else secrets.token_bytes(32)
        self._aead = AESGCM(hashlib.sha256(b"vidserve content url\n" + raw).digest())
        self.ttl = ttl_seconds

    def mint(self, project: str, video_id: str, variant: str, now: float) -> tuple[str, int]:
        expires = int(now) + self.ttl
        body = json.dumps([project, video_id, variant, expires], separators=(",", ":"))
        nonce = secrets.token_bytes(12)
        return _b64(nonce + self._aead.encrypt(nonce, body.encode(), self._AAD)), expires

    def check(self, token: str, now: float) -> tuple[str, str, str, int] | None:
        """(project, video_id, variant, expires) if genuine and unexpired, else None."""
        if len(token) > 2048:
            return None
        try:
            sealed = _unb64(token)
            body = self._aead.decrypt(sealed[:12], sealed[12:], self._AAD)
            project, video_id, variant, expires = json.loads(body)
        except (ValueError, TypeError, InvalidTag):
            return None
        if not isinstance(expires, int) or now >= expires or not ids.is_video_id(str(video_id)):
            return None
        return str(project), str(video_id), str(variant), expires


_DESCRIPTIONS = {
    "procedural": "built-in motion-graphics renderer, not a neural model: no weights, fast on a "
    "CPU, the same prompt and seed give the same clip",
}


def _served_model(name: str, served: Any) -> dict[str, Any]:
    caps = served.capabilities
    return {
        "id": name,
        "object": "vidserve.model",
        "target": served.spec.name,
        "backend": served.spec.backend,
        "sizes": list(caps.sizes),
        "seconds": [str(s) for s in caps.seconds],
        "fps": caps.fps,
        "text_to_video": caps.text_to_video,
        "image_reference": caps.image_reference,
        "remix": caps.remix,
        "edit": caps.edit,
        "extend": caps.extend,
        "extension_seconds": list(contract.EXTENSION_SECONDS) if caps.extend else [],
        "max_extended_seconds": MAX_TOTAL_SECONDS,
        "characters": caps.characters,
        "audio": caps.audio,
        "available": served.spec.problem is None,
        "problem": served.spec.problem,
        "description": _DESCRIPTIONS.get(served.spec.backend, caps.extra.get("kind", "")),
        "details": dict(caps.extra),
    }


def studio_mount() -> Mount:
    """The studio's assets at ``/studio/`` (index.html itself is served at ``/``)."""
    return Mount("/studio", app=StaticFiles(directory=WEB_DIR), name="studio")


def build_router(settings: Settings) -> APIRouter:
    router = APIRouter(include_in_schema=False, route_class=ThinRoute)
    signer = ContentSigner(settings.content_url_secret, settings.content_url_ttl_seconds)

    async def caller(request: Request) -> tuple[Runtime, str]:
        rt: Runtime = request.app.state.runtime
        return rt, await rt.authorize(request.headers.get("authorization"))  # key + rate limit

    if settings.studio:

        @router.get("/")
        async def index() -> Response:
            return FileResponse(WEB_DIR / "index.html", headers=STUDIO_HEADERS)

    @router.get("/vidserve/server")
    async def server(request: Request) -> dict[str, Any]:
        rt: Runtime = request.app.state.runtime
        # readiness as /readyz says it, but always a 200: a server still starting is news for
        # the studio's status dot, not a failed request in the browser's console
        return {"object": "vidserve.server", "dev_mode": await rt.auth.dev_mode(),
                **await readiness(request)}

    @router.get("/vidserve/models")
    async def models(request: Request) -> dict[str, Any]:
        rt, _ = await caller(request)
        data = [_served_model(s.name, s) for s in rt.registry.served()]
        return {"object": "list", "data": data}

    @router.get("/vidserve/videos/{video_id}/content_url")
    async def content_url(
        request: Request, video_id: str, variant: str | None = Query(None)
    ) -> dict[str, Any]:
        rt, project = await caller(request)
        kind = parse_variant(variant)
        await rt.video_service.content(project, video_id, kind)  # 404s exactly like /content
        token, expires = signer.mint(project, video_id, kind, rt.clock())
        return {"url": f"/vidserve/content/{token}", "expires_at": expires}

    @router.api_route("/vidserve/content/{token}", methods=["GET", "HEAD"])
    async def signed_content(request: Request, token: str) -> Response:
        rt: Runtime = request.app.state.runtime
        claims = signer.check(token, rt.clock())
        if claims is None:
            raise NotFound(
                "This content URL is invalid or has expired; ask for a new one.",
                param=None,
                code="invalid_content_url",
            )
        project, video_id, variant, expires = claims
        content = await rt.video_service.content(project, video_id, parse_variant(variant))
        # no cache may keep the bytes longer than the URL itself is good for
        left = max(0, expires - int(rt.clock()))
        return content_response(request, rt.blob_store, content, max_age=left)

    return router
