"""Property-based fuzzing of the spec's operations with schemathesis: never a 5xx.

Every GET/POST/DELETE operation of ``openai-videos-openapi.yaml`` is fuzzed with positive
(schema-valid) and negative (schema-violating) examples, bounded and derandomised, and each
response goes through schemathesis' ``not_a_server_error`` check. That includes edits,
extensions and characters: random bytes as an uploaded ``video`` must be a 400, never a 5xx.

In-process: a first app makes one completed video (through the queue, as a worker would);
then schemathesis runs a second app on the same data (``from_asgi``'s way: it runs the app's
lifespan on its own event loop) and sends every request straight into it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans

from tests.api.inprocess import BASE_URL, InProcessServer, settings_for
from tests.contract.helpers import create
from tests.contract.spec import SPEC_PATH
from tests.scaleout.infra import Backend
from vidserve.api.app import create_app

MAX_EXAMPLES = 25
AUTH = {"Authorization": "Bearer sk-schemathesis"}
# Fuzzing validates the request handling, which does not depend on the storage backend: SQLite
# only, like the rest of the in-process tier.


def _schema() -> Any:
    return schemathesis.openapi.from_path(SPEC_PATH)


def _labels() -> list[str]:
    return [result.ok().label for result in _schema().get_all_operations()]


def test_the_fuzzed_operations() -> None:
    assert sorted(_labels()) == sorted(
        [
            "POST /videos",
            "GET /videos",
            "GET /videos/{video_id}",
            "DELETE /videos/{video_id}",
            "GET /videos/{video_id}/content",
            "POST /videos/{video_id}/remix",
            "POST /videos/characters",
            "GET /videos/characters/{character_id}",
            "POST /videos/edits",
            "POST /videos/extensions",
        ]
    )


@pytest.fixture(scope="module")
def fuzzed(
    backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, str]]:
    """OpenAI's spec bound to an in-process app, and the id of a completed video there."""
    data = tmp_path_factory.mktemp("schemathesis")
    settings = settings_for(backend, data, storage_url=f"file://{data}/assets")
    with InProcessServer(settings) as first:
        video = create(first.http("sk-schemathesis"), json={"prompt": "fuzz target"})
        first.finish(video["id"])
    schema = _schema()
    schema.app = create_app(settings, embedded_worker=False)  # as from_asgi binds its app
    try:
        yield schema, video["id"]
    finally:
        shutdown_lifespans()


@pytest.mark.parametrize("label", _labels())
def test_no_server_errors(fuzzed: tuple[Any, str], label: str) -> None:
    schema, completed_id = fuzzed
    operation = schema.find_operation_by_label(label)
    assert operation is not None, label
    has_video_id = "{video_id}" in operation.path
    strategies = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        strategies.append(operation.as_strategy(generation_mode=mode))
        if has_video_id and operation.method.upper() != "DELETE":
            # also aim at a real, completed video (never deleted: other tests use it)
            strategies.append(
                operation.as_strategy(
                    generation_mode=mode, path_parameters={"video_id": completed_id}
                )
            )
    failures: list[str] = []
    calls: list[int] = []

    @hypothesis.settings(
        max_examples=MAX_EXAMPLES * len(strategies),
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: failures are collected
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=st.one_of(strategies))
    def run(case: Any) -> None:
        response = case.call(base_url=BASE_URL, headers=AUTH)
        calls.append(response.status_code)
        try:
            case.validate_response(response, checks=[not_a_server_error])
        except AssertionError as exc:  # schemathesis' FailureGroup is an AssertionError
            failures.append(
                f"{response.status_code} for {case.as_curl_command(headers=AUTH)}\n"
                f"{response.text[:300]}\n{exc}"
            )

    run()
    assert calls, "no request was made"
    assert not any(code >= 500 for code in calls), "\n\n".join(failures[:5])
    assert failures == [], "\n\n".join(failures[:5])
