"""The ``/v1/videos`` routes: create, list, retrieve, delete, content, remix, edits and
extensions. Each one: parse and authorise, one service call, a wire model."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from vidserve import contract
from vidserve.api.bodies import read_body
from vidserve.api.content import content_response
from vidserve.api.deps import about_video, authorize, idempotency_key, runtime
from vidserve.api.openapi import ERROR_RESPONSES, body_doc
from vidserve.api.routing import ThinRoute
from vidserve.api.validation import LIMIT_PATTERNS, parse_list_query, reject_unknown_query
from vidserve.api.videos.params import (
    parse_create,
    parse_edit,
    parse_extend,
    parse_remix,
    parse_variant,
)
from vidserve.api.videos.wire import (
    CreateVideoBody,
    DeletedVideo,
    EditVideoBody,
    ExtendVideoBody,
    RemixVideoBody,
    VideoList,
    VideoObject,
    video_object,
)
from vidserve.domain import Video

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES, route_class=ThinRoute)


def _created(request: Request, video: Video) -> VideoObject:
    about_video(request, video.id)
    return video_object(video)


@router.post("/videos", response_model=VideoObject, openapi_extra=body_doc(CreateVideoBody))
async def create_video(request: Request) -> VideoObject:
    project = await authorize(request)
    rt = runtime(request)
    cmd = parse_create(await read_body(request), rt.settings)
    return _created(request, await rt.video_service.create(project, cmd, idempotency_key(request)))


@router.get("/videos", response_model=VideoList)
async def list_videos(
    request: Request,
    limit: str | None = Query(
        None, description="0..100, default 20",
        json_schema_extra={"pattern": LIMIT_PATTERNS[contract.VIDEO_LIST_LIMIT]},
    ),
    order: str | None = Query(
        None, description="desc (default) or asc", json_schema_extra={"enum": ["asc", "desc"]}
    ),
    after: str | None = Query(None, description="a video id: the page after it"),
) -> VideoList:
    project = await authorize(request)
    reject_unknown_query(request.query_params.multi_items(), ("limit", "order", "after"))
    n, direction, cursor = parse_list_query(limit, order, after, contract.VIDEO_LIST_LIMIT)
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


@router.get("/videos/{video_id}", response_model=VideoObject)
async def retrieve_video(request: Request, video_id: str) -> Response:
    """The call every polling client makes about once a second; ``openai-poll-after-ms``
    while the video is not finished."""
    project = await authorize(request)
    rt = runtime(request)
    video = await rt.video_service.retrieve(project, video_id)
    headers = {}
    if not video.status.terminal:
        headers["openai-poll-after-ms"] = str(rt.settings.poll_after_ms)
    body = video_object(video).model_dump_json()
    return Response(body, headers=headers, media_type="application/json")


@router.delete("/videos/{video_id}", response_model=DeletedVideo)
async def delete_video(request: Request, video_id: str) -> DeletedVideo:
    project = await authorize(request)
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
    variant: str | None = Query(
        None, description="video (default)", json_schema_extra={"enum": list(contract.VARIANTS)}
    ),
) -> Response:
    project = await authorize(request)
    rt = runtime(request)
    reject_unknown_query(request.query_params.multi_items(), ("variant",))
    content = await rt.video_service.content(project, video_id, parse_variant(variant))
    return content_response(request, rt.blob_store, content)


@router.post(
    "/videos/{video_id}/remix",
    response_model=VideoObject,
    openapi_extra=body_doc(RemixVideoBody),
)
async def remix_video(request: Request, video_id: str) -> VideoObject:
    project = await authorize(request)
    prompt = parse_remix(await read_body(request))
    video = await runtime(request).video_service.remix(
        project, video_id, prompt, idempotency_key(request)
    )
    return _created(request, video)


@router.post("/videos/edits", response_model=VideoObject, openapi_extra=body_doc(EditVideoBody))
async def edit_video(request: Request) -> VideoObject:
    project = await authorize(request)
    cmd = parse_edit(await read_body(request))
    video = await runtime(request).edit_service.edit(project, cmd, idempotency_key(request))
    return _created(request, video)


@router.post(
    "/videos/extensions", response_model=VideoObject, openapi_extra=body_doc(ExtendVideoBody)
)
async def extend_video(request: Request) -> VideoObject:
    project = await authorize(request)
    cmd = parse_extend(await read_body(request))
    video = await runtime(request).edit_service.extend(project, cmd, idempotency_key(request))
    return _created(request, video)
