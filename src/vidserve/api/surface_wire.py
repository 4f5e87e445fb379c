"""Wire models of characters and the Files API, field for field as OpenAI's."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from vidserve.store.characters import Character
from vidserve.store.files import StoredFile


class CharacterObject(BaseModel):
    id: str | None
    name: str | None
    created_at: int


class FileObject(BaseModel):
    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    expires_at: int | None
    filename: str
    purpose: str
    status: Literal["uploaded", "processed", "error"] = "processed"
    status_details: str | None = None


class FileList(BaseModel):
    object: Literal["list"] = "list"
    data: list[FileObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


class FileDeleted(BaseModel):
    id: str
    object: Literal["file"] = "file"
    deleted: bool


def character_object(character: Character) -> CharacterObject:
    return CharacterObject(id=character.id, name=character.name, created_at=character.created_at)


def file_object(file: StoredFile) -> FileObject:
    return FileObject(
        id=file.id,
        bytes=file.bytes,
        created_at=file.created_at,
        expires_at=file.expires_at,
        filename=file.filename,
        purpose=file.purpose,
    )


# -- request bodies, for the server's own OpenAPI document (the routes parse bodies themselves,
# see api/surface_params.py); inline JSON schemas as in OpenAI's spec --------------------------

_PROMPT: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 32000}
_VIDEO_REF: dict[str, Any] = {
    "type": "object",
    "properties": {"id": {"type": "string", "description": "a completed video of yours"}},
    "required": ["id"],
}
_BINARY: dict[str, Any] = {"type": "string", "format": "binary"}
_MODEL: dict[str, Any] = {"type": "string", "description": "vidserve extension; default: the "
                          "source's model (sora-2 for an upload)"}
_EXTENSION_SECONDS: dict[str, Any] = {"type": "string", "enum": ["4", "8", "12", "16", "20"]}


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


def _body(json: dict[str, Any] | None, multipart: dict[str, Any]) -> dict[str, Any]:
    content: dict[str, Any] = {"multipart/form-data": {"schema": multipart}}
    if json is not None:
        content["application/json"] = {"schema": json}
    return {"requestBody": {"required": True, "content": content}}


EDIT_BODY = _body(
    _object({"prompt": _PROMPT, "video": _VIDEO_REF, "model": _MODEL}, ["prompt", "video"]),
    _object(
        {"prompt": _PROMPT, "video": {"oneOf": [_BINARY, _VIDEO_REF]}, "model": _MODEL},
        ["prompt", "video"],
    ),
)
EXTEND_BODY = _body(
    _object(
        {"prompt": _PROMPT, "video": _VIDEO_REF, "seconds": _EXTENSION_SECONDS, "model": _MODEL},
        ["prompt", "video", "seconds"],
    ),
    _object(
        {
            "prompt": _PROMPT,
            "video": {"oneOf": [_BINARY, _VIDEO_REF]},
            "seconds": _EXTENSION_SECONDS,
            "model": _MODEL,
        },
        ["prompt", "video", "seconds"],
    ),
)
CHARACTER_BODY = _body(
    None,
    _object(
        {"video": _BINARY, "name": {"type": "string", "minLength": 1, "maxLength": 80}},
        ["video", "name"],
    ),
)
FILE_BODY = _body(
    None,
    _object(
        {
            "file": _BINARY,
            "purpose": {
                "type": "string",
                "enum": ["assistants", "batch", "fine-tune", "vision", "user_data", "evals"],
            },
            "expires_after": _object(
                {
                    "anchor": {"type": "string", "enum": ["created_at"]},
                    "seconds": {"type": "integer", "minimum": 3600, "maximum": 2592000},
                },
                ["anchor", "seconds"],
            ),
        },
        ["file", "purpose"],
    ),
)
