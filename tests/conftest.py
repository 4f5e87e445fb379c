"""Test tiers and server fixtures, run against every backend.

Every test gets a tier marker from its folder (``TIERS`` below): ``unit``, ``engine`` (tiny
diffusers pipelines on CPU), ``api`` (the app in-process), ``server`` (a real server process),
``system`` (durability, chaos, scale-out), ``gpu``; ``pytest -m "unit or api"`` runs the fast
tiers.

``server`` and ``fresh_server`` are parametrised over the backends: ``sqlite`` (SQLite file +
local folder, the embedded default) and ``postgres`` (PostgreSQL + an S3 bucket, the scale-out
setup). The test-suite starts both by itself: a throwaway PostgreSQL cluster (initdb into a
temporary folder, 127.0.0.1 only) and moto's S3 server in this process. A module or test can
narrow the list with ``@pytest.mark.backends("sqlite")``; ``VIDSERVE_TEST_BACKENDS=sqlite``
narrows the whole run. The in-process tier (``tests/api``) runs on SQLite unless a test is
marked with both backends: its checks are the API's own, not the store's. Without PostgreSQL
installed the ``postgres`` cases are skipped, unless
``VIDSERVE_TEST_REQUIRE_POSTGRES=1`` (``scripts/test`` sets it), which makes that an error.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.scaleout.infra import Backend, Postgres, S3Server, postgres_bin
from tests.servers import ServerProcess

warnings.filterwarnings("ignore", category=DeprecationWarning, module="openai")

ALL_BACKENDS = ("sqlite", "postgres")
TESTS = Path(__file__).parent
IN_PROCESS_TIER = TESTS / "api"

# Each test's tier (a marker; pyproject.toml describes them), by folder or file under tests/:
# the most specific place listed wins; what is not listed runs against a real server process
# (the ``server`` tier).
TIERS: dict[str, tuple[str, ...]] = {
    "unit": (
        "unit", "engine/test_options.py", "engine/test_plan.py",
        "observability/test_telemetry.py", "observability/test_worker_files.py",
        "surface/test_limits.py",
    ),
    "engine": ("engine",),
    "api": ("api",),
    "server": ("engine/test_server.py",),
    "system": ("chaos", "scaleout", "integration/test_durability.py"),
    "gpu": ("gpu",),
}


def tier_of(path: Path) -> str:
    where = path.relative_to(TESTS)
    matches = [
        (len(Path(place).parts), tier)
        for tier, places in TIERS.items()
        for place in places
        if where.is_relative_to(place)
    ]
    return max(matches)[1] if matches else "server"


def _enabled_backends() -> tuple[str, ...]:
    wanted = os.environ.get("VIDSERVE_TEST_BACKENDS", "")
    names = tuple(n.strip() for n in wanted.split(",") if n.strip()) or ALL_BACKENDS
    unknown = set(names) - set(ALL_BACKENDS)
    if unknown:
        raise pytest.UsageError(f"VIDSERVE_TEST_BACKENDS: unknown {sorted(unknown)}")
    return names


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "backends(*names): run this test only on these backends (sqlite, postgres)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(tier_of(item.path))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("backends")
    if marker is not None:
        allowed = marker.args
    elif metafunc.definition.path.is_relative_to(IN_PROCESS_TIER):
        allowed = ("sqlite",)
    else:
        allowed = ALL_BACKENDS
    names = [n for n in _enabled_backends() if n in allowed]
    metafunc.parametrize("backend", names, indirect=True, scope="session")


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    """One HTTP client for the tests' plain requests (no default headers: each request says
    its own). ``httpx.get()`` and its like build a new client, and with it an SSL context
    (~30 ms of CPU), per request; a poll every 0.1 s paid that hundreds of times."""
    with httpx.Client(timeout=5) as client:
        yield client


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Postgres]:
    """A PostgreSQL cluster of the test-suite's own, stopped at the end."""
    if postgres_bin() is None:
        message = "PostgreSQL is not installed (apt-get install -y postgresql)"
        if os.environ.get("VIDSERVE_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    cluster = Postgres().start()
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server in this process, on 127.0.0.1, with the test bucket."""
    server = S3Server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> Backend:
    name = getattr(request, "param", "sqlite")
    if name == "postgres":
        return Backend(
            "postgres",
            postgres=request.getfixturevalue("postgres_cluster"),
            s3=request.getfixturevalue("s3_server"),
        )
    return Backend("sqlite")


@pytest.fixture(scope="session")
def server(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One dev-mode server per backend shared by the API tests (each test creates its own
    videos)."""
    proc = ServerProcess(tmp_path_factory.mktemp(f"server-{backend}"), backend=backend).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def fresh_server(backend: Backend, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of this test's own (for restarts, kills and settings)."""
    proc = ServerProcess(tmp_path / "server", backend=backend)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def client(server: ServerProcess):  # type: ignore[no-untyped-def]
    from openai import OpenAI

    with OpenAI(base_url=server.base_url, api_key="test-key", max_retries=0) as c:
        yield c
