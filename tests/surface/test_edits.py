"""Edits and extensions through the official Python SDK, checked on the decoded files (the
request errors are checked in-process in tests/api/test_edits.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import openai
import pytest
from openai import OpenAI

from tests.surface.clips import (
    FADE_SLOPE,
    audio_track,
    decode,
    duration,
    extension_seam_jump,
    mad,
    mp4_clip,
)
from tests.surface.conftest import completed

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")
FPS = 24


def _by_id(video_id: str) -> dict[str, Any]:
    """``video={"id": ...}``: the SDK only takes files for ``video``, so ids go in extra_body
    (sent as the multipart field ``video[id]``)."""
    return {"video": openai.omit, "extra_body": {"video": {"id": video_id}}}


@pytest.fixture(scope="module")
def extension(client: OpenAI, source: Any) -> tuple[Any, bytes]:
    """The source (4 s) extended by 8 s."""
    video = client.videos.extend(
        prompt="blue night sky with stars", seconds="8", **_by_id(source.id)
    )
    assert video.status in ("queued", "in_progress")
    assert video.seconds == "12"  # the stitched total, from the start
    done = completed(client, video.id)
    return done, client.videos.download_content(done.id).read()


@pytest.mark.backends("sqlite")
def test_extension_is_one_seamless_12s_file(
    extension: tuple[Any, bytes], source_mp4: bytes
) -> None:
    video, data = extension
    assert (video.seconds, video.size, video.model) == ("12", "1280x720", "sora-2")
    assert video.remixed_from_video_id is None
    frames = decode(data)
    assert len(frames) == 12 * FPS
    assert abs(duration(data) - 12.0) < 0.05
    assert frames[0].shape == (720, 1280, 3)
    # the first 4 s are the source (through one more H.264 round trip)
    source = decode(source_mp4)
    assert len(source) == 4 * FPS
    assert max(mad(a, b) for a, b in zip(source, frames[: 4 * FPS], strict=True)) < 3.0
    # the seam: frame 95 -> 96 differs no more than neighbouring frames elsewhere do
    diffs = [mad(frames[i], frames[i + 1]) for i in range(len(frames) - 1)]
    seam = 4 * FPS - 1
    elsewhere = diffs[:seam - 1] + diffs[seam + 2 :]
    assert diffs[seam] <= max(elsewhere), (diffs[seam], max(elsewhere))
    assert diffs[seam] <= 2 * float(np.median(elsewhere)) + 0.5, diffs[seam - 2 : seam + 3]
    # and the new segment is new: the end looks nothing like the source's end
    assert mad(frames[-1], source[-1]) > 3.0


@pytest.mark.backends("sqlite")
def test_extension_sound_continues_across_the_seam(
    api: Any, extension: tuple[Any, bytes], source_mp4: bytes
) -> None:
    video, data = extension
    codec, rate, layout, seconds, samples = audio_track(data)
    assert (codec, rate, layout) == ("aac", 48000, "stereo")
    assert abs(seconds - duration(data)) <= 1024 / 48000
    source = audio_track(source_mp4)[4]
    seam = 4 * 48000
    # the first 4 s are the source's sound (through one more AAC round trip) ...
    before = source[:, : seam - 2400]
    assert float(np.corrcoef(before[0], samples[0, : seam - 2400])[0, 1]) > 0.95
    # ... crossfaded onto the new segment's own: no step at the join beyond its neighbours'
    at_seam, around = extension_seam_jump(samples, seam)  # the fade ends there
    assert at_seam <= around + FADE_SLOPE, (at_seam, around)
    assert float(np.sqrt(np.mean(samples[:, seam + 48000 :] ** 2))) > 0.02
    # fetched in byte ranges the file is the same, sound included
    url = f"/videos/{video.id}/content"
    size = len(data)
    parts = [
        api.get(url, headers={"Range": f"bytes={a}-{min(size, a + size // 3 + 1) - 1}"})
        for a in range(0, size, size // 3 + 1)
    ]
    assert all(p.status_code == 206 for p in parts)
    assert b"".join(p.content for p in parts) == data


@pytest.mark.backends("sqlite")
def test_edit_keeps_size_length_and_motion(
    client: OpenAI, source: Any, source_mp4: bytes
) -> None:
    video = client.videos.edit(prompt="golden sunset with rain", **_by_id(source.id))
    assert (video.size, video.seconds) == (source.size, source.seconds)
    done = completed(client, video.id)
    assert done.prompt == "golden sunset with rain"
    edited_mp4 = client.videos.download_content(done.id).read()
    edited = decode(edited_mp4)
    # the sound is the source's, with the prompt's rain under it
    sound, original_sound = audio_track(edited_mp4)[4], audio_track(source_mp4)[4]
    n = min(sound.shape[1], original_sound.shape[1])
    assert float(np.corrcoef(sound[0, :n], original_sound[0, :n])[0, 1]) > 0.5
    assert float(np.abs(sound[:, :n] - original_sound[:, :n]).mean()) > 0.005
    original = decode(source_mp4)
    assert len(edited) == len(original) == 4 * FPS
    assert edited[0].shape == original[0].shape == (720, 1280, 3)
    # changed as the prompt says (a new palette, rain) ...
    assert float(np.mean([mad(a, b) for a, b in zip(original, edited, strict=True)])) > 8.0
    # ... with the same motion: frame-to-frame change follows the source's
    moved = [mad(original[i], original[i + 1]) for i in range(len(original) - 1)]
    moved_edit = [mad(edited[i], edited[i + 1]) for i in range(len(edited) - 1)]
    assert float(np.corrcoef(moved, moved_edit)[0, 1]) > 0.5


@pytest.mark.backends("sqlite")
def test_remix_makes_new_sound(client: OpenAI, source: Any, source_mp4: bytes) -> None:
    remix = completed(client, client.videos.remix(source.id, prompt="calm blue lake, wind").id)
    sound = audio_track(client.videos.download_content(remix.id).read())[4]
    original = audio_track(source_mp4)[4]
    n = min(sound.shape[1], original.shape[1])
    assert float(np.sqrt(np.mean(sound**2))) > 0.02
    assert abs(float(np.corrcoef(sound[0, :n], original[0, :n])[0, 1])) < 0.3


def test_edit_an_upload(client: OpenAI) -> None:
    clip = mp4_clip(320, 180, 2.2)  # 16:9, 2.2 s: re-encoded to 1280x720, 2 s, for sora-2
    edit = client.videos.edit(prompt="neon city", video=("clip.mp4", clip, "video/mp4"))
    assert (edit.size, edit.seconds, edit.model) == ("1280x720", "2", "sora-2")
    done = completed(client, edit.id)
    frames = decode(client.videos.download_content(done.id).read())
    assert len(frames) == 2 * FPS
    assert frames[0].shape == (720, 1280, 3)


@pytest.mark.backends("sqlite")
def test_extend_an_upload(client: OpenAI) -> None:
    clip = mp4_clip(180, 320, 2.0, fps=30)  # 9:16 at 30 fps: re-encoded at 24 fps
    extend = client.videos.extend(
        prompt="the square flies on", seconds="4", video=("clip.mp4", clip, "video/mp4")
    )
    assert (extend.size, extend.seconds) == ("720x1280", "6")
    done = completed(client, extend.id)
    frames = decode(client.videos.download_content(done.id).read())
    assert len(frames) == 6 * FPS
    assert frames[0].shape == (1280, 720, 3)
    diffs = [mad(frames[i], frames[i + 1]) for i in range(len(frames) - 1)]
    seam = 2 * FPS - 1
    assert diffs[seam] <= max(diffs[:seam - 1] + diffs[seam + 2 :])


