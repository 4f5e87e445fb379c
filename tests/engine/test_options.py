"""The ``diffusers`` models-file entry: validation, derived capabilities, weight checks,
``vidserve models``, and the API process never importing torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vidserve.engine.diffusion.options import OptionsError, check, parse
from vidserve.engine.registry import ModelRegistry
from vidserve.errors import ConfigurationError


def _folder(tmp_path: Path, name: str = "w") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "WanPipeline"}))
    return folder


def test_wan_defaults() -> None:
    opts = parse("wan", {"pipeline": "WanPipeline", "weights": "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"})
    assert opts.family == "wan" and not opts.local
    assert opts.native_sizes == ((832, 480), (480, 832))
    assert (opts.native_fps, opts.max_frames, opts.steps, opts.guidance) == (16, 81, 50, 5.0)
    assert opts.video_pipeline == "WanVideoToVideoPipeline" and opts.image_pipeline is None
    assert opts.continuation == "video" and opts.vae_dtype == "float32"
    assert opts.text_to_video and not opts.image_to_video and opts.remix_uses_source


def test_ltx_defaults_and_derived_pipelines() -> None:
    opts = parse("ltx", {"pipeline": "LTXPipeline", "weights": "Lightricks/LTX-Video"})
    assert opts.image_pipeline == "LTXImageToVideoPipeline"
    assert opts.video_pipeline == "LTXConditionPipeline"
    assert (opts.native_fps, opts.native_sizes[0]) == (24, (704, 480))
    cond = parse("c", {"pipeline": "LTXConditionPipeline", "weights": "x/y"})
    assert cond.image_pipeline == cond.video_pipeline == "LTXConditionPipeline"


def test_image_only_wan() -> None:
    opts = parse("i2v", {"pipeline": "WanImageToVideoPipeline", "weights": "a/b"})
    assert not opts.text_to_video and opts.image_to_video
    assert opts.continuation == "image" and opts.remix_uses_source


def test_wan22_ti2v_shares_weights_for_image_to_video() -> None:
    opts = parse("ti2v", {
        "pipeline": "WanPipeline", "weights": "Wan-AI/Wan2.2-TI2V-5B-Diffusers",
        "image_pipeline": "WanImageToVideoPipeline", "native_sizes": ["1280x704", "704x1280"],
        "native_fps": 24, "max_frames": 121,
    })
    assert opts.image_to_video and opts.image_weights is None
    assert opts.native_sizes == ((1280, 704), (704, 1280))


def test_relative_weights_resolve_against_the_models_file(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    opts = parse("m", {"pipeline": "WanPipeline", "weights": "./w"}, base_dir=tmp_path)
    assert opts.local and opts.weights == str(folder.resolve())
    assert check(opts) is None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"weights": "a/b"}, "pipeline is required"),
        ({"pipeline": "WanPipeline"}, "weights is required"),
        ({"pipeline": "Wan Pipeline", "weights": "a/b"}, "pipeline class name"),
        ({"pipeline": "WanPipeline", "weights": "a/b", "stepz": 3}, "unknown key(s) stepz"),
        ({"pipeline": "WanPipeline", "weights": "a/b", "steps": 0}, "steps must be"),
        ({"pipeline": "WanPipeline", "weights": "a/b", "steps": "9"}, "steps must be a int"),
        ({"pipeline": "WanPipeline", "weights": "a/b", "native_sizes": ["830x480"]},
         "divisible by 16"),
        ({"pipeline": "LTXPipeline", "weights": "a/b", "native_sizes": ["720x480"]},
         "divisible by 32"),
        ({"pipeline": "WanPipeline", "weights": "a/b", "offload": "gpu"}, "offload must be"),
        ({"pipeline": "WanPipeline", "weights": "a/b", "remix_strength": 0}, "remix_strength"),
        ({"pipeline": "WanPipeline", "weights": "a/b", "overlap_frames": 81}, "overlap_frames"),
        ({"pipeline": "CogVideoXPipeline", "weights": "a/b"}, "native_sizes is required"),
        ({"pipeline": "CogVideoXPipeline", "weights": "a/b", "native_sizes": ["720x480"],
          "continuation": "video"}, "needs a video_pipeline"),
    ],
)
def test_malformed_entries_are_refused(entry: dict[str, object], message: str) -> None:
    with pytest.raises(OptionsError, match=None) as info:
        parse("m", entry)
    assert message in str(info.value)


def test_missing_weights_are_a_problem_not_a_crash(tmp_path: Path) -> None:
    opts = parse("m", {"pipeline": "WanPipeline", "weights": str(tmp_path / "absent")})
    assert "does not exist" in (check(opts) or "")
    (tmp_path / "empty").mkdir()
    opts = parse("m", {"pipeline": "WanPipeline", "weights": str(tmp_path / "empty")})
    assert "no model_index.json" in (check(opts) or "")


def test_offline_hub_id_not_in_cache_is_a_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    opts = parse("m", {"pipeline": "WanPipeline", "weights": "Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
                       "cache_dir": str(tmp_path / "hf")})
    problem = check(opts) or ""
    assert "not in the local Hugging Face cache" in problem and "HF_HUB_OFFLINE" in problem


def _models_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "models.toml"
    path.write_text(body)
    return path


def test_registry_serves_diffusers_models(tmp_path: Path) -> None:
    _folder(tmp_path)
    registry = ModelRegistry.from_file(_models_file(tmp_path, """
[models.wan]
backend = "diffusers"
pipeline = "WanPipeline"
weights = "./w"

[models.ltx]
backend = "diffusers"
pipeline = "LTXPipeline"
weights = "./missing"
remix = false

[aliases]
"sora-2" = "wan"
"""))
    wan = registry.get("sora-2")
    assert wan is not None and wan.spec.name == "wan" and wan.spec.problem is None
    caps = wan.capabilities
    assert caps.sizes == ("720x1280", "1280x720") and caps.fps == 24
    assert not caps.image_reference and caps.remix and caps.remix_from_source
    assert caps.extra["pipeline"] == "WanPipeline" and caps.extra["native"] == "832x480,480x832"
    assert wan.spec.options["weights"] == str((tmp_path / "w").resolve())
    ltx = registry.get("ltx")
    assert ltx is not None and ltx.capabilities.image_reference and not ltx.capabilities.remix
    assert "does not exist" in (ltx.spec.problem or "")


def test_registry_refuses_a_capability_the_model_lacks(tmp_path: Path) -> None:
    path = _models_file(tmp_path, """
[models.wan]
backend = "diffusers"
pipeline = "WanPipeline"
weights = "a/b"
image_reference = true
""")
    with pytest.raises(ConfigurationError, match="image_reference = true"):
        ModelRegistry.from_file(path)


def test_registry_names_the_model_of_a_bad_entry(tmp_path: Path) -> None:
    path = _models_file(tmp_path, '[models.wan]\nbackend = "diffusers"\npipeline = "WanPipeline"\n')
    with pytest.raises(ConfigurationError, match="model 'wan': weights is required"):
        ModelRegistry.from_file(path)


def _env(tmp_path: Path, models: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDSERVE_")}
    return env | {"VIDSERVE_DATA_DIR": str(tmp_path / "data"), "VIDSERVE_MODELS_FILE": str(models),
                  "HF_HUB_OFFLINE": "1"}


def test_vidserve_models_shows_what_each_can_do_and_what_is_broken(tmp_path: Path) -> None:
    _folder(tmp_path)
    models = _models_file(tmp_path, """
[models.wan]
backend = "diffusers"
pipeline = "WanPipeline"
weights = "./w"

[models.broken]
backend = "diffusers"
pipeline = "LTXPipeline"
weights = "./nowhere"
""")
    result = subprocess.run([sys.executable, "-m", "vidserve", "models"],
                            env=_env(tmp_path, models), capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    lines = {line.split("\t")[0]: line for line in result.stdout.splitlines() if line[:1] != " "}
    assert "backend=diffusers" in lines["wan"] and "pipeline=WanPipeline" in result.stdout
    assert "remix=yes" in lines["wan"] and "image_reference=no" in lines["wan"]
    assert "UNAVAILABLE" in lines["broken"] and "nowhere does not exist" in lines["broken"]
    assert "UNAVAILABLE" not in lines["wan"]


def test_the_api_process_never_imports_torch(tmp_path: Path) -> None:
    """Reading a models file with diffusers entries and building the app loads no torch."""
    _folder(tmp_path)
    models = _models_file(tmp_path, """
[models.wan]
backend = "diffusers"
pipeline = "WanPipeline"
weights = "./w"
""")
    code = (
        "import sys\n"
        "from vidserve.settings import load_settings\n"
        "from vidserve.runtime import load_registry\n"
        "from vidserve.api.app import create_app\n"
        "settings = load_settings()\n"
        "assert load_registry(settings).get('wan') is not None\n"
        "create_app(settings, embedded_worker=False)\n"
        "heavy = sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules)\n"
        "print(heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], env=_env(tmp_path, models),
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
