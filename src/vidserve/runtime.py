"""Wiring: build the stores, registry and services from one ``Settings`` object."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from vidserve.engine.registry import ModelRegistry
from vidserve.queue.jobs import JobQueue
from vidserve.service.auth import Authenticator
from vidserve.service.characters import CharacterService
from vidserve.service.edits import EditService
from vidserve.service.files import FileService
from vidserve.service.limits import RateLimiter
from vidserve.service.videos import VideoService
from vidserve.settings import Settings
from vidserve.store.blobs import BlobStore, ObjectBlobStore
from vidserve.store.characters import CharacterStore
from vidserve.store.database import Database
from vidserve.store.files import FileStore
from vidserve.store.keys import KeyStore
from vidserve.store.videos import VideoStore
from vidserve.store.webhooks import WebhookStore


def load_registry(settings: Settings) -> ModelRegistry:
    if settings.models_file is not None:
        return ModelRegistry.from_file(settings.models_file)
    return ModelRegistry.default()


@dataclass
class Runtime:
    settings: Settings
    db: Database
    blobs: BlobStore
    registry: ModelRegistry
    videos: VideoStore
    queue: JobQueue
    keys: KeyStore
    service: VideoService
    auth: Authenticator
    limiter: RateLimiter
    webhooks: WebhookStore
    clock: Callable[[], float]
    files: FileService
    characters: CharacterService
    edits: EditService

    @classmethod
    def open(cls, settings: Settings, clock: Callable[[], float] = time.time) -> Runtime:
        # a frozen process's open transaction is ended by the server after about a lease
        db = Database(
            settings.database_url,
            idle_in_transaction_timeout=max(settings.lease_seconds, 5.0),
        )
        blobs = ObjectBlobStore.from_settings(settings)
        registry = load_registry(settings)
        videos = VideoStore(db)
        keys = KeyStore(db)
        files = FileService(settings, FileStore(db), blobs, clock)
        characters = CharacterService(settings, CharacterStore(db), blobs, clock)
        service = VideoService(
            settings, videos, blobs, registry, clock, files=files, characters=characters
        )
        return cls(
            settings=settings,
            db=db,
            blobs=blobs,
            registry=registry,
            videos=videos,
            queue=JobQueue(db),
            keys=keys,
            service=service,
            auth=Authenticator(settings, keys, clock),
            limiter=RateLimiter(settings.rate_limit_requests_per_minute),
            webhooks=WebhookStore(db),
            clock=clock,
            files=files,
            characters=characters,
            edits=EditService(service),
        )

    async def authorize(self, authorization: str | None) -> str:
        """The caller's project, after the key check and the request rate limit."""
        project = await self.auth.project_for(authorization)
        self.limiter.check(project)
        return project

    async def close(self) -> None:
        await self.db.close()
