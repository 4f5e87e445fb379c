"""The diffusers backend on a CUDA GPU (marker ``gpu``; skipped without CUDA).

- Tiny random pipelines on the GPU: bfloat16, progress, cancel, and an out-of-memory that
  fails the job, frees the memory and leaves the backend usable.
- Real weights when ``VIDSERVE_TEST_WAN_WEIGHTS`` names a Wan 2.1 T2V diffusers folder or a
  hub id already in the local cache (skipped otherwise): one 832x480 clip of 5 s.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from tests.engine.conftest import TINY  # noqa: E402
from vidserve.domain import GenerationRequest  # noqa: E402
from vidserve.engine.base import GenerationCancelled, GenerationFailed  # noqa: E402
from vidserve.engine.loader import load_backend  # noqa: E402
from vidserve.engine.registry import ModelRegistry  # noqa: E402

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def _backend(tmp_path: Path, entry: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "models.toml"
    path.write_text(entry)
    served = ModelRegistry.from_file(path).get("m")
    assert served is not None and served.spec.problem is None, served
    return load_backend(served.spec)


def _request(**kw: object) -> GenerationRequest:
    base: dict[str, object] = {"model": "m", "prompt": "a cat", "width": 1280, "height": 720,
                               "seconds": 4, "seed": 3, "fps": 24}
    return GenerationRequest(**(base | kw))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def tiny_cuda(tiny_weights: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    entry = f"""
[models.m]
backend = "diffusers"
pipeline = "WanPipeline"
weights = "{tiny_weights / 'wan-t2v'}"
device = "cuda"
dtype = "bfloat16"
steps = 4
{TINY.replace('cpu_threads = 1', '')}
"""
    return _backend(tmp_path_factory.mktemp("gpu"), entry)


def test_tiny_pipeline_on_cuda(tiny_cuda) -> None:  # type: ignore[no-untyped-def]
    steps: list[tuple[int, int]] = []
    frames = list(tiny_cuda.generate(_request(), lambda d, t: steps.append((d, t)),
                                     lambda: False).frames)
    assert len(frames) == 96 and steps[-1][0] == steps[-1][1]
    loaded = tiny_cuda._loaded
    assert loaded.device.type == "cuda" and loaded.main.transformer.dtype == torch.bfloat16


def test_cancel_on_cuda_within_one_step(tiny_cuda) -> None:  # type: ignore[no-untyped-def]
    calls: list[tuple[int, int]] = []
    with pytest.raises(GenerationCancelled):
        list(tiny_cuda.generate(_request(seconds=12), lambda d, t: calls.append((d, t)),
                                lambda: len(calls) >= 3).frames)
    assert len(calls) == 3


def test_out_of_memory_frees_memory_and_the_backend_survives(tiny_cuda) -> None:  # type: ignore[no-untyped-def]
    list(tiny_cuda.generate(_request(), lambda d, t: None, lambda: False).frames)  # warm
    torch.cuda.synchronize()
    baseline = torch.cuda.memory_allocated()
    hog: list[object] = []

    def grab(done: int, total: int) -> None:
        free, _ = torch.cuda.mem_get_info()
        hog.append(torch.empty(free // 2, dtype=torch.uint8, device="cuda"))
        torch.empty(free, dtype=torch.uint8, device="cuda")  # cannot fit: OutOfMemoryError

    with pytest.raises(GenerationFailed) as info:
        list(tiny_cuda.generate(_request(), grab, lambda: False).frames)
    assert info.value.code == "out_of_memory" and "GPU memory" in info.value.message
    hog.clear()
    torch.cuda.empty_cache()
    assert torch.cuda.memory_allocated() <= baseline + 64 * 2**20
    assert len(list(tiny_cuda.generate(_request(), lambda d, t: None, lambda: False).frames)) == 96


@pytest.mark.skipif(not os.environ.get("VIDSERVE_TEST_WAN_WEIGHTS"),
                    reason="set VIDSERVE_TEST_WAN_WEIGHTS to a Wan 2.1 T2V diffusers folder")
def test_real_wan_weights(tmp_path: Path) -> None:
    weights = os.environ["VIDSERVE_TEST_WAN_WEIGHTS"]
    backend = _backend(tmp_path, f"""
[models.m]
backend = "diffusers"
pipeline = "WanPipeline"
weights = "{weights}"
steps = 20
""")
    steps: list[tuple[int, int]] = []
    frames = list(backend.generate(_request(seconds=5, width=1280, height=720),
                                   lambda d, t: steps.append((d, t)), lambda: False).frames)
    assert len(frames) == 5 * 24
    assert frames[0].shape == (480, 832, 3)
    assert steps == [(i, 20) for i in range(1, 21)]
