"""A scene: everything precomputed for one request, and ``render(i)`` that draws frame ``i``
(the world behind a moving camera or the reference image, the shapes, the particles, the cast,
the caption) or ``decorate`` that draws an edit's overlay on a source frame.

A prompt that names a scene (:func:`.grammar.describe`) is drawn by :class:`.landscape.Landscape`
(sky, ground, subjects, weather, camera); any other prompt keeps the abstract shapes. Over an
image reference (or an extension's first frame) the image stays the world and only what moves
is drawn over it.

The caption (:data:`CAPTIONS`: a one-line ``label`` of the prompt by default, the wrapped
``prompt``, or ``none``) shows at the start of a clip and is gone well before its end: fully
shown for ``min(2.5 s, half the clip)``, then faded out over ``min(0.5 s, a fifth of the
clip)``. So the last frame never carries it, and a clip that continues from it (an extension,
or an image reference taken from it) shows no ghost of the old caption.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw

from vidserve.engine.procedural.caption import caption_layer, faded
from vidserve.engine.procedural.cast import CastMember
from vidserve.engine.procedural.common import FloatArray
from vidserve.engine.procedural.grammar import describe
from vidserve.engine.procedural.landscape import Landscape
from vidserve.engine.procedural.look import Look, analyse_prompt
from vidserve.engine.procedural.particles import Particles, draw_particles, make_particles
from vidserve.engine.procedural.shapes import draw_shape, shape_colours, shape_state, shape_style
from vidserve.engine.procedural.structure import Structure, make_structure

if TYPE_CHECKING:
    from vidserve.domain import Frame, GenerationRequest


def world_background(width: int, height: int, look: Look, structure: Structure) -> Image.Image:
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


CAPTIONS = ("label", "prompt", "none")


class Scene:
    """Everything precomputed for one request; ``render(i)`` draws frame ``i``.

    ``description`` is the prompt read as a scene (:func:`.grammar.describe`), the same one
    the soundtrack can follow; ``landscape`` draws it (None: an abstract prompt)."""

    def __init__(self, request: GenerationRequest, caption: str = "label") -> None:
        if caption not in CAPTIONS:
            raise ValueError(f"caption must be one of {', '.join(CAPTIONS)}")
        self.width = request.width
        self.height = request.height
        self.fps = request.fps
        self.look = analyse_prompt(request.prompt)
        self.structure = make_structure(request.seed)
        self.description = describe(request.prompt)
        self.seconds = request.num_frames / request.fps
        self.landscape = (
            Landscape(self.description, request.seed, self.width, self.height, self.look.speed,
                      self.seconds)
            if self.description.is_scene else None
        )
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
        elif self.landscape is not None:  # the landscape draws its own world
            self.world = Image.new("RGB", (1, 1))
            self.margin_x = self.margin_y = 0
        else:
            self.margin_x = round(self.width * 0.08)
            self.margin_y = round(self.height * 0.08)
            self.world = world_background(
                self.width + 2 * self.margin_x,
                self.height + 2 * self.margin_y,
                self.look,
                self.structure,
            )
        self._zoom_cache: tuple[int, Image.Image] | None = None
        # over a source clip the band is nearly opaque: an edit's source shows its own
        # caption over the same first seconds
        over_source = request.continue_from is not None or request.source_video is not None
        layer = None if caption == "none" else caption_layer(
            request.prompt, self.width, self.height, band_alpha=225 if over_source else 120,
            max_lines=1 if caption == "label" else None,
        )
        self.caption: Image.Image | None = None
        self.caption_y = 0
        self.caption_fades: list[Image.Image] = []
        if layer is not None:
            self.caption, self.caption_y = layer
            self.caption_fades = [faded(self.caption, k / 8) for k in range(1, 8)]
        self.caption_fade_in = 0.4 if self.reference is not None else 0.0
        self.colours = shape_colours(self.look, self.structure)
        self.particles = [
            make_particles(kind, self.structure.particle_seed, self.width, self.height)
            for kind in self.look.effects
        ]
        self.extra_particles = [p for p in self.particles if p.kind in ("embers", "bubbles")]
        # how strongly the overlay shows over a reference image (never fully opaque)
        self.overlay_max = 0.7
        self.cast = [
            CastMember(clip, k, len(request.characters), self.width, self.height)
            for k, clip in enumerate(request.characters[:2])
        ]

    # ----------------------------------------------------------------- precomputation

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


    def _caption(self, t: float) -> Image.Image | None:
        """The caption layer at ``t`` seconds (see the module docstring), or None."""
        if self.caption is None:
            return None
        hold = min(2.5, 0.5 * self.seconds)
        fade = min(0.5, 0.2 * self.seconds)
        level = 1.0 if t <= hold else max(0.0, 1.0 - (t - hold) / fade)
        if self.caption_fade_in:
            level = min(level, t / self.caption_fade_in)
        if level >= 1.0:
            return self.caption
        step = int(level * 8)
        return self.caption_fades[step - 1] if step >= 1 else None

    def render(self, index: int) -> Frame:
        if self.reference is not None and index == 0:
            return np.array(self.reference, dtype=np.uint8)
        t = index / self.fps
        caption = self._caption(t)
        if self.landscape is not None and self.reference is None:
            frame = self.landscape.frame(t)
            if self.extra_particles:  # fire and bubbles: the landscape draws the weather
                draw = ImageDraw.Draw(frame)
                for particles in self.extra_particles:
                    self._particles(draw, particles, t, 0, 0, None)
            for member in self.cast:
                member.paste(frame, index, t, self.look.speed)
            if caption is not None:
                frame.paste(caption, (0, self.caption_y), caption)
            return np.array(frame, dtype=np.uint8)
        frame, cx, cy = self._background(index, t)
        alpha: int | None = None
        if self.reference is not None:  # fade the overlay in over the first 1.5 s
            fade = min(1.0, t / 1.5)
            alpha = round(255 * self.overlay_max * fade)
        draw = ImageDraw.Draw(frame, "RGBA") if alpha is not None else ImageDraw.Draw(frame)
        if self.landscape is not None:
            self.landscape.overlay(draw, t, alpha if alpha is not None else 255)
        shapes = () if self.landscape is not None else self.structure.shapes
        for shape, colours in zip(shapes, self.colours, strict=False):
            x, y, r, rot = shape_state(shape, t, self.look, self.width, self.height)
            x -= cx * shape.depth
            y -= cy * shape.depth
            if x + 2 * r < 0 or x - 2 * r > self.width or y + 2 * r < 0 or y - 2 * r > self.height:
                continue
            draw_shape(draw, shape_style(shape, self.look), x, y, r, rot, colours, alpha)
        for particles in self.particles if self.landscape is None else ():
            self._particles(draw, particles, t, cx, cy, alpha)
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
                self._particles(draw, particles, t, 0, 0, None)
        for member in self.cast:
            member.paste(frame, index, t, self.look.speed)
        caption = self._caption(t)
        if caption is not None:
            frame.paste(caption, (0, self.caption_y), caption)
        return np.array(frame, dtype=np.uint8)

    def _particles(
        self,
        draw: ImageDraw.ImageDraw,
        particles: Particles,
        t: float,
        cx: int,
        cy: int,
        alpha: int | None,
    ) -> None:
        draw_particles(draw, particles, t, cx, cy, alpha, self.width, self.height, self.look.speed)
