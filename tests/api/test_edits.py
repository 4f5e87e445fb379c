"""Edits and extensions: the errors a request gets before any job runs (in-process; the files
edits and extensions make are checked on a real server in tests/surface/test_edits.py)."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.api.inprocess import InProcessServer
from tests.surface.clips import mp4_clip

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


@pytest.fixture(scope="module")
def source(server: InProcessServer, client: OpenAI) -> Any:
    """A completed 4 s 1280x720 video, finished through the queue."""
    video = client.videos.create(prompt="surface: red balls bouncing", size="1280x720")
    server.finish(video.id)
    done = client.videos.retrieve(video.id)
    assert done.status == "completed", done
    return done


def test_upload_that_is_not_a_video_is_a_clear_400(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.videos.edit(prompt="x", video=("cat.png", b"\x89PNG\r\n\x1a\n" + b"0" * 64))
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["param"] == "video"
    assert "not an MP4, QuickTime or WebM video" in error["message"]
    assert "PNG" in error["message"]


def test_upload_longer_than_the_limit_is_a_clear_400(client: OpenAI) -> None:
    clip = mp4_clip(64, 64, 21.0, fps=8)
    with pytest.raises(openai.BadRequestError) as caught:
        client.videos.extend(prompt="x", seconds="4", video=("long.mp4", clip))
    error = caught.value.body
    assert isinstance(error, dict) and error["param"] == "video"
    assert "21.0 seconds long, more than the limit of 20 seconds" in error["message"]


@pytest.mark.parametrize(
    ("fields", "status", "param", "message"),
    [
        ({"prompt": "x", "seconds": "10"}, 400, "seconds",
         "Invalid value: '10'. Supported values are: '4', '8', '12', '16', and '20'."),
        ({"prompt": "x", "seconds": "24"}, 400, "seconds",
         "Invalid value: '24'. Supported values are: '4', '8', '12', '16', and '20'."),
        ({"prompt": "x"}, 400, "seconds", "Missing required parameter: 'seconds'."),
        ({"prompt": "x", "seconds": "4", "video": None}, 400, "video",
         "Missing required parameter: 'video'."),
        ({"prompt": "x", "seconds": "4", "duration": "4"}, 400, "duration",
         "Unknown parameter: 'duration'."),
    ],
    ids=["seconds-10", "seconds-24", "no-seconds", "no-video", "unknown"],
)
def test_extension_parameter_errors(
    api: Any, source: Any, fields: dict[str, Any], status: int, param: str, message: str
) -> None:
    body = {"video": {"id": source.id}, **fields}
    body = {k: v for k, v in body.items() if v is not None}
    response = api.post("/videos/extensions", json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["param"], error["message"]) == (param, message)


def test_unknown_and_unfinished_sources(api: Any, client: OpenAI) -> None:
    missing = "video_" + "0" * 48
    for path, extra in (("/videos/edits", {}), ("/videos/extensions", {"seconds": "4"})):
        response = api.post(path, json={"prompt": "x", "video": {"id": missing}, **extra})
        assert response.status_code == 404, response.text
        assert response.json()["error"]["param"] == "video"
        response = api.post(
            path, files={"prompt": (None, "x"), "video[id]": (None, "nope"),
                         **{k: (None, v) for k, v in extra.items()}},
        )
        assert response.status_code == 404, response.text
    queued = client.videos.create(prompt="still rendering", size="1280x720")
    try:
        response = api.post("/videos/edits", json={"prompt": "x", "video": {"id": queued.id}})
        assert response.status_code == 400, response.text
        assert "only a completed video can be edited" in response.json()["error"]["message"]
    finally:
        client.videos.delete(queued.id)
