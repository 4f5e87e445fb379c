"""``FileService``: OpenAI's Files API (upload, list, retrieve, content, delete), per project.

Files exist here so that ``input_reference: {"file_id": ...}`` works: a client uploads an
image once (``POST /v1/files``) and names it in any number of creates. The bytes are kept
as given (they are only ever served back with ``application/octet-stream`` as an attachment,
never interpreted); :meth:`FileService.read_for_reference` hands them to the image decoder,
which applies its own limits. Another project's file, a deleted one and an expired one are
all "No such File object" (404).
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from vidserve import contract, ids
from vidserve.contract import FilePurpose, Order
from vidserve.errors import InvalidRequest, InvalidValue, NotFound, PayloadTooLarge
from vidserve.service.content import Content
from vidserve.service.space import write_or_free
from vidserve.settings import Settings
from vidserve.store.blobs import BlobNotFound, BlobStore
from vidserve.store.files import FilePage, FileStore, StoredFile


@dataclass(frozen=True, slots=True)
class NewFile:
    filename: str
    data: bytes
    purpose: FilePurpose  # validated by the API's wire model
    expires_after_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class FileContent:
    content: Content
    filename: str


def clean_filename(name: str | None) -> str:
    """The last path component, printable, at most 255 characters; ``"upload"`` if nothing
    is left. It is only ever echoed back, never used as a path."""
    text = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = text.strip()[:255]
    return text or "upload"


def _not_found(file_id: str) -> NotFound:
    shown = file_id[:64].encode("ascii", "replace").decode()
    return NotFound(f"No such File object: {shown}", param="id", code=None)


class FileService:
    def __init__(
        self,
        settings: Settings,
        store: FileStore,
        blobs: BlobStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.blobs = blobs
        self.clock = clock

    async def create(self, project: str, new: NewFile) -> StoredFile:
        if not new.data:
            raise InvalidRequest("The file is empty.", param="file", code="invalid_file")
        if len(new.data) > self.settings.files_max_bytes:
            raise PayloadTooLarge(
                f"The file is {len(new.data)} bytes, more than the limit of "
                f"{self.settings.files_max_bytes} bytes.",
                param="file",
            )
        now = int(self.clock())
        ttl = new.expires_after_seconds
        if ttl is None and new.purpose == "batch":
            ttl = contract.BATCH_FILE_EXPIRY
        stored = StoredFile(
            id=ids.new_file_id(),
            project=project,
            filename=clean_filename(new.filename),
            purpose=new.purpose,
            bytes=len(new.data),
            created_at=now,
            expires_at=now + ttl if ttl is not None else None,
        )
        key = ids.file_key(stored.id)
        await self.blobs.put_bytes(key, new.data)
        try:
            await self.store.insert(stored, time.time_ns())
        except BaseException:
            await self.blobs.delete_prefix(ids.file_prefix(stored.id))
            raise
        return stored

    async def retrieve(self, project: str, file_id: str) -> StoredFile:
        found = None
        if ids.is_file_id(file_id):
            found = await self.store.get(project, file_id, int(self.clock()))
        if found is None:
            raise _not_found(file_id)
        return found

    async def list(
        self,
        project: str,
        *,
        limit: int,
        order: Order,
        after: str | None,
        purpose: str | None,
    ) -> FilePage:
        now = int(self.clock())
        if after is not None and (
            not ids.is_file_id(after) or await self.store.get(project, after, now) is None
        ):
            shown = after[:64].encode("ascii", "replace").decode()
            raise InvalidValue(f"Invalid 'after': no file with id '{shown}'.", param="after")
        return await self.store.list_page(
            project, now, limit=limit, order=order, after=after, purpose=purpose
        )

    async def content(self, project: str, file_id: str) -> FileContent:
        found = await self.retrieve(project, file_id)
        key = ids.file_key(found.id)
        try:
            meta = await self.blobs.head(key)
        except BlobNotFound:
            raise _not_found(file_id) from None
        return FileContent(Content.of(key, meta, "application/octet-stream"), found.filename)

    async def delete(self, project: str, file_id: str) -> StoredFile:
        found = await self.retrieve(project, file_id)
        marked = await write_or_free(
            lambda: self.store.mark_deleted(project, found.id, int(self.clock())),
            lambda: self.blobs.delete_prefix(ids.file_prefix(found.id)),
        )
        if not marked:
            raise _not_found(file_id)
        await self.blobs.delete_prefix(ids.file_prefix(found.id))
        return found

    async def read_for_reference(self, project: str, file_id: str) -> bytes:
        """The bytes of a file named by ``input_reference.file_id`` (a 400 if there is none)."""
        found = None
        if ids.is_file_id(file_id):
            found = await self.store.get(project, file_id, int(self.clock()))
        if found is not None:
            try:
                return await self.blobs.get_bytes(ids.file_key(found.id))
            except BlobNotFound:
                pass
        shown = file_id[:64].encode("ascii", "replace").decode()
        raise InvalidRequest(
            f"Invalid 'input_reference.file_id': no file with id '{shown}' (upload it with "
            "POST /v1/files first).",
            param="input_reference",
            code="invalid_value",
        )
