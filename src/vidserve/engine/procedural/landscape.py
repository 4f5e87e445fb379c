"""Drawing a :class:`~.grammar.SceneDescription`: where things go, and each frame.

The rules (fractions of the frame; ``H`` its height, ``hy`` the horizon):

- **Horizon** at ``0.58 H .. 0.66 H`` (the seed picks it), ``0.22 H`` for an ``aerial``
  camera, ``0.70 H`` (the floor line) in a ``room``. Above it the **sky**: a vertical
  gradient whose colours are the time of day's (:data:`SKIES`), greyed by cloud, rain, storm,
  snow or fog. Below it the **ground** of the scene's kind (:data:`GROUND_COLOURS`; a colour
  word before the ground word replaces it), darker at night and warmer at sunset. Mountains,
  hills, dunes, a forest's tree line or a city's skyline rise above the horizon; an ocean,
  a lake, a beach's sea and a river carry moving wave lines.
- **Sun** at ``(0.74 W, 0.18 H)`` at noon, half set on the horizon at ``0.78 W`` at dawn
  and sunset; **moon** (a crescent) at ``(0.78 W, 0.17 H)``; **stars** scattered over the sky.
  Clouds drift across the top of the sky (a few at a clear noon, many when cloudy, dark
  ones in rain and storm); rain and snow fall in front of everything; a storm flashes with
  lightning; fog veils the scene, most near the horizon.
- **Subjects**: each noun phrase gets a slot across the width (``x`` from a seeded order, so
  that a remix with the same seed keeps the places); a group of ``count`` shares its slot
  (birds in a V, others in a row). Sky subjects fly between ``0.12 H`` and the horizon,
  ground subjects stand on the ground (lower and larger is nearer), landmarks (tree,
  house, skyscraper, lighthouse, bridge ...) stand on the horizon, boats float on the water,
  fish and whales swim under its surface. ``over`` puts a subject above the other's top,
  ``under`` below it (under water, if the other floats), ``beside`` next to it on the same
  line, ``in front of`` lower, larger and drawn after it, ``behind`` higher, smaller and
  drawn before it.
- **Motion** (per subject, speeds scaled by the prompt's fast/slow words): fly and run
  cross the frame and wrap around, drift sways and wanders, fall and rise wrap vertically,
  spin turns in place, swim and sail cross slowly with a bob, bounce hops, still stays.
- **Camera**: ``sway`` a slow seeded drift inside a margin, ``pan`` crosses the world's
  width over the clip, ``zoom in``/``zoom out`` scale the picture 1 -> 1.3 (or back),
  ``aerial`` raises the horizon, ``static`` does not move. Far things move less (parallax).

Everything static (sky, celestial bodies, ground, far background) is drawn once, in a world
image larger than the frame; a frame is a crop of it plus what moves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from vidserve.engine.procedural.common import RGB, mix, seeded_rng
from vidserve.engine.procedural.grammar import SceneDescription, SubjectSpec
from vidserve.engine.procedural.particles import Particles, draw_particles, make_particles
from vidserve.engine.procedural.subjects import SUBJECTS, Kind, draw_subject

# time of day -> (sky at the top, sky at the horizon)
SKIES: dict[str, tuple[RGB, RGB]] = {
    "dawn": ((80, 100, 170), (250, 180, 150)),
    "noon": ((50, 120, 215), (165, 205, 240)),
    "sunset": ((60, 30, 90), (250, 120, 60)),
    "night": ((8, 12, 40), (40, 55, 105)),
}
WEATHER_GREY: dict[str, tuple[RGB, float]] = {  # the grey the sky is mixed with, and how much
    "clear": ((0, 0, 0), 0.0),
    "cloudy": ((150, 155, 165), 0.45),
    "rain": ((95, 100, 112), 0.6),
    "storm": ((45, 48, 58), 0.7),
    "snow": ((205, 210, 220), 0.5),
    "fog": ((200, 202, 206), 0.55),
}
GROUND_COLOURS: dict[str, RGB] = {
    "hill": (70, 150, 60),
    "mountains": (90, 120, 80),
    "desert": (225, 185, 115),
    "field": (95, 165, 65),
    "beach": (235, 210, 150),
    "ocean": (25, 85, 155),
    "lake": (85, 145, 75),
    "river": (90, 155, 70),
    "city street": (85, 85, 92),
    "forest": (50, 110, 50),
    "room": (150, 105, 65),
}
WATER: RGB = (35, 100, 170)
WATER_GROUNDS = ("ocean", "lake", "beach", "river")
MOTION_SPEED = {  # fractions of the frame (width for x, height for y) per second
    "fly": 0.08,
    "run": 0.09,
    "drift": 0.015,
    "fall": 0.1,
    "rise": 0.06,
    "swim": 0.05,
    "sail": 0.025,
    "spin": 0.0,
    "bounce": 0.0,
    "still": 0.0,
}


@dataclass(frozen=True, slots=True)
class Placed:
    """One drawn instance of a subject at the clip's start."""

    spec: int  # index into SceneDescription.subjects
    kind: str
    x: float  # bottom centre, pixels
    base_y: float
    height: float  # pixels
    colour: RGB
    motion: str
    facing: int  # 1 right, -1 left (also the direction it moves)
    phase: float
    depth: float  # parallax: 0.3 far .. 1 near

    def box(self) -> tuple[float, float, float, float]:
        w = self.height * SUBJECTS[self.kind].aspect
        return (self.x - w / 2, self.base_y - self.height, self.x + w / 2, self.base_y)


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the rules put everything at the clip's start (see the module docstring)."""

    width: int
    height: int
    horizon: float  # pixels from the top
    placed: tuple[Placed, ...]  # in drawing order, far to near


def horizon_of(desc: SceneDescription, seed: int, height: int) -> float:
    if desc.camera == "aerial":
        return 0.22 * height
    if desc.ground == "room":
        return 0.70 * height
    return (0.58 + 0.08 * seeded_rng("horizon", str(seed)).random()) * height


def _zone(kind: Kind, ground: str) -> str:
    if kind.zone in ("water", "underwater") and ground not in WATER_GROUNDS:
        return "ground"
    return kind.zone


def make_layout(desc: SceneDescription, seed: int, width: int, height: int) -> Layout:
    rng = seeded_rng("layout", str(seed))
    hy = horizon_of(desc, seed, height)
    below = height - hy
    n = max(1, len(desc.subjects))
    order = rng.permutation(n).tolist()
    slots = [(order[k] + 0.5) / n for k in range(n)]
    jitter = rng.uniform(-0.25, 0.25, size=(16, 4))  # per phrase: x, depth, y, phase
    scale = 0.75 if desc.camera == "aerial" else 2.0 if desc.ground == "room" else 1.0
    # where on the ground things stand (fractions of the ground's depth): on the sand of a
    # beach, on the near shore of a lake
    lo, hi = {"beach": (0.5, 0.85), "lake": (0.72, 0.9)}.get(desc.ground, (0.35, 0.85))
    groups: dict[int, list[Placed]] = {}

    def place(i: int, spec: SubjectSpec) -> list[Placed]:
        kind = SUBJECTS[spec.kind]
        j = jitter[i % 16]
        zone = _zone(kind, desc.ground)
        depth = 0.5 + j[1] * 2  # 0 .. 1
        size = kind.size * spec.size * scale * height
        if zone == "sky":
            base = 0.14 * height + size + (0.5 + j[2] * 2) * max(0.0, hy - 0.3 * height - size)
            d = 0.45
        elif zone == "landmark":
            base, d = hy + 0.05 * below, 0.6
        elif zone == "water":
            base, d = hy + (0.25 + 0.35 * depth) * below, 0.75
            size *= 0.8 + 0.4 * depth
        elif zone == "underwater":
            base, d = hy + (0.55 + 0.35 * depth) * below, 0.8
        else:
            base, d = hy + (lo + (hi - lo) * depth) * below, 0.7 + 0.3 * depth
            size *= 0.75 + 0.5 * depth
        size = min(size, 0.9 * height, base - 0.04 * height)
        x = (slots[i % n] + j[0] * 0.4 / n) * width
        facing = 1 if j[3] >= 0 else -1
        return _group(i, spec, kind, x, base, size, facing, d, float(j[3]) * 20, width)

    for i, spec in enumerate(desc.subjects):
        if spec.relation is None or spec.anchor is None:
            groups[i] = place(i, spec)
    for i, spec in enumerate(desc.subjects):
        if i in groups:
            continue
        own = place(i, spec)
        anchor = groups.get(spec.anchor) if spec.anchor is not None else None
        if anchor is None:
            anchor = (
                place(spec.anchor, desc.subjects[spec.anchor]) if spec.anchor is not None else own
            )
        groups[i] = _relate(own, anchor, spec.relation or "", hy, height, width)
    placed = [p for i in sorted(groups) for p in groups[i]]
    front = {i for i, s in enumerate(desc.subjects) if s.relation == "in front of"}
    back = {i for i, s in enumerate(desc.subjects) if s.relation == "behind"}

    def rank(p: Placed) -> tuple[int, float]:
        return (0 if p.spec in back else 2 if p.spec in front else 1, p.base_y)

    placed.sort(key=rank)
    return Layout(width, height, hy, tuple(placed))


def _group(
    i: int,
    spec: SubjectSpec,
    kind: Kind,
    x: float,
    base: float,
    size: float,
    facing: int,
    depth: float,
    phase: float,
    width: int,
) -> list[Placed]:
    k = spec.count
    w = size * kind.aspect
    spacing = w * 1.35
    if spacing * (k - 1) > 0.85 * width:  # a crowd: smaller, so that it fits
        shrink = 0.85 * width / (spacing * (k - 1))
        size, w, spacing = size * shrink, w * shrink, spacing * shrink
    x = min(
        max(x, (spacing * (k - 1) + w) / 2 + 0.03 * width),
        width - (spacing * (k - 1) + w) / 2 - 0.03 * width,
    )
    colour = spec.colour or kind.colour
    out = []
    for m in range(k):
        off = m - (k - 1) / 2
        dy = abs(off) * size * (0.6 if kind.zone == "sky" else 0.12)
        out.append(
            Placed(
                i,
                spec.kind,
                x + off * spacing,
                base + dy if kind.zone == "sky" else base + dy * 0.5,
                size,
                colour,
                spec.motion,
                facing,
                phase + 1.3 * m,
                depth,
            )
        )
    return out


def _relate(
    own: list[Placed], anchor: list[Placed], relation: str, hy: float, height: int, width: int
) -> list[Placed]:
    """Move the group ``own`` so that it stands in ``relation`` to the group ``anchor``."""
    if own is anchor or not anchor:
        return own
    ax0 = min(p.box()[0] for p in anchor)
    ax1 = max(p.box()[2] for p in anchor)
    atop = min(p.box()[1] for p in anchor)
    abase = max(p.base_y for p in anchor)
    ox0 = min(p.box()[0] for p in own)
    ox1 = max(p.box()[2] for p in own)
    obase = max(p.base_y for p in own)
    dx = (ax0 + ax1) / 2 - (ox0 + ox1) / 2
    dy = 0.0
    grow = 1.0
    if relation == "over":
        dy = (atop - 0.04 * height) - obase
    elif relation == "under":
        ahead = max(p.box()[3] for p in anchor)
        tallest = max(p.height for p in own)
        dy = (ahead + 0.03 * height + tallest) - obase
        if anchor[0].base_y < hy:  # under something in the sky: on the ground below it
            dy = max(dy, hy + 0.3 * (height - hy) - obase)
    elif relation == "beside":
        gap = 0.03 * width
        right = ax1 + gap + (ox1 - ox0) / 2
        left = ax0 - gap - (ox1 - ox0) / 2
        target = right if right + (ox1 - ox0) / 2 <= width else left
        dx = target - (ox0 + ox1) / 2
        dy = abase - obase
    elif relation == "in front of":
        dx += 0.15 * (ax1 - ax0)
        dy = abase + 0.05 * height - obase
        grow = 1.1
    elif relation == "behind":
        dx -= 0.2 * (ax1 - ax0)
        dy = abase - 0.03 * height - obase
        grow = 0.85
    moved = []
    for p in own:
        base = min(p.base_y + dy, height * 1.0)
        moved.append(
            Placed(
                p.spec,
                p.kind,
                p.x + dx,
                base,
                p.height * grow,
                p.colour,
                p.motion,
                p.facing,
                p.phase,
                p.depth,
            )
        )
    return moved


def position(
    p: Placed, t: float, speed: float, width: int, height: int
) -> tuple[float, float, float]:
    """(x, base_y, angle) of ``p`` at ``t`` seconds."""
    m = p.motion
    v = MOTION_SPEED.get(m, 0.0) * speed
    x, y, angle = p.x, p.base_y, 0.0
    w = p.height * SUBJECTS[p.kind].aspect
    span = width + 2 * w + 0.1 * width
    if m in ("fly", "run", "swim", "sail"):
        x = (p.x + p.facing * v * width * t + w + 0.05 * width) % span - w - 0.05 * width
        bob = {"fly": 0.012, "run": 0.0, "swim": 0.02, "sail": 0.005}[m]
        y += bob * height * math.sin(2.2 * t + p.phase)
        if m == "run" and p.kind not in ("car", "truck", "bus", "train", "bicycle", "tractor"):
            y -= 0.012 * height * abs(math.sin(6 * speed * t + p.phase))
        if m == "sail":
            angle = 0.05 * math.sin(1.3 * t + p.phase)
    elif m == "drift":
        x += p.facing * v * width * t + 0.02 * width * math.sin(0.5 * t + p.phase)
        y += 0.015 * height * math.sin(0.8 * t + p.phase)
        angle = 0.12 * math.sin(1.1 * t + p.phase)
    elif m in ("fall", "rise"):
        top, bottom = -0.1 * height, height + p.height
        sign = 1 if m == "fall" else -1
        y = (p.base_y + sign * v * height * t - top) % (bottom - top) + top
        x += 0.01 * width * math.sin(1.5 * t + p.phase)
        angle = 0.2 * math.sin(2 * t + p.phase) if m == "fall" else 0.0
    elif m == "spin":
        angle = 1.6 * speed * t
    elif m == "bounce":
        y -= 0.07 * height * abs(math.sin(3.0 * speed * t + p.phase))
    return x, y, angle


class Landscape:
    """A described scene, drawn: ``frame(t)`` (the whole picture) or ``overlay`` (only what
    moves: subjects, clouds and weather, over an image reference)."""

    def __init__(
        self,
        desc: SceneDescription,
        seed: int,
        width: int,
        height: int,
        speed: float,
        seconds: float,
    ) -> None:
        self.desc = desc
        self.width, self.height = width, height
        self.speed = speed
        self.seconds = max(seconds, 1e-6)
        self.layout = make_layout(desc, seed, width, height)
        self.hy = self.layout.horizon
        rng = seeded_rng("landscape", str(seed))
        cam = desc.camera
        self.margin_x = round(width * (0.16 if cam == "pan" else 0.05 if cam == "sway" else 0.0))
        self.margin_y = round(height * (0.03 if cam == "sway" else 0.0))
        self.cam_phase = (float(rng.uniform(0, 6.3)), float(rng.uniform(0, 6.3)))
        self.pan_dir = 1 if rng.random() < 0.5 else -1
        self.world = self._world(rng)
        weather = desc.weather
        self.particles: list[Particles] = []
        if weather in ("rain", "storm"):
            self.particles.append(make_particles("rain", int(rng.integers(1 << 30)), width, height))
        if weather == "snow":
            self.particles.append(make_particles("snow", int(rng.integers(1 << 30)), width, height))
        n_clouds = (
            {
                "clear": 2 if desc.time_of_day == "noon" else 1,
                "cloudy": 6,
                "rain": 6,
                "storm": 7,
                "snow": 5,
                "fog": 0,
            }[weather]
            if desc.ground != "room"
            else 0
        )
        self.clouds = [
            (
                float(rng.uniform(0, 1)),
                float(rng.uniform(0.04, 0.3)),
                float(rng.uniform(0.7, 1.4)),
                int(rng.integers(1 << 16)),
            )
            for _ in range(n_clouds)
        ]
        self.cloud_colour = mix(
            {
                "dawn": (250, 225, 220),
                "noon": (250, 250, 252),
                "sunset": (250, 190, 170),
                "night": (70, 75, 100),
            }[desc.time_of_day],
            (70, 72, 80),
            {"rain": 0.55, "storm": 0.75}.get(weather, 0.0),
        )
        self.flashes = (
            sorted(float(v) for v in rng.uniform(0.5, self.seconds, 3))
            if weather == "storm"
            else []
        )
        self.fog: tuple[Image.Image, Image.Image] | None = None
        if weather == "fog":
            ys = np.arange(height, dtype=np.float64)
            a = 0.35 + 0.4 * np.exp(-(((ys - self.hy) / (0.25 * height)) ** 2))
            mask = Image.fromarray(
                np.repeat((a * 255).astype(np.uint8)[:, None], width, axis=1), "L"
            )
            self.fog = (Image.new("RGB", (width, height), (214, 216, 220)), mask)
        self.waves = (
            [
                (
                    float(rng.uniform(0, 1)),
                    float(rng.uniform(0.02, 1)),
                    float(rng.uniform(0.4, 1.2)),
                )
                for _ in range(18)
            ]
            if desc.ground in WATER_GROUNDS
            else []
        )

    # ---------------------------------------------------------------- the static world

    def _ground_colour(self, colour: RGB) -> RGB:
        tod = self.desc.time_of_day
        if tod == "night":
            return mix(colour, (10, 12, 30), 0.55)
        if tod == "sunset":
            return mix(colour, (200, 90, 60), 0.18)
        if tod == "dawn":
            return mix(colour, (220, 160, 170), 0.1)
        return colour

    def _world(self, rng: np.random.Generator) -> Image.Image:
        desc = self.desc
        ww, wh = self.width + 2 * self.margin_x, self.height + 2 * self.margin_y
        hy = self.hy + self.margin_y
        top, low = SKIES[desc.time_of_day]
        grey, amount = WEATHER_GREY[desc.weather]
        if desc.sky_colour is not None:
            top, low = mix(top, desc.sky_colour, 0.6), mix(low, desc.sky_colour, 0.45)
        top, low = mix(top, grey, amount), mix(low, grey, amount)
        ys = np.clip(np.arange(wh, dtype=np.float64) / max(hy, 1.0), 0, 1)[:, None]
        sky = np.array(top, dtype=np.float64) * (1 - ys) + np.array(low, dtype=np.float64) * ys
        column = np.clip(sky + 0.5, 0, 255).astype(np.uint8)[:, None, :]
        world = Image.fromarray(np.ascontiguousarray(np.repeat(column, ww, axis=1)), "RGB")
        draw = ImageDraw.Draw(world, "RGBA")
        short = min(self.width, self.height)
        if "stars" in desc.celestial:
            for _ in range(int(90 * ww * wh / (1280 * 720)) + 20):
                x, y = float(rng.uniform(0, ww)), float(rng.uniform(0, hy * 0.92))
                s = float(rng.uniform(0.6, 1.8)) * short / 720 + 0.5
                level = int(rng.integers(170, 256))
                draw.rectangle((x - s, y - s, x + s, y + s), fill=(level, level, 255))
        if "sun" in desc.celestial:
            r = 0.07 * short
            if desc.time_of_day == "noon":
                sx, sy, colour = 0.74 * ww, 0.18 * wh, (255, 240, 170)
            else:
                # low, but above what rises from the ground (hills, dunes, mountains)
                rise = {
                    "hill": 0.24,
                    "mountains": 0.3,
                    "desert": 0.1,
                    "forest": 0.16,
                    "city street": 0.3,
                }.get(desc.ground, 0.0) * self.height
                sx, sy = 0.78 * ww, hy - 0.2 * r - rise
                colour = (255, 190, 90) if desc.time_of_day == "sunset" else (255, 215, 150)
            for k, a in ((2.4, 40), (1.7, 70)):
                draw.ellipse((sx - k * r, sy - k * r, sx + k * r, sy + k * r), fill=(*colour, a))
            draw.ellipse((sx - r, sy - r, sx + r, sy + r), fill=colour)
        if "moon" in desc.celestial:
            r = 0.055 * short
            mx, my = 0.78 * ww, 0.17 * wh
            draw.ellipse((mx - 2 * r, my - 2 * r, mx + 2 * r, my + 2 * r), fill=(230, 235, 255, 30))
            draw.ellipse((mx - r, my - r, mx + r, my + r), fill=(240, 240, 225))
            # the crescent: the disc less a disc of the sky's own colour at that height
            shade = mix(top, low, min(1.0, my / max(hy, 1.0)))
            draw.ellipse((mx - 0.45 * r, my - 1.05 * r, mx + 1.45 * r, my + 0.85 * r), fill=shade)
        self._draw_ground(draw, rng, ww, wh, hy)
        return world

    def _draw_ground(
        self,
        draw: ImageDraw.ImageDraw,
        rng: np.random.Generator,
        ww: int,
        wh: int,
        hy: float,
    ) -> None:
        desc = self.desc
        g = desc.ground
        base = self._ground_colour(desc.ground_colour or GROUND_COLOURS[g])
        far = mix(base, SKIES[desc.time_of_day][1], 0.25)
        if g == "mountains":
            peaks = [(0.0, hy)]
            n = int(rng.integers(4, 7))
            for k in range(n):
                x = (k + 0.5 + float(rng.uniform(-0.3, 0.3))) / n * ww
                peaks.append((x, hy - float(rng.uniform(0.2, 0.42)) * self.height))
                peaks.append((x + ww / n / 2, hy - float(rng.uniform(0.05, 0.15)) * self.height))
            peaks.append((ww, hy))
            rock = self._ground_colour((110, 115, 135))
            draw.polygon(peaks, fill=rock)
            for x, y in peaks[1:-1:2]:
                cap = 0.05 * self.height
                draw.polygon(
                    [(x, y), (x - cap * 0.9, y + cap), (x + cap * 0.9, y + cap)],
                    fill=self._ground_colour((245, 245, 250)),
                )
        elif g == "hill":
            for k in range(2):
                cx = float(rng.uniform(0.1, 0.9)) * ww
                rw, rh = (
                    float(rng.uniform(0.35, 0.6)) * ww,
                    float(rng.uniform(0.12, 0.22)) * self.height,
                )
                shade = mix(base, (255, 255, 255), 0.08) if k == 0 else base
                draw.ellipse((cx - rw, hy - rh, cx + rw, hy + rh), fill=shade)
        elif g == "desert":
            for k in range(3):
                cx = float(rng.uniform(0, 1)) * ww
                rw, rh = (
                    float(rng.uniform(0.3, 0.5)) * ww,
                    float(rng.uniform(0.05, 0.1)) * self.height,
                )
                draw.ellipse(
                    (cx - rw, hy - rh, cx + rw, hy + rh), fill=mix(base, (255, 230, 180), 0.15 * k)
                )
        elif g == "forest":
            line = mix(self._ground_colour((30, 80, 40)), far, 0.2)
            x = -10.0
            while x < ww + 10:
                h = float(rng.uniform(0.08, 0.16)) * self.height
                w = h * 0.5
                draw.polygon([(x - w, hy + 2), (x, hy - h), (x + w, hy + 2)], fill=line)
                x += w * float(rng.uniform(0.7, 1.1))
        elif g == "city street":
            x = 0.0
            while x < ww:
                bw = float(rng.uniform(0.05, 0.11)) * ww
                bh = float(rng.uniform(0.12, 0.4)) * self.height
                shade = self._ground_colour(
                    mix((70, 78, 95), (130, 135, 150), float(rng.uniform(0, 1)))
                )
                draw.rectangle((x, hy - bh, max(x, x + bw - 2), hy + 1), fill=shade)
                lit = (
                    (255, 215, 120)
                    if desc.time_of_day in ("night", "sunset")
                    else mix(shade, (200, 220, 240), 0.35)
                )
                for wy in np.arange(hy - bh + 6, hy - 6, max(6.0, 0.03 * self.height)).tolist():
                    for wx in np.arange(x + 4, x + bw - 8, max(6.0, 0.012 * ww)).tolist():
                        if rng.random() < 0.55:
                            draw.rectangle(
                                (wx, wy, wx + 0.005 * ww + 1, wy + 0.012 * self.height), fill=lit
                            )
                x += bw
        # the ground itself, from the horizon down
        if g == "room":
            wall = mix((225, 205, 170), (60, 50, 70), 0.35 if desc.time_of_day == "night" else 0)
            draw.rectangle((0, 0, ww, hy), fill=wall)
            wx0, wy0 = 0.3 * ww, 0.15 * self.height
            wx1, wy1 = 0.62 * ww, 0.5 * self.height
            top, low = SKIES[desc.time_of_day]
            draw.rectangle((wx0 - 6, wy0 - 6, wx1 + 6, wy1 + 6), fill=(250, 250, 245))
            draw.rectangle((wx0, wy0, wx1, (wy0 + wy1) / 2), fill=top)
            draw.rectangle((wx0, (wy0 + wy1) / 2, wx1, wy1), fill=low)
            draw.line(((wx0 + wx1) / 2, wy0, (wx0 + wx1) / 2, wy1), fill=(250, 250, 245), width=5)
            draw.rectangle((0, hy, ww, wh), fill=base)
            for k in range(8):
                y = hy + (wh - hy) * (k / 8) ** 1.2
                draw.line((0, y, ww, y), fill=mix(base, (0, 0, 0), 0.2), width=2)
            return
        draw.rectangle((0, hy, ww, wh), fill=base)
        if g in ("ocean", "beach", "lake"):
            water = self._ground_colour(WATER)
            bottom = {"ocean": wh, "beach": hy + 0.35 * (wh - hy), "lake": hy + 0.6 * (wh - hy)}[g]
            if g == "lake":
                draw.rectangle(
                    (0, hy - 0.012 * self.height, ww, hy + 0.02 * self.height),
                    fill=mix(base, (20, 60, 30), 0.4),
                )
                draw.rectangle((0, hy + 0.02 * self.height, ww, bottom), fill=water)
            else:
                draw.rectangle((0, hy, ww, bottom), fill=water)
            if g == "beach":
                draw.rectangle(
                    (0, bottom - 0.01 * self.height, ww, bottom + 0.01 * self.height),
                    fill=(250, 250, 245),
                )
        elif g == "river":
            water = self._ground_colour(WATER)
            pts_l, pts_r = [], []
            for k in range(13):
                u = k / 12
                y = hy + u * (wh - hy)
                cx = ww * (0.5 + 0.18 * math.sin(3 * u + float(rng.uniform(0, 0.3))))
                half = ww * (0.01 + 0.12 * u)
                pts_l.append((cx - half, y))
                pts_r.append((cx + half, y))
            draw.polygon(pts_l + pts_r[::-1], fill=water)
        elif g == "city street":
            walk = self._ground_colour((165, 160, 150))
            draw.rectangle((0, hy, ww, hy + 0.18 * (wh - hy)), fill=walk)
            road_y = hy + 0.6 * (wh - hy)
            for x in np.arange(0, ww, 0.08 * ww).tolist():
                draw.rectangle(
                    (x, road_y, x + 0.04 * ww, road_y + 0.012 * self.height), fill=(240, 230, 200)
                )
        elif g in ("field", "hill"):
            stripe = mix(base, (0, 0, 0), 0.08)
            for k in range(1, 7):
                y = hy + (wh - hy) * (k / 7) ** 1.5
                draw.line((0, y, ww, y), fill=stripe, width=max(1, round(self.height / 240)))

    # ---------------------------------------------------------------- per frame

    def camera(self, t: float) -> tuple[int, int]:
        cam = self.desc.camera
        if cam == "pan":
            u = min(1.0, t / self.seconds)
            return round(self.pan_dir * self.margin_x * (2 * u - 1)), 0
        if cam == "sway":
            speed = 0.6 + 0.4 * self.speed
            return (
                round(self.margin_x * math.sin(0.45 * speed * t + self.cam_phase[0])),
                round(self.margin_y * math.sin(0.35 * speed * t + self.cam_phase[1])),
            )
        return 0, 0

    def zoom(self, t: float) -> float:
        u = min(1.0, t / self.seconds)
        if self.desc.camera == "zoom in":
            return 1.0 + 0.3 * u
        if self.desc.camera == "zoom out":
            return 1.3 - 0.3 * u
        return 1.0

    def frame(self, t: float) -> Image.Image:
        cx, cy = self.camera(t)
        left, top = self.margin_x + cx, self.margin_y + cy
        frame = self.world.crop((left, top, left + self.width, top + self.height))
        draw = ImageDraw.Draw(frame)
        self._waves(draw, t, cx)
        self._clouds(draw, t, cx, None)
        self.draw_subjects(draw, t, cx, cy, None)
        for p in self.particles:
            draw_particles(draw, p, t, cx, cy, None, self.width, self.height, self.speed)
        if self.fog is not None:
            frame = Image.composite(self.fog[0], frame, self.fog[1])
        if self.flashes and any(0 <= t - f < 0.12 for f in self.flashes):
            frame = self._lightning(frame, t)
        z = self.zoom(t)
        if z != 1.0:
            w, h = self.width / z, self.height / z
            x0, y0 = (self.width - w) / 2, (self.height - h) / 2
            frame = frame.resize(
                (self.width, self.height), Image.Resampling.BILINEAR, box=(x0, y0, x0 + w, y0 + h)
            )
        return frame

    def overlay(self, draw: ImageDraw.ImageDraw, t: float, alpha: int) -> None:
        """What moves, translucent, over an image reference: clouds, subjects, weather."""
        self._clouds(draw, t, 0, alpha)
        self.draw_subjects(draw, t, 0, 0, alpha)
        for p in self.particles:
            draw_particles(draw, p, t, 0, 0, alpha, self.width, self.height, self.speed)

    def draw_subjects(
        self, draw: ImageDraw.ImageDraw, t: float, cx: int, cy: int, alpha: int | None
    ) -> None:
        for p in self.layout.placed:
            x, y, angle = position(p, t, self.speed, self.width, self.height)
            kind = SUBJECTS[p.kind]
            draw_subject(
                draw,
                kind,
                x - cx * p.depth,
                y - cy * p.depth,
                p.height,
                p.colour,
                facing=p.facing,
                angle=angle,
                alpha=alpha,
            )

    def _clouds(self, draw: ImageDraw.ImageDraw, t: float, cx: int, alpha: int | None) -> None:
        w, h = self.width, self.height
        fill = self.cloud_colour if alpha is None else (*self.cloud_colour, alpha)
        for x0, y0, scale, slot in self.clouds:
            r = (
                0.06
                * min(w, h)
                * scale
                * (1.4 if self.desc.weather in ("cloudy", "rain", "storm") else 1)
            )
            span = w + 8 * r
            x = (x0 * span + 0.006 * w * self.speed * t * (1 + slot % 3) - cx * 0.3) % span - 4 * r
            y = y0 * max(self.hy, 0.3 * h)
            for dx, dy, k in (
                (-1.6, 0.25, 0.8),
                (-0.6, -0.2, 1.1),
                (0.6, -0.05, 1.0),
                (1.6, 0.3, 0.75),
            ):
                draw.ellipse(
                    (
                        x + dx * r - k * r,
                        y + dy * r - k * r * 0.7,
                        x + dx * r + k * r,
                        y + dy * r + k * r * 0.7,
                    ),
                    fill=fill,
                )

    def _waves(self, draw: ImageDraw.ImageDraw, t: float, cx: int) -> None:
        if not self.waves:
            return
        w, h, hy = self.width, self.height, self.hy
        colour = mix(self._ground_colour(WATER), (255, 255, 255), 0.35)
        depth = {"ocean": 1.0, "beach": 0.33, "lake": 0.55, "river": 0.9}[self.desc.ground]
        for x0, y0, k in self.waves:
            y = hy + 0.03 * h + y0 * depth * (h - hy) * 0.95
            near = (y - hy) / max(h - hy, 1)
            length = (0.02 + 0.06 * near) * w
            x = (x0 * w + (0.02 + 0.05 * k) * w * self.speed * t - cx * near) % (
                w + length
            ) - length
            if self.desc.ground == "river":
                u = near
                centre = w * (0.5 + 0.18 * math.sin(3 * u))
                half = w * (0.01 + 0.12 * u)
                x = centre - half + (x0 * 2 * half + 0.03 * w * t) % max(2 * half - length, 1)
            yy = y + 0.004 * h * math.sin(2 * t + x0 * 10)
            draw.line(
                (x, yy, x + length, yy), fill=colour, width=max(1, round(h / 300 * (1 + near)))
            )

    def _lightning(self, frame: Image.Image, t: float) -> Image.Image:
        bright = frame.point(lambda v: min(255, v + 90))
        draw = ImageDraw.Draw(bright)
        rng = seeded_rng("bolt", f"{t:.2f}")
        x = float(rng.uniform(0.2, 0.8)) * self.width
        y = 0.0
        pts = [(x, y)]
        while y < self.hy:
            y += float(rng.uniform(0.04, 0.09)) * self.height
            x += float(rng.uniform(-0.04, 0.04)) * self.width
            pts.append((x, y))
        draw.line(pts, fill=(255, 255, 240), width=max(2, round(self.height / 180)))
        return bright
