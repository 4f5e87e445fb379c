"""Wire models of characters and the Files API, field for field as OpenAI's."""

from __future__ import annotations

from typing import Literal

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
