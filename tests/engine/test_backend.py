"""The diffusers backend on tiny random Wan / LTX pipelines loaded from disk (CPU).

Progress is the real count of denoising steps (video-to-video windows run fewer), a cancel
stops within one step, continuation windows give exactly ``seconds * fps`` frames, the
reference image conditions the start of the clip, and failures are clear.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("diffusers")

import torch

from tests.engine.conftest import models_toml
from vidserve.domain import GenerationRequest
from vidserve.engine.base import GenerationCancelled, GenerationFailed, VideoBackend
from vidserve.engine.diffusion.backend import DiffusersBackend
from vidserve.engine.loader import load_backend
from vidserve.engine.registry import ModelRegistry

Steps = list[tuple[int, int]]


@pytest.fixture(scope="module")
def registry(tiny_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> ModelRegistry:
    root = tmp_path_factory.mktemp("models")
    corrupt = root / "corrupt"
    corrupt.mkdir()
    (corrupt / "model_index.json").write_text(
        (tiny_weights / "wan-t2v" / "model_index.json").read_text()
    )
    (corrupt / "transformer").mkdir()
    (corrupt / "transformer" / "config.json").write_text("{ not json")
    extra = f"""
[models.corrupt]
backend = "diffusers"
pipeline = "WanPipeline"
weights = "{corrupt}"

[models.tiny-wan-other]
backend = "diffusers"
pipeline = "WanPipeline"
weights = "{tiny_weights / 'wan-t2v'}"
steps = 6
guidance = 1.0
negative_prompt = "blurry"
native_sizes = ["64x32", "32x64"]
native_fps = 8
max_frames = 17
overlap_frames = 5
max_sequence_length = 16
cpu_threads = 1

[models.missing]
backend = "diffusers"
pipeline = "LTXPipeline"
weights = "{root / 'missing'}"
"""
    path = root / "models.toml"
    path.write_text(models_toml(tiny_weights, extra))
    return ModelRegistry.from_file(path)


_backends: dict[str, VideoBackend] = {}


@pytest.fixture
def engine(registry: ModelRegistry) -> Callable[[str], VideoBackend]:
    def get(name: str) -> VideoBackend:
        if name not in _backends:  # loaded once, resident, as in a worker
            served = registry.get(name)
            assert served is not None
            _backends[name] = load_backend(served.spec)
        return _backends[name]

    return get


def _request(model: str, seconds: int = 4, **kw: object) -> GenerationRequest:
    return GenerationRequest(model=model, prompt="a cat playing piano", width=1280, height=720,
                             seconds=seconds, seed=kw.pop("seed", 7), fps=24, **kw)  # type: ignore[arg-type]


def _run(backend: VideoBackend, request: GenerationRequest,
         stop: Callable[[], bool] = lambda: False) -> tuple[list[np.ndarray], Steps]:
    steps: Steps = []
    frames = list(backend.generate(request, lambda d, t: steps.append((d, t)), stop).frames)
    return frames, steps


def test_loads_once_through_from_pretrained(engine: Callable[[str], VideoBackend]) -> None:
    wan = engine("tiny-wan")
    assert isinstance(wan, DiffusersBackend)
    _run(wan, _request("tiny-wan"))
    loaded = wan._loaded
    assert loaded is not None and type(loaded.main).__name__ == "WanPipeline"
    video = loaded.view("video")
    assert type(video).__name__ == "WanVideoToVideoPipeline"
    assert video.transformer is loaded.main.transformer  # shared, not copied
    assert video.scheduler is not loaded.main.scheduler  # per-job state is the job's own
    assert loaded.view("video").scheduler is not video.scheduler
    _run(wan, _request("tiny-wan"))
    assert wan._loaded is loaded  # resident


@pytest.mark.parametrize("model", ["tiny-wan", "tiny-ltx"])
@pytest.mark.parametrize("seconds", [4, 8, 12])
def test_exactly_seconds_times_fps_frames(
    engine: Callable[[str], VideoBackend], model: str, seconds: int
) -> None:
    frames, steps = _run(engine(model), _request(model, seconds))
    assert len(frames) == seconds * 24
    assert {f.shape for f in frames} == {(32, 64, 3)}  # the native grid: the encoder resizes
    assert all(f.dtype == np.uint8 for f in frames)
    # 8 fps native: 32/64/96 frames, in windows of at most 17 frames sharing 5
    windows = {4: 3, 8: 5, 12: 8}[seconds]
    per_window = steps[-1][1]
    assert per_window >= 4 + (windows - 1) * 3
    if model == "tiny-ltx":  # condition windows run every step
        assert per_window == 4 * windows


def test_portrait_uses_the_portrait_grid(engine: Callable[[str], VideoBackend]) -> None:
    frames, _ = _run(engine("tiny-wan"), GenerationRequest(
        model="tiny-wan", prompt="x", width=720, height=1280, seconds=4, seed=1))
    assert frames[0].shape == (64, 32, 3)


def test_progress_counts_every_step_actually_run(engine: Callable[[str], VideoBackend]) -> None:
    # one window of T2V (4 steps) then Wan V2V continuation windows at strength 0.85
    # (int(4 * 0.85) = 3 steps each): 4 + 3 + 3 for 4 s
    _, steps = _run(engine("tiny-wan"), _request("tiny-wan", 4))
    assert steps == [(i, 10) for i in range(1, 11)]
    _, steps = _run(engine("tiny-ltx"), _request("tiny-ltx", 4))
    assert steps == [(i, 12) for i in range(1, 13)]


@pytest.mark.parametrize("model", ["tiny-wan", "tiny-ltx"])
@pytest.mark.parametrize("after", [2, 6])  # in the first window, in the second
def test_cancel_stops_within_one_step(
    engine: Callable[[str], VideoBackend], model: str, after: int
) -> None:
    calls: Steps = []
    frames: list[np.ndarray] = []
    with pytest.raises(GenerationCancelled):
        for frame in engine(model).generate(
            _request(model, 12), lambda d, t: calls.append((d, t)), lambda: len(calls) >= after
        ).frames:
            frames.append(frame)
    assert len(calls) == after  # the step during which it was told to stop was the last
    if after < 4:
        assert frames == []  # the first window never finished: nothing was decoded
    else:  # only the first window's settled frames (17 - 5 native at 8 fps -> 24 fps)
        assert len(frames) == 36


def test_cancel_before_start(engine: Callable[[str], VideoBackend]) -> None:
    calls: Steps = []
    with pytest.raises(GenerationCancelled):
        engine("tiny-wan").generate(_request("tiny-wan"), lambda d, t: calls.append((d, t)),
                                     lambda: True)
    assert calls == []


def test_same_seed_same_video_other_seed_other_video(
    engine: Callable[[str], VideoBackend]
) -> None:
    wan = engine("tiny-wan")
    a, _ = _run(wan, _request("tiny-wan", seed=1))
    b, _ = _run(wan, _request("tiny-wan", seed=1))
    c, _ = _run(wan, _request("tiny-wan", seed=2))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def _flat(colour: tuple[int, int, int]) -> np.ndarray:
    image = np.zeros((720, 1280, 3), np.uint8)
    image[...] = colour
    return image


@pytest.mark.parametrize("model", ["tiny-ltx", "tiny-wan-i2v"])
def test_reference_image_conditions_the_first_frames(
    engine: Callable[[str], VideoBackend], model: str
) -> None:
    red, blue = _flat((250, 20, 20)), _flat((20, 20, 250))
    a, _ = _run(engine(model), _request(model, reference_image=red, seed=1))
    a2, _ = _run(engine(model), _request(model, reference_image=red, seed=1))
    b, _ = _run(engine(model), _request(model, reference_image=blue, seed=1))
    assert len(a) == len(b) == 96
    assert all(np.array_equal(x, y) for x, y in zip(a, a2, strict=True))
    diff = [float(np.abs(x.astype(float) - y).mean()) for x, y in zip(a, b, strict=True)]
    # the reference is the clip's first frame: it moves the start far more than the end
    assert diff[0] > 1.0 and diff[0] > 2 * diff[-1]


def test_image_only_model_needs_a_reference(engine: Callable[[str], VideoBackend]) -> None:
    with pytest.raises(GenerationFailed) as info:
        engine("tiny-wan-i2v").generate(_request("tiny-wan-i2v"), lambda d, t: None,
                                         lambda: False)
    assert info.value.code == "invalid_request" and "input_reference" in info.value.message


def _mp4(frames: list[np.ndarray]) -> bytes:
    from vidserve.media.encode import encode_video

    path = Path(__import__("tempfile").mkdtemp()) / "source.mp4"
    encode_video(iter(frames), path, width=1280, height=720, fps=24,
                 expected_frames=len(frames), preset="ultrafast")
    return path.read_bytes()


@pytest.mark.parametrize("model", ["tiny-wan", "tiny-ltx", "tiny-wan-i2v"])
def test_remix_regenerates_from_the_source(
    engine: Callable[[str], VideoBackend], model: str
) -> None:
    engine = engine(model)
    first = _request(model, reference_image=_flat((200, 120, 40)) if "i2v" in model else None)
    source, _ = _run(engine, first)
    data = _mp4(source)
    remix = _replace(first, prompt="a dog playing drums", reference_image=None,
                     source_video=data, source_prompt=first.prompt)
    out, steps = _run(engine, remix)
    again, _ = _run(engine, remix)
    assert len(out) == 96
    assert all(np.array_equal(x, y) for x, y in zip(out, again, strict=True))
    if model == "tiny-wan":
        # video-to-video at remix_strength 0.7: int(4 * 0.7) = 2 steps per window
        assert steps[-1] == (6, 6)
    # conditioned on the source: not what the same prompt and seed give from scratch
    if model != "tiny-wan-i2v":
        plain, _ = _run(engine, _replace(remix, source_video=None))
        assert not all(np.array_equal(x, y) for x, y in zip(out, plain, strict=True))


def _replace(request: GenerationRequest, **changes: object) -> GenerationRequest:
    from dataclasses import replace

    return replace(request, **changes)  # type: ignore[arg-type]


def test_broken_models_fail_their_jobs_clearly(
    engine: Callable[[str], VideoBackend], registry: ModelRegistry
) -> None:
    missing = registry.get("missing")
    assert missing is not None and "does not exist" in (missing.spec.problem or "")
    with pytest.raises(GenerationFailed) as info:
        engine("missing").generate(_request("missing"), lambda d, t: None, lambda: False)
    assert info.value.code == "model_unavailable"
    assert "Model 'missing' cannot be loaded" in info.value.message
    assert "missing does not exist" in info.value.message

    corrupt = engine("corrupt")
    for _ in range(2):  # the second job fails at once from the remembered failure
        with pytest.raises(GenerationFailed) as info:
            corrupt.generate(_request("corrupt"), lambda d, t: None, lambda: False)
        assert info.value.code == "model_unavailable"
        assert "Model 'corrupt' cannot be loaded" in info.value.message


def test_out_of_memory_fails_the_job_and_names_model_and_size(
    engine: Callable[[str], VideoBackend]
) -> None:
    def explode(done: int, total: int) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    with pytest.raises(GenerationFailed) as info:
        list(engine("tiny-wan").generate(_request("tiny-wan", 8), explode, lambda: False).frames)
    assert info.value.code == "out_of_memory"
    message = info.value.message
    assert "tiny-wan" in message and "64x32" in message and "1280x720" in message
    # the backend is still usable afterwards
    frames, _ = _run(engine("tiny-wan"), _request("tiny-wan"))
    assert len(frames) == 96


def test_two_models_in_one_worker_keep_their_own_settings(
    engine: Callable[[str], VideoBackend]
) -> None:
    # the same weights served twice with other steps, guidance and negative prompt: running
    # one never changes what the other does (no shared scheduler, guider or call settings)
    a, b = engine("tiny-wan"), engine("tiny-wan-other")
    first, steps_a = _run(a, _request("tiny-wan", seed=3))
    other, steps_b = _run(b, _request("tiny-wan-other", seed=3))
    again, steps_a2 = _run(a, _request("tiny-wan", seed=3))
    assert steps_a[-1] == steps_a2[-1] == (10, 10)  # 4 + 3 + 3
    assert steps_b[-1] == (6 + 5 + 5, 6 + 5 + 5)  # 6 steps, then int(6 * 0.85) = 5
    assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(first, other, strict=True))
