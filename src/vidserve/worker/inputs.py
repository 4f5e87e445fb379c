"""A job's inputs: the engine's ``GenerationRequest``, built here once, from the job's row.

- the reference image (``input_reference``): the PNG the API stored, decoded to a frame.
- the source clip: fetched by :meth:`InputLoader.source`, one routine for every kind:

  - ``remix``: the source's prompt, and its MP4 when the model re-generates conditioned on
    the source clip (``remix_from_source``); a source whose file is gone leaves the seed
    and the prompt to work from.
  - ``edit``: ``source_video`` is the source's MP4 (a video of ours, or the re-encoded
    upload); the engine transforms its frames, keeping size, length and motion.
  - ``extend``: the request is for the new segment only (``seconds = segment_seconds``);
    ``continue_from`` (and ``reference_image``, for engines that only do image-to-video) is
    the source's last frame as it appears in the output, read from the end of the file, and
    ``continue_frames`` the source's last :data:`CONTEXT_SECONDS` of frames ending with it
    (the context conditioning models keep as the start of the new segment's first window).
    The :class:`LeadIn` puts the source's frames first in the encoded file (decoding the
    source once, as the encoder takes them), so the result is one clip whose length is the
    stitched total and whose seam is the engine's first frame following the source's last.

  An edit's or extension's source that is gone (deleted, expired) fails the job with
  ``source_unavailable``.
- ``characters``: each character's clip, decoded small at the request's fps, and its
  reference still (:func:`vidserve.media.stills.reference_still` over at most
  :data:`STILL_CANDIDATES` frames spread over the clip: the subject largest and sharpest).
- sound: an edit's or extension's source audio is decoded once into ``source_audio`` (None
  where the source has no track). :meth:`Inputs.audio` gives the file's sound: an extension
  keeps the source's and continues it across the seam (the new segment's sound crossfaded
  on, over the 50 ms before the seam, or the source's played again where the model makes
  none); an edit keeps the source's unless the model makes new sound; anything else (remix
  included) has the model's own.

Which model may do what was checked when the job was created (``vidserve.service``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vidserve import ids
from vidserve.domain import (
    DEFAULT_FPS,
    Audio,
    CharacterClip,
    GenerationRequest,
    JobKind,
    Size,
    Video,
)
from vidserve.engine.base import GenerationFailed
from vidserve.media.errors import MediaError
from vidserve.store.blobs import BlobNotFound, BlobStore
from vidserve.store.characters import CharacterStore
from vidserve.store.videos import VideoStore

if TYPE_CHECKING:
    from vidserve.domain import Frame
    from vidserve.engine.registry import ServedModel

log = logging.getLogger("vidserve.worker")

MAX_CHARACTER_FRAMES = 240
CONTEXT_SECONDS = 1  # of the source's end an extension hands the engine as context
STILL_CANDIDATES = 48  # frames of a character's clip scored for its reference still


@dataclass(frozen=True, slots=True)
class LeadIn:
    """Frames that come before the engine's in the output: the source of an extension,
    ``frames`` of ``width x height`` at ``fps``."""

    path: Path
    frames: int
    width: int
    height: int
    fps: int

    def iter(self) -> Iterator[Frame]:
        from vidserve.media.probe import iter_frames

        return iter_frames(
            self.path, width=self.width, height=self.height, fps=self.fps, count=self.frames
        )

    def tail(self, count: int) -> tuple[Frame, ...]:
        """The last ``count`` frames of :meth:`iter` (all of them when there are fewer),
        decoded from the keyframe before the first of them."""
        from vidserve.media.probe import iter_frames

        return tuple(iter_frames(
            self.path, width=self.width, height=self.height, fps=self.fps, count=self.frames,
            first=max(0, self.frames - count),
        ))


@dataclass(frozen=True, slots=True)
class Inputs:
    request: GenerationRequest
    lead_in: LeadIn | None = None  # extension: the source's frames, first in the file

    @property
    def expected_frames(self) -> int:
        """How many frames the encoded file holds."""
        lead = self.lead_in.frames if self.lead_in is not None else 0
        return lead + self.request.num_frames

    def frames(self, generated: Iterable[Frame]) -> Iterable[Frame]:
        """The frames to encode: the lead-in's (if any), then the engine's."""
        if self.lead_in is None:
            return generated
        return itertools.chain(self.lead_in.iter(), generated)

    def audio(self, generated: Audio | None) -> Audio | None:
        """The sound of the file (see the module docstring); None: the model's silence."""
        from vidserve.media.audio import conform, fit, join, loop, silence

        request, lead_in = self.request, self.lead_in
        if lead_in is None:
            # only edits carry source_audio: a remix's sound is the model's own
            return generated if generated is not None else request.source_audio
        if request.source_audio is None and generated is None:
            return None
        before, seconds = lead_in.frames / request.fps, request.num_frames / request.fps
        if request.source_audio is None:
            source = silence(before)
        else:
            source = fit(conform(request.source_audio), before)
        if generated is not None:
            segment = fit(conform(generated), seconds)
        else:
            segment = loop(source, seconds)
        return join(source, segment, ends_at_seam=True)  # the source: decoded AAC


@dataclass(frozen=True, slots=True)
class Source:
    """A job's source video: its MP4 (None: not needed, or gone) and, for a video of ours,
    its prompt."""

    clip: bytes | None
    prompt: str | None


SOURCE_GONE = "The source video is no longer available (deleted or expired)."


class InputLoader:
    """Reads what a job needs from the stores (blobs, video rows, characters)."""

    def __init__(
        self, blob_store: BlobStore, video_store: VideoStore, character_store: CharacterStore
    ) -> None:
        self.blob_store = blob_store
        self.video_store = video_store
        self.character_store = character_store

    async def load(self, video: Video, served: ServedModel, workdir: Path) -> Inputs:
        caps = served.capabilities
        size = Size.parse(video.size)
        fps = caps.fps
        reference = None
        if video.input_reference_key:
            data = await self.blob_store.get_bytes(video.input_reference_key)
            reference = await asyncio.to_thread(_decode_png, data)
        source = await self.source(
            video, clip=video.kind is not JobKind.REMIX or caps.remix_from_source
        )
        seconds = video.seconds
        lead_in = None
        context: tuple[Frame, ...] = ()
        source_audio = None
        if video.kind is JobKind.EDIT:
            assert source is not None and source.clip is not None
            source_audio = await _audio_of(source.clip, video.seconds)
        if video.kind is JobKind.EXTEND:
            assert source is not None and source.clip is not None
            segment = video.segment_seconds or 0
            path = workdir / "source.mp4"
            await asyncio.to_thread(path.write_bytes, source.clip)
            lead_in = LeadIn(path, (video.seconds - segment) * fps, size.width, size.height, fps)
            seconds = segment
            try:
                context = await asyncio.to_thread(lead_in.tail, CONTEXT_SECONDS * fps)
            except MediaError as exc:
                raise _unreadable(exc) from None
            # engines that cannot continue a frame start from it as their reference image
            reference = context[-1]
            source_audio = await _audio_of(path, video.seconds - segment)
            source = None  # the new segment continues the source's frame, not its clip
        request = GenerationRequest(
            model=video.model,
            prompt=video.prompt,
            width=size.width,
            height=size.height,
            seconds=seconds,
            seed=video.seed,
            fps=fps,
            reference_image=reference,
            continue_from=reference if lead_in is not None else None,
            continue_frames=context,
            source_prompt=source.prompt if source is not None else None,
            source_video=source.clip if source is not None else None,
            characters=await self._characters(video, fps),
            source_audio=source_audio,
        )
        return Inputs(request, lead_in)

    async def source(self, video: Video, *, clip: bool) -> Source | None:
        """The job's source (None: a job made from a prompt alone). ``clip``: fetch its MP4.

        A remix's source that is gone is not an error (its seed and prompt are on its row);
        an edit's or extension's is."""
        required = video.kind in (JobKind.EDIT, JobKind.EXTEND)
        if video.source_key is not None:  # an upload, re-encoded at request time
            return Source(await self._clip(video.source_key, required), None)
        source_id = video.source_video_id or video.remixed_from_video_id
        if source_id is None:
            if required:
                raise GenerationFailed("invalid_request", "The job has no source video.")
            return None
        row = await self.video_store.get_any(source_id)
        if required and (row is None or row.deleted_at is not None):
            raise GenerationFailed("source_unavailable", SOURCE_GONE)
        if row is None:
            return None
        data = None
        if clip and row.assets_attempt is not None:
            data = await self._clip(ids.asset_key(row.id, row.assets_attempt, "video"), required)
        elif required:
            raise GenerationFailed("source_unavailable", SOURCE_GONE)
        return Source(data, row.prompt)

    async def _clip(self, key: str, required: bool) -> bytes | None:
        try:
            return await self.blob_store.get_bytes(key)
        except BlobNotFound:
            if required:
                raise GenerationFailed("source_unavailable", SOURCE_GONE) from None
        except Exception:
            if required:
                raise
        log.warning("the source clip %s is gone; generating from the seed and prompt", key,
                    exc_info=True)
        return None

    async def _characters(self, video: Video, fps: int) -> tuple[CharacterClip, ...]:
        if not video.character_ids:
            return ()
        from vidserve.media.probe import iter_frames
        from vidserve.media.stills import reference_still

        clips = []
        for character in await self.character_store.get_many(video.character_ids):
            try:
                data = await self.blob_store.get_bytes(ids.character_key(character.id))
            except BlobNotFound:
                raise GenerationFailed(
                    "character_unavailable", f"The clip of character '{character.id}' is gone."
                ) from None
            count = min(MAX_CHARACTER_FRAMES,
                        max(1, round(character.frames * fps / DEFAULT_FPS)))

            def decode(data: bytes = data, w: int = character.width, h: int = character.height,
                       n: int = count) -> tuple[tuple[Frame, ...], Frame]:
                frames = tuple(iter_frames(data, width=w, height=h, fps=fps, count=n))
                step = -(-len(frames) // STILL_CANDIDATES)
                return frames, reference_still(frames[::step])

            try:
                frames, still = await asyncio.to_thread(decode)
            except MediaError as exc:
                raise GenerationFailed(
                    "character_unavailable", f"The clip of character '{character.id}': {exc}"
                ) from None
            clips.append(CharacterClip(name=character.name, frames=frames, reference=still))
        return tuple(clips)


def _unreadable(exc: MediaError) -> GenerationFailed:
    return GenerationFailed("source_unavailable", f"The source video cannot be read: {exc}")


async def _audio_of(source: bytes | Path, seconds: float) -> Audio | None:
    """The source's sound, decoded once (a little past its length, never more)."""
    from vidserve.media.audio import read_audio

    try:
        return await asyncio.to_thread(read_audio, source, seconds + 1.0)
    except MediaError as exc:
        raise _unreadable(exc) from None


def _decode_png(data: bytes) -> Frame:
    import io

    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
