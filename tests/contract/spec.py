"""The contract: OpenAI's Videos API spec (``openai-videos-openapi.yaml``, a verbatim copy of
``/work/shared/openai-videos-openapi.yaml``) and a validator for its component schemas.

``validate(body, "VideoResource")`` checks a decoded JSON body against
``#/components/schemas/VideoResource`` with JSON Schema Draft 2020-12 (OpenAPI 3.1 schemas are
2020-12), resolving ``$ref`` inside the file. ``format`` (``unixtime``, ``uri``, ``binary``) is
annotation only and is not asserted.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).with_name("openai-videos-openapi.yaml")
SPEC_URI = "urn:openai-videos-openapi"


@cache
def spec() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    return data


@cache
def _registry() -> Registry:  # type: ignore[type-arg]
    resource = Resource.from_contents(spec(), default_specification=DRAFT202012)
    return Registry().with_resource(SPEC_URI, resource)


def schema_names() -> list[str]:
    return sorted(spec()["components"]["schemas"])


@cache
def validator(name: str) -> Draft202012Validator:
    if name not in spec()["components"]["schemas"]:
        raise KeyError(f"no component schema {name!r} in {SPEC_PATH.name}")
    # A $ref into the whole document, so relative "#/components/..." refs resolve in the file.
    schema = {"$ref": f"{SPEC_URI}#/components/schemas/{name}"}
    return Draft202012Validator(schema, registry=_registry())


def errors(body: Any, name: str) -> list[str]:
    """Every violation of schema ``name`` by ``body``, as readable lines (empty when valid)."""
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in sorted(validator(name).iter_errors(body), key=lambda e: list(e.absolute_path))
    ]


def validate(body: Any, name: str) -> Any:
    """Assert ``body`` conforms to ``#/components/schemas/{name}``; returns ``body``."""
    problems = errors(body, name)
    assert not problems, f"response does not match {name}:\n" + "\n".join(problems) + f"\n{body!r}"
    return body


def response_schema_name(path: str, method: str, status: str = "200") -> str | None:
    """The component name a path's JSON response refers to (e.g. ``VideoResource``)."""
    op = spec()["paths"][path][method.lower()]
    content = op["responses"][status].get("content", {})
    ref = content.get("application/json", {}).get("schema", {}).get("$ref")
    return ref.rsplit("/", 1)[-1] if ref else None
