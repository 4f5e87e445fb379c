"""The speed knobs' GPU-only paths (marker ``gpu``; skipped without CUDA): cuDNN / flash
attention kernels, torchao float8 on sm89+, group offload with a CUDA stream, regional
compile in bf16, and ``bench/gpu_wan.py`` end to end on a tiny Wan."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from tests.engine.test_speed import entry, frames, loaded  # noqa: E402
from vidserve.engine.diffusion import lora, speed  # noqa: E402
from vidserve.engine.diffusion.backend import DiffusersBackend  # noqa: E402
from vidserve.engine.registry import ModelRegistry  # noqa: E402

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
    pytest.mark.timeout(900),
]

CUDA = 'device = "cuda"\ndtype = "bfloat16"\n'


def _sm() -> int:
    major, minor = torch.cuda.get_device_capability()
    return int(major * 10 + minor)


def _read(tmp_path: Path, text: str) -> ModelRegistry:
    path = tmp_path / "models.toml"
    path.write_text(text)
    return ModelRegistry.from_file(path)


def _backend(reg: ModelRegistry, name: str) -> DiffusersBackend:
    served = reg.get(name)
    assert served is not None and served.spec.problem is None, served
    return DiffusersBackend.from_spec(served.spec)


@pytest.fixture(autouse=True)
def _fresh() -> None:
    lora._residents.clear()


def test_cuda_attention_kernels_match_native(tiny_weights: Path, tmp_path: Path) -> None:
    wan = tiny_weights / "wan-t2v"
    kinds = ["native", "_native_cudnn", "_native_efficient", "_native_flash"]
    reg = _read(tmp_path, "".join(
        entry(k.strip("_").replace("_", "-"), wan, CUDA + f'attention_backend = "{k}"')
        for k in kinds))
    out = {k: frames(_backend(reg, k.strip("_").replace("_", "-"))) for k in kinds}
    for kind in kinds[1:]:
        assert np.abs(out[kind].astype(int) - out["native"].astype(int)).max() <= 2, kind


@pytest.mark.skipif(not torch.cuda.is_available() or _sm() < 89, reason="fp8 needs sm89+")
def test_float8_quantize_and_storage_run(tiny_weights: Path, tmp_path: Path) -> None:
    wan = tiny_weights / "wan-t2v"
    reg = _read(tmp_path, entry("plain", wan, CUDA)
                + entry("fp8", wan, CUDA + 'quantize = "float8_dynamic"')
                + entry("fp8w", wan, CUDA + 'quantize = "float8_weight_only"')
                + entry("cast", wan, CUDA + 'layerwise_casting = "float8_e4m3fn"'))
    reference = frames(_backend(reg, "plain"))
    for name in ("fp8", "fp8w", "cast"):
        got = frames(_backend(reg, name))
        assert got.shape == reference.shape
        assert np.abs(got.astype(int) - reference.astype(int)).mean() < 12, name


def test_group_offload_with_a_stream_keeps_the_weights_on_the_host(
    tiny_weights: Path, tmp_path: Path
) -> None:
    wan = tiny_weights / "wan-t2v"
    reg = _read(tmp_path, entry("plain", wan, CUDA) + entry(
        "group", wan, CUDA + 'offload = "group"\noffload_use_stream = true'))
    reference = frames(_backend(reg, "plain"))
    group = _backend(reg, "group")
    assert np.abs(frames(group).astype(int) - reference.astype(int)).max() <= 2
    block = loaded(group).main.transformer.blocks[0]
    assert next(block.parameters()).device.type == "cpu"  # onloaded only while it runs


def test_regional_compile_on_cuda_compiles_once(tiny_weights: Path, tmp_path: Path) -> None:
    wan = tiny_weights / "wan-t2v"
    reg = _read(tmp_path, entry("eager", wan, CUDA)
                + entry("compiled", wan, CUDA + 'compile = "regional"'))
    compiled = _backend(reg, "compiled")
    compiled.load()
    warm = speed.compiles()
    got = frames(compiled)
    frames(compiled, width=32, height=64)
    assert speed.compiles() == warm
    assert np.abs(got.astype(int) - frames(_backend(reg, "eager")).astype(int)).max() <= 3


def test_the_benchmark_runs_on_cuda(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A smoke run of every row on a tiny Wan on the GPU (the figures come from the full
    shapes: python bench/gpu_wan.py)."""
    monkeypatch.syspath_prepend(str(Path(__file__).parents[2] / "bench"))
    bench = importlib.import_module("gpu_wan")
    rows = "plain,default,attention,compile,cache,distilled" + (
        ",quantize" if _sm() >= 89 else "")
    assert bench.main(["--tiny", "--device", "cuda", "--steps", "2", "--rows", rows,
                       "--attention", "_native_cudnn", "--quantize", "float8_dynamic"]) == 0
    out = capsys.readouterr().out
    assert "4-step distilled" in out and "cudnn" in out.lower()
