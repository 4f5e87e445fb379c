"""The gallery: a fixed list of prompts rendered to PNGs, so that a reader sees what the
procedural engine draws.

Each prompt's frame at 1.5 s (1280x720, seed 7, the default one-line label still showing) is
written to ``artifacts/gallery/NN-words.png`` (git-ignored; CI keeps it as an artifact).
``docs/procedural.md`` shows a few of them, committed under ``docs/img/``; run this test
with ``VIDSERVE_GALLERY_DOCS=1`` to refresh those (at 640x360).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
from PIL import Image

from vidserve.domain import GenerationRequest
from vidserve.engine.procedural import ProceduralBackend
from vidserve.engine.procedural.grammar import describe

ROOT = Path(__file__).resolve().parents[2]
GALLERY = ROOT / "artifacts" / "gallery"
DOCS_IMG = ROOT / "docs" / "img"

PROMPTS = (
    "a red kite over a green hill at sunset",
    "ocean waves, fast rain",
    "three birds flying over a lighthouse at night",
    "a dog running beside a blue car on a city street, slow pan",
    "a snowman beside a pine tree, snowy mountains",
    "a yellow submarine and five orange fish under a boat on the ocean",
    "a dragon flying over a castle in a storm",
    "a rocket rising over the desert at dawn, zoom in",
    "a cat sitting in a room at night",
    "two horses running in a field, cloudy",
    "a sailboat on a lake in the fog, morning",
    "a robot and a dinosaur on a beach at noon",
    "a whale swimming under a ship, aerial",
    "a bridge over a river in the forest, slow pan",
    "hot air balloons drifting over a city street at sunset",
    "xyzzy plugh: an abstract prompt keeps the abstract shapes",
)
IN_DOCS = (0, 2, 3, 5, 6, 7, 8, 12)


def _slug(prompt: str) -> str:
    return "-".join(re.findall(r"[a-z]+", prompt.lower())[:6])


def _frame(prompt: str, width: int, height: int) -> np.ndarray:
    request = GenerationRequest(model="procedural", prompt=prompt, width=width, height=height,
                                seconds=4, seed=7, fps=8)
    clip = ProceduralBackend().generate(request, lambda done, total: None, lambda: False)
    return list(clip.frames)[12]


def test_gallery_renders_every_prompt() -> None:
    GALLERY.mkdir(parents=True, exist_ok=True)
    seen: list[np.ndarray] = []
    for k, prompt in enumerate(PROMPTS):
        frame = _frame(prompt, 1280, 720)
        assert frame.shape == (720, 1280, 3)
        path = GALLERY / f"{k:02d}-{_slug(prompt)}.png"
        Image.fromarray(frame).save(path, optimize=True)
        assert path.stat().st_size > 1000
        assert all(not np.array_equal(frame, other) for other in seen), prompt
        seen.append(frame)
        desc = describe(prompt)
        assert desc.is_scene is (k < len(PROMPTS) - 1), prompt
    if os.environ.get("VIDSERVE_GALLERY_DOCS"):
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        for k in IN_DOCS:
            small = _frame(PROMPTS[k], 640, 360)
            Image.fromarray(small).save(DOCS_IMG / f"procedural-{_slug(PROMPTS[k])}.png",
                                        optimize=True)


def test_the_docs_show_gallery_images_that_exist() -> None:
    page = (ROOT / "docs" / "procedural.md").read_text()
    shown = re.findall(r"\(img/(procedural-[a-z-]+\.png)\)", page)
    assert len(shown) >= 4
    expected = {f"procedural-{_slug(PROMPTS[k])}.png" for k in IN_DOCS}
    assert set(shown) <= expected
    for name in shown:
        assert (DOCS_IMG / name).stat().st_size > 1000, name
