"""``VideoService``: the video use cases, independent of HTTP.

Routes parse and authorise, then call exactly one method here. Everything a client can do to
a video is checked here against the model's capabilities and scoped to the caller's project.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from vidserve import contract, ids
from vidserve.contract import Order, Variant, quote_list
from vidserve.domain import JobKind, Size, Video, VideoStatus
from vidserve.engine.registry import ModelRegistry, ServedModel
from vidserve.errors import InvalidRequest, InvalidValue, MissingParameter, NotFound, RateLimited
from vidserve.net.fetch import FetchPolicy, FetchRefused, fetch
from vidserve.service.content import Content
from vidserve.service.space import write_or_free
from vidserve.settings import Settings
from vidserve.store.blobs import BlobNotFound, BlobStore
from vidserve.store.videos import ActiveJobsLimitReached, IdempotencyRecord, Page, VideoStore

if TYPE_CHECKING:
    from vidserve.service.characters import CharacterService
    from vidserve.service.files import FileService

CONTENT_TYPES: dict[Variant, str] = {
    "video": "video/mp4",
    "thumbnail": "image/webp",
    "spritesheet": "image/jpeg",
}
EXTENDED_SECONDS = tuple(int(s) for s in contract.EXTENDED_SECONDS)  # extended_video_options


@dataclass(frozen=True, slots=True)
class CreateVideo:
    prompt: str
    model: str
    seconds: int
    size: str
    seed: int | None = None
    reference_image: bytes | None = None  # raw PNG/JPEG/WebP bytes (upload or data: URL)
    reference_url: str | None = None  # an http(s) image URL, fetched under the SSRF rules
    reference_file_id: str | None = None  # a file uploaded with POST /v1/files
    character_ids: tuple[str, ...] = ()  # at most 2 (checked by the API layer)


shown_id = contract.shown  # an id as it may appear in an error message


class VideoService:
    def __init__(
        self,
        settings: Settings,
        store: VideoStore,
        blobs: BlobStore,
        registry: ModelRegistry,
        clock: Callable[[], float] = time.time,
        *,
        files: FileService | None = None,
        characters: CharacterService | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.blobs = blobs
        self.registry = registry
        self.clock = clock
        self.files = files
        self.characters = characters

    # -- validation -------------------------------------------------------------------------

    def served_model(self, model: str) -> ServedModel:
        """The served model of that name, or the 400 that lists the served ones."""
        served = self.registry.get(model)
        if served is None:
            raise InvalidValue(
                f"Invalid value: '{shown_id(model)}'. Supported values are: "
                f"{quote_list(self.registry.names())}.",
                param="model",
            )
        return served

    def allowed_sizes(self, served: ServedModel) -> tuple[str, ...]:
        """The model's sizes, plus 1080p on pro models with ``extended_video_options``."""
        sizes = served.capabilities.sizes
        pro = any(s in sizes for s in contract.PRO_ONLY_SIZES)
        if self.settings.extended_video_options and pro:
            sizes += tuple(s for s in contract.EXTENDED_SIZES if s not in sizes)
        return sizes

    def _check_shape(self, served: ServedModel, size: str, seconds: int) -> None:
        caps = served.capabilities
        sizes, allowed_seconds = self.allowed_sizes(served), caps.seconds
        if self.settings.extended_video_options:
            allowed_seconds += tuple(s for s in EXTENDED_SECONDS if s not in allowed_seconds)
        if size not in sizes:
            raise InvalidValue(
                f"Invalid value: '{size}'. Supported values for model '{served.name}' are: "
                f"{quote_list(list(sizes))}.",
                param="size",
            )
        if seconds not in allowed_seconds:
            raise InvalidValue(
                f"Invalid value: '{seconds}'. Supported values are: "
                f"{quote_list([str(s) for s in allowed_seconds])}.",
                param="seconds",
            )

    async def _fetch_reference(self, url: str) -> bytes:
        s = self.settings
        policy = FetchPolicy(
            allow_http=s.image_url_allow_http,
            allow_private=s.fetch_allow_private_urls,
            allowed_hosts=s.image_url_allowed_hosts,
            timeout_seconds=s.image_url_timeout_seconds,
            max_bytes=s.image_url_max_bytes,
        )
        try:
            fetched = await fetch(url, policy)
        except FetchRefused as exc:
            raise InvalidRequest(
                f"Invalid 'input_reference.image_url': {exc}.",
                param="input_reference",
                code="invalid_image_url",
            ) from None
        if fetched.status_code != 200:
            raise InvalidRequest(
                f"Invalid 'input_reference.image_url': the server answered HTTP "
                f"{fetched.status_code}.",
                param="input_reference",
                code="invalid_image_url",
            )
        return fetched.body

    def _over_quota(self, limit: int) -> RateLimited:
        return RateLimited(
            f"This project already has {limit} videos queued or in progress, the most it "
            "may have at once. Retry when one of them finishes.",
            retry_after=max(self.settings.poll_after_ms / 1000, 1.0),
        )

    async def check_quota(self, project: str, idempotency_key: str | None) -> None:
        """An early refusal, before inputs are fetched or decoded; the insert decides for sure.
        A replay of an Idempotency-Key is never refused: it returns the original job."""
        limit = self.settings.rate_limit_active_jobs
        if not limit:
            return
        if idempotency_key is not None and await self.store.replay(project, idempotency_key):
            return
        if await self.store.count_active(project) >= limit:
            raise self._over_quota(limit)

    async def _prepare_reference(self, data: bytes, size: str) -> bytes:
        """Decode with limits, check or fit the size, re-encode as PNG (never store raw input)."""
        from PIL import Image

        from vidserve.media.images import decode_image

        target = Size.parse(size)

        def work() -> bytes:
            frame = decode_image(
                data,
                max_pixels=self.settings.max_image_pixels,
                fit=(target.width, target.height),
                resize=self.settings.resize_input_reference,
            )
            out = io.BytesIO()
            Image.fromarray(frame).save(out, format="PNG", compress_level=1)
            return out.getvalue()

        return await asyncio.to_thread(work)

    # -- use cases --------------------------------------------------------------------------

    async def create(
        self, project: str, cmd: CreateVideo, idempotency_key: str | None = None
    ) -> Video:
        served = self.served_model(cmd.model)
        self._check_shape(served, cmd.size, cmd.seconds)
        wants_reference = (
            cmd.reference_image is not None
            or cmd.reference_url is not None
            or cmd.reference_file_id is not None
        )
        if wants_reference and not served.capabilities.image_reference:
            raise InvalidRequest(
                f"Model '{served.name}' does not accept an input_reference.",
                param="input_reference",
                code="unsupported_parameter",
            )
        if not wants_reference and not served.capabilities.text_to_video:
            raise MissingParameter(
                f"Model '{served.name}' generates from an image: provide an input_reference.",
                param="input_reference",
            )
        if cmd.character_ids:
            if not served.capabilities.characters:
                raise InvalidRequest(
                    f"Model '{served.name}' cannot take characters.",
                    param="characters",
                    code="unsupported_parameter",
                )
            if self.characters is None:  # pragma: no cover - wiring
                raise InvalidRequest("Characters are not available.", param="characters")
            await self.characters.resolve(project, cmd.character_ids)
        await self.check_quota(project, idempotency_key)
        video = replace(
            self.new_video(project, cmd.model, cmd.prompt, cmd.size, cmd.seconds, cmd.seed),
            character_ids=cmd.character_ids,
        )
        reference = None
        raw_reference = cmd.reference_image
        if cmd.reference_url is not None:
            raw_reference = await self._fetch_reference(cmd.reference_url)
        if cmd.reference_file_id is not None:
            if self.files is None:  # pragma: no cover - wiring
                raise InvalidRequest("Files are not available.", param="input_reference")
            raw_reference = await self.files.read_for_reference(project, cmd.reference_file_id)
        if raw_reference is not None:
            reference = await self._prepare_reference(raw_reference, cmd.size)
            key = ids.upload_key(video.id, "input_reference")
            video = replace(video, input_reference_key=key)
            await self.blobs.put_bytes(key, reference)
        fingerprint: dict[str, object] = {
            "op": "create",
            "prompt": cmd.prompt,
            "model": cmd.model,
            "seconds": cmd.seconds,
            "size": cmd.size,
            "seed": cmd.seed,
            "ref": hashlib.sha256(cmd.reference_image).hexdigest() if cmd.reference_image else None,
            "ref_url": cmd.reference_url,
        }
        if cmd.reference_file_id is not None or cmd.character_ids:
            fingerprint["ref_file"] = cmd.reference_file_id
            fingerprint["characters"] = list(cmd.character_ids)
        return await self.enqueue(video, idempotency_key, fingerprint)

    async def remix(
        self, project: str, video_id: str, prompt: str, idempotency_key: str | None = None
    ) -> Video:
        source = await self.retrieve(project, video_id)
        if source.status is not VideoStatus.COMPLETED:
            raise InvalidRequest(
                f"Video '{source.id}' is {source.status.value}; only a completed video can be "
                "remixed.",
                param="video_id",
                code="invalid_value",
            )
        served = self.served_model(source.model)
        await self.check_quota(project, idempotency_key)
        if not served.capabilities.remix:
            raise InvalidRequest(
                f"Model '{served.name}' cannot remix videos.", param="video_id", code=None
            )
        video = replace(
            self.new_video(project, source.model, prompt, source.size, source.seconds, source.seed),
            kind=JobKind.REMIX,
            remixed_from_video_id=source.id,
            character_ids=source.character_ids,  # the cast stays
        )
        fingerprint = {"op": "remix", "source": source.id, "prompt": prompt}
        return await self.enqueue(video, idempotency_key, fingerprint)

    async def retrieve(self, project: str, video_id: str) -> Video:
        video = await self.store.get(project, video_id) if ids.is_video_id(video_id) else None
        if video is None:
            raise NotFound(
                f"Video with id '{shown_id(video_id)}' not found.", param="video_id", code=None
            )
        return video

    async def list(
        self, project: str, *, limit: int, order: Order, after: str | None
    ) -> Page:
        cursor = None
        if after is not None:
            cursor = await self.store.get(project, after) if ids.is_video_id(after) else None
            if cursor is None:
                raise InvalidValue(
                    f"Invalid 'after': no video with id '{shown_id(after)}'.", param="after"
                )
        return await self.store.list_page(project, limit=limit, order=order, after=cursor)

    async def delete(self, project: str, video_id: str) -> Video:
        if not ids.is_video_id(video_id):
            await self.retrieve(project, video_id)  # raises the 404
        async def free() -> None:
            video = await self.store.get(project, video_id)
            if video is not None and video.status is not VideoStatus.IN_PROGRESS:
                await self._delete_files(video_id)

        before = await write_or_free(
            lambda: self.store.mark_deleted(project, video_id, int(self.clock())), free
        )
        if before is None:
            raise NotFound(
                f"Video with id '{shown_id(video_id)}' not found.", param="video_id", code=None
            )
        if before.status is not VideoStatus.IN_PROGRESS:
            # Nothing is running: remove every file now. A running job's worker sees
            # cancel_requested at its next step and removes what it wrote.
            await self._delete_files(video_id)
        return before

    async def _delete_files(self, video_id: str) -> None:
        await self.blobs.delete_prefix(ids.video_prefix(video_id))
        await self.blobs.delete_prefix(ids.inputs_prefix(video_id))

    async def content(self, project: str, video_id: str, variant: Variant) -> Content:
        video = await self.retrieve(project, video_id)
        if video.status is VideoStatus.FAILED:
            raise NotFound(
                "Video generation failed; there is no content to download.",
                param="video_id",
                code=None,
            )
        if video.status is not VideoStatus.COMPLETED or video.assets_attempt is None:
            raise NotFound(
                "Video is not ready yet. Wait until its status is 'completed' "
                f"(GET /v1/videos/{video.id}) before downloading content.",
                param="video_id",
                code=None,
            )
        if video.expires_at is not None and self.clock() >= video.expires_at:
            raise NotFound(
                "The content of this video has expired and was deleted.",
                param="video_id",
                code="video_expired",
            )
        key = ids.asset_key(video.id, video.assets_attempt, variant)
        try:
            meta = await self.blobs.head(key)
        except BlobNotFound:
            raise NotFound(
                f"The {variant} of this video is no longer available.", param="variant", code=None
            ) from None
        return Content.of(key, meta, CONTENT_TYPES[variant])

    # -- new jobs (also the seam for EditService) ----------------------------------------------

    def new_video(
        self, project: str, model: str, prompt: str, size: str, seconds: int, seed: int | None
    ) -> Video:
        """A queued video with a new id (and a new seed unless one is given), not yet stored."""
        return Video(
            id=ids.new_video_id(),
            project=project,
            model=model,
            status=VideoStatus.QUEUED,
            progress=0,
            created_at=int(self.clock()),
            prompt=prompt,
            size=size,
            seconds=seconds,
            seed=seed if seed is not None else ids.new_seed(),
        )

    async def enqueue(
        self, video: Video, idempotency_key: str | None, fingerprint: Mapping[str, object]
    ) -> Video:
        """Insert the job (its row is the queue entry) with its idempotency record; a repeat
        of the key returns the first job, a reuse with other parameters is a 400. The
        video's uploaded inputs are removed when its row is not the one stored."""
        record = None
        if idempotency_key is not None:
            digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()
            record = IdempotencyRecord(idempotency_key, digest)
        try:
            inserted = await self.store.insert(
                video, time.time_ns(), record, active_limit=self.settings.rate_limit_active_jobs
            )
        except BaseException as exc:
            if video.input_reference_key or video.source_key:
                await self.blobs.delete_prefix(ids.inputs_prefix(video.id))
            if isinstance(exc, ActiveJobsLimitReached):
                raise self._over_quota(exc.limit) from None
            raise
        if not inserted.created:
            if video.input_reference_key or video.source_key:
                await self.blobs.delete_prefix(ids.inputs_prefix(video.id))
            if not inserted.request_hash_matches:
                raise InvalidRequest(
                    "This Idempotency-Key was already used with different parameters; "
                    "use a new key for a new request.",
                    code="idempotency_key_reused",
                )
        return inserted.video
