from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.backends import slow_models
from tests.servers import ServerProcess

METRICS_TOKEN = "metrics-secret-0123"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="session")
def obs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A dev-mode server whose jobs take ~1.6 s (8 steps of 0.2 s for a 4 s clip)."""
    proc = ServerProcess(
        tmp_path_factory.mktemp("observability"),
        env={
            **slow_models(0.2),
            "VIDSERVE_LOG_FORMAT": "json",
            "VIDSERVE_METRICS_TOKEN": METRICS_TOKEN,
        },
    ).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def api(obs_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=obs_server.base_url, headers={"Authorization": "Bearer sk-obs"}, timeout=30
    ) as client:
        yield client


def scrape(server: ServerProcess) -> Samples:
    """GET /metrics, parsed with prometheus_client's own text parser."""
    resp = httpx.get(
        f"http://127.0.0.1:{server.port}/metrics",
        headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def wait_for(check: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.05)
