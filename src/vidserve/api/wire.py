"""Wire models: the JSON shapes of OpenAI's Videos API, field for field.

Domain objects are never serialised directly; ``video_object`` is the one conversion.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

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


# -- request bodies (documentation: the routes parse bodies themselves, see api/params.py) ----


class ImageRefParam(BaseModel):
    """Exactly one of ``image_url`` (https or data: URL) or ``file_id``."""

    image_url: str | None = Field(default=None, max_length=20_971_520)
    file_id: str | None = None


class CreateVideoBody(BaseModel):
    prompt: str = Field(min_length=1, max_length=32000)
    model: str | None = Field(default=None, description="Default sora-2.")
    seconds: Literal["4", "8", "12"] | None = None
    size: Literal["720x1280", "1280x720", "1024x1792", "1792x1024"] | None = None
    input_reference: ImageRefParam | None = None
    seed: int | None = Field(default=None, ge=0, le=2**32 - 1, description="vidserve extension")


class CreateVideoRemixBody(BaseModel):
    prompt: str = Field(min_length=1, max_length=32000)


REQUEST_MODELS: tuple[type[BaseModel], ...] = (CreateVideoBody, CreateVideoRemixBody)
