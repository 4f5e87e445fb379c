"""Blob storage for video assets and uploaded inputs, behind the small ``BlobStore`` protocol.

``ObjectBlobStore`` wraps an obstore store, so a local folder (``file:///...``), memory
(``memory://``) and S3-compatible buckets (``s3://bucket/prefix``: AWS S3, MinIO, R2, GCS
interop) share one code path. Keys come from ``ids.py`` only.

Errors: a missing object is ``BlobNotFound``; anything else the store cannot do (bucket
unreachable, timeouts, 5xx after obstore's own retries) is ``BlobUnavailable``, which the
worker treats as an infrastructure failure (retry, then hand the job back), never as a bad job.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse

import obstore
from obstore.exceptions import BaseError, NotFoundError
from obstore.store import LocalStore, MemoryStore, ObjectStore, S3Store

if TYPE_CHECKING:
    from vidserve.settings import Settings

CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".webp": "image/webp",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
}


@dataclass(frozen=True, slots=True)
class BlobMeta:
    size: int
    etag: str | None


class BlobNotFound(Exception):
    pass


class BlobUnavailable(Exception):
    """The store could not be reached or refused the operation (not a missing object)."""


class BlobStore(Protocol):
    async def put_file(self, key: str, path: Path) -> None: ...
    async def put_bytes(self, key: str, data: bytes) -> None: ...
    async def get_bytes(self, key: str) -> bytes: ...
    async def head(self, key: str) -> BlobMeta: ...
    def stream(self, key: str, start: int, end: int) -> AsyncIterator[bytes]: ...
    async def delete_prefix(self, prefix: str) -> int: ...
    async def check(self) -> None: ...
    def presigned_url(self, key: str) -> str | None:
        """A time-limited URL a client may GET directly, or None (not configured/possible)."""
        ...


@dataclass(frozen=True, slots=True)
class S3Options:
    endpoint_url: str = ""
    region: str = ""
    access_key_id: str = ""
    secret_access_key: str = ""
    session_token: str = ""
    allow_http: bool = False
    virtual_hosted_style: bool = False
    timeout_seconds: float = 60.0
    retry_seconds: float = 30.0
    public_endpoint_url: str = ""

    def config(self, *, public: bool = False) -> dict[str, Any]:
        config: dict[str, Any] = {}
        endpoint = (self.public_endpoint_url or self.endpoint_url) if public else self.endpoint_url
        if endpoint:
            config["endpoint"] = endpoint.rstrip("/")
        if self.region:
            config["region"] = self.region
        if self.access_key_id:
            config["access_key_id"] = self.access_key_id
        if self.secret_access_key:
            config["secret_access_key"] = self.secret_access_key
        if self.session_token:
            config["session_token"] = self.session_token
        if self.virtual_hosted_style:
            config["virtual_hosted_style_request"] = True
        return config


def _s3_store(bucket: str, prefix: str, options: S3Options, *, public: bool = False) -> S3Store:
    client: dict[str, Any] = {
        "connect_timeout": timedelta(seconds=min(5.0, options.timeout_seconds)),
        "timeout": timedelta(seconds=options.timeout_seconds),
    }
    if options.allow_http:
        client["allow_http"] = True
    retry: dict[str, Any] = {
        "max_retries": 10,
        "retry_timeout": timedelta(seconds=max(options.retry_seconds, 0.1)),
        "backoff": {
            "init_backoff": timedelta(milliseconds=100),
            "max_backoff": timedelta(seconds=5),
            "base": 2,
        },
    }
    return S3Store(
        bucket,
        prefix=prefix or None,
        client_options=client,  # type: ignore[arg-type]
        retry_config=retry,  # type: ignore[arg-type]
        **options.config(public=public),
    )


class ObjectBlobStore:
    """A ``BlobStore`` over any obstore ``ObjectStore``."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        signer: S3Store | None = None,
        presign_ttl: float | None = None,
        content_types: bool = False,
        root: Path | None = None,
    ) -> None:
        self._store = store
        self._signer = signer
        self._presign_ttl = presign_ttl
        self._content_types = content_types  # S3: store Content-Type (presigned GETs show it)
        self._root = root  # a local folder's root, for tidying after failed writes

    @classmethod
    def from_url(
        cls,
        url: str,
        s3: S3Options | None = None,
        *,
        presign_ttl: float | None = None,
    ) -> ObjectBlobStore:
        parsed = urlparse(url)
        if parsed.scheme == "memory":
            return cls(MemoryStore())
        if parsed.scheme == "file":
            root = Path(parsed.path)
            root.mkdir(parents=True, exist_ok=True)
            return cls(LocalStore(root, mkdir=True, automatic_cleanup=True), root=root.resolve())
        if parsed.scheme == "s3":
            if not parsed.netloc:
                raise ValueError("an s3:// storage URL needs a bucket: s3://bucket/prefix")
            options = s3 or S3Options()
            prefix = parsed.path.strip("/")
            store = _s3_store(parsed.netloc, prefix, options)
            signer = None
            if presign_ttl is not None:
                signer = (
                    _s3_store(parsed.netloc, prefix, options, public=True)
                    if options.public_endpoint_url
                    else store
                )
            return cls(store, signer=signer, presign_ttl=presign_ttl, content_types=True)
        raise ValueError(f"unsupported storage URL scheme: {parsed.scheme!r}")

    @classmethod
    def from_settings(cls, settings: Settings) -> ObjectBlobStore:
        options = S3Options(
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
            session_token=settings.s3_session_token,
            allow_http=settings.s3_allow_http,
            virtual_hosted_style=settings.s3_virtual_hosted_style,
            timeout_seconds=settings.storage_timeout_seconds,
            retry_seconds=min(settings.storage_retry_seconds, 30.0),
            public_endpoint_url=settings.s3_public_endpoint_url,
        )
        ttl = float(settings.content_redirect_ttl_seconds) if settings.content_redirect else None
        return cls.from_url(settings.storage_url, options, presign_ttl=ttl)

    def _attributes(self, key: str) -> dict[str, str] | None:
        if not self._content_types:
            return None
        kind = CONTENT_TYPES.get(Path(key).suffix.lower())
        return {"Content-Type": kind} if kind else None

    async def put_file(self, key: str, path: Path) -> None:
        await self._put(key, path)

    async def put_bytes(self, key: str, data: bytes) -> None:
        await self._put(key, data)

    async def _put(self, key: str, content: Path | bytes) -> None:
        try:
            await obstore.put_async(self._store, key, content, attributes=self._attributes(key))
        except BaseError as exc:
            self._remove_empty_folders(key)
            raise BlobUnavailable(f"put {key}: {_short(exc)}") from exc

    def _remove_empty_folders(self, key: str) -> None:
        """A local folder: the folders a failed put created for ``key`` go again (a full disk
        leaves no empty ``videos/{id}/`` behind). Folders with anything in them stay."""
        if self._root is None:
            return
        folder = (self._root / key).parent
        while folder != self._root and self._root in folder.parents:
            try:
                folder.rmdir()  # only if empty
            except OSError:
                return
            folder = folder.parent

    async def get_bytes(self, key: str) -> bytes:
        try:
            result = await obstore.get_async(self._store, key)
            return bytes(await result.bytes_async())
        except (NotFoundError, FileNotFoundError) as exc:
            raise BlobNotFound(key) from exc
        except BaseError as exc:
            raise BlobUnavailable(f"get {key}: {_short(exc)}") from exc

    async def head(self, key: str) -> BlobMeta:
        try:
            meta = await obstore.head_async(self._store, key)
        except (NotFoundError, FileNotFoundError) as exc:
            raise BlobNotFound(key) from exc
        except BaseError as exc:
            raise BlobUnavailable(f"head {key}: {_short(exc)}") from exc
        return BlobMeta(size=meta["size"], etag=meta["e_tag"])

    async def stream(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes ``[start, end)`` of ``key`` in chunks; never loads the whole object.

        On S3 this is one ranged GET whose body is streamed through as it arrives.
        """
        if end <= start:
            return
        try:
            result = await obstore.get_async(self._store, key, options={"range": (start, end)})
        except (NotFoundError, FileNotFoundError) as exc:
            raise BlobNotFound(key) from exc
        except BaseError as exc:
            raise BlobUnavailable(f"get {key}: {_short(exc)}") from exc
        async for chunk in result.stream(min_chunk_size=256 * 1024):
            yield bytes(chunk)

    async def delete_prefix(self, prefix: str) -> int:
        keys: list[str] = []
        try:
            async for batch in obstore.list(self._store, prefix=prefix, chunk_size=500):
                keys.extend(meta["path"] for meta in batch)
            if keys:
                await obstore.delete_async(self._store, keys)
        except BaseError as exc:
            raise BlobUnavailable(f"delete {prefix}: {_short(exc)}") from exc
        return len(keys)

    async def list_keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (tests and maintenance; not on any request path)."""
        keys: list[str] = []
        async for batch in obstore.list(self._store, prefix=prefix, chunk_size=1000):
            keys.extend(meta["path"] for meta in batch)
        return keys

    async def check(self) -> None:
        """Raise if the store cannot be listed (used by readiness checks)."""
        try:
            async for _ in obstore.list(self._store, prefix="videos/", chunk_size=1):
                break
        except BaseError as exc:
            raise BlobUnavailable(f"list: {_short(exc)}") from exc

    def presigned_url(self, key: str) -> str | None:
        if self._signer is None or self._presign_ttl is None:
            return None
        # Signing is local computation (no request to the bucket).
        return obstore.sign(self._signer, "GET", key, timedelta(seconds=self._presign_ttl))


def _short(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
