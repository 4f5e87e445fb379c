"""Decoding of client-given images (``input_reference``) with hard limits.

Contract:

- :func:`decode_image` accepts only PNG, JPEG and WebP, judged by the format Pillow detects
  from the bytes (never by a filename or a declared media type). It reads the header first and
  rejects an image of more than ``max_pixels`` pixels *before* decoding any pixel data; Pillow's
  own decompression-bomb guard is also turned into a clean error. EXIF orientation is applied,
  the result is converted to RGB (alpha is dropped, palette and grey images expanded) and
  returned as a C-contiguous ``H x W x 3`` uint8 array. Animated images yield their first frame.
- :func:`fit_image` centre-crops a frame to the target aspect ratio and resizes it (Lanczos).
- :func:`parse_data_url` decodes ``data:image/{png,jpeg,webp};base64,...`` URLs.

Every client error is a :class:`~vidserve.media.errors.MediaError` with ``subject="image"``:
code ``invalid_image`` for undecodable, wrong-format or oversized images, ``invalid_value`` for
malformed data URLs.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import threading
import warnings
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vidserve.media.errors import MediaError

if TYPE_CHECKING:
    from vidserve.domain import Frame

ALLOWED_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WebP"}
DATA_URL_TYPES = ("image/png", "image/jpeg", "image/jpg", "image/webp")

# RFC 2397: the scheme, the media type and ``base64`` are all case-insensitive
_DATA_URL = re.compile(
    r"^data:(?P<type>[^;,]*)(?P<params>(?:;[^;,]*)*),(?P<data>.*)$", re.DOTALL | re.IGNORECASE
)


def _invalid_image(message: str) -> MediaError:
    return MediaError(message, subject="image", code="invalid_image")


def _invalid_data_url(message: str) -> MediaError:
    return MediaError(message, subject="image", code="invalid_value")


# At most this many images are decoded at once in a process: a full decode costs up to
# ``max_pixels`` x 4 bytes, so the peak is bounded by design, not by how many clients send.
_DECODE_SLOTS = threading.BoundedSemaphore(2)
# Orientations (EXIF 0x0112) that swap width and height.
_SWAPPING_ORIENTATIONS = {5, 6, 7, 8}
_REDUCIBLE_MODES = {"L", "LA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "I", "F"}
_REDUCING_GAP = 2  # reduce by whole factors while the image stays at least 2x the target


def _oriented_size(image: Image.Image) -> tuple[int, int]:
    """The size after EXIF orientation, read from the header (no pixel is decoded)."""
    width, height = image.size
    try:
        orientation = image.getexif().get(0x0112)
    except (OSError, SyntaxError, ValueError, TypeError):
        orientation = None
    return (height, width) if orientation in _SWAPPING_ORIENTATIONS else (width, height)


def decode_image(
    data: bytes, *, max_pixels: int, fit: tuple[int, int] | None = None, resize: bool = True
) -> Frame:
    """Decode a PNG, JPEG or WebP image into an ``H x W x 3`` uint8 RGB array.

    With ``fit=(width, height)`` the result has exactly that size: an image of another size is
    refused from its header (``resize=False``, before any pixel is decoded) or centre-cropped and
    resized. Then a JPEG is decoded at a reduced scale (``draft``) and other formats are reduced
    by whole factors straight after decoding, so no full-size copy is made beyond the decode.
    """
    if not data:
        raise _invalid_image("The input_reference image is empty.")
    try:
        with warnings.catch_warnings():
            # Pillow warns (DecompressionBombWarning) between its limit and twice its limit;
            # our own max_pixels check below is the one that decides.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS)) as image:
                fmt = image.format or ""
                if fmt not in ALLOWED_FORMATS:  # pragma: no cover - formats= already filters
                    raise _invalid_image(_not_supported(fmt))
                width, height = image.size
                pixels = width * height
                if width <= 0 or height <= 0:
                    raise _invalid_image("The input_reference image has no pixels.")
                if pixels > max_pixels:
                    raise _invalid_image(
                        f"The input_reference image has {width} x {height} = {pixels} pixels, "
                        f"more than the limit of {max_pixels}."
                    )
                if fit is not None and not resize and _oriented_size(image) != fit:
                    raise MediaError(  # OpenAI's own text
                        "Inpaint image must match the requested width and height",
                        subject="image",
                        code="invalid_value",
                    )
                if getattr(image, "n_frames", 1) > 1:
                    image.seek(0)
                with _DECODE_SLOTS:
                    rgb = _decoded(image, fit)
    except MediaError:
        raise
    except Image.DecompressionBombError as exc:
        # Pillow's own guard fired while reading the header (a size far beyond its limit)
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{found[1]} pixels" if found else "too many pixels"
        limit = max_pixels
        if Image.MAX_IMAGE_PIXELS is not None:
            limit = min(limit, 2 * int(Image.MAX_IMAGE_PIXELS))
        raise _invalid_image(
            f"The input_reference image has {size}, more than the limit of {limit}."
        ) from None
    except UnidentifiedImageError:
        raise _invalid_image(_not_supported(_sniff(data))) from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        # truncated or corrupt data (Pillow raises OSError/SyntaxError/ValueError for those)
        raise _invalid_image(f"The input_reference image could not be decoded: {exc}") from None
    frame = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))
    return frame if fit is None else fit_image(frame, *fit)


def _decoded(image: Image.Image, fit: tuple[int, int] | None) -> Image.Image:
    """Pixels, oriented and RGB; reduced towards ``fit`` as early as the format allows."""
    if fit is not None and image.format == "JPEG":
        # libjpeg decodes at 1/2, 1/4 or 1/8 scale directly (never below the requested size)
        stored_w, stored_h = image.size
        factor = _reduce_factor(image, fit)
        if factor > 1:
            image.draft(image.mode, (-(-stored_w // factor), -(-stored_h // factor)))
    image.load()
    if fit is not None:
        factor = _reduce_factor(image, fit)
        if factor > 1:
            if image.mode not in _REDUCIBLE_MODES:
                image = _to_rgb(image)
            image = image.reduce(factor)
    return _to_rgb(ImageOps.exif_transpose(image))


def _reduce_factor(image: Image.Image, fit: tuple[int, int]) -> int:
    """The whole factor that keeps the image at least ``_REDUCING_GAP`` x what covers ``fit``."""
    oriented_w, oriented_h = _oriented_size(image)
    cover = max(fit[0] / oriented_w, fit[1] / oriented_h)
    return max(1, int(1 / (cover * _REDUCING_GAP)))


_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"8BPS", "PSD"),
    (b"%PDF", "PDF"),
    (b"<svg", "SVG"),
    (b"<?xml", "XML"),
)


def _sniff(data: bytes) -> str:
    """A best-effort name of the file's format, for the error message only."""
    head = data[:16]
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    if head[4:12] in (b"ftypavif", b"ftypavis"):
        return "AVIF"
    if head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1"):
        return "HEIF"
    if head[4:8] == b"ftyp":
        return "an MP4/QuickTime file"
    return ""


def _not_supported(fmt: str) -> str:
    found = f" (it looks like {fmt})" if fmt else ""
    return f"The input_reference file is not a PNG, JPEG or WebP image{found}."


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB, dropping any alpha channel (transparent pixels keep their stored colour)."""
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I;16") or image.mode == "I":
        # 16-bit greyscale PNG: keep the high byte
        grey = np.asarray(image).astype(np.int64) >> 8
        return Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8), "L").convert("RGB")
    if image.mode in ("RGBA", "LA", "PA", "P"):
        # via RGBA so that palette transparency is handled without a warning
        return image.convert("RGBA").convert("RGB")
    return image.convert("RGB")


def fit_image(frame: Frame, width: int, height: int) -> Frame:
    """Centre-crop ``frame`` to the aspect ratio of ``width x height``, then resize (Lanczos)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"cannot fit an image to {width}x{height}")
    h, w = int(frame.shape[0]), int(frame.shape[1])
    if (w, h) == (width, height):
        return np.ascontiguousarray(frame)
    target = width / height
    if w / h > target:  # too wide: crop the sides
        crop_w, crop_h = max(1, round(h * target)), h
    else:  # too tall: crop top and bottom
        crop_w, crop_h = w, max(1, round(w / target))
    left, top = (w - crop_w) // 2, (h - crop_h) // 2
    image = Image.fromarray(np.ascontiguousarray(frame), "RGB")
    resized = image.resize(
        (width, height), Image.Resampling.LANCZOS, box=(left, top, left + crop_w, top + crop_h)
    )
    return np.ascontiguousarray(np.asarray(resized, dtype=np.uint8))


def parse_data_url(url: str) -> bytes:
    """The bytes of a base64 ``data:image/png|jpeg|webp`` URL."""
    match = _DATA_URL.match(url.strip())
    if match is None:
        raise _invalid_data_url(
            "input_reference.image_url must be a data URL like data:image/png;base64,..."
        )
    media_type = match["type"].strip().lower()
    params = [p.strip().lower() for p in match["params"].split(";") if p.strip()]
    if media_type not in DATA_URL_TYPES:
        shown = media_type or "none"
        raise _invalid_data_url(
            f"Unsupported media type {shown!r} in the input_reference data URL; "
            "expected image/png, image/jpeg or image/webp."
        )
    if "base64" not in params:
        raise _invalid_data_url(
            "The input_reference data URL must be base64-encoded (data:<type>;base64,...)."
        )
    payload = re.sub(r"\s+", "", match["data"])
    try:
        decoded = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid_data_url(
            "The input_reference data URL does not hold valid base64 data."
        ) from None
    if not decoded:
        raise _invalid_data_url("The input_reference data URL is empty.")
    return decoded
