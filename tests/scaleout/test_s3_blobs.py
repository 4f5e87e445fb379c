"""Blob storage on an S3-compatible bucket (moto's server): the same ``BlobStore`` code path
as the local folder, ranged streaming, presigned URLs, and a bucket that does not answer."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.scaleout.infra import BUCKET, S3Server, TcpProxy
from vidserve.settings import load_settings
from vidserve.store.blobs import BlobNotFound, BlobUnavailable, ObjectBlobStore, S3Options

OPTIONS = S3Options(region="us-east-1", access_key_id="testing", secret_access_key="testing",
                    allow_http=True, timeout_seconds=5, retry_seconds=1)


def _store(
    s3: S3Server, prefix: str, *, presign: bool = True, **kwargs: object
) -> ObjectBlobStore:
    fields = {f: getattr(OPTIONS, f) for f in OPTIONS.__dataclass_fields__}
    options = S3Options(**{**fields, "endpoint_url": s3.endpoint, **kwargs})  # type: ignore[arg-type]
    return ObjectBlobStore.from_url(f"s3://{BUCKET}/{prefix}", options,
                                    presign_ttl=60 if presign else None)


async def test_round_trip_range_and_delete(s3_server: S3Server, tmp_path: Path) -> None:
    store = _store(s3_server, f"t-{time.monotonic_ns()}")
    data = bytes(range(256)) * 4096  # 1 MiB
    path = tmp_path / "video.mp4"
    path.write_bytes(data)
    await store.put_file("videos/v/1/video.mp4", path)
    await store.put_bytes("videos/v/1/thumbnail.webp", b"thumb")
    await store.put_bytes("videos/v/2/video.mp4", b"other attempt")
    meta = await store.head("videos/v/1/video.mp4")
    assert meta.size == len(data) and meta.etag
    assert await store.get_bytes("videos/v/1/thumbnail.webp") == b"thumb"
    # a range streams as several chunks and is exact
    chunks = [c async for c in store.stream("videos/v/1/video.mp4", 1000, 900_000)]
    assert b"".join(chunks) == data[1000:900_000]
    assert [c async for c in store.stream("videos/v/1/video.mp4", 5, 5)] == []
    assert sorted(await store.list_keys("videos/v/")) == [
        "videos/v/1/thumbnail.webp", "videos/v/1/video.mp4", "videos/v/2/video.mp4"
    ]
    assert await store.delete_prefix("videos/v/1/") == 2
    assert await store.list_keys("videos/v/") == ["videos/v/2/video.mp4"]
    with pytest.raises(BlobNotFound):
        await store.head("videos/v/1/video.mp4")
    with pytest.raises(BlobNotFound):
        await store.get_bytes("nothing/here")
    await store.check()


async def test_prefixes_keep_deployments_apart(s3_server: S3Server) -> None:
    a = _store(s3_server, f"a-{time.monotonic_ns()}")
    b = _store(s3_server, f"b-{time.monotonic_ns()}")
    await a.put_bytes("videos/x/1/video.mp4", b"a")
    assert await b.list_keys("videos/") == []
    with pytest.raises(BlobNotFound):
        await b.get_bytes("videos/x/1/video.mp4")


async def test_presigned_url_serves_the_object_with_its_type(s3_server: S3Server) -> None:
    store = _store(s3_server, f"p-{time.monotonic_ns()}")
    await store.put_bytes("videos/v/1/video.mp4", b"0123456789")
    url = store.presigned_url("videos/v/1/video.mp4")
    assert url is not None and "X-Amz-Signature=" in url and "X-Amz-Expires=60" in url
    async with httpx.AsyncClient() as http:
        response = await http.get(url)
        ranged = await http.get(url, headers={"Range": "bytes=2-4"})
    assert response.status_code == 200 and response.content == b"0123456789"
    assert response.headers["content-type"] == "video/mp4"
    assert ranged.status_code == 206 and ranged.content == b"234"
    # no TTL configured: no redirect URL; local stores never have one
    assert _store(s3_server, "q", presign=False).presigned_url("k") is None
    assert ObjectBlobStore.from_url("memory://").presigned_url("k") is None


async def test_presigned_url_uses_the_public_endpoint(s3_server: S3Server) -> None:
    store = _store(s3_server, "pub", public_endpoint_url="https://media.example.com")
    url = store.presigned_url("videos/v/1/video.mp4")
    assert url is not None and url.startswith("https://media.example.com/")


async def test_unreachable_bucket_is_blob_unavailable(s3_server: S3Server) -> None:
    proxy = TcpProxy.to_url(s3_server.endpoint)
    try:
        store = _store(s3_server, f"d-{time.monotonic_ns()}", endpoint_url=proxy.url)
        await store.put_bytes("videos/v/1/video.mp4", b"x")
        proxy.cut()
        started = time.monotonic()
        with pytest.raises(BlobUnavailable):
            await store.put_bytes("videos/v/1/video.mp4", b"y")
        with pytest.raises(BlobUnavailable):
            await store.head("videos/v/1/video.mp4")
        with pytest.raises(BlobUnavailable):
            await store.check()
        assert time.monotonic() - started < 15  # bounded by the timeout/retry settings
        proxy.restore()
        await store.put_bytes("videos/v/1/video.mp4", b"z")
        assert await store.get_bytes("videos/v/1/video.mp4") == b"z"
    finally:
        proxy.stop()


def test_settings_accept_s3_urls_and_check_them() -> None:
    from vidserve.errors import ConfigurationError

    settings = load_settings(storage_url="s3://bucket/some/prefix", s3_endpoint_url="http://x:9000",
                             content_redirect=True)
    assert settings.storage_url == "s3://bucket/some/prefix" and settings.content_redirect
    assert "hush" not in repr(load_settings(s3_secret_access_key="hush"))
    with pytest.raises(ConfigurationError, match="needs a bucket"):
        load_settings(storage_url="s3:///prefix")
    with pytest.raises(ConfigurationError, match="CONTENT_REDIRECT"):
        load_settings(content_redirect=True)
    with pytest.raises(ConfigurationError, match="STORAGE_URL"):
        load_settings(storage_url="ftp://x")
