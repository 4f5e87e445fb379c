"""The wire of ``/v1/videos/characters``: the character object and the create body."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, PlainValidator, WithJsonSchema

from vidserve import contract
from vidserve.api.bodies import FilePart
from vidserve.api.validation import BINARY, WireModel, upload
from vidserve.store.characters import Character


class CharacterObject(BaseModel):
    id: str | None
    name: str | None
    created_at: int


def character_object(character: Character) -> CharacterObject:
    return CharacterObject(id=character.id, name=character.name, created_at=character.created_at)


class CreateCharacterBody(WireModel):
    """``POST /v1/videos/characters`` (multipart): a short clip of the character and a name."""

    name: Annotated[str, Field(min_length=1, max_length=contract.MAX_CHARACTER_NAME)]
    video: Annotated[FilePart, PlainValidator(upload("video")), WithJsonSchema(BINARY)]
