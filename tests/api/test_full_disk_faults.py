"""A full disk without a disk to fill: a blob store that fails its writes as a full disk does.

``tests/safety/test_full_disk.py`` fills a real tmpfs where mounting is permitted; this runs
everywhere. ``FullDisk`` wraps the server's real blob store (a local folder, so empty folders
can be seen) and, while ``full``, raises ENOSPC on every put, in the two forms it reaches the
services: the raw ``OSError`` (a spool or a local write) and the store's ``BlobUnavailable``
wrapping it (what obstore's "os error 28" becomes). Every write answers 503 ``storage_full``
with Retry-After, never a 500 or a client error; DELETE frees what it can.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.inprocess import InProcessServer
from tests.safety.helpers import png
from tests.surface.clips import mp4_clip
from vidserve.settings import Settings
from vidserve.store.blobs import BlobMeta, BlobStore, BlobUnavailable, ObjectBlobStore


class FullDisk:
    """A :class:`BlobStore` whose puts fail with ENOSPC while ``full``; the rest is the inner
    store's."""

    def __init__(self, inner: BlobStore, wrapped: bool) -> None:
        self.inner = inner
        self.wrapped = wrapped
        self.full = False
        self.refused: list[str] = []

    def _refuse(self, key: str) -> None:
        if not self.full:
            return
        self.refused.append(key)
        cause = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        if self.wrapped:
            raise BlobUnavailable(f"put {key}: {cause}") from cause
        raise cause

    async def put_file(self, key: str, path: Path) -> None:
        self._refuse(key)
        await self.inner.put_file(key, path)

    async def put_bytes(self, key: str, data: bytes) -> None:
        self._refuse(key)
        await self.inner.put_bytes(key, data)

    async def get_bytes(self, key: str) -> bytes:
        return await self.inner.get_bytes(key)

    async def head(self, key: str) -> BlobMeta:
        return await self.inner.head(key)

    def stream(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        return self.inner.stream(key, start, end)

    async def delete_prefix(self, prefix: str) -> int:
        return await self.inner.delete_prefix(prefix)

    async def check(self) -> None:
        await self.inner.check()

    def presigned_url(self, key: str) -> str | None:
        return self.inner.presigned_url(key)


@pytest.fixture(params=["oserror", "blob_unavailable"])
def full_disk(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    make_server: Callable[..., InProcessServer],
    tmp_path: Path,
) -> tuple[InProcessServer, FullDisk, Path]:
    made: list[FullDisk] = []
    real = ObjectBlobStore.from_settings

    def from_settings(settings: Settings) -> BlobStore:
        made.append(FullDisk(real(settings), wrapped=request.param == "blob_unavailable"))
        return made[-1]

    monkeypatch.setattr(ObjectBlobStore, "from_settings", from_settings)
    assets = tmp_path / "assets"
    assets.mkdir()
    server = make_server(storage_url=f"file://{assets}")
    assert len(made) == 1  # every service of the runtime writes through the wrapper
    return server, made[0], assets


def _assert_full(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["type"] == "server_error" and error["code"] == "storage_full", error
    assert "full" in error["message"]
    assert int(response.headers["retry-after"]) >= 1


def _empty_folders(root: Path) -> list[str]:
    return [d for d, subdirs, files in os.walk(root)
            if not subdirs and not files and Path(d) != root]


def _upload(api: httpx.Client, name: str, data: bytes) -> httpx.Response:
    return api.post("/files", data={"purpose": "vision"}, files={"file": (name, data, "image/png")})


def test_every_write_on_a_full_disk_is_a_503_and_delete_frees(
    full_disk: tuple[InProcessServer, FullDisk, Path],
) -> None:
    server, disk, assets = full_disk
    api = server.http("test")
    kept = _upload(api, "kept.png", png(1280, 720))
    assert kept.status_code == 200, kept.text
    kept_id = kept.json()["id"]
    before = sorted(str(p.relative_to(assets)) for p in assets.rglob("*"))

    disk.full = True
    _assert_full(_upload(api, "more.png", png(32, 32)))
    _assert_full(api.post("/videos", json={"prompt": "ref", "size": "1280x720",
                                           "input_reference": {"file_id": kept_id}}))
    _assert_full(api.post("/videos", data={"prompt": "ref", "size": "1280x720"},
                          files={"input_reference": ("r.png", png(1280, 720), "image/png")}))
    _assert_full(api.post("/videos/edits", data={"prompt": "edit"},
                          files={"video": ("v.mp4", mp4_clip(64, 64, 1.0, fps=8), "video/mp4")}))
    assert len(disk.refused) == 4  # each was refused at its put, not before it
    assert sorted(str(p.relative_to(assets)) for p in assets.rglob("*")) == before
    assert _empty_folders(assets) == []
    listed = api.get("/videos", params={"limit": 100}).json()["data"]
    assert listed == []  # nothing refused was queued

    deleted = api.delete(f"/files/{kept_id}")
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True, deleted.text
    assert api.get(f"/files/{kept_id}").status_code == 404
    assert list(assets.rglob("*.*")) == [] and _empty_folders(assets) == []

    disk.full = False  # space again: the same upload is taken
    assert _upload(api, "more.png", png(32, 32)).status_code == 200


def test_delete_on_a_full_database_frees_the_blobs_and_answers_503(
    full_disk: tuple[InProcessServer, FullDisk, Path], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The row's write needs room too (SQLite's journal): DELETE removes the file's bytes
    first, then answers 503 storage_full while the row cannot be marked; once it can, 200."""
    server, _, assets = full_disk
    api = server.http("test")
    kept = api.post("/files", data={"purpose": "vision"},
                    files={"file": ("kept.png", png(64, 64), "image/png")}).json()["id"]
    store = server.runtime.file_store
    writes: list[str] = []

    async def full_database(project: str, file_id: str, now: int) -> Any:
        writes.append(file_id)
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(store, "mark_deleted", full_database)
    _assert_full(api.delete(f"/files/{kept}"))
    assert len(writes) == 2  # tried, freed, tried again
    assert list(assets.rglob("*.*")) == [] and _empty_folders(assets) == []  # freed anyway

    monkeypatch.undo()
    deleted = api.delete(f"/files/{kept}")
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True, deleted.text
    assert api.get(f"/files/{kept}").status_code == 404
