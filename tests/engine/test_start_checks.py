"""Checked at start: a model whose saved configuration cannot run its native grid is listed
UNAVAILABLE with the reason (not a RuntimeError in each job), and a malformed models file
stops the server with one line naming file, model and key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("diffusers")

from vidserve.engine.registry import ModelRegistry


def _cli(args: list[str], models: Path, data: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIDSERVE_MODELS_FILE": str(models), "VIDSERVE_DATA_DIR": str(data),
           "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "vidserve", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_a_grid_beyond_the_rope_table_is_unavailable_at_start(
    tiny_weights: Path, tmp_path: Path
) -> None:
    # the tiny Wan's rope table has 32 positions per axis; 1024 px wide is 64 latent patches
    models = tmp_path / "models.toml"
    models.write_text(f"""
[models.too-wide]
backend = "diffusers"
pipeline = "WanPipeline"
weights = "{tiny_weights / 'wan-t2v'}"
native_sizes = ["1024x512"]

[models.fine]
backend = "diffusers"
pipeline = "WanPipeline"
weights = "{tiny_weights / 'wan-t2v'}"
native_sizes = ["64x32"]
max_frames = 17
""")
    registry = ModelRegistry.from_file(models)
    wide, fine = registry.get("too-wide"), registry.get("fine")
    assert wide is not None and fine is not None and fine.spec.problem is None
    assert "rope table has 32 positions per axis" in (wide.spec.problem or "")
    assert "1024x512" in (wide.spec.problem or "")
    out = _cli(["models"], models, tmp_path / "data")
    assert out.returncode == 0, out.stderr
    line = next(x for x in out.stdout.splitlines() if x.startswith("too-wide"))
    assert "UNAVAILABLE: " in line and "rope table" in line
    assert "\taudio=no" in line


def test_ltx2_lists_its_sound(tiny_weights: Path, tmp_path: Path) -> None:
    models = tmp_path / "models.toml"
    models.write_text(f"""
[models.ltx2]
backend = "diffusers"
pipeline = "LTX2Pipeline"
weights = "{tiny_weights / 'ltx2'}"
native_sizes = ["64x32"]
""")
    out = _cli(["models"], models, tmp_path / "data")
    line = next(x for x in out.stdout.splitlines() if x.startswith("ltx2"))
    assert "\taudio=yes" in line and "\tedit=yes" in line and "UNAVAILABLE" not in line


@pytest.mark.parametrize(("body", "words"), [
    ('[models.m]\nbackend = "diffusers"\npipeline = "WanPipeline"\nweights = "./w"\n'
     "steps = \"many\"\n", ["model 'm'", "steps"]),
    ('[models.m]\nbackend = "procedural"\nseconds = 4\n', ["model 'm'", "seconds"]),
    ('[models.m]\nbackend = "procedural"\nfps = "fast"\n', ["model 'm'", "fps"]),
])
def test_a_malformed_models_file_stops_the_server_with_one_line(
    tmp_path: Path, body: str, words: list[str]
) -> None:
    models = tmp_path / "models.toml"
    models.write_text(body)
    out = _cli(["serve", "--port", "0"], models, tmp_path / "data")
    assert out.returncode == 2
    lines = [x for x in out.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert str(models) in lines[0] and all(w in lines[0] for w in words), lines[0]
