"""The studio's helpers outside /v1: the served-models listing and signed content URLs."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.servers import ServerProcess
from tests.web.conftest import API_KEY
from vidserve.api.studio import ContentSigner

VIDEO = "video_" + "a" * 48


def test_signer_accepts_only_its_own_unexpired_tokens() -> None:
    signer = ContentSigner("secret", ttl_seconds=60)
    token, expires = signer.mint("proj-acme", VIDEO, "video", now=1000.0)
    assert expires == 1060
    assert signer.check(token, now=1059.0) == ("proj-acme", VIDEO, "video", 1060)
    assert signer.check(token, now=1060.0) is None  # expired
    assert ContentSigner("other", 60).check(token, now=1001.0) is None  # another secret
    # sealed: nothing it carries can be read from it, in any decoding
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    for secret_part in (b"proj-acme", VIDEO.encode(), b"1060"):
        assert secret_part not in raw and secret_part.decode() not in token
    # a changed byte anywhere is refused (no widening to another project, video or expiry)
    for i in range(0, len(token), 7):
        flipped = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]
        assert signer.check(flipped, now=1001.0) is None
    for junk in ("", ".", "abc", "a.b", "x" * 5000, token[:20]):
        assert signer.check(junk, now=1001.0) is None
    # without a configured secret each process signs with a random one
    other_process, _ = ContentSigner("", 60).mint("p", VIDEO, "video", 0)
    assert ContentSigner("", 60).check(other_process, 1) is None


@pytest.fixture(scope="module")
def completed(studio_server: ServerProcess) -> Iterator[tuple[httpx.Client, str]]:
    with httpx.Client(
        base_url=f"http://127.0.0.1:{studio_server.port}",
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=30,
    ) as http:
        video = http.post("/v1/videos", json={"prompt": "signed urls: a windmill"}).json()
        deadline = time.monotonic() + 60
        while video["status"] != "completed":
            assert video["status"] != "failed" and time.monotonic() < deadline, video
            time.sleep(0.2)
            video = http.get(f"/v1/videos/{video['id']}").json()
        yield http, video["id"]
        http.delete(f"/v1/videos/{video['id']}")


def test_signed_url_streams_with_range_and_no_key(completed: tuple[httpx.Client, str]) -> None:
    http, video_id = completed
    minted = http.get(f"/vidserve/videos/{video_id}/content_url")
    assert minted.status_code == 200, minted.text
    url = minted.json()["url"]
    assert url.startswith("/vidserve/content/") and minted.json()["expires_at"] > time.time()
    base = str(http.base_url).rstrip("/")
    whole = httpx.get(base + url)  # no Authorization header
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
    # no cache keeps it past the URL's own expiry
    max_age = int(whole.headers["cache-control"].split("max-age=")[1])
    assert 0 < max_age <= minted.json()["expires_at"] - time.time() + 1
    direct = http.get(f"/v1/videos/{video_id}/content")
    assert whole.content == direct.content
    part = httpx.get(base + url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == direct.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(direct.content)}"

    thumb = http.get(f"/vidserve/videos/{video_id}/content_url", params={"variant": "thumbnail"})
    assert httpx.get(base + thumb.json()["url"]).headers["content-type"] == "image/webp"

    tampered = httpx.get(base + url[:-3] + "AAA")
    assert tampered.status_code == 404
    assert tampered.json()["error"]["code"] == "invalid_content_url"


def test_minting_needs_the_key_and_answers_like_content(
    completed: tuple[httpx.Client, str],
) -> None:
    http, video_id = completed
    base = str(http.base_url).rstrip("/")
    assert httpx.get(f"{base}/vidserve/videos/{video_id}/content_url").status_code == 401
    wrong = httpx.get(
        f"{base}/vidserve/videos/{video_id}/content_url",
        headers={"Authorization": "Bearer sk-someone-else-entirely"},
    )
    assert wrong.status_code == 401
    missing = http.get(f"/vidserve/videos/video_{'0' * 48}/content_url")
    assert missing.status_code == 404 and "not found" in missing.json()["error"]["message"]
    bad_variant = http.get(f"/vidserve/videos/{video_id}/content_url", params={"variant": "gif"})
    assert bad_variant.status_code == 400 and bad_variant.json()["error"]["param"] == "variant"


def test_models_listing(completed: tuple[httpx.Client, str]) -> None:
    http, _ = completed
    assert httpx.get(str(http.base_url).rstrip("/") + "/vidserve/models").status_code == 401
    listing = http.get("/vidserve/models").json()
    assert listing["object"] == "list"
    models = {m["id"]: m for m in listing["data"]}
    assert models["sora-2"]["sizes"] == ["720x1280", "1280x720"]
    assert "1792x1024" in models["sora-2-pro"]["sizes"]
    assert models["sora-2"]["seconds"] == ["4", "8", "12"]
    assert models["sora-2"]["target"] == "procedural" and models["sora-2"]["available"]
    assert "not a neural model" in models["procedural"]["description"]
    # what the studio builds its forms from, instead of probing endpoints
    procedural = models["sora-2"]
    assert procedural["edit"] is procedural["extend"] is procedural["characters"] is True
    assert procedural["image_reference"] is True and isinstance(procedural["audio"], bool)
    assert procedural["extension_seconds"] == ["4", "8", "12", "16", "20"]
    assert procedural["max_extended_seconds"] == 120


def test_server_mode_needs_no_key(completed: tuple[httpx.Client, str]) -> None:
    http, _ = completed
    # this server has a key configured: not dev mode, and the answer needs no key
    base = str(http.base_url).rstrip("/")
    resp = httpx.get(f"{base}/vidserve/server")
    body = resp.json()
    assert resp.status_code == 200 and body["object"] == "vidserve.server"
    assert body["dev_mode"] is False
    # readiness as /readyz says it, always with a 200 (the studio's status dot)
    readyz = httpx.get(f"{base}/readyz")
    assert body["status"] == readyz.json()["status"] == "ready"
    assert set(body["checks"]) == set(readyz.json()["checks"]) == {"database", "storage", "worker"}
