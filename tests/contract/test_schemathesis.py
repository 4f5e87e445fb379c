"""Property-based fuzzing of the spec's operations with schemathesis: never a 5xx.

Every GET/POST/DELETE operation of ``openai-videos-openapi.yaml`` is fuzzed with positive
(schema-valid) and negative (schema-violating) examples, bounded and derandomised, and each
response goes through schemathesis' ``not_a_server_error`` check. That includes edits,
extensions and characters: random bytes as an uploaded ``video`` must be a 400, never a 5xx.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.contract.spec import SPEC_PATH
from tests.servers import ServerProcess

MAX_EXAMPLES = 25
AUTH = {"Authorization": "Bearer sk-schemathesis"}
# Fuzzing validates the request handling, which does not depend on the storage backend; the
# SDK, wire and error tests run on both backends, this one only on SQLite (run time).
pytestmark = pytest.mark.backends("sqlite")


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


@pytest.fixture
def created(server: ServerProcess) -> Iterator[list[str]]:
    """Videos the fuzzer managed to create; deleted afterwards so that the shared server's
    worker is not left with a long queue."""
    ids: list[str] = []
    yield ids
    with httpx.Client(base_url=server.base_url, headers=AUTH, timeout=30) as api:
        for video_id in ids:
            api.delete(f"/videos/{video_id}")


@pytest.mark.parametrize("label", _labels())
def test_no_server_errors(
    server: ServerProcess,
    completed_video: dict[str, Any],
    created: list[str],
    label: str,
) -> None:
    operation = _schema().find_operation_by_label(label)
    assert operation is not None, label
    has_video_id = "{video_id}" in operation.path
    strategies = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        strategies.append(operation.as_strategy(generation_mode=mode))
        if has_video_id and operation.method.upper() != "DELETE":
            # also aim at a real, completed video (never deleted: other tests use it)
            strategies.append(
                operation.as_strategy(
                    generation_mode=mode, path_parameters={"video_id": completed_video["id"]}
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
        response = case.call(base_url=server.base_url, headers=AUTH, timeout=60)
        calls.append(response.status_code)
        if response.status_code == 200 and operation.method.upper() == "POST":
            body = response.json()
            if isinstance(body, dict) and isinstance(body.get("id"), str):
                created.append(body["id"])
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
