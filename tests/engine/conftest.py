"""Tiny randomly initialised Wan / LTX-Video pipelines, saved once per session.

They are written with ``save_pretrained`` into a temporary folder and served through a
``MODELS_FILE`` entry pointing at it: vidserve loads them with ``from_pretrained``, the path
real weights take. Nothing is downloaded (``HF_HUB_OFFLINE=1``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before huggingface_hub is imported
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# one tiny model of each kind: native grid 64x32 / 32x64, 8 fps, windows of at most 17 frames
TINY = """
native_sizes = ["64x32", "32x64"]
native_fps = 8
max_frames = 17
overlap_frames = 5
max_sequence_length = 16
cpu_threads = 1
"""


def models_toml(weights: Path, extra: str = "") -> str:
    """A models file serving the tiny pipelines in ``weights`` (plus ``extra`` TOML)."""
    return f"""
[models.tiny-wan]
backend = "diffusers"
pipeline = "WanPipeline"
weights = "{weights / 'wan-t2v'}"
steps = 4
{TINY}
[models.tiny-ltx]
backend = "diffusers"
pipeline = "LTXPipeline"
weights = "{weights / 'ltx'}"
steps = 4
{TINY}
[models.tiny-wan-i2v]
backend = "diffusers"
pipeline = "WanImageToVideoPipeline"
weights = "{weights / 'wan-i2v'}"
steps = 4
{TINY}
{extra}
"""


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    pytest.importorskip("diffusers")
    from vidserve.engine.diffusion import random_pipelines

    root = tmp_path_factory.mktemp("weights")
    for kind in ("wan-t2v", "wan-i2v", "ltx"):
        random_pipelines.save(kind, root / kind)
    yield root
