"""schemathesis, with every check, against this server's own document of the new operations
(edits, extensions, characters, Files API): the same checks as ``tests/safety``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.safety.test_own_openapi import AUTH, CHECKS
from tests.servers import ServerProcess

LABELS = [
    "POST /v1/videos/edits",
    "POST /v1/videos/extensions",
    "POST /v1/videos/characters",
    "GET /v1/videos/characters/{character_id}",
    "POST /v1/files",
    "GET /v1/files",
    "GET /v1/files/{file_id}",
    "DELETE /v1/files/{file_id}",
    "GET /v1/files/{file_id}/content",
]


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path_factory.mktemp("surface-openapi"),
        env={"VIDSERVE_API_KEYS": "sk-own-openapi=fuzz"},
    ).start()
    yield server
    server.stop()


def _schema(server: ServerProcess) -> Any:
    return schemathesis.openapi.from_url(server.base_url.removesuffix("/v1") + "/openapi.json")


def test_document_describes_the_new_bodies(keyed: ServerProcess) -> None:
    paths = _schema(keyed).raw_schema["paths"]
    for path, kinds in (
        ("/v1/videos/edits", {"application/json", "multipart/form-data"}),
        ("/v1/videos/extensions", {"application/json", "multipart/form-data"}),
        ("/v1/videos/characters", {"multipart/form-data"}),
        ("/v1/files", {"multipart/form-data"}),
    ):
        operation = paths[path]["post"]
        assert set(operation["requestBody"]["content"]) == kinds, path
        assert {"400", "401", "404"} <= set(operation["responses"]), path


@pytest.mark.parametrize("label", LABELS)
def test_all_checks(keyed: ServerProcess, label: str) -> None:
    operation = _schema(keyed).find_operation_by_label(label)
    assert operation is not None, label
    strategies = [
        operation.as_strategy(generation_mode=mode)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    ]
    failures: list[str] = []
    statuses: list[int] = []

    @hypothesis.settings(
        max_examples=25,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=st.one_of(strategies))
    def run(case: Any) -> None:
        response = case.call(headers=AUTH, timeout=60)
        statuses.append(response.status_code)
        try:
            case.validate_response(response, checks=CHECKS)
        except AssertionError as exc:
            failures.append(f"{case.as_curl_command(headers=AUTH)}\n{response.text[:300]}\n{exc}")

    run()
    assert statuses and not any(code >= 500 for code in statuses)
    assert failures == [], "\n\n".join(failures[:3])
