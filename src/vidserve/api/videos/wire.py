"""The wire of ``/v1/videos``: the JSON shapes of OpenAI's Videos API, field for field, and
the request bodies that validate create, remix, edit and extend.

The request models are what really validates a body (:func:`vidserve.api.validation.validate`)
and what the server's OpenAPI document shows; their ``Literal`` types and limits come from
:mod:`vidserve.contract`. Domain objects are never serialised directly: ``video_object`` is
the one conversion.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)

from vidserve import contract
from vidserve.api.bodies import FilePart
from vidserve.api.validation import (
    BINARY,
    WireModel,
    decimal,
    fail,
    in_range,
    type_name,
    validate_nested,
)
from vidserve.domain import Video
from vidserve.errors import InvalidRequest, InvalidValue
from vidserve.service.sources import VideoInput, VideoRef, VideoUpload

# -- responses ---------------------------------------------------------------------------------


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


# -- request bodies ----------------------------------------------------------------------------

Prompt = Annotated[str, Field(min_length=1, max_length=contract.MAX_PROMPT)]


class ImageReference(WireModel):
    """``input_reference`` as an object: exactly one of ``image_url`` (an https URL or a
    ``data:image/...;base64`` URL) or ``file_id`` (a file of the Files API)."""

    image_url: Annotated[str, Field(max_length=contract.MAX_IMAGE_URL)] | None = None
    file_id: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ImageReference:
        if (self.image_url is None) == (self.file_id is None):
            raise fail(
                InvalidRequest(
                    "Invalid 'input_reference': provide exactly one of 'image_url' or 'file_id'.",
                    param="input_reference",
                    code="invalid_value",
                )
            )
        url = self.image_url
        if url is not None and url[:5].lower() != "data:" and not (
            url[:8].lower() == "https://" or url[:7].lower() == "http://"
        ):
            raise fail(
                InvalidValue(
                    "Invalid 'input_reference.image_url': expected an https URL or a "
                    "data:image/...;base64 URL.",
                    param="input_reference",
                )
            )
        return self


def _input_reference(value: object) -> FilePart | ImageReference:
    if isinstance(value, FilePart):
        if not value.data:
            raise fail(
                InvalidValue(
                    "Invalid 'input_reference': the file is empty.", param="input_reference"
                )
            )
        return value
    if not isinstance(value, dict):
        raise fail(
            contract.invalid_type(
                "input_reference",
                "a file upload or an object with 'image_url' or 'file_id'",
                type_name(value),
            )
        )
    return validate_nested(ImageReference, value, ("input_reference",))


InputReference = Annotated[
    FilePart | ImageReference,
    PlainValidator(_input_reference),
    WithJsonSchema({"anyOf": [BINARY, ImageReference.model_json_schema()]}),
]
Seed = Annotated[
    int,
    BeforeValidator(decimal),
    AfterValidator(in_range("seed", 0, contract.SEED_MAX)),
    WithJsonSchema(
        {
            "type": "integer",
            "minimum": 0,
            "maximum": contract.SEED_MAX,
            "description": "vidserve extension: the same seed and prompt give the same video",
        }
    ),
]


class CharacterRef(WireModel):
    id: str


class CreateVideoBody(WireModel):
    """``POST /v1/videos`` (JSON or multipart)."""

    prompt: Prompt
    model: str = Field(default=contract.DEFAULT_MODEL, description="a served model name")
    seconds: contract.VideoSeconds = contract.DEFAULT_SECONDS
    size: contract.VideoSize = contract.DEFAULT_SIZE
    input_reference: InputReference | None = None
    seed: Seed | None = None
    characters: list[CharacterRef] | None = Field(default=None, max_length=contract.MAX_CHARACTERS)


class CreateVideoBodyExtended(CreateVideoBody):
    """``POST /v1/videos`` with ``VIDSERVE_EXTENDED_VIDEO_OPTIONS``: 16 and 20 seconds and
    1080p (which models serve them is the service's per-model check)."""

    # a wider Literal than the base class's: pydantic validates each class by its own fields
    seconds: contract.VideoSeconds | contract.ExtendedSeconds = (
        contract.DEFAULT_SECONDS  # type: ignore[assignment]
    )
    size: contract.VideoSize | contract.ExtendedSize = contract.DEFAULT_SIZE  # type: ignore[assignment]


class RemixVideoBody(WireModel):
    """``POST /v1/videos/{video_id}/remix``."""

    prompt: Prompt


class VideoReference(WireModel):
    """``video: {"id": "video_..."}``: a completed video of the caller's."""

    id: str


def _source_video(value: object) -> VideoInput:
    if value is None:
        raise fail(contract.missing_parameter("video"))
    if isinstance(value, FilePart):
        return VideoUpload(value.data, value.filename)
    if not isinstance(value, dict):
        raise fail(
            contract.invalid_type(
                "video", "a file upload or an object with 'id'", type_name(value)
            )
        )
    return VideoRef(validate_nested(VideoReference, value, ("video",)).id)


SourceVideo = Annotated[
    VideoRef | VideoUpload,
    PlainValidator(_source_video),
    WithJsonSchema({"anyOf": [BINARY, VideoReference.model_json_schema()]}),
]
SourceModel = Annotated[
    str | None,
    Field(description="vidserve extension; default: the source's model (sora-2 for an upload)"),
]


class EditVideoBody(WireModel):
    """``POST /v1/videos/edits``."""

    prompt: Prompt
    video: SourceVideo
    model: SourceModel = None


class ExtendVideoBody(WireModel):
    """``POST /v1/videos/extensions``: ``seconds`` is the new segment's length."""

    prompt: Prompt
    video: SourceVideo
    seconds: contract.ExtensionSeconds
    model: SourceModel = None


def create_body(extended: bool) -> type[CreateVideoBody]:
    """The create body this server validates (``settings.extended_video_options``)."""
    return CreateVideoBodyExtended if extended else CreateVideoBody


