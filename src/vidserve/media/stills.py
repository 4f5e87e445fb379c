"""The still of a character's clip a reference-image model (Wan VACE) is given.

A character is a short clip of its subject; a reference image should show that subject large
and sharp. :func:`reference_still` scores every frame and crops the best one to its subject:

- **subject**: the pixels that stand out from the clip's background. The background is the
  per-pixel median over the clip's frames (a subject that moves leaves it); a pixel further
  than :data:`MIN_CONTRAST` (RGB distance, 0..255 scale) from it is the subject's. Where that
  finds under :data:`MIN_AREA` of a frame (a subject that keeps still), the background is the
  median colour of the frame's border instead (a ring 1/16 of the frame thick), and the
  threshold at least the border's own 95th-percentile spread. ``area`` is the share of such
  pixels; the subject's box spans their 2nd to 98th percentiles (stray pixels ignored).
- **sharpness**: the variance of the Laplacian of the frame's luma over the subject's pixels
  (the whole frame when no subject stands out): motion blur and defocus lower it.
- **score** ``= area * sharpness``; the best frame wins (the first on a tie), cropped to the
  subject's bounding box with a margin of 1/8 of its size (the whole frame when the subject
  covers under :data:`MIN_AREA` of it).

numpy only; frames are ``h x w x 3`` uint8 arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Frame = npt.NDArray[np.uint8]

MIN_CONTRAST = 24.0
MIN_AREA = 0.01


@dataclass(frozen=True, slots=True)
class Score:
    area: float  # share of the frame's pixels that are the subject
    sharpness: float  # Laplacian variance of the luma over the subject
    box: tuple[int, int, int, int] | None  # (top, left, bottom, right) of the subject

    @property
    def value(self) -> float:
        return self.area * self.sharpness


def _distance(frame: Frame, background: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    out: npt.NDArray[np.float32] = np.linalg.norm(frame.astype(np.float32) - background, axis=-1)
    return out


def _against_border(frame: Frame) -> npt.NDArray[np.bool_]:
    h, w = frame.shape[:2]
    ring = max(1, min(h, w) // 16)
    pixels = frame.astype(np.float32)
    border = np.concatenate([
        pixels[:ring].reshape(-1, 3), pixels[-ring:].reshape(-1, 3),
        pixels[:, :ring].reshape(-1, 3), pixels[:, -ring:].reshape(-1, 3),
    ])
    background = np.median(border, axis=0)
    spread = np.linalg.norm(border - background, axis=1)
    threshold = max(MIN_CONTRAST, float(np.percentile(spread, 95)))
    mask: npt.NDArray[np.bool_] = _distance(frame, background) > threshold
    return mask


def subject_mask(frame: Frame, background: npt.NDArray[np.float32] | None) -> (
        npt.NDArray[np.bool_]):
    """The pixels of ``frame`` that are its subject (see the module docstring)."""
    if background is not None:
        moving: npt.NDArray[np.bool_] = _distance(frame, background) > MIN_CONTRAST
        if moving.mean() >= MIN_AREA:
            return moving
    return _against_border(frame)


def _laplacian(luma: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    padded = np.pad(luma, 1, mode="edge")
    out: npt.NDArray[np.float32] = (
        padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]
        - 4.0 * luma
    )
    return out


def score(frame: Frame, background: npt.NDArray[np.float32] | None = None) -> Score:
    """How large and sharp the subject of ``frame`` is (``background``: the clip's median)."""
    mask = subject_mask(frame, background)
    luma = frame.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    lap = _laplacian(luma)
    area = float(mask.mean())
    if area < MIN_AREA:
        return Score(MIN_AREA, float(lap.var()), None)
    ys, xs = np.nonzero(mask)
    top, bottom = np.percentile(ys, [2, 98])
    left, right = np.percentile(xs, [2, 98])
    box = (int(top), int(left), int(bottom) + 1, int(right) + 1)
    return Score(area, float(lap[mask].var()), box)


def reference_still(frames: Sequence[Frame]) -> Frame:
    """The frame whose subject is largest and sharpest, cropped to the subject."""
    if not frames:
        raise ValueError("no frames")
    background = None
    if len(frames) >= 3:
        background = np.median(np.stack(frames).astype(np.float32), axis=0)
    scores = [score(f, background) for f in frames]
    best = max(range(len(frames)), key=lambda i: (scores[i].value, -i))
    frame, box = frames[best], scores[best].box
    if box is None:
        return frame
    top, left, bottom, right = box
    h, w = frame.shape[:2]
    dy, dx = (bottom - top) // 8, (right - left) // 8
    cropped: Frame = frame[max(0, top - dy): min(h, bottom + dy),
                           max(0, left - dx): min(w, right + dx)]
    return np.ascontiguousarray(cropped)
