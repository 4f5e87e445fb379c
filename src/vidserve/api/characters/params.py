"""The create body of ``/v1/videos/characters`` -> ``(name, clip bytes)``."""

from __future__ import annotations

from typing import Any

from vidserve.api.characters.wire import CreateCharacterBody
from vidserve.api.validation import validate


def parse_character(body: dict[str, Any]) -> tuple[str, bytes]:
    wire = validate(CreateCharacterBody, body)
    return wire.name, wire.video.data
