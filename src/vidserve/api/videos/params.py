"""Request bodies of ``/v1/videos`` -> service commands.

Each ``parse_*`` validates the body dict of :mod:`vidserve.api.bodies` with its wire model
(:mod:`vidserve.api.videos.wire`, the texts of :mod:`vidserve.api.validation`) and returns the
command the service takes. Per-model rules (which sizes and seconds a model serves, whether it
takes a reference image or characters) are the service's.
"""

from __future__ import annotations

from typing import Any, cast

from vidserve import contract
from vidserve.api.bodies import FilePart
from vidserve.api.validation import validate
from vidserve.api.videos.wire import (
    EditVideoBody,
    ExtendVideoBody,
    RemixVideoBody,
    create_body,
)
from vidserve.media.images import parse_data_url
from vidserve.service.edits import EditVideo, ExtendVideo
from vidserve.service.videos import CreateVideo
from vidserve.settings import Settings


def parse_create(body: dict[str, Any], settings: Settings) -> CreateVideo:
    wire = validate(create_body(settings.extended_video_options), body)
    image: bytes | None = None
    url: str | None = None
    file_id: str | None = None
    reference = wire.input_reference
    if isinstance(reference, FilePart):
        image = reference.data
    elif reference is not None and reference.file_id is not None:
        file_id = reference.file_id
    elif reference is not None and reference.image_url is not None:
        if reference.image_url[:5].lower() == "data:":
            image = parse_data_url(reference.image_url)
        else:
            url = reference.image_url
    return CreateVideo(
        prompt=wire.prompt,
        model=wire.model,
        seconds=int(wire.seconds),
        size=wire.size,
        seed=wire.seed,
        reference_image=image,
        reference_url=url,
        reference_file_id=file_id,
        character_ids=tuple(c.id for c in wire.characters or ()),
    )


def parse_remix(body: dict[str, Any]) -> str:
    return validate(RemixVideoBody, body).prompt


def parse_edit(body: dict[str, Any]) -> EditVideo:
    wire = validate(EditVideoBody, body)
    return EditVideo(prompt=wire.prompt, video=wire.video, model=wire.model)


def parse_extend(body: dict[str, Any]) -> ExtendVideo:
    wire = validate(ExtendVideoBody, body)
    return ExtendVideo(
        prompt=wire.prompt, seconds=int(wire.seconds), video=wire.video, model=wire.model
    )


def parse_variant(variant: str | None) -> contract.Variant:
    """``?variant=`` of a content download: video (default), thumbnail or spritesheet."""
    value = variant if variant is not None else "video"
    if value not in contract.VARIANTS:
        raise contract.unsupported_value(value, contract.VARIANTS, "variant")
    return cast(contract.Variant, value)
