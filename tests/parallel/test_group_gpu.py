"""Device groups on CUDA (marker ``gpu``; skipped without at least 2 GPUs): a tiny Wan on
``cuda:0`` against the same clip on 2 GPUs, with Ulysses (NCCL) and with ring (an attention
backend that returns the log-sum-exp: ``_native_cudnn``)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available() or torch.cuda.device_count() < 2,
                       reason="needs 2 CUDA GPUs"),
    pytest.mark.timeout(600),
]


@pytest.mark.parametrize("mode", ["ulysses", "ring"])
def test_two_gpus_make_the_clip_of_one(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vidserve.engine.diffusion import random_pipelines

    monkeypatch.syspath_prepend(str(Path(__file__).parents[2] / "bench"))
    bench = importlib.import_module("parallel_wan")
    folder = random_pipelines.save("wan-t2v", tmp_path / "wan")
    one, group = bench.measure(folder, ranks=2, device="cuda", dtype="float32", steps=3,
                               width=64, height=32, frames=17, tiny=True, mode=mode)
    assert len(group.frames) == len(one.frames)
    worst = max(int(abs(a.astype(int) - b.astype(int)).max())
                for a, b in zip(one.frames, group.frames, strict=True))
    assert worst <= 2  # the same clip, up to the GPU kernels' rounding
