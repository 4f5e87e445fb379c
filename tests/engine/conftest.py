"""Tiny randomly initialised pipelines of every family, saved once per session.

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


# every family, as operators configure them (the contract suite runs over all of these)
FAMILIES = """
[models.tiny-wan22-ti2v]
backend = "diffusers"
pipeline = "WanPipeline"
image_pipeline = "WanImageToVideoPipeline"
weights = "{weights}/wan2.2-ti2v"
steps = 4
{tiny}
[models.tiny-wan22-a14b]
backend = "diffusers"
pipeline = "WanPipeline"
weights = "{weights}/wan2.2-a14b"
steps = 4
continuation_strength = 0.6
{tiny}
[models.tiny-ltx2]
backend = "diffusers"
pipeline = "LTX2Pipeline"
weights = "{weights}/ltx2"
steps = 3
guidance = 1.0
{tiny}
[models.tiny-ltx2.call_args]  # one transformer pass per step: no STG, no modality guidance
stg_scale = 0.0
audio_stg_scale = 0.0
modality_scale = 1.0
audio_modality_scale = 1.0
audio_guidance_scale = 1.0

[models.tiny-ltx2-condition]  # one class for text, image and clips (edits, extensions)
backend = "diffusers"
pipeline = "LTX2ConditionPipeline"
weights = "{weights}/ltx2-condition"
steps = 3
guidance = 1.0
{tiny}
[models.tiny-ltx2-condition.call_args]
stg_scale = 0.0
audio_stg_scale = 0.0
modality_scale = 1.0
audio_modality_scale = 1.0
audio_guidance_scale = 1.0

[models.tiny-hunyuan15]
backend = "diffusers"
pipeline = "HunyuanVideo15Pipeline"
weights = "{weights}/hunyuan15"
steps = 3
guidance = 1.0
{tiny}
[models.tiny-hunyuan15-i2v]  # the T2V checkpoint plus the I2V one, as operators pair them
backend = "diffusers"
pipeline = "HunyuanVideo15Pipeline"
weights = "{weights}/hunyuan15"
image_pipeline = "HunyuanVideo15ImageToVideoPipeline"
image_weights = "{weights}/hunyuan15-i2v"
steps = 3
guidance = 1.0
{tiny}
"""

KINDS = ("wan-t2v", "wan-i2v", "ltx", "wan2.2-ti2v", "wan2.2-a14b", "ltx2", "ltx2-condition",
         "hunyuan15", "hunyuan15-i2v")


def families_toml(weights: Path, extra: str = "") -> str:
    """``models_toml`` plus one model of each newer family."""
    return models_toml(weights, FAMILIES.format(weights=weights, tiny=TINY) + extra)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    pytest.importorskip("diffusers")
    from vidserve.engine.diffusion import random_pipelines

    root = tmp_path_factory.mktemp("weights")
    for kind in KINDS:
        random_pipelines.save(kind, root / kind)
    yield root
