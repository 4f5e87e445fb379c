"""The source clip of an edit or an extension: a video of ours (``{"id": ...}``) or an upload.

:func:`resolve_video` checks a ``video_...`` id (the project's, completed, its content still
there); :func:`prepare_upload` probes an uploaded file with hard limits and re-encodes it
(H.264, at a size the model serves, the model's fps, whole seconds) into a local file, the
only form in which it is kept. Every problem is a 400 (404 for an unknown id) with
``param="video"``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vidserve import ids
from vidserve.domain import Size, Video, VideoStatus
from vidserve.errors import InvalidRequest, NotFound
from vidserve.media.isolated import ChildLimits, media_children
from vidserve.settings import Settings

if TYPE_CHECKING:
    from vidserve.media.probe import UploadLimits

PARAM = "video"


@dataclass(frozen=True, slots=True)
class VideoRef:
    """``video: {"id": "video_..."}`` (JSON) or ``video[id]`` (multipart)."""

    id: str


@dataclass(frozen=True, slots=True)
class VideoUpload:
    """``video``: a file part."""

    data: bytes
    filename: str | None = None


VideoInput = VideoRef | VideoUpload


@dataclass(frozen=True, slots=True)
class PreparedUpload:
    """An upload, re-encoded at ``path``: ``size`` (one the model serves), whole ``seconds``."""

    path: Path
    size: str
    seconds: int
    frames: int


def _shown(value: str) -> str:
    text = value[:64].encode("ascii", "replace").decode()
    return text + ("..." if len(value) > 64 else "")


def check_source(video: Video | None, video_id: str, now: float, action: str) -> Video:
    """The source video, if it can be edited or extended now."""
    if video is None:
        raise NotFound(f"Video with id '{_shown(video_id)}' not found.", param=PARAM, code=None)
    if video.status is not VideoStatus.COMPLETED or video.assets_attempt is None:
        raise InvalidRequest(
            f"Video '{video.id}' is {video.status.value}; only a completed video can be "
            f"{action}.",
            param=PARAM,
            code="invalid_value",
        )
    if video.expires_at is not None and now >= video.expires_at:
        raise InvalidRequest(
            f"The content of video '{video.id}' has expired; it can no longer be {action}.",
            param=PARAM,
            code="video_expired",
        )
    return video


def closest_size(width: int, height: int, sizes: Sequence[str]) -> str:
    """Of ``sizes``, the one whose aspect ratio is closest to ``width x height``'s."""
    aspect = math.log(width / height)

    def distance(size: str) -> float:
        s = Size.parse(size)
        return abs(math.log(s.width / s.height) - aspect)

    return min(sizes, key=distance)


def media_limits(settings: Settings) -> ChildLimits:
    return ChildLimits(
        memory_bytes=settings.media_child_memory_bytes,
        timeout_seconds=settings.media_child_timeout_seconds,
        concurrency=settings.media_child_concurrency,
    )


async def prepare_upload(
    upload: VideoUpload,
    settings: Settings,
    sizes: Sequence[str],
    fps: int,
    path: Path,
    *,
    max_seconds: float | None = None,
) -> PreparedUpload:
    """Probe (hard limits from ``settings``) and re-encode an uploaded source clip, in a
    child process (:mod:`vidserve.media.isolated`): a hostile file never costs the server."""
    from vidserve.media.probe import UploadLimits

    limits = UploadLimits(
        max_bytes=settings.upload_video_max_bytes,
        max_seconds=min(settings.upload_video_max_seconds, max_seconds or math.inf),
        max_side=settings.upload_video_max_side,
    )
    return await media_children(media_limits(settings)).run(
        _prepare, upload.data, limits, tuple(sizes), fps, path, settings.x264_preset
    )


def _prepare(
    data: bytes, limits: UploadLimits, sizes: tuple[str, ...], fps: int, path: Path, preset: str
) -> PreparedUpload:
    """Runs in the child process."""
    from vidserve.media.probe import normalise, probe_upload

    info = probe_upload(data, limits)
    size = closest_size(info.width, info.height, sizes)
    target = Size.parse(size)
    frames = normalise(
        data, info, path, width=target.width, height=target.height, fps=fps,
        seconds=info.seconds, preset=preset,
    )
    return PreparedUpload(path=path, size=size, seconds=info.seconds, frames=frames)


def source_key(video_id: str) -> str:
    return ids.upload_key(video_id, "source")
