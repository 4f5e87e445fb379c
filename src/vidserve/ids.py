"""The only place ids and storage keys are minted and parsed.

Video ids are ``video_`` + 48 lowercase hex digits, as the hosted service mints them.
Nothing outside this module joins a client-given string into a storage key: keys are built
from ids that :func:`parse_video_id` has validated.
"""

from __future__ import annotations

import re
import secrets
from typing import Literal

VIDEO_PREFIX = "video_"
_VIDEO_ID = re.compile(r"^video_[0-9a-f]{48}$")
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


def asset_key(video_id: str, attempt: int, asset: AssetName) -> str:
    """Storage key of one asset of one attempt: ``videos/{id}/{attempt}/{file}``."""
    if not is_video_id(video_id) or attempt < 1:
        raise ValueError("asset_key needs a valid video id and attempt")
    return f"videos/{video_id}/{attempt}/{ASSET_FILES[asset]}"


def video_prefix(video_id: str) -> str:
    if not is_video_id(video_id):
        raise ValueError("invalid video id")
    return f"videos/{video_id}/"


def inputs_prefix(video_id: str) -> str:
    if not is_video_id(video_id):
        raise ValueError("invalid video id")
    return f"inputs/{video_id}/"


def upload_key(video_id: str, name: Literal["input_reference"]) -> str:
    """Storage key of an input the client uploaded for a video (e.g. its reference image)."""
    if not is_video_id(video_id):
        raise ValueError("invalid video id")
    return f"inputs/{video_id}/{name}.png"


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
