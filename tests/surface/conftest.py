"""Fixtures of the surface tests (edits, extensions, characters, Files API).

``client`` is the official SDK on the shared ``server`` (every backend); ``source`` is one
completed 4 s 1280x720 video made through it, reused as the source of edits and extensions.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openai import OpenAI

from tests.servers import ServerProcess


def wait(client: OpenAI, video_id: str, timeout: float = 120.0) -> Any:
    """Poll until the video is completed or failed."""
    deadline = time.monotonic() + timeout
    while True:
        video = client.videos.retrieve(video_id)
        if video.status in ("completed", "failed"):
            return video
        if time.monotonic() > deadline:
            raise AssertionError(f"{video_id} still {video.status} after {timeout}s")
        time.sleep(0.1)


MADE: list[tuple[str, str]] = []  # (base_url, video id): deleted at the end of the session


def completed(client: OpenAI, video_id: str) -> Any:
    MADE.append((str(client.base_url), video_id))
    video = wait(client, video_id)
    assert video.status == "completed", video.error
    return video


@pytest.fixture(scope="session", autouse=True)
def _delete_what_was_made() -> Iterator[None]:
    """The shared server outlives this folder: leave no edits or extensions (whose lengths
    are outside the create enum) in its list for other suites."""
    yield
    with httpx.Client(headers={"Authorization": "Bearer sk-surface"}, timeout=10) as http:
        for base_url, video_id in MADE:
            try:
                http.delete(f"{base_url.rstrip('/')}/videos/{video_id}")
            except httpx.HTTPError:
                pass  # that server is gone already


@pytest.fixture(scope="session")
def client(server: ServerProcess) -> Iterator[OpenAI]:
    """The official SDK on the shared server (session-wide here: module fixtures use it)."""
    with OpenAI(base_url=server.base_url, api_key="sk-surface", max_retries=0) as c:
        yield c


@pytest.fixture(scope="session")
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    """Raw HTTP to the shared dev-mode server."""
    with httpx.Client(
        base_url=server.base_url, headers={"Authorization": "Bearer sk-surface"}, timeout=60
    ) as c:
        yield c


@pytest.fixture(scope="session")
def source(client: OpenAI) -> Any:
    """A completed 4 s 1280x720 video: the source of the edits and extensions below."""
    video = client.videos.create(prompt="surface: red balls bouncing", size="1280x720")
    return completed(client, video.id)


@pytest.fixture(scope="session")
def source_mp4(client: OpenAI, source: Any) -> bytes:
    return client.videos.download_content(source.id).read()
