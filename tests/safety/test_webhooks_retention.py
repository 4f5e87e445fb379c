"""Signed webhooks from the outbox (verified by the SDK), and retention of assets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai

from tests.backends import slow_models
from tests.safety.helpers import Recorded, Recorder
from tests.servers import ServerProcess

AUTH = {"Authorization": "Bearer test"}


def _wait(predicate, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def _status(http: httpx.Client, base: str, vid: str) -> str:
    return str(http.get(f"{base}/videos/{vid}", headers=AUTH).json()["status"])


def _webhooks_create(
    data_dir: Path, url: str, *, allow_private: bool
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDSERVE_")}
    env |= {"VIDSERVE_DATA_DIR": str(data_dir)}
    if allow_private:  # the receivers in these tests live on loopback
        env |= {"VIDSERVE_WEBHOOK_ALLOW_PRIVATE_URLS": "true"}
    return subprocess.run(
        [sys.executable, "-m", "vidserve", "webhooks", "create", "--project", "default",
         "--url", url],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )


def _add_endpoint(data_dir: Path, url: str) -> str:
    result = _webhooks_create(data_dir, url, allow_private=True)
    assert result.returncode == 0, result.stderr
    secret = result.stdout.strip()
    assert secret.startswith("whsec_")
    return secret


def test_webhooks_create_refuses_urls_it_would_never_deliver_to(tmp_path: Path) -> None:
    """Loopback, private and special-purpose targets are refused when the endpoint is added."""
    for url in ("https://127.0.0.1/hooks", "https://localhost/hooks", "https://[::1]/h",
                "https://10.0.0.7/h", "https://[fec0::1]/h", "https://[3fff::1]/h",
                "https://192.88.99.1/h", "http://example.com/h", "ftp://example.com/h"):
        result = _webhooks_create(tmp_path / "data", url, allow_private=False)
        assert result.returncode == 1, (url, result.stdout)
        assert "refusing" in result.stderr and not result.stdout.strip(), url
    listed = subprocess.run(
        [sys.executable, "-m", "vidserve", "webhooks", "list"],
        env={k: v for k, v in os.environ.items() if not k.startswith("VIDSERVE_")}
        | {"VIDSERVE_DATA_DIR": str(tmp_path / "data")},
        capture_output=True, text=True, timeout=60, check=True,
    )
    assert listed.stdout.strip() == ""  # nothing was stored


def test_webhooks_are_signed_retried_and_delivered_once(
    tmp_path: Path, http: httpx.Client
) -> None:
    answers = iter([500, 502])  # the first two deliveries fail, then the receiver is fine

    def respond(req: Recorded) -> tuple[int, dict[str, str], bytes]:
        return next(answers, 200), {}, b""

    with Recorder(respond) as receiver:
        data = tmp_path / "data"
        secret = _add_endpoint(data, f"http://127.0.0.1:{receiver.port}/hooks")
        env = {
            "VIDSERVE_WEBHOOK_ALLOW_PRIVATE_URLS": "true",
            "VIDSERVE_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
            "VIDSERVE_WEBHOOK_POLL_INTERVAL_SECONDS": "0.1",
            **slow_models(0.25),
        }
        server = ServerProcess(data, env=env).start()
        try:
            base = server.base_url
            vid = http.post(f"{base}/videos", headers=AUTH, json={"prompt": "hook"}).json()["id"]
            _wait(lambda: _status(http, base, vid) == "completed")
            _wait(lambda: len(receiver.seen) >= 3)
            hooks = list(receiver.seen)
            assert len({r.headers["webhook-id"] for r in hooks}) == 1  # one event, retried
            client = openai.OpenAI(base_url=base, api_key="k", webhook_secret=secret)
            event = client.webhooks.unwrap(hooks[-1].body.decode(), hooks[-1].headers)
            assert event.type == "video.completed" and event.data.id == vid
            assert json.loads(hooks[-1].body)["object"] == "event"
            # a forged body does not verify
            try:
                client.webhooks.unwrap(hooks[-1].body.decode().replace(vid, "video_x"),
                                       hooks[-1].headers)
                raise AssertionError("forged webhook verified")
            except openai.InvalidWebhookSignatureError:
                pass

            # a second job dies with its worker and is given up: video.failed
            lost = http.post(f"{base}/videos", headers=AUTH, json={"prompt": "lost"}).json()["id"]
            _wait(lambda: _status(http, base, lost) == "in_progress")
            server.kill()
            server.env["VIDSERVE_MAX_ATTEMPTS"] = "1"
            seen_before = len(receiver.seen)
            server.start()
            _wait(lambda: _status(http, base, lost) == "failed")
            _wait(lambda: len(receiver.seen) > seen_before)
            failed = receiver.seen[-1]
            event = client.webhooks.unwrap(failed.body.decode(), failed.headers)
            assert event.type == "video.failed" and event.data.id == lost
            # delivered events are never sent again, even after a restart
            count = len(receiver.seen)
            server.stop()
            server.start()
            time.sleep(1.0)
            assert len(receiver.seen) == count
            client.close()
        finally:
            server.stop()


def test_expired_and_deleted_videos_leave_no_files(
    tmp_path: Path, http: httpx.Client
) -> None:
    server = ServerProcess(
        tmp_path / "s",
        env={"VIDSERVE_EXPIRES_AFTER_SECONDS": "3", "VIDSERVE_COLLECTOR_INTERVAL_SECONDS": "0.2"},
    ).start()
    try:
        base = server.base_url
        assets = server.data_dir / "assets" / "videos"
        vid = http.post(f"{base}/videos", headers=AUTH, json={"prompt": "brief"}).json()["id"]
        _wait(lambda: _status(http, base, vid) == "completed")
        body = http.get(f"{base}/videos/{vid}", headers=AUTH).json()
        assert body["expires_at"] == body["completed_at"] + 3
        assert http.get(f"{base}/videos/{vid}/content", headers=AUTH).status_code == 200
        assert (assets / vid).exists()
        _wait(lambda: not (assets / vid).exists(), timeout=15)
        expired = http.get(f"{base}/videos/{vid}/content", headers=AUTH)
        assert expired.status_code == 404 and expired.json()["error"]["code"] == "video_expired"
        assert http.get(f"{base}/videos/{vid}", headers=AUTH).json()["status"] == "completed"

        other = http.post(f"{base}/videos", headers=AUTH, json={"prompt": "gone"}).json()["id"]
        _wait(lambda: _status(http, base, other) == "completed")
        assert http.delete(f"{base}/videos/{other}", headers=AUTH).status_code == 200
        assert not (assets / other).exists()
    finally:
        server.stop()


def test_expired_uploads_lose_their_bytes(tmp_path: Path) -> None:
    import asyncio

    from vidserve import ids
    from vidserve.service.files import FileService
    from vidserve.service.retention import RetentionCollector
    from vidserve.settings import Settings
    from vidserve.store.blobs import ObjectBlobStore
    from vidserve.store.database import Database, migrate
    from vidserve.store.files import FileStore, StoredFile
    from vidserve.store.videos import VideoStore
    from vidserve.store.webhooks import WebhookStore

    settings = Settings(data_dir=tmp_path)
    migrate(settings.database_url)

    async def main() -> None:
        db = Database(settings.database_url)
        blobs = ObjectBlobStore.from_url(settings.storage_url)
        store = FileStore(db)
        old = StoredFile(ids.new_file_id(), "p", "a.png", "vision", 3, 10, expires_at=20)
        keep = StoredFile(ids.new_file_id(), "p", "b.png", "vision", 3, 10, expires_at=None)
        for n, f in enumerate((old, keep)):
            await store.insert(f, n)
            await blobs.put_bytes(ids.file_key(f.id), b"abc")
        collector = RetentionCollector(
            settings, VideoStore(db), blobs, WebhookStore(db), lambda: 30.0, files=store
        )
        assert await collector.run_once() == 1
        assert await store.get("p", old.id, 30) is None
        assert await store.get("p", keep.id, 30) is not None
        assert await blobs.get_bytes(ids.file_key(keep.id)) == b"abc"
        try:
            await blobs.get_bytes(ids.file_key(old.id))
            raise AssertionError("expired bytes are still stored")
        except Exception as exc:  # BlobNotFound
            assert type(exc).__name__ == "BlobNotFound"
        # deleting through the Files API removes the bytes too
        service = FileService(settings, store, blobs, lambda: 30.0)
        await service.delete("p", keep.id)
        assert await blobs.list_keys("files/") == []
        await db.close()

    asyncio.run(main())
