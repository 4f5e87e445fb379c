"""The prompt's particle effects (rain, snow, stars, embers, bubbles): placed by the seed, moved
by time and the prompt's speed."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import ImageDraw

from vidserve.engine.procedural.common import FloatArray, clamp, seeded_rng


@dataclass(slots=True)
class Particles:
    kind: str
    x: FloatArray  # fractions of the frame
    y: FloatArray
    size: FloatArray  # pixels
    speed: FloatArray
    phase: FloatArray


def make_particles(kind: str, seed: int, width: int, height: int) -> Particles:
    rng = seeded_rng("particles", kind, str(seed))
    area = width * height / (1280 * 720)
    count = {"rain": 130, "snow": 110, "stars": 140, "embers": 80, "bubbles": 30}[kind]
    n = max(8, round(count * min(2.0, max(0.3, area))))
    scale = min(width, height) / 720
    sizes = {
        "rain": (14, 30),
        "snow": (2, 6),
        "stars": (1, 3),
        "embers": (2, 5),
        "bubbles": (5, 16),
    }[kind]
    return Particles(
        kind=kind,
        x=rng.uniform(0, 1, n),
        y=rng.uniform(0, 1, n),
        size=rng.uniform(sizes[0], sizes[1], n) * scale,
        speed=rng.uniform(0.6, 1.4, n),
        phase=rng.uniform(0, 2 * math.pi, n),
    )


def draw_particles(
    draw: ImageDraw.ImageDraw,
    p: Particles,
    t: float,
    cx: int,
    cy: int,
    alpha: int | None,
    width: int,
    height: int,
    speed: float,
) -> None:
    w, h = width, height
    v = speed
    kind = p.kind
    if kind == "rain":
        ys = (p.y + t * 1.6 * v * p.speed) % 1.0 * (h + 60) - 30
        xs = (p.x - ys / h * 0.08) % 1.0 * w
        dx = p.size * 0.2
        colour: tuple[int, ...] = (200, 215, 240)
        c = colour if alpha is None else (*colour, alpha * 3 // 4)
        lw = max(1, round(min(width, height) / 500))
        for x0, y0, ln, ddx in zip(
            xs.tolist(), ys.tolist(), p.size.tolist(), dx.tolist(), strict=True
        ):
            draw.line((x0, y0, x0 - ddx, y0 + ln), fill=c, width=lw)
    elif kind == "snow":
        ys = (p.y + t * 0.12 * v * p.speed) % 1.0 * (h + 20) - 10
        xs = (p.x + 0.02 * np.sin(t * 1.3 + p.phase)) % 1.0 * w - cx * 0.5
        c = (250, 250, 255) if alpha is None else (250, 250, 255, alpha)
        for x0, y0, s in zip(xs.tolist(), ys.tolist(), p.size.tolist(), strict=True):
            draw.ellipse((x0 - s, y0 - s, x0 + s, y0 + s), fill=c)
    elif kind == "stars":
        xs = (p.x * w - cx * 0.3) % w
        ys = (p.y * h - cy * 0.3) % h
        tw = np.sin(t * 3.0 * p.speed + p.phase)
        for x0, y0, s, k in zip(
            xs.tolist(), ys.tolist(), p.size.tolist(), tw.tolist(), strict=True
        ):
            level = 150 + int(105 * k) if k > 0 else 150
            col = (level, level, min(255, level + 30))
            c2 = col if alpha is None else (*col, alpha)
            s = s * (1.0 + 0.5 * max(0.0, k))
            draw.rectangle((x0 - s / 2, y0 - s / 2, x0 + s / 2, y0 + s / 2), fill=c2)
    elif kind == "embers":
        ys = (p.y - t * 0.15 * v * p.speed) % 1.0 * (h + 20) - 10
        xs = (p.x + 0.03 * np.sin(t * 2.0 + p.phase)) % 1.0 * w
        heat = (ys / h).tolist()
        for x0, y0, s, q in zip(xs.tolist(), ys.tolist(), p.size.tolist(), heat, strict=True):
            col = (255, clamp(90 + 140 * q), clamp(20 + 40 * q))
            c2 = col if alpha is None else (*col, alpha)
            draw.ellipse((x0 - s, y0 - s, x0 + s, y0 + s), fill=c2)
    elif kind == "bubbles":
        ys = (p.y - t * 0.1 * v * p.speed) % 1.0 * (h + 40) - 20
        xs = (p.x + 0.02 * np.sin(t * 1.7 + p.phase)) % 1.0 * w
        c = (220, 245, 255) if alpha is None else (220, 245, 255, alpha)
        for x0, y0, s in zip(xs.tolist(), ys.tolist(), p.size.tolist(), strict=True):
            draw.ellipse((x0 - s, y0 - s, x0 + s, y0 + s), outline=c, width=2)
