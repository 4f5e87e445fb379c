"""Shared helpers of the procedural engine: stable hashes and seeded generators, colour maths.

Every random choice goes through :func:`seeded_rng` or :func:`stable_unit` (blake2b of the given
strings), never Python's ``hash()``, so that output is the same in every process.
"""

from __future__ import annotations

import colorsys
import hashlib

import numpy as np
import numpy.typing as npt

RGB = tuple[int, int, int]
FloatArray = npt.NDArray[np.float64]


def digest(*parts: str) -> bytes:
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=32).digest()


def seeded_rng(*parts: str) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(int.from_bytes(digest(*parts)[:16], "big")))


def stable_unit(*parts: str) -> float:
    """A stable float in [0, 1) from the given strings."""
    return int.from_bytes(digest(*parts)[:8], "big") / 2.0**64


def clamp(v: float) -> int:
    return 0 if v < 0 else 255 if v > 255 else int(v + 0.5)


def mix(a: RGB, b: RGB, t: float) -> RGB:
    return (
        clamp(a[0] + (b[0] - a[0]) * t),
        clamp(a[1] + (b[1] - a[1]) * t),
        clamp(a[2] + (b[2] - a[2]) * t),
    )


def hue_shift(c: RGB, shift: float) -> RGB:
    h, s, v = colorsys.rgb_to_hsv(c[0] / 255, c[1] / 255, c[2] / 255)
    r, g, b = colorsys.hsv_to_rgb((h + shift) % 1.0, s, v)
    return (clamp(r * 255), clamp(g * 255), clamp(b * 255))


def hsv(h: float, s: float, v: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return (clamp(r * 255), clamp(g * 255), clamp(b * 255))
