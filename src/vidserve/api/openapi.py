"""The server's own OpenAPI document: request bodies and error responses described.

The routes read their bodies themselves (JSON or multipart, see ``api/bodies.py``), so FastAPI
cannot see them; ``body_doc`` documents them with the models of ``api/wire.py`` and
``ERROR_RESPONSES`` declares the error envelope for every status a route can answer.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from vidserve.api.wire import REQUEST_MODELS, ErrorResponse

_REF = "#/components/schemas/{model}"

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in (
        (400, "Invalid request"),
        (401, "Missing or wrong API key"),
        (404, "Unknown id (or another project's)"),
        (413, "Request body too large"),
        (429, "Rate limit or active-jobs quota; see Retry-After"),
        (500, "Server error"),
    )
}


def body_doc(model: str, *, multipart: bool = True) -> dict[str, Any]:
    schema = {"$ref": _REF.format(model=model)}
    content: dict[str, Any] = {"application/json": {"schema": schema}}
    if multipart:
        content["multipart/form-data"] = {"schema": schema}
    return {"requestBody": {"required": True, "content": content}}


def install(app: FastAPI) -> None:
    """Replace ``app.openapi`` with one that also carries the request-body schemas."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for path in schema.get("paths", {}).values():
            for operation in path.values():  # validation errors are 400s here, never 422
                operation.get("responses", {}).pop("422", None)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        for model in REQUEST_MODELS:
            js = model.model_json_schema(ref_template=_REF)
            components.update(js.pop("$defs", {}))
            components[model.__name__] = js
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
