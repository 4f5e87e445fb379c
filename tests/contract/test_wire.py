"""The wire, byte for byte, where it needs a real server and its worker: a rendered job's
progress while polling, and content streaming (variants, ETags, ranges). Raw httpx, every
JSON body checked against OpenAI's spec; the rest of the wire is in tests/api/test_wire.py."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.contract.helpers import (
    Observed,
    assert_request_id,
    create,
    png_bytes,
    poll_until_terminal,
)

# -- create -------------------------------------------------------------------------------


def test_create_with_png_upload_of_exact_size(api: httpx.Client) -> None:
    video = create(
        api,
        files={
            "prompt": (None, "from a red frame"),
            "size": (None, "1280x720"),
            "input_reference": ("ref.png", png_bytes(1280, 720), "image/png"),
        },
    )
    assert video["size"] == "1280x720"
    # A job with a reference image must render like any other.
    final = poll_until_terminal(api, video["id"]).final
    assert final["status"] == "completed", final


# -- retrieve -----------------------------------------------------------------------------


def test_retrieve_until_completed(completed: Observed) -> None:
    statuses = [body["status"] for _, _, body in completed.responses]
    assert statuses[-1] == "completed"
    progress = [body["progress"] for _, _, body in completed.responses]
    assert progress == sorted(progress), progress
    for _, headers, body in completed.responses:
        if body["status"] in ("queued", "in_progress"):
            value = headers.get("openai-poll-after-ms")
            assert value is not None and value.isdigit(), dict(headers)
        else:
            assert "openai-poll-after-ms" not in headers, dict(headers)
    final = completed.final
    assert final["expires_at"] is None or final["expires_at"] > final["completed_at"]
    assert (final["model"], final["size"], final["seconds"]) == ("sora-2", "1280x720", "4")


# -- content ------------------------------------------------------------------------------

VARIANTS = [("video", "video/mp4"), ("thumbnail", "image/webp"), ("spritesheet", "image/jpeg")]
MAGIC = {
    "video/mp4": lambda b: b[4:8] == b"ftyp",
    "image/webp": lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP",
    "image/jpeg": lambda b: b[:3] == b"\xff\xd8\xff",
}


def _content_url(video: dict[str, Any], variant: str | None = None) -> str:
    url = f"/videos/{video['id']}/content"
    return url if variant is None else f"{url}?variant={variant}"


@pytest.mark.parametrize(("variant", "media_type"), VARIANTS)
def test_content_variants(
    api: httpx.Client, completed_video: dict[str, Any], variant: str, media_type: str
) -> None:
    response = api.get(
        _content_url(completed_video, variant), headers={"Accept": "application/binary"}
    )
    assert response.status_code == 200, response.text[:300]
    assert_request_id(response)
    assert response.headers["content-type"].split(";")[0] == media_type
    assert int(response.headers["content-length"]) == len(response.content) > 100
    assert MAGIC[media_type](response.content), response.content[:16]
    etag = response.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 2, etag


def test_content_default_variant_is_video(
    api: httpx.Client, completed_video: dict[str, Any]
) -> None:
    default = api.get(_content_url(completed_video))
    explicit = api.get(_content_url(completed_video, "video"))
    assert default.status_code == explicit.status_code == 200
    assert default.headers["content-type"] == "video/mp4"
    assert default.content == explicit.content
    assert default.headers["etag"] == explicit.headers["etag"]


@pytest.mark.parametrize(
    "accept", ["application/binary", "application/json", "*/*", "video/mp4", "text/html"]
)
def test_content_never_406(api: httpx.Client, completed_video: dict[str, Any], accept: str) -> None:
    response = api.get(_content_url(completed_video), headers={"Accept": accept})
    assert response.status_code == 200, (accept, response.status_code)


def test_content_etags_differ_by_variant(
    api: httpx.Client, completed_video: dict[str, Any]
) -> None:
    tags = {api.get(_content_url(completed_video, v)).headers["etag"] for v, _ in VARIANTS}
    assert len(tags) == 3


@pytest.mark.parametrize("variant", ["video", "thumbnail"])
def test_content_if_none_match(
    api: httpx.Client, completed_video: dict[str, Any], variant: str
) -> None:
    url = _content_url(completed_video, variant)
    etag = api.get(url).headers["etag"]
    cached = api.get(url, headers={"If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.content == b""
    assert cached.headers["etag"] == etag
    assert_request_id(cached)
    listed = api.get(url, headers={"If-None-Match": f'"nope", {etag}'})
    assert listed.status_code == 304
    other = api.get(url, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.content


@pytest.fixture(scope="module")
def full_mp4(api: httpx.Client, completed_video: dict[str, Any]) -> bytes:
    response = api.get(_content_url(completed_video))
    assert response.status_code == 200
    return response.content


def test_content_range_first_100(
    api: httpx.Client, completed_video: dict[str, Any], full_mp4: bytes
) -> None:
    response = api.get(_content_url(completed_video), headers={"Range": "bytes=0-99"})
    assert response.status_code == 206
    assert_request_id(response)
    assert response.headers["content-range"] == f"bytes 0-99/{len(full_mp4)}"
    assert response.headers["content-length"] == "100"
    assert len(response.content) == 100
    assert response.content == full_mp4[:100]
    assert response.headers["content-type"] == "video/mp4"


def test_content_range_suffix(
    api: httpx.Client, completed_video: dict[str, Any], full_mp4: bytes
) -> None:
    size = len(full_mp4)
    response = api.get(_content_url(completed_video), headers={"Range": "bytes=-100"})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {size - 100}-{size - 1}/{size}"
    assert response.content == full_mp4[-100:]


def test_content_range_open(
    api: httpx.Client, completed_video: dict[str, Any], full_mp4: bytes
) -> None:
    size = len(full_mp4)
    response = api.get(_content_url(completed_video), headers={"Range": "bytes=100-"})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 100-{size - 1}/{size}"
    assert int(response.headers["content-length"]) == size - 100
    assert response.content == full_mp4[100:]


def test_content_range_past_end_is_clamped(
    api: httpx.Client, completed_video: dict[str, Any], full_mp4: bytes
) -> None:
    size = len(full_mp4)
    response = api.get(
        _content_url(completed_video), headers={"Range": f"bytes={size - 10}-{size + 1000}"}
    )
    assert response.status_code == 206
    assert response.content == full_mp4[-10:]


@pytest.mark.parametrize("header", ["bytes={size}-", "bytes={size}-{bigger}", "bytes=-0"])
def test_content_range_unsatisfiable(
    api: httpx.Client, completed_video: dict[str, Any], full_mp4: bytes, header: str
) -> None:
    size = len(full_mp4)
    value = header.format(size=size, bigger=size + 100)
    response = api.get(_content_url(completed_video), headers={"Range": value})
    assert response.status_code == 416, (value, response.status_code)
    assert response.headers["content-range"] == f"bytes */{size}"
    assert_request_id(response)


def test_content_range_malformed_serves_everything(
    api: httpx.Client, completed_video: dict[str, Any], full_mp4: bytes
) -> None:
    for value in ("bytes=abc", "items=0-1", "bytes=0-1,5-9"):
        response = api.get(_content_url(completed_video), headers={"Range": value})
        assert response.status_code == 200, value
        assert response.content == full_mp4


# -- remix --------------------------------------------------------------------------------


