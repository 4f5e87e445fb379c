"""The server's own OpenAPI document, generated from the models that validate requests.

The routes read their bodies themselves (JSON or multipart, see ``api/bodies.py``) and validate
them with the wire models of each resource; ``body_doc`` puts those same models in the
document as the request bodies, ``ERROR_RESPONSES`` declares the error envelope for every
status a route can answer, and :func:`install` adds the bearer scheme to every ``/v1``
operation (the key is checked by ``api/deps.authorize``).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from vidserve.api.videos.wire import CreateVideoBody, create_body
from vidserve.settings import Settings

_REF = "#/components/schemas/{model}"


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(BaseModel):
    error: ErrorBody


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
BEARER = {"HTTPBearer": {"type": "http", "scheme": "bearer",
                         "description": "Authorization: Bearer <key>"}}

_BODIES: dict[str, type[BaseModel]] = {}


def body_doc(model: type[BaseModel], *, json: bool = True) -> dict[str, Any]:
    """``openapi_extra`` of a route whose body ``model`` validates (multipart, and JSON)."""
    _BODIES[model.__name__] = model
    schema = {"$ref": _REF.format(model=model.__name__)}
    content: dict[str, Any] = {"multipart/form-data": {"schema": schema}}
    if json:
        content["application/json"] = {"schema": schema}
    return {"requestBody": {"required": True, "content": content}}


def _resolve(node: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    return schemas[ref.rsplit("/", 1)[1]] if isinstance(ref, str) else node


def _form_schema(ref: str, schemas: dict[str, Any]) -> dict[str, Any]:
    """A body model as a form carries it: a nested object's fields become bracket keys
    (``expires_after[seconds]``), the way OpenAI's SDKs send them and ``api/bodies.py`` reads
    them; an optional object's fields are then all optional, but one given needs the others
    (``dependentRequired``)."""
    body = _resolve({"$ref": ref}, schemas)
    properties: dict[str, Any] = {}
    required = [r for r in body.get("required", [])]
    dependent: dict[str, list[str]] = {}
    for name, prop in body.get("properties", {}).items():
        options = [o for o in prop.get("anyOf", [prop]) if o.get("type") != "null"]
        inner = _resolve(options[0], schemas) if len(options) == 1 else {}
        if inner.get("type") != "object" or "properties" not in inner:
            properties[name] = prop
            continue
        keys = {sub: f"{name}[{sub}]" for sub in inner["properties"]}
        properties.update({keys[sub]: value for sub, value in inner["properties"].items()})
        inner_required = [keys[sub] for sub in inner.get("required", [])]
        if name in required:
            required.remove(name)
            required.extend(inner_required)
        else:
            for key in inner_required:
                dependent[key] = [k for k in inner_required if k != key]
    form = {k: v for k, v in body.items() if k not in ("properties", "required")}
    form["properties"] = properties
    if required:
        form["required"] = required
    if dependent:
        form["dependentRequired"] = dependent
    return form


def install(app: FastAPI, settings: Settings) -> None:
    """Replace ``app.openapi`` with one that carries the request bodies and the bearer key."""
    bodies = dict(_BODIES)
    bodies[CreateVideoBody.__name__] = create_body(settings.extended_video_options)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for url, path in schema.get("paths", {}).items():
            for operation in path.values():
                operation.get("responses", {}).pop("422", None)  # validation errors are 400s
                if url.startswith("/v1/"):
                    operation["security"] = [{"HTTPBearer": []}]
        components = schema.setdefault("components", {})
        components.setdefault("securitySchemes", {}).update(BEARER)
        schemas = components.setdefault("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        for name, model in bodies.items():
            js = model.model_json_schema(ref_template=_REF)
            schemas.update(js.pop("$defs", {}))
            js["title"] = name
            schemas[name] = js
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                form = operation.get("requestBody", {}).get("content", {}).get(
                    "multipart/form-data")
                if form is not None and "$ref" in form["schema"]:
                    form["schema"] = _form_schema(form["schema"]["$ref"], schemas)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
