"""OpenAI's Videos API vocabulary, written once.

Every value the contract fixes (``openai-videos-openapi.yaml`` and ``API-NOTES.md``) is declared
here and only here: sizes per model, seconds, model names and the default model, the prompt
maximum and the other limits, file purposes and expiry bounds, variants, list bounds, and the
texts of the validation errors. The API's wire models (and so the server's OpenAPI document)
take their ``Literal`` types from here, the service checks model capabilities against these
tuples, and the registry and the engines read their defaults from here: adding a size is one
edit, in this file.

Pure Python: no FastAPI, no pydantic, no torch.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

from vidserve.errors import InvalidType, InvalidValue, MissingParameter, UnknownParameter

# -- sizes and seconds -------------------------------------------------------------------------

VideoSize = Literal["720x1280", "1280x720", "1024x1792", "1792x1024"]
ExtendedSize = Literal["1920x1080", "1080x1920"]
"""1080p: only with ``VIDSERVE_EXTENDED_VIDEO_OPTIONS`` and only on the pro models."""
VideoSeconds = Literal["4", "8", "12"]
ExtendedSeconds = Literal["16", "20"]
"""Longer clips: only with ``VIDSERVE_EXTENDED_VIDEO_OPTIONS``."""
ExtensionSeconds = Literal["4", "8", "12", "16", "20"]
"""The length of the new segment of an extension (``POST /v1/videos/extensions``)."""

SIZES: Final[tuple[str, ...]] = get_args(VideoSize)
EXTENDED_SIZES: Final[tuple[str, ...]] = get_args(ExtendedSize)
SORA2_SIZES: Final[tuple[str, ...]] = ("720x1280", "1280x720")
"""What the ``sora-2*`` names allow; the ``sora-2-pro*`` names allow every size of SIZES."""
PRO_ONLY_SIZES: Final[tuple[str, ...]] = tuple(s for s in SIZES if s not in SORA2_SIZES)
SECONDS: Final[tuple[str, ...]] = get_args(VideoSeconds)
EXTENDED_SECONDS: Final[tuple[str, ...]] = get_args(ExtendedSeconds)
EXTENSION_SECONDS: Final[tuple[str, ...]] = get_args(ExtensionSeconds)
DEFAULT_SIZE: Final = "720x1280"
DEFAULT_SECONDS: Final = "4"

# -- models --------------------------------------------------------------------------------

DEFAULT_MODEL: Final = "sora-2"
SORA2_NAMES: Final = ("sora-2", "sora-2-2025-10-06", "sora-2-2025-12-08")
SORA2_PRO_NAMES: Final = ("sora-2-pro", "sora-2-pro-2025-10-06")


def sizes_for_model(name: str, sizes: tuple[str, ...]) -> tuple[str, ...]:
    """OpenAI's size rule by name: ``sora-2*`` (not pro) names serve only SORA2_SIZES."""
    if name.startswith("sora-2") and not name.startswith("sora-2-pro"):
        return tuple(s for s in sizes if s in SORA2_SIZES)
    return sizes


# -- limits --------------------------------------------------------------------------------

MAX_PROMPT: Final = 32000
MAX_CHARACTERS: Final = 2
MAX_CHARACTER_NAME: Final = 80
MAX_IMAGE_URL: Final = 20_971_520
SEED_MAX: Final = 2**32 - 1
"""``seed`` (a vidserve extension) is an integer from 0 to SEED_MAX."""
VIDEO_LIST_LIMIT: Final = (0, 100, 20)
"""``GET /v1/videos?limit=``: (lowest, highest, default)."""
FILE_LIST_LIMIT: Final = (1, 10_000, 10_000)
"""``GET /v1/files?limit=``: (lowest, highest, default)."""
MAX_IDEMPOTENCY_KEY: Final = 255

Variant = Literal["video", "thumbnail", "spritesheet"]
VARIANTS: Final[tuple[str, ...]] = get_args(Variant)
Order = Literal["asc", "desc"]

# -- the Files API -------------------------------------------------------------------------

FilePurpose = Literal["assistants", "batch", "fine-tune", "vision", "user_data", "evals"]
PURPOSES: Final[tuple[str, ...]] = get_args(FilePurpose)
MIN_FILE_EXPIRY: Final = 3600
MAX_FILE_EXPIRY: Final = 2_592_000  # 30 days
BATCH_FILE_EXPIRY: Final = 2_592_000
"""``purpose=batch`` files expire after 30 days unless told otherwise."""

# -- error texts (the live service's, see API-NOTES.md) ------------------------------------


def quote_list(values: tuple[str, ...] | list[str]) -> str:
    """``'a' and 'b'`` / ``'a', 'b', and 'c'``: how the service lists supported values."""
    quoted = [f"'{v}'" for v in values]
    if len(quoted) <= 2:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + ", and " + quoted[-1]


def shown(value: str) -> str:
    """A client's string as it may appear in an error message: short and printable."""
    text = value[:64].encode("ascii", "replace").decode()
    return text + ("..." if len(value) > 64 else "")


def unknown_parameter(name: str) -> UnknownParameter:
    name = name[:100]
    return UnknownParameter(f"Unknown parameter: '{name}'.", param=name)


def missing_parameter(name: str, param: str | None = None) -> MissingParameter:
    return MissingParameter(f"Missing required parameter: '{name}'.", param=param or name)


def invalid_type(name: str, expected: str, got: str, param: str | None = None) -> InvalidType:
    """``got``: a description such as ``an integer`` (see ``vidserve.api.validation``)."""
    return InvalidType(
        f"Invalid type for '{name}': expected {expected}, but got {got} instead.",
        param=param or name,
    )


def unsupported_value(value: object, supported: tuple[str, ...], param: str) -> InvalidValue:
    return InvalidValue(
        f"Invalid value: '{str(value)[:40]}'. Supported values are: {quote_list(supported)}.",
        param=param,
    )


def choices(values: tuple[str, ...]) -> str:
    """``one of '4', '8', or '12'``: the expected side of an invalid_type for a Literal."""
    quoted = [f"'{v}'" for v in values]
    if len(quoted) == 1:
        return quoted[0]
    return "one of " + ", ".join(quoted[:-1]) + f", or {quoted[-1]}"


def string_too_short(name: str, param: str | None = None) -> InvalidValue:
    return InvalidValue(
        f"Invalid '{name}': string too short. Expected a string with minimum length 1, but "
        "got an empty string instead.",
        param=param or name,
        code="string_below_min_length",
    )


def string_too_long(
    name: str, max_length: int, length: int, param: str | None = None
) -> InvalidValue:
    return InvalidValue(
        f"Invalid '{name}': string too long. Expected a string with maximum length "
        f"{max_length}, but got a string with length {length} instead.",
        param=param or name,
        code="string_above_max_length",
    )


def array_too_long(name: str, max_length: int, length: int) -> InvalidValue:
    return InvalidValue(
        f"Invalid '{name}': array too long. Expected an array with maximum length "
        f"{max_length}, but got an array with length {length} instead.",
        param=name,
        code="array_above_max_length",
    )


def integer_out_of_range(name: str, low: int, high: int, value: int) -> InvalidValue:
    return InvalidValue(
        f"Invalid '{name}': expected an integer from {low} to {high}, but got {value} instead.",
        param=name,
        code="integer_out_of_range",
    )
