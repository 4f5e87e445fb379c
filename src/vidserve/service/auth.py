"""Who is calling: a bearer key maps to a project.

Keys come from ``VIDSERVE_API_KEYS`` (compared by SHA-256 digest in constant time) or from the
database (``vidserve keys create``, stored hashed). With no key anywhere the server is in dev
mode: any bearer is accepted and everything belongs to the project ``default``.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable

from vidserve.errors import AuthenticationFailed
from vidserve.settings import Settings
from vidserve.store.keys import KeyStore, hash_key

DEV_PROJECT = "default"
CACHE_SECONDS = 2.0
"""How long a database answer (a key's project, "no keys at all") is trusted: a revoked key
stops working within this, and the common case costs no query."""


class Authenticator:
    def __init__(
        self, settings: Settings, keys: KeyStore, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._settings_keys = [(hash_key(k), p) for k, p in settings.api_keys.items()]
        self._keys = keys
        self._clock = clock
        self._dev_checked_at = float("-inf")
        self._dev = False
        self._cache: dict[str, tuple[str | None, float]] = {}

    async def dev_mode(self) -> bool:
        if self._settings_keys:
            return False
        now = time.monotonic()
        if now - self._dev_checked_at > CACHE_SECONDS:
            self._dev = await self._keys.count_active() == 0
            self._dev_checked_at = now
        return self._dev

    async def _stored_project(self, token: str, digest: str) -> str | None:
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and now - hit[1] <= CACHE_SECONDS:
            return hit[0]
        project = await self._keys.project_for(token)
        if len(self._cache) > 10_000:  # bounded: drop everything rather than grow
            self._cache.clear()
        self._cache[digest] = (project, now)
        return project

    async def project_for(self, authorization: str | None) -> str:
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationFailed(
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                code=None,
            )
        if await self.dev_mode():  # the common case of a local server: no hashing at all
            return DEV_PROJECT
        digest = hash_key(token)
        found = None
        for known, project in self._settings_keys:
            if hmac.compare_digest(known, digest):
                found = project
        if found is not None:
            return found
        stored = await self._stored_project(token, digest)
        if stored is not None:
            return stored
        # nothing of what was sent is echoed: not even a part of a key (a log or a proxy
        # in between would keep it), and never text a client chose
        raise AuthenticationFailed(
            "Incorrect API key provided. Check the key in your Authorization header."
        )
