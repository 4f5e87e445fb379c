"""The retention collector: removes the files of expired and deleted videos.

A video's content expires at ``expires_at`` (``completed_at + VIDSERVE_EXPIRES_AFTER_SECONDS``,
like the hosted service's one hour; or never). After that its content answers 404 at once
(``VideoService.content``) and this collector deletes its files; the row stays, so the video
can still be retrieved and listed with its ``expires_at``. Deleted videos' files go too (a
running job's worker removes its own when it stops), as do the bytes of Files API uploads past
their ``expires_at``. Old idempotency records are dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from vidserve import ids
from vidserve.settings import Settings
from vidserve.store.blobs import BlobStore
from vidserve.store.files import FileStore
from vidserve.store.videos import VideoStore
from vidserve.store.webhooks import WebhookStore

log = logging.getLogger("vidserve.retention")


class RetentionCollector:
    def __init__(
        self,
        settings: Settings,
        videos: VideoStore,
        blobs: BlobStore,
        webhooks: WebhookStore,
        clock: Callable[[], float],
        files: FileStore | None = None,
    ) -> None:
        self.settings = settings
        self.videos = videos
        self.blobs = blobs
        self.webhooks = webhooks
        self.clock = clock
        self.files = files

    async def run_once(self) -> int:
        now = int(self.clock())
        purged = 0
        for video_id in await self.videos.purgeable(now):
            await self.blobs.delete_prefix(ids.video_prefix(video_id))
            await self.blobs.delete_prefix(ids.inputs_prefix(video_id))
            await self.videos.mark_purged(video_id, now)
            purged += 1
        if self.files is not None:  # Files API uploads past their expires_after
            for file_id in await self.files.expire_due(now):
                await self.blobs.delete_prefix(ids.file_prefix(file_id))
                purged += 1
        await self.videos.prune_idempotency(now - self.settings.idempotency_ttl_seconds)
        await self.webhooks.prune_delivered(now - 7 * 86400)
        if purged:
            log.info("removed the files of %d expired or deleted videos", purged)
        return purged

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("retention round failed")
            try:
                await asyncio.wait_for(
                    stop.wait(), timeout=self.settings.collector_interval_seconds
                )
            except TimeoutError:
                pass
