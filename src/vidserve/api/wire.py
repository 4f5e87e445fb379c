"""Wire models: the JSON shapes of OpenAI's Videos API, field for field.

Domain objects are never serialised directly; ``video_object`` is the one conversion.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from vidserve.domain import Video


class VideoError(BaseModel):
    code: str
    message: str


class VideoObject(BaseModel):
    id: str
    object: Literal["video"] = "video"
    model: str
    status: Literal["queued", "in_progress", "completed", "failed"]
    progress: int
    created_at: int
    completed_at: int | None
    expires_at: int | None
    prompt: str | None
    size: str
    seconds: str
    remixed_from_video_id: str | None
    error: VideoError | None


class VideoList(BaseModel):
    object: Literal["list"] = "list"
    data: list[VideoObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


class DeletedVideo(BaseModel):
    id: str
    object: Literal["video.deleted"] = "video.deleted"
    deleted: bool


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(BaseModel):
    error: ErrorBody


def video_object(video: Video) -> VideoObject:
    error = None
    if video.error_code is not None:
        error = VideoError(code=video.error_code, message=video.error_message or "")
    return VideoObject(
        id=video.id,
        model=video.model,
        status=video.status.value,
        progress=video.progress,
        created_at=video.created_at,
        completed_at=video.completed_at,
        expires_at=video.expires_at,
        prompt=video.prompt,
        size=video.size,
        seconds=str(video.seconds),
        remixed_from_video_id=video.remixed_from_video_id,
        error=error,
    )
