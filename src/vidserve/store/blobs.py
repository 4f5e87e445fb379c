"""Blob storage for video assets and uploaded inputs, behind the small ``BlobStore`` protocol.

``ObjectBlobStore`` wraps an obstore store, so a local folder (``file:///...``), memory
(``memory://``) and S3-compatible buckets share one code path. Keys come from ``ids.py`` only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

import obstore
from obstore.exceptions import NotFoundError
from obstore.store import LocalStore, MemoryStore, ObjectStore


@dataclass(frozen=True, slots=True)
class BlobMeta:
    size: int
    etag: str | None


class BlobNotFound(Exception):
    pass


class BlobStore(Protocol):
    async def put_file(self, key: str, path: Path) -> None: ...
    async def put_bytes(self, key: str, data: bytes) -> None: ...
    async def get_bytes(self, key: str) -> bytes: ...
    async def head(self, key: str) -> BlobMeta: ...
    def stream(self, key: str, start: int, end: int) -> AsyncIterator[bytes]: ...
    async def delete_prefix(self, prefix: str) -> int: ...
    async def check(self) -> None: ...


class ObjectBlobStore:
    """A ``BlobStore`` over any obstore ``ObjectStore``."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    @classmethod
    def from_url(cls, url: str) -> ObjectBlobStore:
        parsed = urlparse(url)
        if parsed.scheme == "memory":
            return cls(MemoryStore())
        if parsed.scheme == "file":
            root = Path(parsed.path)
            root.mkdir(parents=True, exist_ok=True)
            return cls(LocalStore(root, mkdir=True, automatic_cleanup=True))
        raise ValueError(f"unsupported storage URL scheme: {parsed.scheme!r}")

    async def put_file(self, key: str, path: Path) -> None:
        await obstore.put_async(self._store, key, path)

    async def put_bytes(self, key: str, data: bytes) -> None:
        await obstore.put_async(self._store, key, data)

    async def get_bytes(self, key: str) -> bytes:
        try:
            result = await obstore.get_async(self._store, key)
        except (NotFoundError, FileNotFoundError) as exc:
            raise BlobNotFound(key) from exc
        return bytes(await result.bytes_async())

    async def head(self, key: str) -> BlobMeta:
        try:
            meta = await obstore.head_async(self._store, key)
        except (NotFoundError, FileNotFoundError) as exc:
            raise BlobNotFound(key) from exc
        return BlobMeta(size=meta["size"], etag=meta["e_tag"])

    async def stream(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes ``[start, end)`` of ``key`` in chunks; never loads the whole object."""
        if end <= start:
            return
        try:
            result = await obstore.get_async(self._store, key, options={"range": (start, end)})
        except (NotFoundError, FileNotFoundError) as exc:
            raise BlobNotFound(key) from exc
        async for chunk in result.stream(min_chunk_size=256 * 1024):
            yield bytes(chunk)

    async def delete_prefix(self, prefix: str) -> int:
        keys: list[str] = []
        async for batch in obstore.list(self._store, prefix=prefix, chunk_size=500):
            keys.extend(meta["path"] for meta in batch)
        if keys:
            await obstore.delete_async(self._store, keys)
        return len(keys)

    async def check(self) -> None:
        """Raise if the store cannot be listed (used by readiness checks)."""
        async for _ in obstore.list(self._store, prefix="videos/", chunk_size=1):
            break
