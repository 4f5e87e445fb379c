"""Limits and capability checks, at the service and media layers (no server, no worker)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import update

from tests.surface.clips import encoded_clip, mp4_clip
from vidserve import ids
from vidserve.api.errors import media_error
from vidserve.domain import Capabilities, Video, VideoStatus
from vidserve.engine.registry import ALL_SIZES, ModelRegistry, ModelSpec
from vidserve.errors import InvalidRequest, InvalidValue
from vidserve.media.errors import MediaError
from vidserve.media.probe import UploadLimits, probe_upload
from vidserve.service.edits import EditService, EditVideo, ExtendVideo
from vidserve.service.files import clean_filename
from vidserve.service.sources import VideoRef, VideoUpload, closest_size
from vidserve.service.videos import CreateVideo, VideoService
from vidserve.settings import Settings
from vidserve.store.blobs import ObjectBlobStore
from vidserve.store.database import Database, migrate
from vidserve.store.tables import videos
from vidserve.store.videos import VideoStore

LIMITS = UploadLimits(max_bytes=10_000_000, max_seconds=20, max_side=3840)


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[VideoService]:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    await asyncio.to_thread(migrate, url)
    db = Database(url)
    registry = ModelRegistry(
        {
            "procedural": ModelSpec(
                "procedural", "procedural",
                Capabilities(sizes=ALL_SIZES, edit=True, extend=True, characters=True),
            ),
            "t2v-only": ModelSpec("t2v-only", "diffusers", Capabilities(sizes=ALL_SIZES)),
        },
        {"sora-2": "procedural", "sora-2-pro": "procedural"},
    )
    settings = Settings(data_dir=tmp_path, storage_url="memory://")
    yield VideoService(settings, VideoStore(db), ObjectBlobStore.from_url("memory://"), registry)
    await db.close()


def _edits(service: VideoService) -> EditService:
    return EditService(service.settings, service, service.store, service.blobs,
                       service.registry, service.clock)


async def _completed(service: VideoService, seconds: int, extensions: int) -> Video:
    video = Video(
        id=ids.new_video_id(), project="p", model="sora-2", status=VideoStatus.COMPLETED,
        progress=100, created_at=1, prompt="x", size="1280x720", seconds=seconds, seed=1,
        extensions=extensions, assets_attempt=1,
    )
    await service.store.insert(video, created_ns=1)
    async with service.store.db.write() as conn:  # as the worker's finish would
        await conn.execute(
            update(videos).where(videos.c.id == video.id).values(assets_attempt=1)
        )
    return video


async def test_extension_limits(service: VideoService) -> None:
    edits = _edits(service)
    five = await _completed(service, 100, 5)
    made = await edits.extend("p", ExtendVideo("more", 20, VideoRef(five.id)))
    assert (made.seconds, made.extensions, made.segment_seconds) == (120, 6, 20)
    assert made.source_video_id == five.id
    with pytest.raises(InvalidRequest) as caught:  # 6 done: no seventh
        await edits.extend("p", ExtendVideo("more", 4, VideoRef(made.id)))
    assert caught.value.param == "video"
    # (that one is queued, not completed;) a completed video 6 extensions long:
    six = await _completed(service, 60, 6)
    with pytest.raises(InvalidRequest) as caught:
        await edits.extend("p", ExtendVideo("more", 4, VideoRef(six.id)))
    assert caught.value.message == (
        f"Video '{six.id}' has already been extended 6 times, the most allowed (6)."
    )
    long = await _completed(service, 116, 2)
    with pytest.raises(InvalidRequest) as caught:
        await edits.extend("p", ExtendVideo("more", 8, VideoRef(long.id)))
    assert caught.value.param == "seconds"
    assert "would make it 124 seconds long" in caught.value.message
    # a segment longer than 20 s is refused by the API's wire model (tests/api/test_edits.py)


async def test_models_that_cannot_edit_extend_or_take_characters(service: VideoService) -> None:
    edits = _edits(service)
    source = await _completed(service, 4, 0)
    clip = VideoUpload(b"not even looked at")
    with pytest.raises(InvalidRequest) as caught:
        await edits.edit("p", EditVideo("x", VideoRef(source.id), model="t2v-only"))
    assert caught.value.message == "Model 't2v-only' cannot edit videos."
    with pytest.raises(InvalidRequest) as caught:
        await edits.extend("p", ExtendVideo("x", 4, clip, model="t2v-only"))
    assert caught.value.message == "Model 't2v-only' cannot extend videos."
    assert caught.value.status_code == 400
    with pytest.raises(InvalidRequest) as caught:
        await service.create(
            "p", CreateVideo("x", "t2v-only", 4, "1280x720", character_ids=("char_x",))
        )
    assert caught.value.message == "Model 't2v-only' cannot take characters."


async def test_extended_options_are_off_by_default(service: VideoService, tmp_path: Path) -> None:
    with pytest.raises(InvalidValue):
        await service.create("p", CreateVideo("x", "sora-2-pro", 16, "1280x720"))
    service.settings = Settings(data_dir=tmp_path, extended_video_options=True)
    made = await service.create("p", CreateVideo("x", "sora-2-pro", 20, "1920x1080"))
    assert (made.seconds, made.size) == (20, "1920x1080")
    with pytest.raises(InvalidValue) as caught:  # 1080p is for the pro models only
        await service.create("p", CreateVideo("x", "sora-2", 16, "1080x1920"))
    assert "Supported values for model 'sora-2' are: '720x1280' and '1280x720'" in (
        caught.value.message
    )


def test_probe_accepts_mp4_and_webm() -> None:
    info = probe_upload(mp4_clip(320, 180, 2.0), LIMITS)
    assert (info.container, info.codec, info.width, info.height) == ("mp4", "H.264", 320, 180)
    assert abs(info.duration - 2.0) < 0.1 and info.seconds == 2
    webm = probe_upload(encoded_clip(96, 64, 1.0, fmt="webm", codec="libvpx-vp9"), LIMITS)
    assert (webm.container, webm.codec) == ("webm", "VP9")


@pytest.mark.parametrize(
    ("data", "limits", "code", "fragment"),
    [
        (b"", LIMITS, "invalid_video", "empty"),
        (b"\xff\xd8\xff\xe0" + b"0" * 50, LIMITS, "invalid_video", "JPEG image"),
        (b"\0\0\0\x18ftypisom" + b"\xff" * 100, LIMITS, "invalid_video", "could not be read"),
        ("mjpeg", LIMITS, "invalid_video", "codec (mjpeg) is not supported"),
        ("mp4", UploadLimits(10**8, 20, max_side=200), "invalid_video", "at most 200 pixels"),
        ("mp4", UploadLimits(10**8, 1.5, 4000), "invalid_video", "more than the limit of 1.5"),
        ("mp4", UploadLimits(10**8, 20, 4000, min_seconds=3), "invalid_video", "at least 3"),
        ("mp4", UploadLimits(1000, 20, 4000), "file_too_large", "more than the limit"),
    ],
    ids=["empty", "jpeg", "corrupt", "codec", "side", "long", "short", "bytes"],
)
def test_probe_rejects(data: object, limits: UploadLimits, code: str, fragment: str) -> None:
    if data == "mjpeg":
        data = encoded_clip(64, 64, 1.0, fmt="mp4", codec="mjpeg", pix_fmt="yuvj420p")
    elif data == "mp4":
        data = mp4_clip(320, 180, 2.0)
    assert isinstance(data, bytes)
    with pytest.raises(MediaError) as caught:
        probe_upload(data, limits)
    assert caught.value.subject == "video" and caught.value.code == code
    assert media_error(caught.value).param == "video"
    assert fragment in caught.value.message, caught.value.message


def test_closest_size_and_filenames() -> None:
    sizes = ("720x1280", "1280x720")
    assert closest_size(1920, 1080, sizes) == "1280x720"
    assert closest_size(480, 640, sizes) == "720x1280"
    assert clean_filename("../../etc/pass\x00wd\n.png") == "passwd.png"
    assert clean_filename("C:\\Users\\x\\cat.png") == "cat.png"
    assert clean_filename("") == clean_filename(None) == "upload"
    assert len(clean_filename("a" * 1000)) == 255


def test_params_accept_the_extended_options_only_when_switched_on(tmp_path: Path) -> None:
    from vidserve.api.videos.params import parse_create

    off = Settings(data_dir=tmp_path)
    on = Settings(data_dir=tmp_path, extended_video_options=True)
    with pytest.raises(InvalidValue) as caught:
        parse_create({"prompt": "x", "seconds": "16"}, off)
    assert caught.value.message == (
        "Invalid value: '16'. Supported values are: '4', '8', and '12'."
    )
    with pytest.raises(InvalidValue):
        parse_create({"prompt": "x", "size": "1920x1080"}, off)
    cmd = parse_create({"prompt": "x", "seconds": "20", "size": "1080x1920"}, on)
    assert (cmd.seconds, cmd.size) == (20, "1080x1920")
    cmd = parse_create(
        {"prompt": "x", "characters": [{"id": "char_a"}, {"id": "char_b"}],
         "input_reference": {"file_id": "file-x"}},
        off,
    )
    assert cmd.character_ids == ("char_a", "char_b") and cmd.reference_file_id == "file-x"
