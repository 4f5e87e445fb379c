"""The built-in ``procedural`` engine: a deterministic motion-graphics renderer.

This is **not** a neural video model and makes no claim to understand the prompt. It renders
an animated 2-D scene (a gradient "world" seen through a moving camera, parallax shapes with
shadows and highlights, particle effects, a caption of the prompt) with Pillow and numpy on
the CPU, fast enough that encoding, not rendering, dominates a job. It serves the embedded
default deployment, demos and the API tests.

Contract (see :class:`vidserve.engine.base.VideoBackend`):

- ``generate`` returns a lazy generator of exactly ``request.num_frames`` frames, each a
  C-contiguous ``height x width x 3`` uint8 array.
- Frames are rendered in steps of :data:`FRAMES_PER_STEP` frames
  (``total = ceil(num_frames / FRAMES_PER_STEP)``). Before each step ``should_stop()`` is
  called and :class:`GenerationCancelled` raised if it returns True; then the backend sleeps
  ``step_delay`` seconds (if set), renders the step, calls ``on_step(done, total)`` and yields
  the step's frames.
- Output is a pure function of ``(prompt, seed, width, height, seconds, fps,
  reference_image)``: the same inputs give byte-identical frames (stable hashes from
  :mod:`hashlib` seed numpy Generators; Python's ``hash()`` is never used).
- The **seed** sets the structure: number, sizes, styles, start positions and paths of the
  shapes, the background's layout and the camera path. The **prompt** sets the look: colour
  words and scene words (``red``, ``gold``, ``sunset``, ``ocean``, ``night`` ...) pick the
  palette, motion words (``fast``, ``slow``, ``spin``, ``fly``, ``wave``, ``bounce``,
  ``zoom``, ``rise`` ...) the motion and its speed, effect words (``rain``, ``snow``,
  ``stars``, ``fire``, ``bubbles``) add particles, shape words (``circles``, ``squares``,
  ``triangles`` ...) override the shape styles, and every other word still shifts hue and
  tempo through a hash. The prompt is drawn as a wrapped caption on a translucent band at the
  bottom. A remix (same seed, new prompt) therefore keeps the composition - frame 0 has the
  same shapes at the same places - and changes colours, motion and caption.
- ``reference_image`` (``height x width x 3`` uint8), when given, is frame 0 exactly; the
  clip then slowly zooms into it while the prompt-driven shapes and caption fade in over it.
- ``continue_from`` (an extension: the source's last frame) is treated as that reference,
  one frame *later*: the first frame is the one that follows it, so the seam differs from
  its neighbours no more than any two neighbouring frames do. The caption band is opaque
  here so that the source's own caption does not show through the new one.
- ``source_video`` (an edit) is decoded frame by frame and transformed, keeping its size,
  length and motion: a colour grade towards the prompt's palette (the luminance mapped
  through a gradient of its colours, blended with the source), the prompt's particle effects
  and its caption on top. Deterministic in ``(prompt, seed, source)``.
- ``characters`` are composited into the scene (after the shapes, before the caption): each
  character's clip loops inside a soft oval, gently swaying, one in the middle or two at
  the thirds.
"""

from __future__ import annotations

import colorsys
import hashlib
import math
import re
import time
from collections.abc import Generator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from vidserve.domain import (
    Capabilities,
    CharacterClip,
    Clip,
    GenerationRequest,
    StepCallback,
    StopCheck,
)
from vidserve.engine.base import GenerationCancelled, GenerationFailed

if TYPE_CHECKING:
    from vidserve.domain import Frame

FRAMES_PER_STEP = 12
DEFAULT_SIZES = ("720x1280", "1280x720", "1024x1792", "1792x1024")

RGB = tuple[int, int, int]
FloatArray = npt.NDArray[np.float64]

# --------------------------------------------------------------------------- vocabulary

_COLOURS: dict[str, RGB] = {
    "red": (222, 45, 38),
    "crimson": (190, 20, 50),
    "scarlet": (235, 40, 30),
    "ruby": (200, 20, 70),
    "green": (46, 180, 80),
    "emerald": (20, 160, 110),
    "lime": (160, 230, 50),
    "olive": (128, 128, 40),
    "mint": (150, 240, 190),
    "blue": (40, 100, 230),
    "navy": (20, 35, 110),
    "azure": (60, 150, 255),
    "cyan": (40, 220, 230),
    "teal": (20, 140, 140),
    "turquoise": (60, 220, 200),
    "orange": (250, 140, 30),
    "amber": (255, 180, 40),
    "coral": (255, 120, 100),
    "peach": (255, 190, 150),
    "purple": (140, 60, 200),
    "violet": (160, 90, 240),
    "indigo": (75, 40, 160),
    "lavender": (190, 170, 240),
    "magenta": (230, 40, 180),
    "pink": (255, 120, 180),
    "rose": (240, 90, 130),
    "gold": (240, 190, 50),
    "golden": (240, 190, 50),
    "yellow": (250, 225, 50),
    "lemon": (250, 240, 90),
    "white": (245, 245, 245),
    "black": (20, 20, 24),
    "grey": (128, 128, 132),
    "gray": (128, 128, 132),
    "silver": (200, 205, 215),
    "brown": (130, 80, 40),
    "chocolate": (100, 55, 30),
    "coffee": (110, 75, 50),
    "beige": (225, 210, 175),
    "cream": (250, 240, 210),
}

# scene word -> (background top, background bottom, accents)
_SCENES: dict[str, tuple[RGB, RGB, tuple[RGB, ...]]] = {
    "sunset": ((60, 30, 90), (250, 120, 60), ((255, 200, 80), (240, 80, 90), (120, 40, 120))),
    "sunrise": ((80, 120, 200), (255, 170, 110), ((255, 220, 120), (255, 140, 120))),
    "dawn": ((70, 90, 160), (250, 180, 150), ((255, 230, 170), (200, 150, 210))),
    "dusk": ((30, 30, 80), (170, 80, 120), ((250, 160, 90), (110, 70, 160))),
    "night": ((5, 8, 30), (25, 35, 80), ((240, 240, 200), (90, 120, 220), (160, 170, 255))),
    "midnight": ((2, 4, 18), (15, 20, 60), ((200, 210, 255), (80, 90, 200))),
    "space": ((2, 2, 10), (20, 10, 50), ((255, 255, 255), (150, 90, 255), (80, 200, 255))),
    "galaxy": ((10, 5, 30), (60, 20, 90), ((255, 180, 255), (120, 160, 255), (255, 255, 255))),
    "cosmos": ((5, 5, 20), (40, 20, 70), ((255, 230, 150), (150, 120, 255))),
    "aurora": ((5, 15, 40), (20, 90, 90), ((80, 255, 170), (120, 120, 255), (200, 255, 120))),
    "ocean": ((20, 90, 160), (5, 30, 70), ((60, 200, 220), (240, 250, 255), (20, 140, 180))),
    "sea": ((30, 110, 170), (10, 40, 90), ((80, 210, 230), (230, 245, 255))),
    "underwater": ((10, 90, 120), (0, 25, 50), ((90, 230, 220), (200, 255, 250))),
    "beach": ((120, 200, 240), (240, 215, 160), ((40, 160, 210), (255, 230, 150))),
    "lake": ((110, 170, 210), (30, 80, 110), ((200, 230, 250), (60, 130, 90))),
    "river": ((100, 170, 200), (40, 90, 80), ((180, 230, 240), (80, 150, 90))),
    "forest": ((20, 60, 30), (70, 110, 50), ((40, 150, 60), (180, 220, 90), (110, 80, 40))),
    "jungle": ((10, 60, 25), (50, 120, 40), ((30, 200, 80), (255, 200, 40), (200, 60, 40))),
    "garden": ((120, 190, 110), (50, 110, 50), ((255, 120, 170), (255, 220, 80), (170, 90, 220))),
    "meadow": ((150, 210, 240), (90, 160, 60), ((250, 230, 90), (240, 120, 160))),
    "spring": ((170, 220, 170), (90, 170, 90), ((255, 170, 200), (255, 240, 150))),
    "summer": ((90, 190, 250), (250, 210, 110), ((255, 120, 60), (40, 170, 110))),
    "autumn": ((120, 60, 30), (220, 140, 50), ((200, 60, 30), (250, 180, 40), (120, 70, 30))),
    "fall": ((120, 60, 30), (220, 140, 50), ((200, 60, 30), (250, 180, 40))),
    "winter": ((170, 200, 230), (235, 240, 250), ((255, 255, 255), (120, 160, 210))),
    "snow": ((180, 200, 225), (240, 245, 252), ((255, 255, 255), (150, 180, 220))),
    "ice": ((140, 200, 230), (225, 245, 255), ((190, 240, 255), (90, 160, 220))),
    "arctic": ((150, 190, 220), (240, 248, 255), ((200, 240, 255), (255, 255, 255))),
    "fire": ((60, 10, 5), (230, 90, 20), ((255, 200, 50), (255, 110, 20), (200, 30, 20))),
    "flame": ((70, 15, 5), (240, 110, 30), ((255, 220, 80), (255, 80, 20))),
    "lava": ((40, 5, 5), (200, 40, 10), ((255, 150, 20), (255, 60, 10), (40, 20, 20))),
    "volcano": ((40, 20, 20), (180, 50, 20), ((255, 140, 20), (80, 60, 60))),
    "desert": ((240, 190, 120), (200, 130, 70), ((250, 220, 150), (170, 90, 50), (90, 170, 220))),
    "sand": ((240, 215, 160), (200, 160, 100), ((250, 230, 180), (160, 120, 70))),
    "city": ((30, 40, 60), (90, 100, 120), ((255, 210, 90), (90, 200, 255), (220, 220, 230))),
    "neon": ((15, 5, 30), (40, 10, 70), ((255, 40, 200), (40, 240, 255), (180, 255, 40))),
    "cyberpunk": ((10, 5, 30), (60, 10, 80), ((255, 0, 170), (0, 240, 255), (255, 230, 0))),
    "synthwave": ((30, 10, 60), (240, 70, 150), ((255, 200, 60), (60, 220, 255))),
    "vaporwave": ((250, 150, 210), (120, 200, 250), ((255, 255, 160), (180, 120, 255))),
    "retro": ((240, 200, 150), (200, 90, 70), ((40, 130, 140), (250, 180, 60))),
    "storm": ((30, 35, 45), (80, 90, 105), ((200, 210, 230), (110, 130, 160))),
    "stormy": ((30, 35, 45), (80, 90, 105), ((200, 210, 230), (110, 130, 160))),
    "sky": ((70, 140, 230), (190, 225, 250), ((255, 255, 255), (255, 230, 120))),
    "cloud": ((150, 180, 220), (230, 235, 245), ((255, 255, 255), (190, 200, 220))),
    "clouds": ((150, 180, 220), (230, 235, 245), ((255, 255, 255), (190, 200, 220))),
    "mountain": ((110, 150, 200), (200, 210, 220), ((90, 100, 120), (240, 245, 250))),
    "mountains": ((110, 150, 200), (200, 210, 220), ((90, 100, 120), (240, 245, 250))),
    "cave": ((15, 12, 10), (60, 50, 40), ((200, 150, 80), (120, 100, 80))),
    "candy": ((255, 200, 230), (200, 230, 255), ((255, 90, 160), (120, 220, 255), (255, 240, 120))),
    "pastel": (
        (250, 220, 235),
        (215, 235, 250),
        ((255, 180, 200), (180, 220, 255), (200, 250, 200)),
    ),
    "rainbow": (
        (80, 60, 160),
        (60, 160, 220),
        (
            (230, 40, 40),
            (250, 150, 30),
            (250, 230, 50),
            (50, 190, 80),
            (50, 110, 230),
            (150, 60, 200),
        ),
    ),
}


def _vocabulary(groups: dict[str, str]) -> dict[str, str]:
    """``{"meaning": "word word ..."}`` -> ``{"word": "meaning"}``."""
    return {word: meaning for meaning, words in groups.items() for word in words.split()}


_SPEED_WORDS = _vocabulary(
    {
        "fast": "fast quick quickly rapid rapidly racing speed speeding hyper frantic energetic"
        " wild chaotic",
        "slow": "slow slowly gentle gently calm lazy peaceful serene quiet dreamy soft relaxing"
        " tranquil meditative",
    }
)
_SPEEDS = {"fast": 2.0, "slow": 0.45}

_MOTIONS = _vocabulary(
    {
        "spin": "spin spinning spins rotate rotating swirl swirling vortex whirl twirl tornado"
        " orbit orbiting spiral",
        "fly": "fly flying flies soar soaring bird birds plane glide gliding race run running car"
        " cars train rocket wind windy",
        "wave": "wave waves waving ripple ripples flow flowing sway swaying ocean sea water"
        " underwater swim swimming",
        "bounce": "bounce bouncing bounces jump jumping hop hopping ball balls dance dancing"
        " juggle juggling",
        "zoom": "zoom zooming approach approaching tunnel warp hyperspace dive diving explore",
        "drift": "drift drifting float floating wander wandering hover hovering cloud clouds dream",
        "rise": "rise rising ascend ascending bubble bubbles balloon balloons lift lantern"
        " lanterns launch",
        "fall": "falling fall falls drop dropping leaves rain raining snow snowing snowfall"
        " descend descending",
        "pulse": "pulse pulsing heartbeat beat beating throb breathe breathing glow glowing music"
        " disco party",
        "burst": "explode explosion burst bursting firework fireworks bang blast scatter"
        " scattering",
    }
)
_DEFAULT_MOTIONS = ("drift", "wave", "spin", "fly", "pulse")

_EFFECTS = _vocabulary(
    {
        "rain": "rain raining rainy storm stormy drizzle downpour thunderstorm monsoon",
        "snow": "snow snowing snowy snowfall blizzard winter flakes snowflakes snowflake frost",
        "stars": "star stars starry night space galaxy cosmos universe midnight nebula twinkle"
        " twinkling sparkle sparkling glitter",
        "embers": "fire flame flames ember embers spark sparks campfire volcano lava firework"
        " fireworks burning",
        "bubbles": "bubble bubbles underwater fizz fizzy soda champagne aquarium foam",
    }
)

_SHAPES = _vocabulary(
    {
        "circle": "circle circles ball balls sphere spheres orb orbs planet planets sun moon dot"
        " dots balloon balloons",
        "square": "square squares box boxes cube cubes block blocks building buildings tile tiles",
        "triangle": "triangle triangles pyramid pyramids mountain mountains tree trees arrow"
        " arrows shard shards",
        "ring": "ring rings donut donuts halo halos hoop hoops portal portals",
        "diamond": "diamond diamonds gem gems crystal crystals kite kites jewel jewels",
    }
)
_SEED_STYLES = ("circle", "circle", "circle", "square", "triangle", "ring", "diamond")

_WORD = re.compile(r"\w+")  # any script: unknown words of every language count


# --------------------------------------------------------------------------- helpers


def _digest(*parts: str) -> bytes:
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=32).digest()


def _rng(*parts: str) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(int.from_bytes(_digest(*parts)[:16], "big")))


def _unit(*parts: str) -> float:
    """A stable float in [0, 1) from the given strings."""
    return int.from_bytes(_digest(*parts)[:8], "big") / 2.0**64


def _clamp(v: float) -> int:
    return 0 if v < 0 else 255 if v > 255 else int(v + 0.5)


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return (
        _clamp(a[0] + (b[0] - a[0]) * t),
        _clamp(a[1] + (b[1] - a[1]) * t),
        _clamp(a[2] + (b[2] - a[2]) * t),
    )


def _hue_shift(c: RGB, shift: float) -> RGB:
    h, s, v = colorsys.rgb_to_hsv(c[0] / 255, c[1] / 255, c[2] / 255)
    r, g, b = colorsys.hsv_to_rgb((h + shift) % 1.0, s, v)
    return (_clamp(r * 255), _clamp(g * 255), _clamp(b * 255))


def _hsv(h: float, s: float, v: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return (_clamp(r * 255), _clamp(g * 255), _clamp(b * 255))


# --------------------------------------------------------------------------- the look


@dataclass(frozen=True, slots=True)
class Look:
    """What the prompt decides: palette, motion, speed, particle effects, shape styles."""

    bg_top: RGB
    bg_bottom: RGB
    accents: tuple[RGB, ...]
    motion: str
    speed: float
    effects: tuple[str, ...]
    styles: tuple[str, ...]  # empty: the seed picks each shape's style


def analyse_prompt(prompt: str) -> Look:
    """Map the prompt's words to a :class:`Look`; unknown words still count through a hash."""
    words = _WORD.findall(prompt.lower())
    known = set(_COLOURS) | set(_SCENES) | set(_SPEED_WORDS) | set(_MOTIONS) | set(_EFFECTS)
    known |= set(_SHAPES)
    others = " ".join(w for w in words if w not in known)
    jitter = _unit("prompt-other", others) if others else 0.5  # 0.5: no shift

    colours = [_COLOURS[w] for w in words if w in _COLOURS]
    scenes = [_SCENES[w] for w in words if w in _SCENES]
    if scenes:
        bg_top, bg_bottom, scene_accents = scenes[0]
        accents = list(colours) + list(scene_accents)
        for extra in scenes[1:]:
            accents.extend(extra[2])
    elif colours:
        base = colours[0]
        h, s, v = colorsys.rgb_to_hsv(base[0] / 255, base[1] / 255, base[2] / 255)
        bg_top = _hsv(h + 0.04, min(1.0, s * 0.8 + 0.1), 0.18 + 0.25 * v)
        bg_bottom = _hsv(h - 0.06, min(1.0, s * 0.6 + 0.1), 0.35 + 0.35 * v)
        accents = list(colours)
    else:
        h = _unit("prompt-hue", prompt)
        bg_top = _hsv(h, 0.55, 0.22)
        bg_bottom = _hsv(h + 0.09, 0.45, 0.62)
        accents = [_hsv(h + 0.5, 0.75, 0.95), _hsv(h + 0.12, 0.6, 1.0), _hsv(h - 0.2, 0.7, 0.85)]
    # unknown words nudge the hue a little (+-0.035 turn) when the palette is named
    shift = (jitter - 0.5) * 0.07 if (scenes or colours) else 0.0
    unique: list[RGB] = []
    for c in accents:
        c = _hue_shift(c, shift) if shift else c
        if c not in unique:
            unique.append(c)
    while len(unique) < 3:  # vary the first accent for small palettes
        first = unique[0]
        unique.append(_mix(_hue_shift(first, 0.08 * len(unique)), (255, 255, 255), 0.3))
    if shift:
        bg_top, bg_bottom = _hue_shift(bg_top, shift), _hue_shift(bg_bottom, shift)

    motions = [_MOTIONS[w] for w in words if w in _MOTIONS]
    motion = motions[0] if motions else _DEFAULT_MOTIONS[int(jitter * len(_DEFAULT_MOTIONS))]
    speed = 1.0
    for w in words:
        if w in _SPEED_WORDS:
            speed = _SPEEDS[_SPEED_WORDS[w]]
            break
    speed *= 0.85 + 0.3 * jitter
    effects: list[str] = []
    for w in words:
        e = _EFFECTS.get(w)
        if e is not None and e not in effects and len(effects) < 2:
            effects.append(e)
    styles: list[str] = []
    for w in words:
        st = _SHAPES.get(w)
        if st is not None and st not in styles:
            styles.append(st)
    return Look(bg_top, bg_bottom, tuple(unique[:6]), motion, speed, tuple(effects), tuple(styles))


# --------------------------------------------------------------------------- the structure


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
    rng = _rng("structure", str(seed))
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


# --------------------------------------------------------------------------- rendering


def _world_background(width: int, height: int, look: Look, structure: Structure) -> Image.Image:
    """Gradient plus soft colour blobs and a vignette, computed small and upscaled once."""
    lw, lh = max(8, width // 8), max(8, height // 8)
    ys, xs = np.mgrid[0:lh, 0:lw].astype(np.float64)
    xs /= max(lw - 1, 1)
    ys /= max(lh - 1, 1)
    a = structure.gradient_angle
    t = xs * math.cos(a) * (width / height) * 0.3 + ys * math.sin(a)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-9)
    top = np.array(look.bg_top, dtype=np.float64)
    bottom = np.array(look.bg_bottom, dtype=np.float64)
    img: FloatArray = top * (1 - t[..., None]) + bottom * t[..., None]
    aspect = width / height
    for bx, by, br, slot in structure.blobs:
        colour = np.array(look.accents[slot % len(look.accents)], dtype=np.float64)
        d2 = ((xs - bx) * aspect) ** 2 + (ys - by) ** 2
        w = 0.32 * np.exp(-d2 / (2 * (br * 0.6) ** 2))
        img = img * (1 - w[..., None]) + colour * w[..., None]
    vignette = 1.0 - 0.28 * (((xs - 0.5) * 2) ** 2 + ((ys - 0.5) * 2) ** 2) / 2
    img *= vignette[..., None]
    small = Image.fromarray(np.clip(img + 0.5, 0, 255).astype(np.uint8), "RGB")
    return small.resize((width, height), Image.Resampling.BICUBIC)


def _wrap(
    text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, max_width: float, max_lines: int
) -> list[str]:
    words = text.split(" ")
    lines: list[str] = []
    current = ""
    i = 0
    while i < len(words) and len(lines) < max_lines:
        word = words[i]
        candidate = f"{current} {word}" if current else word
        if font.getlength(candidate) <= max_width:
            current = candidate
            i += 1
            continue
        if not current:  # one word wider than the line: cut it
            cut = len(word)
            while cut > 1 and font.getlength(word[:cut]) > max_width:
                cut -= 1
            lines.append(word[:cut])
            words[i] = word[cut:]
            continue
        lines.append(current)
        current = ""
    if current and len(lines) < max_lines:
        lines.append(current)
        current = ""
    if i < len(words) or current:  # truncated: end the last line with an ellipsis
        last = lines[-1] if lines else ""
        while last and font.getlength(last + "...") > max_width:
            last = last[:-1]
        lines[-1:] = [last.rstrip() + "..."]
    return lines


def _caption_layer(
    prompt: str, width: int, height: int, band_alpha: int = 120
) -> tuple[Image.Image, int] | None:
    """The prompt on a translucent band, as an RGBA image and its top y; None if no text."""
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in prompt[:600]).split())
    if not text:
        return None
    short = min(width, height)
    size = max(10, round(short * 0.04))
    font = ImageFont.load_default(size=size)
    margin = round(short * 0.04)
    max_lines = 3 if height > width else 2
    lines = _wrap(text, font, width - 2 * margin, max_lines)
    line_h = round(size * 1.3)
    pad = round(size * 0.6)
    band_h = min(height, len(lines) * line_h + 2 * pad)
    band = Image.new("RGBA", (width, band_h), (0, 0, 0, band_alpha))
    draw = ImageDraw.Draw(band)
    shadow = max(1, size // 14)
    for k, line in enumerate(lines):
        y = pad + k * line_h
        draw.text((margin + shadow, y + shadow), line, font=font, fill=(0, 0, 0, 200))
        draw.text((margin, y), line, font=font, fill=(255, 255, 255, 255))
    return band, height - band_h


def _faded(layer: Image.Image, alpha: float) -> Image.Image:
    r, g, b, a = layer.split()
    a = a.point(lambda v: round(v * alpha))
    return Image.merge("RGBA", (r, g, b, a))


@dataclass(slots=True)
class _Particles:
    kind: str
    x: FloatArray  # fractions of the frame
    y: FloatArray
    size: FloatArray  # pixels
    speed: FloatArray
    phase: FloatArray


class _Scene:
    """Everything precomputed for one request; ``render(i)`` draws frame ``i``."""

    def __init__(self, request: GenerationRequest) -> None:
        self.width = request.width
        self.height = request.height
        self.fps = request.fps
        self.look = analyse_prompt(request.prompt)
        self.structure = make_structure(request.seed)
        self.short = min(self.width, self.height)
        self.reference: Image.Image | None = None
        first = request.continue_from
        if first is None:
            first = request.reference_image
        if first is not None:
            ref = np.ascontiguousarray(first, dtype=np.uint8)
            image = Image.fromarray(ref, "RGB")
            if image.size != (self.width, self.height):
                image = image.resize((self.width, self.height), Image.Resampling.LANCZOS)
            self.reference = image
            self.world = image
            self.margin_x = self.margin_y = 0
        else:
            self.margin_x = round(self.width * 0.08)
            self.margin_y = round(self.height * 0.08)
            self.world = _world_background(
                self.width + 2 * self.margin_x,
                self.height + 2 * self.margin_y,
                self.look,
                self.structure,
            )
        self._zoom_cache: tuple[int, Image.Image] | None = None
        # over a source clip (extension, edit) the band hides the source's own caption
        over_source = request.continue_from is not None or request.source_video is not None
        caption = _caption_layer(
            request.prompt, self.width, self.height, band_alpha=225 if over_source else 120
        )
        self.caption: Image.Image | None = None
        self.caption_y = 0
        self.caption_fades: list[Image.Image] = []
        if caption is not None:
            self.caption, self.caption_y = caption
            if self.reference is not None:
                self.caption_fades = [_faded(self.caption, k / 8) for k in range(1, 8)]
        self.colours = self._shape_colours()
        self.particles = [self._make_particles(kind) for kind in self.look.effects]
        # how strongly the overlay shows over a reference image (never fully opaque)
        self.overlay_max = 0.7
        self.cast = [
            _CastMember(clip, k, len(request.characters), self.width, self.height)
            for k, clip in enumerate(request.characters[:2])
        ]

    # ----------------------------------------------------------------- precomputation

    def _shape_colours(self) -> list[tuple[RGB, RGB, RGB]]:
        """Per shape: fill, shadow and highlight colour (far shapes fade into the haze)."""
        look = self.look
        haze = _mix(look.bg_top, look.bg_bottom, 0.5)
        out = []
        for s in self.structure.shapes:
            base = look.accents[s.colour_slot % len(look.accents)]
            fill = _mix(base, haze, max(0.0, 0.55 - 0.5 * s.depth))
            shadow = _mix(fill, (0, 0, 0), 0.55)
            light = _mix(fill, (255, 255, 255), 0.45)
            out.append((fill, shadow, light))
        return out

    def _make_particles(self, kind: str) -> _Particles:
        rng = _rng("particles", kind, str(self.structure.particle_seed))
        area = self.width * self.height / (1280 * 720)
        count = {"rain": 130, "snow": 110, "stars": 140, "embers": 80, "bubbles": 30}[kind]
        n = max(8, round(count * min(2.0, max(0.3, area))))
        scale = self.short / 720
        sizes = {
            "rain": (14, 30),
            "snow": (2, 6),
            "stars": (1, 3),
            "embers": (2, 5),
            "bubbles": (5, 16),
        }[kind]
        return _Particles(
            kind=kind,
            x=rng.uniform(0, 1, n),
            y=rng.uniform(0, 1, n),
            size=rng.uniform(sizes[0], sizes[1], n) * scale,
            speed=rng.uniform(0.6, 1.4, n),
            phase=rng.uniform(0, 2 * math.pi, n),
        )

    # ----------------------------------------------------------------- per frame

    def _camera(self, t: float) -> tuple[int, int]:
        """Camera offset in pixels: a slow seed-defined Lissajous path inside the margins."""
        s = self.structure
        speed = 0.6 + 0.4 * self.look.speed
        cx = self.margin_x * math.sin(2 * math.pi * s.cam_freq[0] * speed * t + s.cam_phase[0])
        cy = self.margin_y * math.sin(2 * math.pi * s.cam_freq[1] * speed * t + s.cam_phase[1])
        return round(cx), round(cy)

    def _background(self, index: int, t: float) -> tuple[Image.Image, int, int]:
        if self.reference is None:
            cx, cy = self._camera(t)
            left, top = self.margin_x + cx, self.margin_y + cy
            return self.world.crop((left, top, left + self.width, top + self.height)), cx, cy
        if index == 0:
            return self.reference.copy(), 0, 0
        # slow zoom into the reference; resampled every third frame (sub-pixel in between)
        key = ((index + 2) // 3) * 3
        if self._zoom_cache is None or self._zoom_cache[0] != key:
            zoom = 1.0 + 0.005 * self.look.speed * key / self.fps
            zoom = min(zoom, 1.35)
            w, h = self.width / zoom, self.height / zoom
            x0, y0 = (self.width - w) / 2, (self.height - h) / 2
            img = self.reference.resize(
                (self.width, self.height), Image.Resampling.BILINEAR, box=(x0, y0, x0 + w, y0 + h)
            )
            self._zoom_cache = (key, img)
        return self._zoom_cache[1].copy(), 0, 0

    def _shape_state(self, s: Shape, t: float) -> tuple[float, float, float, float]:
        """Centre (px), radius (px) and rotation of shape ``s`` at time ``t`` (seconds)."""
        motion = self.look.motion
        v = self.look.speed
        w, h, short = self.width, self.height, self.short
        omega = 2 * math.pi * s.freq / 10.0 * v
        x, y, r = s.x * w, s.y * h, s.r * short
        rot = s.rot0 + 0.15 * omega * t
        if motion == "drift":
            x += s.amp_x * w * (math.sin(omega * t + s.phase) - math.sin(s.phase))
            y += s.amp_y * h * (math.sin(0.7 * omega * t + 2 * s.phase) - math.sin(2 * s.phase))
        elif motion == "wave":
            k = s.x * 2 * math.pi
            y += s.amp_y * 1.5 * h * (math.sin(2 * omega * t + k) - math.sin(k))
            x += 0.04 * w * v * t * (1 if s.heading < math.pi / 2 else -1)
        elif motion == "spin":
            cx, cy = w / 2, h / 2
            ang = omega * t * (0.6 + 0.4 * s.depth)
            dx, dy = x - cx, y - cy
            x = cx + dx * math.cos(ang) - dy * math.sin(ang)
            y = cy + dx * math.sin(ang) + dy * math.cos(ang)
            rot = s.rot0 + 3.0 * omega * t
        elif motion == "fly":
            dist = 0.12 * w * v * t * (0.5 + s.depth)
            x += dist * math.cos(s.heading)
            y += dist * math.sin(s.heading) * 0.4
            y += s.amp_y * 0.3 * h * (math.sin(2 * omega * t + s.phase) - math.sin(s.phase))
        elif motion == "bounce":
            floor = 0.82 * h
            drop = max(0.0, floor - y)
            y = floor - drop * abs(math.cos(1.6 * omega * t + 0.0))
            x += s.amp_x * 0.5 * w * (math.sin(0.5 * omega * t + s.phase) - math.sin(s.phase))
        elif motion == "zoom":
            # each shape flies towards the camera and starts again, out of step with the others
            u = (t * v * 0.1 * (0.5 + s.depth)) % 1.0
            z = math.exp(0.95 * u)
            x = w / 2 + (x - w / 2) * z
            y = h / 2 + (y - h / 2) * z
            r *= z
        elif motion == "rise":
            y -= 0.07 * h * v * t * (0.5 + s.depth)
            x += s.amp_x * 0.4 * w * (math.sin(omega * t + s.phase) - math.sin(s.phase))
        elif motion == "fall":
            y += 0.07 * h * v * t * (0.5 + s.depth)
            x += s.amp_x * 0.4 * w * (math.sin(omega * t + s.phase) - math.sin(s.phase))
            rot = s.rot0 + omega * t
        elif motion == "pulse":
            r *= 1.0 + 0.35 * (math.sin(2.5 * omega * t + s.phase) - math.sin(s.phase)) / 2
            x += s.amp_x * 0.3 * w * (math.sin(omega * t + s.phase) - math.sin(s.phase))
        elif motion == "burst":
            dx, dy = x - w / 2, y - h / 2
            norm = math.hypot(dx, dy) or 1.0
            u = (t * v / 3.0) % 1.0  # a burst every 3 s (at speed 1)
            dist = 0.28 * short * (0.5 + s.depth) * (1.0 - (1.0 - u) ** 2)
            x += dx / norm * dist
            y += dy / norm * dist
        if motion in ("fly", "wave", "rise", "fall"):  # wrap around, with room to leave fully
            span_x, span_y = w + 4 * r, h + 4 * r
            x = (x + 2 * r) % span_x - 2 * r
            y = (y + 2 * r) % span_y - 2 * r
        return x, y, r, rot

    def _style(self, s: Shape) -> str:
        styles = self.look.styles or _SEED_STYLES
        return styles[s.style_slot % len(styles)]

    def _draw_shape(
        self,
        draw: ImageDraw.ImageDraw,
        style: str,
        x: float,
        y: float,
        r: float,
        rot: float,
        colours: tuple[RGB, RGB, RGB],
        alpha: int | None,
    ) -> None:
        fill, shadow, light = colours

        def c(rgb: RGB) -> RGB | tuple[int, int, int, int]:
            return rgb if alpha is None else (*rgb, alpha)

        off = r * 0.12
        if style == "circle":
            draw.ellipse((x - r + off, y - r + off, x + r + off, y + r + off), fill=c(shadow))
            draw.ellipse((x - r, y - r, x + r, y + r), fill=c(fill))
            hr = r * 0.35
            hx, hy = x - r * 0.35, y - r * 0.35
            draw.ellipse((hx - hr, hy - hr, hx + hr, hy + hr), fill=c(light))
        elif style == "ring":
            width = max(2, round(r * 0.28))
            box = (x - r, y - r, x + r, y + r)
            sbox = (box[0] + off, box[1] + off, box[2] + off, box[3] + off)
            draw.ellipse(sbox, outline=c(shadow), width=width)
            draw.ellipse(box, outline=c(fill), width=width)
            draw.arc(box, 200, 250, fill=c(light), width=max(1, width // 2))
        else:
            sides = {"square": 4, "triangle": 3, "diamond": 4}[style]
            turn = math.pi / 4 if style == "square" else 0.0
            stretch = 1.35 if style == "diamond" else 1.0
            pts = []
            for k in range(sides):
                a = rot + turn + 2 * math.pi * k / sides
                pts.append((x + r * math.cos(a), y + r * math.sin(a) * stretch))
            draw.polygon([(px + off, py + off) for px, py in pts], fill=c(shadow))
            draw.polygon(pts, fill=c(fill))
            # the rim as a closed line: polygon(width > 1) builds a mask and is slower
            draw.line([*pts, pts[0]], fill=c(light), width=max(1, round(r * 0.06)), joint="curve")

    def _draw_particles(
        self,
        draw: ImageDraw.ImageDraw,
        p: _Particles,
        t: float,
        cx: int,
        cy: int,
        alpha: int | None,
    ) -> None:
        w, h = self.width, self.height
        v = self.look.speed
        kind = p.kind
        if kind == "rain":
            ys = (p.y + t * 1.6 * v * p.speed) % 1.0 * (h + 60) - 30
            xs = (p.x - ys / h * 0.08) % 1.0 * w
            dx = p.size * 0.2
            colour: tuple[int, ...] = (200, 215, 240)
            c = colour if alpha is None else (*colour, alpha * 3 // 4)
            lw = max(1, round(self.short / 500))
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
                col = (255, _clamp(90 + 140 * q), _clamp(20 + 40 * q))
                c2 = col if alpha is None else (*col, alpha)
                draw.ellipse((x0 - s, y0 - s, x0 + s, y0 + s), fill=c2)
        elif kind == "bubbles":
            ys = (p.y - t * 0.1 * v * p.speed) % 1.0 * (h + 40) - 20
            xs = (p.x + 0.02 * np.sin(t * 1.7 + p.phase)) % 1.0 * w
            c = (220, 245, 255) if alpha is None else (220, 245, 255, alpha)
            for x0, y0, s in zip(xs.tolist(), ys.tolist(), p.size.tolist(), strict=True):
                draw.ellipse((x0 - s, y0 - s, x0 + s, y0 + s), outline=c, width=2)

    def render(self, index: int) -> Frame:
        if self.reference is not None and index == 0:
            return np.array(self.reference, dtype=np.uint8)
        t = index / self.fps
        frame, cx, cy = self._background(index, t)
        alpha: int | None = None
        caption = self.caption
        if self.reference is not None:  # fade the overlay in over the first 1.5 s
            fade = min(1.0, t / 1.5)
            alpha = round(255 * self.overlay_max * fade)
            if caption is not None and self.caption_fades and fade < 1.0:
                caption = self.caption_fades[min(len(self.caption_fades) - 1, int(fade * 8))]
        draw = ImageDraw.Draw(frame, "RGBA") if alpha is not None else ImageDraw.Draw(frame)
        for shape, colours in zip(self.structure.shapes, self.colours, strict=True):
            x, y, r, rot = self._shape_state(shape, t)
            x -= cx * shape.depth
            y -= cy * shape.depth
            if x + 2 * r < 0 or x - 2 * r > self.width or y + 2 * r < 0 or y - 2 * r > self.height:
                continue
            self._draw_shape(draw, self._style(shape), x, y, r, rot, colours, alpha)
        for particles in self.particles:
            self._draw_particles(draw, particles, t, cx, cy, alpha)
        for member in self.cast:
            member.paste(frame, index, t, self.look.speed)
        if caption is not None:
            frame.paste(caption, (0, self.caption_y), caption)
        return np.array(frame, dtype=np.uint8)

    def decorate(self, frame: Image.Image, index: int) -> Frame:
        """An edit's overlay on a (graded) source frame: particles, characters, caption."""
        t = index / self.fps
        if self.particles:
            draw = ImageDraw.Draw(frame)
            for particles in self.particles:
                self._draw_particles(draw, particles, t, 0, 0, None)
        for member in self.cast:
            member.paste(frame, index, t, self.look.speed)
        if self.caption is not None:
            frame.paste(self.caption, (0, self.caption_y), self.caption)
        return np.array(frame, dtype=np.uint8)


class _CastMember:
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


def _grade_lut(look: Look) -> npt.NDArray[np.uint8]:
    """256 RGB colours: the luminance of a source pixel mapped through the prompt's palette."""
    dark = _mix(look.bg_top, (0, 0, 0), 0.45)
    mid = look.accents[0]
    light = _mix(look.accents[1 % len(look.accents)], (255, 255, 255), 0.55)
    lut = np.zeros((256, 3), dtype=np.uint8)
    for v in range(256):
        u = v / 255
        lut[v] = _mix(dark, mid, u * 2) if u < 0.5 else _mix(mid, light, (u - 0.5) * 2)
    return lut


EDIT_STRENGTH = 150  # of 256: how much of the graded colour replaces the source's


def _grade(frame: Frame, lut: npt.NDArray[np.uint8]) -> Frame:
    src = frame.astype(np.uint16)
    luma = (src[..., 0] * 77 + src[..., 1] * 150 + src[..., 2] * 29) >> 8
    graded = lut[luma].astype(np.uint16)
    out = (src * (256 - EDIT_STRENGTH) + graded * EDIT_STRENGTH) >> 8
    result: Frame = out.astype(np.uint8)
    return result


# --------------------------------------------------------------------------- the backend


class ProceduralBackend:
    """Deterministic CPU motion-graphics renderer; see the module docstring."""

    name = "procedural"

    def __init__(
        self,
        sizes: tuple[str, ...] = DEFAULT_SIZES,
        step_delay: float = 0.0,
    ) -> None:
        if step_delay < 0:
            raise ValueError("step_delay must be >= 0")
        self.sizes = tuple(sizes)
        self.step_delay = float(step_delay)

    def capabilities(self) -> Capabilities:
        return Capabilities(
            sizes=self.sizes,
            image_reference=True,
            remix=True,
            edit=True,
            extend=True,
            characters=True,
            extra={"engine": "procedural", "kind": "motion graphics (not a neural model)"},
        )

    def generate(
        self, request: GenerationRequest, on_step: StepCallback, should_stop: StopCheck
    ) -> Clip:
        if request.width <= 0 or request.height <= 0 or request.fps <= 0:
            raise GenerationFailed(
                "invalid_request", f"cannot render {request.width}x{request.height}"
            )
        ref = request.reference_image
        if ref is not None and (
            getattr(ref, "ndim", 0) != 3 or ref.shape[2] != 3 or ref.dtype != np.uint8
        ):
            raise GenerationFailed(
                "invalid_reference", "the reference image must be an H x W x 3 uint8 array"
            )
        if request.source_video is not None:
            return Clip(self._edit_frames(request, on_step, should_stop))
        return Clip(self._frames(request, on_step, should_stop))

    def _edit_frames(
        self, request: GenerationRequest, on_step: StepCallback, should_stop: StopCheck
    ) -> Generator[Frame, None, None]:
        from vidserve.media.errors import MediaError
        from vidserve.media.probe import iter_frames

        assert request.source_video is not None
        num = request.num_frames
        total = -(-num // FRAMES_PER_STEP)
        blank = np.zeros((request.height, request.width, 3), dtype=np.uint8)
        scene = _Scene(replace(request, reference_image=blank, continue_from=None))
        lut = _grade_lut(scene.look)
        source = iter_frames(
            request.source_video, width=request.width, height=request.height,
            fps=request.fps, count=num,
        )
        index = 0
        try:
            for step in range(total):
                if should_stop():
                    raise GenerationCancelled(f"stopped before step {step + 1} of {total}")
                if self.step_delay:
                    time.sleep(self.step_delay)
                chunk = []
                for _ in range(min(FRAMES_PER_STEP, num - index)):
                    graded = Image.fromarray(_grade(next(source), lut), "RGB")
                    chunk.append(scene.decorate(graded, index))
                    index += 1
                on_step(step + 1, total)
                yield from chunk
        except MediaError as exc:
            raise GenerationFailed("source_unavailable", exc.message) from None
        finally:
            source.close()

    def _frames(
        self, request: GenerationRequest, on_step: StepCallback, should_stop: StopCheck
    ) -> Generator[Frame, None, None]:
        num = request.num_frames
        total = -(-num // FRAMES_PER_STEP)
        if total == 0:
            return
        scene: _Scene | None = None

        # an extension starts one frame after the source's last (which is the reference)
        offset = 1 if request.continue_from is not None else 0

        def render_step(step: int) -> list[Frame]:
            assert scene is not None
            first = step * FRAMES_PER_STEP
            return [
                scene.render(i + offset)
                for i in range(first, min(num, first + FRAMES_PER_STEP))
            ]

        # One step is rendered ahead on a helper thread while the consumer (the encoder) works
        # on the current one: Pillow and x264 both release the GIL, so on a multi-core CPU
        # rendering mostly hides behind encoding. The callbacks stay on the consumer's thread
        # and ``on_step`` still reports only the steps actually handed over.
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="procedural-render")
        ahead: Future[list[Frame]] | None = None
        try:
            for step in range(total):
                if should_stop():
                    raise GenerationCancelled(f"stopped before step {step + 1} of {total}")
                if self.step_delay:
                    time.sleep(self.step_delay)
                if scene is None:
                    scene = _Scene(request)
                chunk = ahead.result() if ahead is not None else render_step(step)
                ahead = pool.submit(render_step, step + 1) if step + 1 < total else None
                on_step(step + 1, total)
                yield from chunk
        finally:
            if ahead is not None:
                ahead.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
