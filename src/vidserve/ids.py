"""The only place ids and storage keys are minted and parsed.

Video ids are ``video_`` + 48 lowercase hex digits, as the hosted service mints them;
character ids ``char_`` + 32 hex digits; file ids ``file-`` + 24 letters and digits (the
Files API's shape). Nothing outside this module joins a client-given string into a storage
key: keys are built from ids that the ``is_*_id`` checks here have validated.
"""

from __future__ import annotations

import re
import secrets
from typing import Literal

VIDEO_PREFIX = "video_"
_VIDEO_ID = re.compile(r"^video_[0-9a-f]{48}$")
_CHARACTER_ID = re.compile(r"^char_[0-9a-f]{32}$")
_FILE_ID = re.compile(r"^file-[0-9A-Za-z]{24}$")
_ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_\-.:]{1,128}$")

AssetName = Literal["video", "thumbnail", "spritesheet"]
ASSET_FILES: dict[AssetName, str] = {
    "video": "video.mp4",
    "thumbnail": "thumbnail.webp",
    "spritesheet": "spritesheet.jpg",
}


def new_video_id() -> str:
    return VIDEO_PREFIX + secrets.token_hex(24)


def is_video_id(value: str) -> bool:
    return bool(_VIDEO_ID.match(value))


def new_request_id() -> str:
    return "req_" + secrets.token_hex(16)


def clean_request_id(value: str | None) -> str:
    """Echo a client's ``x-request-id`` only when it is short and plain; mint one otherwise."""
    if value and _REQUEST_ID.match(value):
        return value
    return new_request_id()


def new_seed() -> int:
    return secrets.randbelow(2**31)


def new_worker_id(host: str, pid: int) -> str:
    return f"{host}:{pid}:{secrets.token_hex(4)}"


def attempt_prefix(video_id: str, attempt: int) -> str:
    """Everything one attempt of a job uploaded: ``videos/{id}/{attempt}/``."""
    if not is_video_id(video_id) or attempt < 1:
        raise ValueError("an attempt's key needs a valid video id and attempt")
    return f"videos/{video_id}/{attempt}/"


def asset_key(video_id: str, attempt: int, asset: AssetName) -> str:
    """Storage key of one asset of one attempt: ``videos/{id}/{attempt}/{file}``."""
    return attempt_prefix(video_id, attempt) + ASSET_FILES[asset]


def video_prefix(video_id: str) -> str:
    if not is_video_id(video_id):
        raise ValueError("invalid video id")
    return f"videos/{video_id}/"


def inputs_prefix(video_id: str) -> str:
    if not is_video_id(video_id):
        raise ValueError("invalid video id")
    return f"inputs/{video_id}/"


def upload_key(video_id: str, name: Literal["input_reference", "source"]) -> str:
    """Storage key of an input the client uploaded for a video: its reference image (PNG) or
    the source clip of an edit or extension (re-encoded MP4)."""
    if not is_video_id(video_id):
        raise ValueError("invalid video id")
    suffix = "mp4" if name == "source" else "png"
    return f"inputs/{video_id}/{name}.{suffix}"


def new_character_id() -> str:
    return "char_" + secrets.token_hex(16)


def is_character_id(value: str) -> bool:
    return bool(_CHARACTER_ID.match(value))


def character_prefix(character_id: str) -> str:
    if not is_character_id(character_id):
        raise ValueError("invalid character id")
    return f"characters/{character_id}/"


def character_key(character_id: str) -> str:
    """Storage key of a character's clip (re-encoded MP4)."""
    if not is_character_id(character_id):
        raise ValueError("invalid character id")
    return f"characters/{character_id}/clip.mp4"


def new_file_id() -> str:
    return "file-" + "".join(secrets.choice(_ALPHANUMERIC) for _ in range(24))


def is_file_id(value: str) -> bool:
    return bool(_FILE_ID.match(value))


def file_prefix(file_id: str) -> str:
    """Everything stored for one uploaded file (delete by prefix, not by key: object-store
    listings match whole path segments)."""
    if not is_file_id(file_id):
        raise ValueError("invalid file id")
    return f"files/{file_id}/"


def file_key(file_id: str) -> str:
    """Storage key of an uploaded file's bytes (Files API)."""
    if not is_file_id(file_id):
        raise ValueError("invalid file id")
    return f"files/{file_id}/content"


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(16)


def new_webhook_id() -> str:
    return "whep_" + secrets.token_hex(12)


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 32 random bytes."""
    import base64

    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def new_api_key() -> str:
    return "vs-" + secrets.token_urlsafe(32)
