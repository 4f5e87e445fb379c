"""Fixtures of the contract tests: a raw httpx client on the shared ``server`` and one
completed video (rendered once per session, reused by the wire and SDK tests)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.contract.helpers import Observed, create, poll_until_terminal
from tests.servers import ServerProcess


@pytest.fixture(scope="session")
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    """Raw HTTP to the shared dev-mode server (any bearer key works there)."""
    with httpx.Client(
        base_url=server.base_url,
        headers={"Authorization": "Bearer sk-contract-tests"},
        timeout=60,
    ) as client:
        yield client


@pytest.fixture
def cleanup(api: httpx.Client) -> Iterator[list[str]]:
    """Ids appended here are deleted after the test (a queued job is cancelled), so jobs that
    nobody waits for do not hold up the single worker of the shared server."""
    ids: list[str] = []
    yield ids
    for video_id in ids:
        api.delete(f"/videos/{video_id}")


@pytest.fixture(scope="session")
def completed(api: httpx.Client) -> Observed:
    """A 4 s 1280x720 sora-2 video, polled to completion with every response recorded."""
    video = create(
        api, files={"prompt": (None, "contract: a red ball"), "size": (None, "1280x720")}
    )
    observed = poll_until_terminal(api, video["id"])
    assert observed.final["status"] == "completed", observed.final
    return observed


@pytest.fixture(scope="session")
def completed_video(completed: Observed) -> dict[str, Any]:
    return completed.final
