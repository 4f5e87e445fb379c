"""Validation of the edits, extensions, characters and Files API parameters.

Same conventions as :mod:`vidserve.api.params` (whose helpers these reuse): each ``parse_*``
takes the nested dict of :mod:`vidserve.api.bodies` and returns a service command or raises
the 400 the hosted service gave (``unknown_parameter``, ``missing_required_parameter``,
``invalid_type``, ``invalid_value``).
"""

from __future__ import annotations

from typing import Any, Literal

from vidserve.api.bodies import FilePart
from vidserve.api.params import (
    _prompt,
    _reject_unknown,
    _seconds,
    _string,
    parse_list_query,
    required_string,
    type_name,
)
from vidserve.errors import InvalidType, InvalidValue, MissingParameter
from vidserve.service.edits import EditVideo, ExtendVideo
from vidserve.service.files import MAX_EXPIRY, MIN_EXPIRY, PURPOSES, NewFile
from vidserve.service.sources import VideoInput, VideoRef, VideoUpload

EXTENSION_SECONDS = ("4", "8", "12", "16", "20")
MAX_NAME = 80
MAX_FILES_LIMIT = 10_000


def _video(body: dict[str, Any]) -> VideoInput:
    if "video" not in body or body["video"] is None:
        raise MissingParameter("Missing required parameter: 'video'.", param="video")
    value = body["video"]
    if isinstance(value, FilePart):
        return VideoUpload(value.data, value.filename)
    if not isinstance(value, dict):
        raise InvalidType(
            "Invalid type for 'video': expected a file upload or an object with 'id', but got "
            f"{type_name(value)} instead.",
            param="video",
        )
    _reject_unknown(value, ("id",), "video.")
    if "id" not in value:
        raise MissingParameter("Missing required parameter: 'video.id'.", param="video")
    video_id = value["id"]
    if not isinstance(video_id, str):
        raise InvalidType(
            f"Invalid type for 'video.id': expected a string, but got {type_name(video_id)} "
            "instead.",
            param="video",
        )
    return VideoRef(video_id)


def _model(body: dict[str, Any]) -> str | None:
    """``model``: a vidserve extension on edits and extensions (default: the source's)."""
    if body.get("model") is None:
        return None
    return _string(body, "model", "")


def parse_edit(body: dict[str, Any]) -> EditVideo:
    _reject_unknown(body, ("prompt", "video", "model"))
    prompt = _prompt(body)
    return EditVideo(prompt=prompt, video=_video(body), model=_model(body))


def parse_extend(body: dict[str, Any]) -> ExtendVideo:
    _reject_unknown(body, ("prompt", "video", "seconds", "model"))
    prompt = _prompt(body)
    seconds = _seconds(body, EXTENSION_SECONDS, default=None)
    return ExtendVideo(prompt=prompt, seconds=seconds, video=_video(body), model=_model(body))


def parse_character(body: dict[str, Any]) -> tuple[str, bytes]:
    """``(name, clip bytes)`` of ``POST /v1/videos/characters`` (multipart only)."""
    _reject_unknown(body, ("name", "video"))
    name = required_string(body, "name", MAX_NAME)
    if "video" not in body:
        raise MissingParameter("Missing required parameter: 'video'.", param="video")
    video = body["video"]
    if not isinstance(video, FilePart):
        raise InvalidType(
            f"Invalid type for 'video': expected a file, but got {type_name(video)} instead.",
            param="video",
        )
    return name, video.data


def _expires_after(value: object) -> int | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidType(
            "Invalid type for 'expires_after': expected an object, but got "
            f"{type_name(value)} instead.",
            param="expires_after",
        )
    _reject_unknown(value, ("anchor", "seconds"), "expires_after.")
    for key in ("anchor", "seconds"):
        if key not in value:
            raise MissingParameter(
                f"Missing required parameter: 'expires_after.{key}'.", param="expires_after"
            )
    if value["anchor"] != "created_at":
        shown = str(value["anchor"])[:40]
        raise InvalidValue(
            f"Invalid value: '{shown}'. Supported values are: 'created_at'.",
            param="expires_after.anchor",
        )
    seconds = value["seconds"]
    if isinstance(seconds, str) and seconds.strip().isdigit() and seconds.isascii():
        seconds = int(seconds.strip())
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        raise InvalidType(
            "Invalid type for 'expires_after.seconds': expected an integer, but got "
            f"{type_name(seconds)} instead.",
            param="expires_after.seconds",
        )
    if not MIN_EXPIRY <= seconds <= MAX_EXPIRY:
        raise InvalidValue(
            f"Invalid 'expires_after.seconds': expected an integer from {MIN_EXPIRY} to "
            f"{MAX_EXPIRY}, but got {seconds} instead.",
            param="expires_after.seconds",
            code="integer_out_of_range",
        )
    return seconds


def parse_file_create(body: dict[str, Any]) -> NewFile:
    _reject_unknown(body, ("file", "purpose", "expires_after"))
    if "file" not in body:
        raise MissingParameter("Missing required parameter: 'file'.", param="file")
    part = body["file"]
    if not isinstance(part, FilePart):
        raise InvalidType(
            f"Invalid type for 'file': expected a file, but got {type_name(part)} instead.",
            param="file",
        )
    if "purpose" not in body:
        raise MissingParameter("Missing required parameter: 'purpose'.", param="purpose")
    purpose = _string(body, "purpose", "")
    return NewFile(
        filename=part.filename or "upload",
        data=part.data,
        purpose=purpose,
        expires_after_seconds=_expires_after(body.get("expires_after")),
    )


def parse_file_list_query(
    limit: str | None, order: str | None, after: str | None, purpose: str | None
) -> tuple[int, Literal["asc", "desc"], str | None, str | None]:
    n, direction, cursor = parse_list_query(
        limit, order, after, default=MAX_FILES_LIMIT, low=1, high=MAX_FILES_LIMIT
    )
    if purpose is not None and purpose not in PURPOSES:
        raise InvalidValue(
            f"Invalid value: '{purpose[:40]}'. Supported values are: "
            + ", ".join(f"'{p}'" for p in PURPOSES[:-1])
            + f", and '{PURPOSES[-1]}'.",
            param="purpose",
        )
    return n, direction, cursor, purpose or None
