"""The seed's shapes: their colours, where each is at time ``t`` under the prompt's motion, and
how each style is drawn (shadow, fill, highlight)."""

from __future__ import annotations

import math

from PIL import ImageDraw

from vidserve.engine.procedural.common import RGB, mix
from vidserve.engine.procedural.look import Look
from vidserve.engine.procedural.structure import SEED_STYLES, Shape, Structure


def shape_colours(look: Look, structure: Structure) -> list[tuple[RGB, RGB, RGB]]:
    """Per shape: fill, shadow and highlight colour (far shapes fade into the haze)."""
    haze = mix(look.bg_top, look.bg_bottom, 0.5)
    out = []
    for s in structure.shapes:
        base = look.accents[s.colour_slot % len(look.accents)]
        fill = mix(base, haze, max(0.0, 0.55 - 0.5 * s.depth))
        shadow = mix(fill, (0, 0, 0), 0.55)
        light = mix(fill, (255, 255, 255), 0.45)
        out.append((fill, shadow, light))
    return out


def shape_state(
    s: Shape, t: float, look: Look, width: int, height: int
) -> tuple[float, float, float, float]:
    """Centre (px), radius (px) and rotation of shape ``s`` at time ``t`` (seconds)."""
    motion = look.motion
    v = look.speed
    w, h, short = width, height, min(width, height)
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


def shape_style(s: Shape, look: Look) -> str:
    styles = look.styles or SEED_STYLES
    return styles[s.style_slot % len(styles)]


def draw_shape(
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
