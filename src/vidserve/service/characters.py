"""``CharacterService``: characters made from a short uploaded clip, scoped to a project.

``POST /v1/videos/characters`` (``name`` 1..80 characters, ``video`` a short clip) probes the
upload with hard limits (:mod:`vidserve.media.probe`), re-encodes it small (at most
:data:`CLIP_SIDE` pixels on its longer side, 24 fps) and keeps only that. A create may then
name up to two characters (``characters: [{"id": "char_..."}]``); :meth:`resolve` checks them.
Another project's character is a 404 (retrieve) or a 400 (named in a create), exactly as an
id that never existed.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vidserve import ids, scratch
from vidserve.domain import DEFAULT_FPS
from vidserve.errors import InvalidRequest, NotFound
from vidserve.media.isolated import media_children
from vidserve.service.sources import media_limits
from vidserve.settings import Settings
from vidserve.store.blobs import BlobStore
from vidserve.store.characters import Character, CharacterStore

if TYPE_CHECKING:
    from vidserve.media.probe import UploadLimits

CLIP_SIDE = 256
MIN_SECONDS = 1.0
MAX_NAME = 80


def _shown(value: str) -> str:
    return value[:64].encode("ascii", "replace").decode()


def clip_size(width: int, height: int, side: int = CLIP_SIDE) -> tuple[int, int]:
    """The stored clip's size: the upload's aspect, at most ``side`` pixels, even numbers."""
    scale = min(1.0, side / max(width, height))
    w = max(2, int(round(width * scale / 2)) * 2)
    h = max(2, int(round(height * scale / 2)) * 2)
    return w, h


class CharacterService:
    def __init__(
        self,
        settings: Settings,
        store: CharacterStore,
        blobs: BlobStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.blobs = blobs
        self.clock = clock

    async def create(self, project: str, name: str, video: bytes) -> Character:
        from vidserve.media.probe import UploadLimits

        s = self.settings
        limits = UploadLimits(
            max_bytes=s.upload_video_max_bytes,
            max_seconds=s.character_max_seconds,
            max_side=s.upload_video_max_side,
            min_seconds=MIN_SECONDS,
        )

        character_id = ids.new_character_id()
        key = ids.character_key(character_id)
        tmp = scratch.make("character")
        try:
            width, height, frames = await media_children(media_limits(s)).run(
                _character_clip, video, limits, tmp / "clip.mp4", s.x264_preset
            )
            await self.blobs.put_file(key, tmp / "clip.mp4")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        character = Character(
            id=character_id,
            project=project,
            name=name,
            created_at=int(self.clock()),
            width=width,
            height=height,
            frames=frames,
        )
        try:
            await self.store.insert(character)
        except BaseException:
            await self.blobs.delete_prefix(ids.character_prefix(character.id))
            raise
        return character

    async def retrieve(self, project: str, character_id: str) -> Character:
        found = None
        if ids.is_character_id(character_id):
            found = await self.store.get(project, character_id)
        if found is None:
            raise NotFound(
                f"Character with id '{_shown(character_id)}' not found.",
                param="character_id",
                code=None,
            )
        return found

    async def resolve(self, project: str, character_ids: Sequence[str]) -> list[Character]:
        """The characters a create names, in order; a 400 for any the project does not have."""
        found: list[Character] = []
        for index, character_id in enumerate(character_ids):
            character = None
            if ids.is_character_id(character_id):
                character = await self.store.get(project, character_id)
            if character is None:
                raise InvalidRequest(
                    f"Invalid 'characters[{index}].id': no character with id "
                    f"'{_shown(character_id)}'.",
                    param="characters",
                    code="invalid_value",
                )
            found.append(character)
        if len({c.id for c in found}) != len(found):
            raise InvalidRequest(
                "Invalid 'characters': the same character is named twice.",
                param="characters",
                code="invalid_value",
            )
        return found


def _character_clip(
    data: bytes, limits: UploadLimits, path: Path, preset: str
) -> tuple[int, int, int]:
    """Runs in a child process (:mod:`vidserve.media.isolated`): probe, then re-encode small."""
    from vidserve.media.probe import normalise, probe_upload

    info = probe_upload(data, limits)
    width, height = clip_size(info.width, info.height)
    frames = normalise(
        data, info, path, width=width, height=height, fps=DEFAULT_FPS,
        seconds=info.duration, preset=preset,
    )
    return width, height, frames
