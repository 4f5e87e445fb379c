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
    """Everything a process serves with: stores (rows and blobs) and the services over them.

    Names say which is which: ``*_store`` persists, ``*_service`` holds the use cases the API
    calls; the queue, registry, authenticator and limiter are their own kinds."""

    settings: Settings
    db: Database
    clock: Callable[[], float]
    registry: ModelRegistry
    queue: JobQueue
    blob_store: BlobStore
    video_store: VideoStore
    key_store: KeyStore
    file_store: FileStore
    character_store: CharacterStore
    webhook_store: WebhookStore
    video_service: VideoService
    edit_service: EditService
    file_service: FileService
    character_service: CharacterService
    auth: Authenticator
    limiter: RateLimiter

    @classmethod
    def open(cls, settings: Settings, clock: Callable[[], float] = time.time) -> Runtime:
        # a frozen process's open transaction is ended by the server after about a lease
        db = Database(
            settings.database_url,
            idle_in_transaction_timeout=max(settings.lease_seconds, 5.0),
        )
        blob_store = ObjectBlobStore.from_settings(settings)
        registry = load_registry(settings)
        video_store = VideoStore(db)
        key_store = KeyStore(db)
        file_store = FileStore(db)
        character_store = CharacterStore(db)
        file_service = FileService(settings, file_store, blob_store, clock)
        character_service = CharacterService(settings, character_store, blob_store, clock)
        video_service = VideoService(
            settings, video_store, blob_store, registry, clock,
            files=file_service, characters=character_service,
        )
        return cls(
            settings=settings,
            db=db,
            clock=clock,
            registry=registry,
            queue=JobQueue(db),
            blob_store=blob_store,
            video_store=video_store,
            key_store=key_store,
            file_store=file_store,
            character_store=character_store,
            webhook_store=WebhookStore(db),
            video_service=video_service,
            edit_service=EditService(
                settings, video_service, video_store, blob_store, registry, clock
            ),
            file_service=file_service,
            character_service=character_service,
            auth=Authenticator(settings, key_store, clock),
            limiter=RateLimiter(settings.rate_limit_requests_per_minute),
        )

    async def authorize(self, authorization: str | None) -> str:
        """The caller's project, after the key check and the request rate limit."""
        project = await self.auth.project_for(authorization)
        self.limiter.check(project)
        return project

    async def close(self) -> None:
        await self.db.close()
