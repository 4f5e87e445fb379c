"""Edits, extensions and characters: ``/v1/videos/edits``, ``/v1/videos/extensions``,
``/v1/videos/characters`` and ``/v1/videos/characters/{character_id}``.

This router is included before the ``/v1/videos/{video_id}...`` routes so that none of these
paths is taken for a video id. Each route: parse, authorise, one service call, a wire model.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from vidserve.api.bodies import read_body
from vidserve.api.openapi import ERROR_RESPONSES
from vidserve.api.routes import _idempotency_key, project, runtime
from vidserve.api.surface_params import parse_character, parse_edit, parse_extend
from vidserve.api.surface_wire import (
    CHARACTER_BODY,
    EDIT_BODY,
    EXTEND_BODY,
    CharacterObject,
    character_object,
)
from vidserve.api.wire import VideoObject, video_object

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)


@router.post("/videos/edits", response_model=VideoObject, openapi_extra=EDIT_BODY)
async def edit_video(request: Request, project: str = Depends(project)) -> VideoObject:
    rt = runtime(request)
    cmd = parse_edit(await read_body(request))
    video = await rt.edit_service.edit(project, cmd, _idempotency_key(request))
    return video_object(video)


@router.post("/videos/extensions", response_model=VideoObject, openapi_extra=EXTEND_BODY)
async def extend_video(request: Request, project: str = Depends(project)) -> VideoObject:
    rt = runtime(request)
    cmd = parse_extend(await read_body(request))
    video = await rt.edit_service.extend(project, cmd, _idempotency_key(request))
    return video_object(video)


@router.post(
    "/videos/characters", response_model=CharacterObject, openapi_extra=CHARACTER_BODY
)
async def create_character(request: Request, project: str = Depends(project)) -> CharacterObject:
    rt = runtime(request)
    name, clip = parse_character(await read_body(request))
    character = await rt.character_service.create(project, name, clip)
    return character_object(character)


@router.get("/videos/characters/{character_id}", response_model=CharacterObject)
async def get_character(
    request: Request, character_id: str, project: str = Depends(project)
) -> CharacterObject:
    character = await runtime(request).character_service.retrieve(project, character_id)
    return character_object(character)
