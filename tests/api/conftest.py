"""Fixtures of the in-process API tier: the real app (lifespan included) without a socket or
a worker, memory blobs, SQLite in a temporary folder (see ``tests/api/inprocess.py``).

``server`` is one app per test module (dev mode: any bearer key works); ``api`` is raw httpx
on it, ``client`` the official ``openai`` SDK. Tests here run on SQLite only unless marked
``@pytest.mark.backends("sqlite", "postgres")`` (the store behaviours worth checking twice).
``make_server(**settings)`` gives a test a server of its own with other settings;
``alpha_and_beta`` the SDK as two projects of one server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI

from tests.api.inprocess import InProcessServer, settings_for
from tests.contract.helpers import Observed, assert_request_id, assert_video, create
from tests.scaleout.infra import Backend


@pytest.fixture(scope="module")
def server(
    backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InProcessServer]:
    with InProcessServer(settings_for(backend, tmp_path_factory.mktemp("app"))) as app:
        yield app


@pytest.fixture
def make_server(backend: Backend, tmp_path: Path) -> Iterator[Callable[..., InProcessServer]]:
    """``make_server(**settings)``: a server of this test's own, stopped after it."""
    with ExitStack() as stack:
        made = 0

        def make(**overrides: Any) -> InProcessServer:
            nonlocal made
            made += 1
            settings = settings_for(backend, tmp_path / f"app{made}", **overrides)
            return stack.enter_context(InProcessServer(settings))

        yield make


@pytest.fixture
def alpha_and_beta(make_server: Callable[..., InProcessServer]) -> Iterator[tuple[OpenAI, OpenAI]]:
    """The official SDK as the projects ``alpha`` and ``beta`` of one server with keys."""
    alpha_key, beta_key = "sk-alpha-0123456789", "sk-beta-9876543210"
    server = make_server(api_keys=f"{alpha_key}=alpha,{beta_key}=beta")
    with server.sdk(api_key=alpha_key, max_retries=0) as alpha, server.sdk(
        api_key=beta_key, max_retries=0
    ) as beta:
        yield alpha, beta


@pytest.fixture(scope="module")
def api(server: InProcessServer) -> httpx.Client:
    """Raw HTTP to the module's server (any bearer key works there)."""
    return server.http("sk-contract-tests")


@pytest.fixture(scope="module")
def client(server: InProcessServer) -> Iterator[OpenAI]:
    with server.sdk(max_retries=0) as sdk:
        yield sdk


@pytest.fixture
def cleanup(api: httpx.Client) -> Iterator[list[str]]:
    """Ids appended here are deleted after the test (a queued job is cancelled)."""
    ids: list[str] = []
    yield ids
    for video_id in ids:
        api.delete(f"/videos/{video_id}")


def retrieve(api: httpx.Client, video_id: str, observed: Observed) -> dict[str, Any]:
    response = api.get(f"/videos/{video_id}")
    assert response.status_code == 200, response.text[:500]
    assert_request_id(response)
    body = assert_video(response.json())
    observed.responses.append((response.status_code, response.headers, body))
    return body


@pytest.fixture(scope="module")
def completed(server: InProcessServer, api: httpx.Client) -> Observed:
    """A 4 s 1280x720 sora-2 video, retrieved queued, then finished through the queue."""
    video = create(
        api, files={"prompt": (None, "contract: a red ball"), "size": (None, "1280x720")}
    )
    observed = Observed()
    assert retrieve(api, video["id"], observed)["status"] == "queued"
    server.finish(video["id"])
    assert retrieve(api, video["id"], observed)["status"] == "completed", observed.final
    return observed


@pytest.fixture(scope="module")
def completed_video(completed: Observed) -> dict[str, Any]:
    return completed.final
