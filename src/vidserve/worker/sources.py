"""What edits, extensions and characters add to a job before the engine runs.

:func:`prepare_inputs` completes the ``GenerationRequest`` the runner built:

- ``edit``: ``source_video`` is the source clip's MP4 (a video of ours, or the re-encoded
  upload); the engine transforms its frames, keeping size, length and motion.
- ``extend``: the request is for the new segment only (``seconds = segment_seconds``);
  ``continue_from`` (and ``reference_image``, for engines that only do image-to-video) is the
  source's last frame as it appears in the output. The returned :class:`LeadIn` puts the
  source's frames first in the encoded file, so the result is one clip whose length is the
  stitched total and whose seam is the engine's first frame following the source's last.
- ``characters``: each character's clip, decoded small at the request's fps.
- sound: an edit's or extension's source audio is decoded once into ``source_audio`` (None
  where the source has no track). :func:`chain_audio` gives the file's sound: an extension
  keeps the source's and continues it across the seam (the new segment's sound crossfaded
  on, or the source's played again where the model makes none); an edit keeps the source's
  unless the model makes new sound; anything else (remix included) has the model's own.

A source that is gone (deleted, expired) fails the job with ``source_unavailable``.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from vidserve import ids
from vidserve.domain import (
    DEFAULT_FPS,
    Audio,
    CharacterClip,
    GenerationRequest,
    JobKind,
    Video,
)
from vidserve.engine.base import GenerationFailed
from vidserve.media.errors import MediaError
from vidserve.store.blobs import BlobNotFound

if TYPE_CHECKING:
    from vidserve.domain import Frame
    from vidserve.runtime import Runtime

MAX_CHARACTER_FRAMES = 240


@dataclass(frozen=True, slots=True)
class LeadIn:
    """Frames that come before the engine's in the output: the source of an extension."""

    path: Path
    frames: int

    def iter(self, request: GenerationRequest) -> Iterator[Frame]:
        from vidserve.media.probe import iter_frames

        return iter_frames(
            self.path, width=request.width, height=request.height, fps=request.fps,
            count=self.frames,
        )


def chain_frames(
    lead_in: LeadIn | None, request: GenerationRequest, frames: Iterable[Frame]
) -> tuple[Iterable[Frame], int]:
    """The frames to encode and how many are expected."""
    if lead_in is None:
        return frames, request.num_frames
    return itertools.chain(lead_in.iter(request), frames), lead_in.frames + request.num_frames


async def _source_bytes(rt: Runtime, video: Video) -> tuple[bytes, str | None]:
    """The source clip's MP4 and, for a video of ours, its prompt."""
    gone = GenerationFailed(
        "source_unavailable", "The source video is no longer available (deleted or expired)."
    )
    if video.source_key is not None:
        try:
            return await rt.blobs.get_bytes(video.source_key), None
        except BlobNotFound:
            raise gone from None
    if video.source_video_id is None:
        raise GenerationFailed("invalid_request", "The job has no source video.")
    source = await rt.videos.get_any(video.source_video_id)
    if source is None or source.assets_attempt is None or source.deleted_at is not None:
        raise gone
    try:
        data = await rt.blobs.get_bytes(ids.asset_key(source.id, source.assets_attempt, "video"))
    except BlobNotFound:
        raise gone from None
    return data, source.prompt


def _decode_failed(exc: MediaError) -> GenerationFailed:
    return GenerationFailed("source_unavailable", f"The source video cannot be read: {exc}")


async def prepare_inputs(
    rt: Runtime, video: Video, request: GenerationRequest, workdir: Path
) -> tuple[GenerationRequest, LeadIn | None]:
    served = rt.registry.get(video.model)
    caps = served.capabilities if served is not None else None
    lead_in = None
    if video.kind is JobKind.EDIT:
        if caps is not None and not caps.edit:
            raise GenerationFailed("invalid_request", f"Model '{video.model}' cannot edit videos.")
        data, source_prompt = await _source_bytes(rt, video)
        request = replace(
            request, source_video=data, source_prompt=source_prompt,
            source_audio=await _audio_of(data, video.seconds),
        )
    elif video.kind is JobKind.EXTEND:
        if caps is not None and not caps.extend:
            raise GenerationFailed(
                "invalid_request", f"Model '{video.model}' cannot extend videos."
            )
        data, _ = await _source_bytes(rt, video)
        segment = video.segment_seconds or 0
        path = workdir / "source.mp4"
        await asyncio.to_thread(path.write_bytes, data)
        lead_in = LeadIn(path, (video.seconds - segment) * request.fps)
        request = replace(request, seconds=segment)
        try:
            last = await asyncio.to_thread(_last_of, lead_in, request)
        except MediaError as exc:
            raise _decode_failed(exc) from None
        request = replace(
            request, continue_from=last, reference_image=last,
            source_audio=await _audio_of(path, video.seconds - segment),
        )
    if video.character_ids:
        if caps is not None and not caps.characters:
            raise GenerationFailed(
                "invalid_request", f"Model '{video.model}' cannot take characters."
            )
        request = replace(request, characters=await _characters(rt, video, request.fps))
    return request, lead_in


async def _audio_of(source: bytes | Path, seconds: float) -> Audio | None:
    from vidserve.media.audio import read_audio

    try:
        return await asyncio.to_thread(read_audio, source, seconds + 1.0)
    except MediaError as exc:
        raise _decode_failed(exc) from None


def chain_audio(
    lead_in: LeadIn | None, request: GenerationRequest, audio: Audio | None
) -> Audio | None:
    """The sound of the file (see the module docstring); None: the model's silence."""
    from vidserve.media.audio import conform, fit, join, loop, silence

    if lead_in is None:
        # only edits carry source_audio: a remix's sound is the model's own
        return audio if audio is not None else request.source_audio
    if request.source_audio is None and audio is None:
        return None
    before, seconds = lead_in.frames / request.fps, request.num_frames / request.fps
    if request.source_audio is None:
        source = silence(before)
    else:
        source = fit(conform(request.source_audio), before)
    if audio is not None:
        segment = fit(conform(audio), seconds)
    else:
        segment = loop(source, seconds)
    return join(source, segment)


def _last_of(lead_in: LeadIn, request: GenerationRequest) -> Frame:
    last = None
    for frame in lead_in.iter(request):
        last = frame
    if last is None:
        raise GenerationFailed("source_unavailable", "The source video has no frames.")
    return last


async def _characters(rt: Runtime, video: Video, fps: int) -> tuple[CharacterClip, ...]:
    from vidserve.media.probe import iter_frames

    found = await rt.characters.store.get_many(video.character_ids)
    clips = []
    for character in found:
        try:
            data = await rt.blobs.get_bytes(ids.character_key(character.id))
        except BlobNotFound:
            raise GenerationFailed(
                "character_unavailable", f"The clip of character '{character.id}' is gone."
            ) from None
        count = min(MAX_CHARACTER_FRAMES, max(1, round(character.frames * fps / DEFAULT_FPS)))

        def decode(data: bytes = data, w: int = character.width,
                   h: int = character.height, n: int = count) -> tuple[Frame, ...]:
            return tuple(iter_frames(data, width=w, height=h, fps=fps, count=n))

        try:
            frames = await asyncio.to_thread(decode)
        except MediaError as exc:
            raise GenerationFailed(
                "character_unavailable", f"The clip of character '{character.id}': {exc}"
            ) from None
        clips.append(CharacterClip(name=character.name, frames=frames))
    return tuple(clips)
