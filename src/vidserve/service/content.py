"""What a client downloads: a stored object (a video's asset, a file's bytes), its type and
its ``ETag``, made in one place (:meth:`Content.of`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from vidserve.store.blobs import BlobMeta


@dataclass(frozen=True, slots=True)
class Content:
    """A stored object a client downloads (a video's asset, a file's bytes)."""

    key: str
    meta: BlobMeta
    content_type: str
    etag: str

    @classmethod
    def of(cls, key: str, meta: BlobMeta, content_type: str) -> Content:
        """The one place a download's ``ETag`` is made: from its storage key (attempt and
        file included) and its size, never from what the client sent."""
        etag = '"' + hashlib.sha256(f"{key}:{meta.size}".encode()).hexdigest()[:32] + '"'
        return cls(key=key, meta=meta, content_type=content_type, etag=etag)
