"""Characters composited into a scene."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from vidserve.domain import CharacterClip


class CastMember:
    """One character in the scene: its clip, looped, inside a soft oval, swaying gently."""

    def __init__(self, clip: CharacterClip, slot: int, count: int, width: int, height: int):
        self.frames = clip.frames
        first = clip.frames[0]
        h0, w0 = int(first.shape[0]), int(first.shape[1])
        box_h = height * (0.42 if height > width else 0.5)
        box_w = width * (0.42 if count == 1 else 0.36)
        scale = min(box_h / h0, box_w / w0)
        self.w, self.h = max(2, round(w0 * scale)), max(2, round(h0 * scale))
        self.cx = width * ((0.5,) if count == 1 else (0.3, 0.7))[slot]
        self.cy = height * 0.5
        self.phase = 1.7 * slot
        self.amp = min(width, height) * 0.02
        mask = Image.new("L", (self.w, self.h), 0)
        inset_x, inset_y = self.w * 0.06, self.h * 0.04
        ImageDraw.Draw(mask).ellipse(
            (inset_x, inset_y, self.w - inset_x, self.h - inset_y), fill=255
        )
        self.mask = mask.filter(ImageFilter.GaussianBlur(max(1.0, min(self.w, self.h) * 0.06)))

    def paste(self, frame: Image.Image, index: int, t: float, speed: float) -> None:
        source = self.frames[index % len(self.frames)]
        image = Image.fromarray(np.ascontiguousarray(source), "RGB").resize(
            (self.w, self.h), Image.Resampling.BILINEAR
        )
        x = self.cx + self.amp * math.sin(0.9 * speed * t + self.phase) - self.w / 2
        y = self.cy + 0.6 * self.amp * math.sin(1.7 * speed * t + self.phase) - self.h / 2
        frame.paste(image, (round(x), round(y)), self.mask)
