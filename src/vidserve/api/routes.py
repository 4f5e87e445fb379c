"""The ``/v1/videos`` routes. Each one: parse, authorise, one service call, a wire model."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPBearer
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from vidserve.api.bodies import read_body
from vidserve.api.content import content_response
from vidserve.api.openapi import ERROR_RESPONSES, body_doc
from vidserve.api.params import (
    parse_create,
    parse_list_query,
    parse_remix,
    parse_variant,
    reject_unknown_query,
)
from vidserve.api.wire import DeletedVideo, VideoList, VideoObject, video_object
from vidserve.errors import InvalidValue
from vidserve.runtime import Runtime

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)
_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <key>")



def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


async def project(request: Request, _: Any = Depends(_bearer)) -> str:
    return await runtime(request).authorize(request.headers.get("authorization"))


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not 1 <= len(key) <= 255:
        raise InvalidValue(
            "Invalid 'Idempotency-Key' header: expected 1 to 255 characters.",
            param="Idempotency-Key",
        )
    return key


@router.post("/videos", response_model=VideoObject, openapi_extra=body_doc("CreateVideoBody"))
async def create_video(request: Request, project: str = Depends(project)) -> VideoObject:
    rt = runtime(request)
    cmd = parse_create(await read_body(request), rt.settings)
    video = await rt.video_service.create(project, cmd, _idempotency_key(request))
    return video_object(video)


@router.get("/videos", response_model=VideoList)
async def list_videos(
    request: Request,
    limit: str | None = Query(None, description="0..100, default 20"),
    order: str | None = Query(None, description="asc or desc (default)"),
    after: str | None = Query(None, description="a video id: the page after it"),
    project: str = Depends(project),
) -> VideoList:
    reject_unknown_query(request.query_params.keys(), ("limit", "order", "after"))
    n, direction, cursor = parse_list_query(limit, order, after)
    page = await runtime(request).video_service.list(
        project, limit=n, order=direction, after=cursor
    )
    data = [video_object(v) for v in page.videos]
    return VideoList(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=page.has_more,
    )


async def retrieve_response(request: Request) -> Response:
    """GET /v1/videos/{video_id}, the call every polling client makes about once a second.

    It is served as a plain Starlette route (``fast_routes``), ahead of FastAPI's dependency
    machinery, which costs more than the rest of the request here (bench/api_throughput.py).
    The FastAPI route below only documents it in the OpenAPI schema and answers the same way.
    """
    rt = runtime(request)
    project = await rt.authorize(request.headers.get("authorization"))
    video = await rt.video_service.retrieve(project, request.path_params["video_id"])
    headers = {}
    if not video.status.terminal:
        headers["openai-poll-after-ms"] = str(rt.settings.poll_after_ms)
    return JSONResponse(video_object(video).model_dump(mode="json"), headers=headers)


fast_routes = [Route("/v1/videos/{video_id}", retrieve_response, methods=["GET"])]


@router.get("/videos/{video_id}", response_model=VideoObject)
async def retrieve_video(
    request: Request, video_id: str, project: str = Depends(project)
) -> Response:
    return await retrieve_response(request)


@router.delete("/videos/{video_id}", response_model=DeletedVideo)
async def delete_video(
    request: Request, video_id: str, project: str = Depends(project)
) -> DeletedVideo:
    video = await runtime(request).video_service.delete(project, video_id)
    return DeletedVideo(id=video.id, deleted=True)


@router.get(
    "/videos/{video_id}/content",
    response_class=Response,
    responses={
        200: {
            "content": {
                "video/mp4": {"schema": {"type": "string", "format": "binary"}},
                "image/webp": {"schema": {"type": "string", "format": "binary"}},
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
            }
        },
        206: {"description": "Partial content (Range)"},
    },
)
async def download_content(
    request: Request,
    video_id: str,
    variant: str | None = Query(None, description="video (default), thumbnail or spritesheet"),
    project: str = Depends(project),
) -> Response:
    rt = runtime(request)
    reject_unknown_query(request.query_params.keys(), ("variant",))
    content = await rt.video_service.content(project, video_id, parse_variant(variant))
    return content_response(request, rt.blob_store, content)


@router.post(
    "/videos/{video_id}/remix",
    response_model=VideoObject,
    openapi_extra=body_doc("CreateVideoRemixBody"),
)
async def remix_video(
    request: Request, video_id: str, project: str = Depends(project)
) -> VideoObject:
    rt = runtime(request)
    prompt = parse_remix(await read_body(request))
    video = await rt.video_service.remix(project, video_id, prompt, _idempotency_key(request))
    return video_object(video)
