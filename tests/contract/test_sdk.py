"""The official openai SDK (sync and async) against a real server: what users actually run
(the SDK's error classes are checked in-process in tests/api/test_sdk_errors.py)."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.contract.helpers import VIDEO_ID, png_bytes
from tests.servers import ServerProcess

FPS = 24

# openai-python marks every videos.* method deprecated ("The Sora API is scheduled to permanently
# shut down ..."). The warning is attributed to the caller (this module), so pyproject's
# ``ignore::DeprecationWarning:openai.*`` does not catch it.
pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


@pytest.fixture(scope="module")
def sdk_video(server: ServerProcess) -> Any:
    """One video made with ``create_and_poll`` (module-scoped: it is downloaded below)."""
    with OpenAI(base_url=server.base_url, api_key="sk-sdk", max_retries=0) as client:
        video = client.videos.create_and_poll(
            prompt="sdk: a blue square drifting", size="1280x720", seconds="4"
        )
    return video


def test_create_and_poll(sdk_video: Any) -> None:
    assert isinstance(sdk_video, openai.types.Video)
    assert VIDEO_ID.match(sdk_video.id)
    assert sdk_video.status == "completed"
    assert sdk_video.progress == 100
    assert sdk_video.object == "video"
    assert sdk_video.model == "sora-2"
    assert sdk_video.size == "1280x720"
    assert sdk_video.seconds == "4"
    assert sdk_video.prompt == "sdk: a blue square drifting"
    assert sdk_video.completed_at is not None and sdk_video.completed_at >= sdk_video.created_at
    assert sdk_video.error is None
    assert sdk_video.remixed_from_video_id is None
    # nothing the SDK did not know about (all fields are in the SDK's model)
    assert not (sdk_video.model_extra or {}), sdk_video.model_extra


def test_retrieve(client: OpenAI, sdk_video: Any) -> None:
    again = client.videos.retrieve(sdk_video.id)
    assert again.model_dump() == sdk_video.model_dump()


def test_create_multipart_via_sdk(client: OpenAI) -> None:
    video = client.videos.create(prompt="plain create", model="sora-2-pro", size="1024x1792")
    try:
        assert video.status in ("queued", "in_progress")
        assert (video.model, video.size, video.seconds) == ("sora-2-pro", "1024x1792", "4")
    finally:
        client.videos.delete(video.id)


def test_create_with_input_reference_upload(client: OpenAI) -> None:
    video = client.videos.create(
        prompt="with a reference",
        size="720x1280",
        input_reference=("ref.png", png_bytes(720, 1280), "image/png"),
    )
    try:
        assert video.size == "720x1280"
    finally:
        client.videos.delete(video.id)


def test_create_with_input_reference_via_extra_body(client: OpenAI) -> None:
    import base64

    url = "data:image/png;base64," + base64.b64encode(png_bytes(1280, 720)).decode()
    video = client.videos.create(
        prompt="node-style reference",
        size="1280x720",
        extra_body={"input_reference": {"image_url": url}},
    )
    try:
        assert video.size == "1280x720"
    finally:
        client.videos.delete(video.id)


@pytest.fixture
def five_videos(client: OpenAI) -> Iterator[list[str]]:
    ids = [client.videos.create(prompt=f"pagination {i}").id for i in range(5)]
    yield ids
    for video_id in ids:
        try:
            client.videos.delete(video_id)
        except openai.NotFoundError:
            pass


def test_list_auto_pagination(client: OpenAI, five_videos: list[str]) -> None:
    seen: list[str] = []
    pages = 0
    page = client.videos.list(limit=2)
    first_page_ids = [v.id for v in page.data]
    for video in page:  # auto-pagination: after=<last id> while has_more
        seen.append(video.id)
    for p in client.videos.list(limit=2).iter_pages():
        pages += 1
        assert len(p.data) <= 2
    assert len(seen) == len(set(seen)), "duplicates across pages"
    assert pages == (len(seen) + 1) // 2
    # newest first: ours are the latest five, newest first
    assert seen[:5] == list(reversed(five_videos))
    assert first_page_ids == [five_videos[4], five_videos[3]]
    # ascending order walks the same set the other way round
    asc = [v.id for v in client.videos.list(limit=2, order="asc")]
    assert asc == list(reversed(seen))


def _decode_mp4(data: bytes) -> tuple[int, int, int, float, float]:
    import av

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = 0
        last_pts = None
        for frame in container.decode(stream):
            frames += 1
            width, height = frame.width, frame.height
            last_pts = frame.time
        rate = float(stream.average_rate or stream.guessed_rate or 0)
        duration = (
            float(stream.duration * stream.time_base)
            if stream.duration is not None and stream.time_base is not None
            else float(container.duration or 0) / 1_000_000
        )
    assert last_pts is not None
    return width, height, frames, rate, duration


def test_download_content_video(client: OpenAI, sdk_video: Any) -> None:
    content = client.videos.download_content(sdk_video.id)
    data = content.read()
    assert content.response.headers["content-type"] == "video/mp4"
    width, height, frames, rate, duration = _decode_mp4(data)
    assert (width, height) == (1280, 720)
    seconds = int(sdk_video.seconds)
    assert frames == seconds * FPS
    assert rate == pytest.approx(FPS, abs=0.01)
    assert abs(duration - seconds) <= 1 / FPS + 1e-6, duration


def test_download_content_video_default_portrait(client: OpenAI) -> None:
    video = client.videos.create_and_poll(prompt="portrait, default size", poll_interval_ms=100)
    assert video.status == "completed" and video.size == "720x1280"
    width, height, frames, _, duration = _decode_mp4(
        client.videos.download_content(video.id).read()
    )
    assert (width, height) == (720, 1280)
    assert frames == 4 * FPS
    assert abs(duration - 4) <= 1 / FPS + 1e-6


def test_download_content_thumbnail(client: OpenAI, sdk_video: Any) -> None:
    from PIL import Image

    content = client.videos.download_content(sdk_video.id, variant="thumbnail")
    assert content.response.headers["content-type"] == "image/webp"
    with Image.open(io.BytesIO(content.read())) as image:
        assert image.format == "WEBP"
        image.load()
        assert image.width > 0 and image.height > 0
        # a thumbnail keeps the video's aspect ratio (16:9 here)
        assert image.width / image.height == pytest.approx(1280 / 720, rel=0.02)


def test_download_content_spritesheet(client: OpenAI, sdk_video: Any) -> None:
    from PIL import Image

    content = client.videos.download_content(sdk_video.id, variant="spritesheet")
    assert content.response.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(content.read())) as image:
        assert image.format == "JPEG"
        image.load()
        assert image.width > 0 and image.height > 0


def test_remix(client: OpenAI, sdk_video: Any) -> None:
    remix = client.videos.remix(sdk_video.id, prompt="the same, but at night")
    assert VIDEO_ID.match(remix.id) and remix.id != sdk_video.id
    assert remix.remixed_from_video_id == sdk_video.id
    assert remix.prompt == "the same, but at night"
    assert (remix.size, remix.seconds, remix.model) == (
        sdk_video.size,
        sdk_video.seconds,
        sdk_video.model,
    )
    done = client.videos.poll(remix.id, poll_interval_ms=100)
    assert done.status == "completed"
    assert done.remixed_from_video_id == sdk_video.id
    assert (done.size, done.seconds, done.model) == (
        sdk_video.size,
        sdk_video.seconds,
        sdk_video.model,
    )


def test_delete_then_retrieve_is_not_found(client: OpenAI) -> None:
    video = client.videos.create(prompt="short-lived")
    deleted = client.videos.delete(video.id)
    assert deleted.id == video.id
    assert deleted.deleted is True
    assert deleted.object == "video.deleted"
    with pytest.raises(openai.NotFoundError) as info:
        client.videos.retrieve(video.id)
    assert info.value.status_code == 404
    assert video.id in info.value.message
    with pytest.raises(openai.NotFoundError):
        client.videos.delete(video.id)
    with pytest.raises(openai.NotFoundError):
        client.videos.download_content(video.id)


def test_request_id_reaches_the_sdk(client: OpenAI) -> None:
    raw = client.videos.with_raw_response.list(limit=1)
    assert raw.request_id and raw.request_id.startswith("req_")
    raw.parse()


def test_idempotency_key(client: OpenAI) -> None:
    key = f"contract-sdk-{uuid.uuid4()}"
    first = client.videos.create(prompt="once", extra_headers={"Idempotency-Key": key})
    second = client.videos.create(prompt="once", extra_headers={"Idempotency-Key": key})
    try:
        assert second.id == first.id
        other = client.videos.create(prompt="once", extra_headers={"Idempotency-Key": key + "-2"})
        assert other.id != first.id
        client.videos.delete(other.id)
    finally:
        client.videos.delete(first.id)


async def test_async_client(server: ServerProcess) -> None:
    async with openai.AsyncOpenAI(
        base_url=server.base_url, api_key="sk-async", max_retries=0
    ) as aclient:
        video = await aclient.videos.create_and_poll(
            prompt="async", seconds="4", size="720x1280", poll_interval_ms=100
        )
        assert video.status == "completed"
        assert (await aclient.videos.retrieve(video.id)).status == "completed"
        ids = [v.id async for v in aclient.videos.list(limit=2)]
        assert video.id in ids
        assert len(ids) == len(set(ids))
        content = await aclient.videos.download_content(video.id, variant="thumbnail")
        assert content.response.headers["content-type"] == "image/webp"
        deleted = await aclient.videos.delete(video.id)
        assert deleted.deleted is True
        with pytest.raises(openai.NotFoundError):
            await aclient.videos.retrieve(video.id)
        with pytest.raises(openai.BadRequestError) as info:
            await aclient.videos.create(prompt="x", seconds="10")  # type: ignore[arg-type]
        assert info.value.code == "invalid_value"
