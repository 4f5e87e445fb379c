"""Edits and extensions: new video jobs made from a source clip.

- ``edit``: the result keeps the source's size, length (``seconds``) and motion and changes
  what the prompt asks (the engine transforms the source's frames).
- ``extend``: the result is one clip, the source followed by a new segment of ``seconds``
  that continues the source's last frame; its ``seconds`` is the stitched total. Limits as
  the hosted service documented them: a segment of at most 20 s, at most 6 extensions in a
  chain, 120 s in all.

The source is a completed video of the project (``{"id": ...}``, same model unless the
request names one) or an upload, probed and re-encoded at request time
(:mod:`vidserve.service.sources`) and kept under the new video's ``inputs/`` prefix. A model
that cannot do the operation is a 400 (``Model 'x' cannot edit videos.``) before any work.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from vidserve import contract, ids, scratch
from vidserve.domain import JobKind, Video
from vidserve.engine.registry import ModelRegistry, ServedModel
from vidserve.errors import InvalidRequest
from vidserve.service.sources import (
    PARAM,
    VideoInput,
    VideoRef,
    VideoUpload,
    check_source,
    prepare_upload,
    source_key,
)
from vidserve.service.videos import VideoService, shown_id
from vidserve.settings import Settings
from vidserve.store.blobs import BlobStore
from vidserve.store.videos import VideoStore

MAX_EXTENSIONS = 6
MAX_TOTAL_SECONDS = 120


@dataclass(frozen=True, slots=True)
class EditVideo:
    prompt: str
    video: VideoInput
    model: str | None = None  # vidserve extension; default: the source's model (or sora-2)


@dataclass(frozen=True, slots=True)
class ExtendVideo:
    prompt: str
    seconds: int  # the new segment's length
    video: VideoInput
    model: str | None = None


Operation = Literal["edit", "extend"]


class EditService:
    """Edits and extensions; new jobs go through :class:`VideoService`'s public seam."""

    def __init__(
        self,
        settings: Settings,
        videos: VideoService,
        video_store: VideoStore,
        blob_store: BlobStore,
        registry: ModelRegistry,
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.videos = videos
        self.video_store = video_store
        self.blob_store = blob_store
        self.registry = registry
        self.clock = clock

    async def edit(
        self, project: str, cmd: EditVideo, idempotency_key: str | None = None
    ) -> Video:
        return await self._make(project, "edit", cmd.prompt, cmd.video, cmd.model, None,
                                idempotency_key)

    async def extend(
        self, project: str, cmd: ExtendVideo, idempotency_key: str | None = None
    ) -> Video:
        # cmd.seconds is one of contract.EXTENSION_SECONDS: the wire model (ExtendVideoBody)
        # is where that is checked; here only what depends on the source (the total length)
        return await self._make(project, "extend", cmd.prompt, cmd.video, cmd.model,
                                cmd.seconds, idempotency_key)

    # -- helpers ----------------------------------------------------------------------------

    def _model_for_upload(self, model: str | None) -> str:
        if model is not None:
            return model
        names = self.registry.names()
        return contract.DEFAULT_MODEL if contract.DEFAULT_MODEL in names or not names else names[0]

    def _capable(self, served: ServedModel, operation: Operation) -> None:
        caps = served.capabilities
        able = caps.edit if operation == "edit" else caps.extend
        if not able:
            verb = "edit" if operation == "edit" else "extend"
            raise InvalidRequest(
                f"Model '{served.name}' cannot {verb} videos.", param="model", code=None
            )

    async def _make(
        self,
        project: str,
        operation: Operation,
        prompt: str,
        source_input: VideoInput,
        model: str | None,
        segment: int | None,
        idempotency_key: str | None,
    ) -> Video:
        vs = self.videos
        done = "edited" if operation == "edit" else "extended"
        source: Video | None = None
        if isinstance(source_input, VideoRef):
            found = None
            if ids.is_video_id(source_input.id):
                found = await self.video_store.get(project, source_input.id)
            source = check_source(found, source_input.id, self.clock(), done)
            served = vs.served_model(model or source.model)
            self._capable(served, operation)
            if source.size not in vs.allowed_sizes(served):
                raise InvalidRequest(
                    f"Model '{served.name}' cannot make {source.size} videos, the size of "
                    f"video '{source.id}'.",
                    param="model",
                    code="invalid_value",
                )
            if segment is not None:
                self._check_extension(source.extensions, source.seconds, segment, source.id)
        else:
            served = vs.served_model(self._model_for_upload(model))
            self._capable(served, operation)
        await vs.check_quota(project, idempotency_key)

        if source is not None:
            fresh = vs.new_video(
                project, served.name, prompt, source.size, source.seconds, source.seed
            )
            video = replace(
                fresh,
                source_video_id=source.id,
                extensions=source.extensions,
            )
            fingerprint_source = source.id
        else:
            assert isinstance(source_input, VideoUpload)
            video, fingerprint_source = await self._from_upload(
                project, served, prompt, source_input, segment
            )
        video = replace(video, kind=JobKind.EDIT if operation == "edit" else JobKind.EXTEND)
        if segment is not None:
            video = replace(
                video,
                extensions=video.extensions + 1,
                segment_seconds=segment,
                seconds=video.seconds + segment,
            )
        fingerprint = {
            "op": operation,
            "source": fingerprint_source,
            "prompt": prompt,
            "model": served.name,
            "seconds": segment,
        }
        return await vs.enqueue(video, idempotency_key, fingerprint)

    def _check_extension(self, done: int, seconds: int, segment: int, video_id: str) -> None:
        if done >= MAX_EXTENSIONS:
            raise InvalidRequest(
                f"Video '{shown_id(video_id)}' has already been extended {done} times, the most "
                f"allowed ({MAX_EXTENSIONS}).",
                param=PARAM,
                code="invalid_value",
            )
        if seconds + segment > MAX_TOTAL_SECONDS:
            raise InvalidRequest(
                f"Invalid 'seconds': extending a {seconds} second video by {segment} seconds "
                f"would make it {seconds + segment} seconds long; an extended video may be at "
                f"most {MAX_TOTAL_SECONDS} seconds long.",
                param="seconds",
                code="invalid_value",
            )

    async def _from_upload(
        self,
        project: str,
        served: ServedModel,
        prompt: str,
        upload: VideoUpload,
        segment: int | None,
    ) -> tuple[Video, str]:
        """Probe and re-encode the upload, store it under the new video's inputs."""
        import hashlib

        vs = self.videos
        caps = served.capabilities
        max_seconds = MAX_TOTAL_SECONDS - segment if segment is not None else None
        tmp = scratch.make("source")
        try:
            prepared = await prepare_upload(
                upload, self.settings, caps.sizes, caps.fps, tmp / "source.mp4",
                max_seconds=max_seconds,
            )
            if segment is not None:
                self._check_extension(0, prepared.seconds, segment, "upload")
            video = vs.new_video(project, served.name, prompt, prepared.size,
                                  prepared.seconds, None)
            key = source_key(video.id)
            video = replace(video, source_key=key)
            await self.blob_store.put_file(key, prepared.path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return video, "sha256:" + hashlib.sha256(upload.data).hexdigest()
