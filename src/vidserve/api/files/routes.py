"""OpenAI's Files API: ``POST/GET /v1/files``, ``GET/DELETE /v1/files/{file_id}`` and
``GET /v1/files/{file_id}/content``. Thin routes over :class:`FileService`.

Content is always served as ``application/octet-stream`` with ``Content-Disposition:
attachment`` and ``nosniff``: whatever a client uploaded is never rendered by a browser on
this server's origin.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from vidserve import contract
from vidserve.api.bodies import read_body
from vidserve.api.content import content_response
from vidserve.api.deps import authorize, runtime
from vidserve.api.files.params import parse_file_create, parse_file_list_query
from vidserve.api.files.wire import CreateFileBody, FileDeleted, FileList, FileObject, file_object
from vidserve.api.openapi import ERROR_RESPONSES, body_doc
from vidserve.api.routing import ThinRoute
from vidserve.api.validation import LIMIT_PATTERNS, reject_unknown_query

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES, route_class=ThinRoute)


@router.post(
    "/files", response_model=FileObject, openapi_extra=body_doc(CreateFileBody, json=False)
)
async def create_file(request: Request) -> FileObject:
    project = await authorize(request)
    new = parse_file_create(await read_body(request))
    return file_object(await runtime(request).file_service.create(project, new))


@router.get("/files", response_model=FileList)
async def list_files(
    request: Request,
    limit: str | None = Query(
        None, description="1..10000, default 10000",
        json_schema_extra={"pattern": LIMIT_PATTERNS[contract.FILE_LIST_LIMIT]},
    ),
    order: str | None = Query(
        None, description="asc or desc (default)", json_schema_extra={"enum": ["asc", "desc"]}
    ),
    after: str | None = Query(None, description="a file id: the page after it"),
    purpose: str | None = Query(
        None,
        description="only files of this purpose",
        json_schema_extra={"enum": list(contract.PURPOSES)},
    ),
) -> FileList:
    project = await authorize(request)
    reject_unknown_query(request.query_params.multi_items(), ("limit", "order", "after", "purpose"))
    n, direction, cursor, wanted = parse_file_list_query(limit, order, after, purpose)
    page = await runtime(request).file_service.list(
        project, limit=n, order=direction, after=cursor, purpose=wanted
    )
    data = [file_object(f) for f in page.files]
    return FileList(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=page.has_more,
    )


@router.get("/files/{file_id}", response_model=FileObject)
async def retrieve_file(request: Request, file_id: str) -> FileObject:
    project = await authorize(request)
    return file_object(await runtime(request).file_service.retrieve(project, file_id))


@router.delete("/files/{file_id}", response_model=FileDeleted)
async def delete_file(request: Request, file_id: str) -> FileDeleted:
    project = await authorize(request)
    found = await runtime(request).file_service.delete(project, file_id)
    return FileDeleted(id=found.id, deleted=True)


@router.get(
    "/files/{file_id}/content",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def file_content(request: Request, file_id: str) -> Response:
    project = await authorize(request)
    reject_unknown_query(request.query_params.multi_items(), ())
    rt = runtime(request)
    found = await rt.file_service.content(project, file_id)
    response = content_response(request, rt.blob_store, found.content)
    response.headers["Content-Disposition"] = (
        f"attachment; filename*=UTF-8''{quote(found.filename, safe='')}"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
