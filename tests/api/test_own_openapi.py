"""schemathesis against the server's own OpenAPI document, with every check it has, in-process:
``schemathesis.openapi.from_asgi`` runs the app (its lifespan included) on schemathesis' own
event loop, and its requests and the checks' probes go straight into it.

Where one check cannot hold for this API, it is named here with the reason:

- ``positive_data_acceptance`` runs on every operation but those in ``REFUSES_VALID_DATA``,
  where a schema-valid request can still be refused on purpose: a create with
  ``size=1792x1024`` and ``model=sora-2`` (the live service's per-model rule) or a model name
  this server does not serve; a list's ``after`` cursor naming no stored object; a source or
  clip that must exist or decode. Form bodies are described as the server reads them: a nested
  object's fields as bracket keys (``expires_after[seconds]``), as OpenAI's SDKs send them.
- ``max_response_time``: timings are not asserted in tests (a shared 2-core machine).
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
from schemathesis import checks as all_checks
from schemathesis.python.asgi import shutdown_lifespans

from tests.api.inprocess import settings_for
from tests.scaleout.infra import Backend
from vidserve.api.app import create_app
from vidserve.store.database import migrate

AUTH = {"Authorization": "Bearer sk-own-openapi"}


@pytest.fixture(scope="module")
def keyed(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The document of a server with a key configured (dev mode would accept any key:
    ``ignored_auth``), loaded from the app schemathesis then sends every request into."""
    settings = settings_for(
        backend, tmp_path_factory.mktemp("own-openapi"), api_keys="sk-own-openapi=fuzz"
    )
    migrate(settings.database_url)
    try:
        app = create_app(settings, embedded_worker=False)
        yield schemathesis.openapi.from_asgi("/openapi.json", app)
    finally:
        shutdown_lifespans()  # the app's shutdown: background tasks stopped, database closed


SKIPPED = {"max_response_time"}
REFUSES_VALID_DATA = {
    "POST /v1/videos": "per-model sizes and the served models: cross-field rules",
    "GET /v1/videos": "`after` must name a stored video",
    "GET /v1/files": "`after` must name a stored file",
    "POST /v1/videos/edits": "the source video must exist and be completed; form fields",
    "POST /v1/videos/extensions": "the source video must exist and be completed; form fields",
    "POST /v1/videos/characters": "the clip must decode as a video; form fields",
}
CHECKS = [
    getattr(all_checks, name)
    for name in (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "use_after_free",
        "ensure_resource_availability",
        "ignored_auth",
        "missing_required_header",
        "unsupported_method",
        "allow_header_conformance",
    )
    if hasattr(all_checks, name)
]
POSITIVE_DATA_ACCEPTANCE = all_checks.positive_data_acceptance


def test_every_refusal_of_valid_data_is_an_operation() -> None:
    assert set(REFUSES_VALID_DATA) <= set(VIDEOS + SURFACE)


def test_document_describes_bodies_and_errors(keyed: Any) -> None:
    doc = keyed.raw_schema
    create = doc["paths"]["/v1/videos"]["post"]
    assert set(create["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    for status in ("400", "401", "404", "413", "429", "500"):
        assert status in create["responses"], status
    assert "CreateVideoBody" in doc["components"]["schemas"]


def test_document_describes_the_surface_bodies(keyed: Any) -> None:
    paths = keyed.raw_schema["paths"]
    for path, kinds in (
        ("/v1/videos/edits", {"application/json", "multipart/form-data"}),
        ("/v1/videos/extensions", {"application/json", "multipart/form-data"}),
        ("/v1/videos/characters", {"multipart/form-data"}),
        ("/v1/files", {"multipart/form-data"}),
    ):
        operation = paths[path]["post"]
        assert set(operation["requestBody"]["content"]) == kinds, path
        assert {"400", "401", "404"} <= set(operation["responses"]), path


VIDEOS = [
    "POST /v1/videos",
    "GET /v1/videos",
    "GET /v1/videos/{video_id}",
    "DELETE /v1/videos/{video_id}",
    "GET /v1/videos/{video_id}/content",
    "POST /v1/videos/{video_id}/remix",
]
SURFACE = [  # edits, extensions, characters, Files API
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


@pytest.mark.parametrize(
    ("label", "examples"), [(label, 40) for label in VIDEOS] + [(label, 25) for label in SURFACE]
)
def test_all_checks(keyed: Any, label: str, examples: int) -> None:
    operation = keyed.find_operation_by_label(label)
    assert operation is not None, label
    strategies = [
        operation.as_strategy(generation_mode=mode)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    ]
    checks = CHECKS if label in REFUSES_VALID_DATA else [*CHECKS, POSITIVE_DATA_ACCEPTANCE]
    failures: list[str] = []
    statuses: list[int] = []

    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=st.one_of(strategies))
    def run(case: Any) -> None:
        response = case.call(headers=AUTH)
        statuses.append(response.status_code)
        try:
            case.validate_response(response, checks=checks)
        except AssertionError as exc:
            failures.append(f"{case.as_curl_command(headers=AUTH)}\n{response.text[:300]}\n{exc}")

    run()
    assert statuses and not any(code >= 500 for code in statuses)
    assert failures == [], "\n\n".join(failures[:3])
