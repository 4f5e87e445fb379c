"""Validation of request parameters, with the live service's error texts.

Each ``parse_*`` takes the nested dict of :mod:`vidserve.api.bodies` and returns a service
command, or raises the exact 400 OpenAI's service gave for the same input (see API-NOTES.md):
unknown fields are ``unknown_parameter``, an integer ``seconds`` is ``invalid_type``, ``'10'``
is ``invalid_value``, and so on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

from vidserve.api.bodies import FilePart
from vidserve.errors import (
    InvalidRequest,
    InvalidType,
    InvalidValue,
    MissingParameter,
    UnknownParameter,
)
from vidserve.service.videos import CreateVideo, Variant, _quote_list
from vidserve.settings import Settings

SIZES = ("720x1280", "1280x720", "1024x1792", "1792x1024")
EXTENDED_SIZES = ("1920x1080", "1080x1920")  # settings.extended_video_options (pro models)
BASE_SECONDS = ("4", "8", "12")
EXTENDED_SECONDS = ("16", "20")  # settings.extended_video_options
MAX_CHARACTERS = 2
MAX_PROMPT = 32000
MAX_IMAGE_URL = 20_971_520
VARIANTS = ("video", "thumbnail", "spritesheet")


def type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, FilePart):
        return "a file"
    return "an object"


def _reject_unknown(body: dict[str, Any], known: tuple[str, ...], prefix: str = "") -> None:
    for key in body:
        if key not in known:
            name = f"{prefix}{key}"[:100]
            raise UnknownParameter(f"Unknown parameter: '{name}'.", param=name)


def required_string(body: dict[str, Any], name: str, max_length: int) -> str:
    """A required string of 1..max_length characters, with the live service's error texts."""
    if name not in body:
        raise MissingParameter(f"Missing required parameter: '{name}'.", param=name)
    value = body[name]
    if not isinstance(value, str):
        raise InvalidType(
            f"Invalid type for '{name}': expected a string, but got {type_name(value)} instead.",
            param=name,
        )
    if not value:
        raise InvalidValue(
            f"Invalid '{name}': string too short. Expected a string with minimum length 1, but "
            "got an empty string instead.",
            param=name,
            code="string_below_min_length",
        )
    if len(value) > max_length:
        raise InvalidValue(
            f"Invalid '{name}': string too long. Expected a string with maximum length "
            f"{max_length}, but got a string with length {len(value)} instead.",
            param=name,
            code="string_above_max_length",
        )
    return value


def _prompt(body: dict[str, Any]) -> str:
    return required_string(body, "prompt", MAX_PROMPT)


def _string(body: dict[str, Any], name: str, default: str) -> str:
    value = body.get(name, default)
    if not isinstance(value, str):
        raise InvalidType(
            f"Invalid type for '{name}': expected a string, but got {type_name(value)} instead.",
            param=name,
        )
    return value


def allowed_seconds(settings: Settings) -> tuple[str, ...]:
    if settings.extended_video_options:
        return BASE_SECONDS + EXTENDED_SECONDS
    return BASE_SECONDS


def _seconds(body: dict[str, Any], allowed: tuple[str, ...], default: str | None) -> int:
    if "seconds" not in body:
        if default is None:
            raise MissingParameter("Missing required parameter: 'seconds'.", param="seconds")
        return int(default)
    value = body["seconds"]
    if not isinstance(value, str):
        choices = ", ".join(f"'{s}'" for s in allowed[:-1]) + f", or '{allowed[-1]}'"
        raise InvalidType(
            f"Invalid type for 'seconds': expected one of {choices}, but got "
            f"{type_name(value)} instead.",
            param="seconds",
        )
    if value not in allowed:
        raise InvalidValue(
            f"Invalid value: '{value[:40]}'. Supported values are: {_quote_list(list(allowed))}.",
            param="seconds",
        )
    return int(value)


def _size(body: dict[str, Any], settings: Settings) -> str:
    value = _string(body, "size", "720x1280")
    sizes = SIZES + EXTENDED_SIZES if settings.extended_video_options else SIZES
    if value not in sizes:
        raise InvalidValue(
            f"Invalid value: '{value[:40]}'. Supported values are: {_quote_list(list(sizes))}.",
            param="size",
        )
    return value


def _seed(body: dict[str, Any]) -> int | None:
    """``seed``: a vidserve extension (an integer, or its decimal string in multipart)."""
    if "seed" not in body:
        return None
    value = body["seed"]
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidType(
            f"Invalid type for 'seed': expected an integer, but got {type_name(value)} instead.",
            param="seed",
        )
    if not 0 <= value < 2**32:
        raise InvalidValue(
            f"Invalid 'seed': expected an integer from 0 to {2**32 - 1}.", param="seed"
        )
    return value


@dataclass(frozen=True, slots=True)
class FileId:
    """``input_reference: {"file_id": ...}``: a file of the Files API."""

    id: str


def _input_reference(value: object) -> bytes | str | FileId:
    """The reference image: its bytes (upload, data: URL), an http(s) URL to fetch, or a
    file of the Files API."""
    from vidserve.media.images import parse_data_url

    if isinstance(value, FilePart):
        if not value.data:
            raise InvalidValue("Invalid 'input_reference': the file is empty.",
                               param="input_reference")
        return value.data
    if not isinstance(value, dict):
        raise InvalidType(
            "Invalid type for 'input_reference': expected a file upload or an object with "
            f"'image_url' or 'file_id', but got {type_name(value)} instead.",
            param="input_reference",
        )
    _reject_unknown(value, ("image_url", "file_id"), "input_reference.")
    given = [k for k in ("image_url", "file_id") if value.get(k) is not None]
    if len(given) != 1:
        raise InvalidRequest(
            "Invalid 'input_reference': provide exactly one of 'image_url' or 'file_id'.",
            param="input_reference",
            code="invalid_value",
        )
    if given == ["file_id"]:
        file_id = value["file_id"]
        if not isinstance(file_id, str):
            raise InvalidType(
                "Invalid type for 'input_reference.file_id': expected a string, but got "
                f"{type_name(file_id)} instead.",
                param="input_reference",
            )
        return FileId(file_id)
    url = value["image_url"]
    if not isinstance(url, str):
        raise InvalidType(
            "Invalid type for 'input_reference.image_url': expected a string, but got "
            f"{type_name(url)} instead.",
            param="input_reference",
        )
    if len(url) > MAX_IMAGE_URL:
        raise InvalidValue(
            f"Invalid 'input_reference.image_url': string too long. Expected a string with "
            f"maximum length {MAX_IMAGE_URL}, but got a string with length {len(url)} instead.",
            param="input_reference",
            code="string_above_max_length",
        )
    if url[:5].lower() == "data:":
        return parse_data_url(url)
    if url[:8].lower() == "https://" or url[:7].lower() == "http://":
        return url
    raise InvalidValue(
        "Invalid 'input_reference.image_url': expected an https URL or a "
        "data:image/...;base64 URL.",
        param="input_reference",
    )


def _characters(value: object) -> tuple[str, ...]:
    """``characters: [{"id": "char_..."}]`` (JSON) or ``characters[][id]`` (multipart)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidType(
            "Invalid type for 'characters': expected an array of objects, but got "
            f"{type_name(value)} instead.",
            param="characters",
        )
    if len(value) > MAX_CHARACTERS:
        raise InvalidValue(
            "Invalid 'characters': array too long. Expected an array with maximum length "
            f"{MAX_CHARACTERS}, but got an array with length {len(value)} instead.",
            param="characters",
            code="array_above_max_length",
        )
    found: list[str] = []
    for index, item in enumerate(value):
        name = f"characters[{index}]"
        if not isinstance(item, dict):
            raise InvalidType(
                f"Invalid type for '{name}': expected an object, but got {type_name(item)} "
                "instead.",
                param="characters",
            )
        _reject_unknown(item, ("id",), f"{name}.")
        if "id" not in item:
            raise MissingParameter(
                f"Missing required parameter: '{name}.id'.", param="characters"
            )
        if not isinstance(item["id"], str):
            raise InvalidType(
                f"Invalid type for '{name}.id': expected a string, but got "
                f"{type_name(item['id'])} instead.",
                param="characters",
            )
        found.append(item["id"])
    return tuple(found)


def parse_create(body: dict[str, Any], settings: Settings) -> CreateVideo:
    _reject_unknown(
        body, ("prompt", "model", "seconds", "size", "input_reference", "seed", "characters")
    )
    prompt = _prompt(body)
    model = _string(body, "model", "sora-2")
    seconds = _seconds(body, allowed_seconds(settings), default="4")
    size = _size(body, settings)
    seed = _seed(body)
    image: bytes | None = None
    url: str | None = None
    file_id: str | None = None
    if body.get("input_reference") is not None:
        reference = _input_reference(body["input_reference"])
        if isinstance(reference, str):
            url = reference
        elif isinstance(reference, FileId):
            file_id = reference.id
        else:
            image = reference
    return CreateVideo(
        prompt=prompt, model=model, seconds=seconds, size=size, seed=seed,
        reference_image=image, reference_url=url, reference_file_id=file_id,
        character_ids=_characters(body.get("characters")),
    )


def parse_remix(body: dict[str, Any]) -> str:
    _reject_unknown(body, ("prompt",))
    return _prompt(body)


def reject_unknown_query(names: object, allowed: tuple[str, ...]) -> None:
    """Unknown query parameters are refused like unknown body fields (``unknown_parameter``)."""
    for name in names:  # type: ignore[attr-defined]
        if name not in allowed:
            shown = str(name)[:100]
            raise UnknownParameter(f"Unknown parameter: '{shown}'.", param=shown)


def parse_list_query(
    limit: str | None,
    order: str | None,
    after: str | None,
    *,
    default: int = 20,
    low: int = 0,
    high: int = 100,
) -> tuple[int, Literal["asc", "desc"], str | None]:
    """``limit`` (``low..high``, default ``default``), ``order`` and ``after`` of a list call."""
    n = default
    if limit is not None:
        try:
            if not limit.isascii():
                raise ValueError(limit)
            n = int(limit)
        except ValueError:
            raise InvalidType(
                f"Invalid type for 'limit': expected an integer, but got '{limit[:40]}' instead.",
                param="limit",
            ) from None
        if not low <= n <= high:
            raise InvalidValue(
                f"Invalid 'limit': expected an integer from {low} to {high}, but got {n} instead.",
                param="limit",
                code="integer_out_of_range",
            )
    direction = order if order is not None else "desc"
    if direction not in ("asc", "desc"):
        raise InvalidValue(
            f"Invalid value: '{direction[:40]}'. Supported values are: 'asc' and 'desc'.",
            param="order",
        )
    return n, cast(Literal["asc", "desc"], direction), after or None


def parse_variant(variant: str | None) -> Variant:
    value = variant if variant is not None else "video"
    if value not in VARIANTS:
        raise InvalidValue(
            f"Invalid value: '{value[:40]}'. Supported values are: "
            f"{_quote_list(list(VARIANTS))}.",
            param="variant",
        )
    return cast(Variant, value)
