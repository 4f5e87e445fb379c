"""What the seed decides: the shapes and their paths, the background's layout, the camera."""

from __future__ import annotations

import math
from dataclasses import dataclass

from vidserve.engine.procedural.common import seeded_rng


@dataclass(frozen=True, slots=True)
class Shape:
    x: float  # start position, fraction of the frame
    y: float
    r: float  # radius, fraction of min(width, height)
    depth: float  # parallax factor, 0.35 (far) .. 1.3 (near); shapes are drawn far to near
    phase: float
    freq: float  # path frequency, cycles per 10 s
    amp_x: float  # path amplitude, fraction of the frame
    amp_y: float
    heading: float  # radians: direction for straight-line motions
    rot0: float
    colour_slot: int
    style_slot: int


@dataclass(frozen=True, slots=True)
class Structure:
    """What the seed decides: shapes and their paths, background layout, camera path."""

    shapes: tuple[Shape, ...]
    gradient_angle: float
    blobs: tuple[tuple[float, float, float, int], ...]  # x, y, radius (fractions), colour slot
    cam_freq: tuple[float, float]
    cam_phase: tuple[float, float]
    particle_seed: int


def make_structure(seed: int) -> Structure:
    rng = seeded_rng("structure", str(seed))
    n = int(rng.integers(6, 13))
    shapes = []
    for _ in range(n):
        depth = float(rng.uniform(0.35, 1.3))
        shapes.append(
            Shape(
                x=float(rng.uniform(0.08, 0.92)),
                y=float(rng.uniform(0.1, 0.78)),
                r=float(rng.uniform(0.035, 0.1)) * (0.6 + 0.5 * depth),
                depth=depth,
                phase=float(rng.uniform(0, 2 * math.pi)),
                freq=float(rng.uniform(0.6, 1.6)),
                amp_x=float(rng.uniform(0.04, 0.16)),
                amp_y=float(rng.uniform(0.03, 0.12)),
                heading=float(rng.uniform(-0.5, 0.5)) + (math.pi if rng.random() < 0.5 else 0.0),
                rot0=float(rng.uniform(0, 2 * math.pi)),
                colour_slot=int(rng.integers(0, 1 << 16)),
                style_slot=int(rng.integers(0, 1 << 16)),
            )
        )
    shapes.sort(key=lambda s: s.depth)
    blobs = tuple(
        (
            float(rng.uniform(0, 1)),
            float(rng.uniform(0, 1)),
            float(rng.uniform(0.15, 0.4)),
            int(rng.integers(0, 1 << 16)),
        )
        for _ in range(int(rng.integers(2, 5)))
    )
    return Structure(
        shapes=tuple(shapes),
        gradient_angle=float(rng.uniform(math.pi / 3, 2 * math.pi / 3)),
        blobs=blobs,
        cam_freq=(float(rng.uniform(0.05, 0.12)), float(rng.uniform(0.04, 0.1))),
        cam_phase=(float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(0, 2 * math.pi))),
        particle_seed=int(rng.integers(0, 1 << 62)),
    )


SEED_STYLES = ("circle", "circle", "circle", "square", "triangle", "ring", "diamond")
