from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import ServerProcess

warnings.filterwarnings("ignore", category=DeprecationWarning, module="openai")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One dev-mode server shared by the API tests (each test creates its own videos)."""
    proc = ServerProcess(tmp_path_factory.mktemp("server")).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of this test's own (for restarts, kills and settings)."""
    proc = ServerProcess(tmp_path / "server")
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def client(server: ServerProcess):  # type: ignore[no-untyped-def]
    from openai import OpenAI

    with OpenAI(base_url=server.base_url, api_key="test-key", max_retries=0) as c:
        yield c
