"""What the prompt decides: the vocabulary and :func:`analyse_prompt` (palette, motion, speed,
particle effects, shape styles)."""

from __future__ import annotations

import colorsys
import re
from dataclasses import dataclass

from vidserve.engine.procedural.common import RGB, hsv, hue_shift, mix, stable_unit

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

MOTIONS = _vocabulary(
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

WORD = re.compile(r"\w+")  # any script: unknown words of every language count


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
    words = WORD.findall(prompt.lower())
    known = set(_COLOURS) | set(_SCENES) | set(_SPEED_WORDS) | set(MOTIONS) | set(_EFFECTS)
    known |= set(_SHAPES)
    others = " ".join(w for w in words if w not in known)
    jitter = stable_unit("prompt-other", others) if others else 0.5  # 0.5: no shift

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
        bg_top = hsv(h + 0.04, min(1.0, s * 0.8 + 0.1), 0.18 + 0.25 * v)
        bg_bottom = hsv(h - 0.06, min(1.0, s * 0.6 + 0.1), 0.35 + 0.35 * v)
        accents = list(colours)
    else:
        h = stable_unit("prompt-hue", prompt)
        bg_top = hsv(h, 0.55, 0.22)
        bg_bottom = hsv(h + 0.09, 0.45, 0.62)
        accents = [hsv(h + 0.5, 0.75, 0.95), hsv(h + 0.12, 0.6, 1.0), hsv(h - 0.2, 0.7, 0.85)]
    # unknown words nudge the hue a little (+-0.035 turn) when the palette is named
    shift = (jitter - 0.5) * 0.07 if (scenes or colours) else 0.0
    unique: list[RGB] = []
    for c in accents:
        c = hue_shift(c, shift) if shift else c
        if c not in unique:
            unique.append(c)
    while len(unique) < 3:  # vary the first accent for small palettes
        first = unique[0]
        unique.append(mix(hue_shift(first, 0.08 * len(unique)), (255, 255, 255), 0.3))
    if shift:
        bg_top, bg_bottom = hue_shift(bg_top, shift), hue_shift(bg_bottom, shift)

    motions = [MOTIONS[w] for w in words if w in MOTIONS]
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
