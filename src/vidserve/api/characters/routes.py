"""``POST /v1/videos/characters`` and ``GET /v1/videos/characters/{character_id}``."""

from __future__ import annotations

from fastapi import APIRouter, Request

from vidserve.api.bodies import read_body
from vidserve.api.characters.params import parse_character
from vidserve.api.characters.wire import CharacterObject, CreateCharacterBody, character_object
from vidserve.api.deps import authorize, runtime
from vidserve.api.openapi import ERROR_RESPONSES, body_doc
from vidserve.api.routing import ThinRoute

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES, route_class=ThinRoute)


@router.post(
    "/videos/characters",
    response_model=CharacterObject,
    openapi_extra=body_doc(CreateCharacterBody, json=False),
)
async def create_character(request: Request) -> CharacterObject:
    project = await authorize(request)
    name, clip = parse_character(await read_body(request))
    return character_object(await runtime(request).character_service.create(project, name, clip))


@router.get("/videos/characters/{character_id}", response_model=CharacterObject)
async def get_character(request: Request, character_id: str) -> CharacterObject:
    project = await authorize(request)
    found = await runtime(request).character_service.retrieve(project, character_id)
    return character_object(found)
