"""An edit's colour grade: a source frame's luminance mapped through the prompt's palette."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from vidserve.engine.procedural.common import mix
from vidserve.engine.procedural.look import Look

if TYPE_CHECKING:
    from vidserve.domain import Frame

def grade_lut(look: Look) -> npt.NDArray[np.uint8]:
    """256 RGB colours: the luminance of a source pixel mapped through the prompt's palette."""
    dark = mix(look.bg_top, (0, 0, 0), 0.45)
    mid = look.accents[0]
    light = mix(look.accents[1 % len(look.accents)], (255, 255, 255), 0.55)
    lut = np.zeros((256, 3), dtype=np.uint8)
    for v in range(256):
        u = v / 255
        lut[v] = mix(dark, mid, u * 2) if u < 0.5 else mix(mid, light, (u - 0.5) * 2)
    return lut


EDIT_STRENGTH = 150  # of 256: how much of the graded colour replaces the source's


def grade(frame: Frame, lut: npt.NDArray[np.uint8]) -> Frame:
    src = frame.astype(np.uint16)
    luma = (src[..., 0] * 77 + src[..., 1] * 150 + src[..., 2] * 29) >> 8
    graded = lut[luma].astype(np.uint16)
    out = (src * (256 - EDIT_STRENGTH) + graded * EDIT_STRENGTH) >> 8
    result: Frame = out.astype(np.uint8)
    return result
