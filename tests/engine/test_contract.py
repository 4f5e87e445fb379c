"""One engine contract, run over every family and the procedural engine.

Like diffusers' ``PipelineTesterMixin``: the same checks on a tiny random pipeline of each
family (saved with ``save_pretrained``, served through the models file) and on the built-in
procedural engine: text-to-video, image reference, remix, edit, extension, a 12 s clip of
12 s, progress at several intermediate values, cancel inside a step, two concurrent jobs on
one model, and sound of the right length where the model makes it. What a model cannot do
its capabilities say, and the test checks that it says so rather than running it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("diffusers")

from tests.engine.conftest import families_toml
from vidserve.domain import Capabilities, Clip, GenerationRequest
from vidserve.engine.base import GenerationCancelled, VideoBackend
from vidserve.engine.loader import load_backend
from vidserve.engine.registry import ModelRegistry

MODELS = [
    "procedural", "tiny-wan", "tiny-wan-i2v", "tiny-wan22-ti2v", "tiny-wan22-a14b",
    "tiny-ltx", "tiny-ltx2", "tiny-ltx2-condition", "tiny-hunyuan15",
    "tiny-hunyuan15-i2v",
]
Steps = list[tuple[int, int]]


@pytest.fixture(scope="module")
def registry(tiny_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> ModelRegistry:
    path = tmp_path_factory.mktemp("contract") / "models.toml"
    path.write_text(families_toml(tiny_weights, '\n[models.procedural]\nbackend = "procedural"\n'))
    return ModelRegistry.from_file(path)


_backends: dict[str, VideoBackend] = {}


@pytest.fixture
def engine(registry: ModelRegistry) -> Callable[[str], tuple[VideoBackend, Capabilities]]:
    def get(name: str) -> tuple[VideoBackend, Capabilities]:
        served = registry.get(name)
        assert served is not None and served.spec.problem is None, served
        if name not in _backends:  # resident, as in a worker
            _backends[name] = load_backend(served.spec)
        return _backends[name], served.capabilities

    return get


def _flat(colour: tuple[int, int, int], width: int = 1280, height: int = 720) -> np.ndarray:
    image = np.zeros((height, width, 3), np.uint8)
    image[...] = colour
    return image


def _request(name: str, caps: Capabilities, seconds: int = 4, **kw: object) -> GenerationRequest:
    request = GenerationRequest(model=name, prompt="a cat playing piano in the rain",
                                width=1280, height=720, seconds=seconds, seed=5, fps=24)
    if not caps.text_to_video:
        request = replace(request, reference_image=_flat((200, 120, 40)))
    return replace(request, **kw)  # type: ignore[arg-type]


def _run(backend: VideoBackend, request: GenerationRequest,
         stop: Callable[[], bool] = lambda: False) -> tuple[list[np.ndarray], Steps, Clip]:
    steps: Steps = []
    clip = backend.generate(request, lambda d, t: steps.append((d, t)), stop)
    frames = list(clip.frames)
    return frames, steps, clip


def _check_clip(frames: list[np.ndarray], clip: Clip, caps: Capabilities,
                request: GenerationRequest) -> None:
    assert len(frames) == request.seconds * request.fps
    assert len({f.shape for f in frames}) == 1 and frames[0].dtype == np.uint8
    if caps.audio:
        assert clip.audio is not None
        assert clip.audio.seconds == pytest.approx(request.seconds, abs=1e-6)
        assert clip.audio.samples.dtype == np.float32
        assert float(np.abs(clip.audio.samples).max()) > 1e-4  # not silent


def _mp4(frames: list[np.ndarray]) -> bytes:
    import tempfile

    from vidserve.media.encode import encode_video

    path = Path(tempfile.mkdtemp()) / "source.mp4"
    encode_video(iter(frames), path, width=1280, height=720, fps=24,
                 expected_frames=len(frames), preset="ultrafast")
    return path.read_bytes()


def _differs(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return float(np.mean([np.abs(x.astype(float) - y).mean() for x, y in zip(a, b,
                                                                              strict=True)]))


@pytest.mark.parametrize("name", MODELS)
def test_text_to_video_progress_and_sound(engine: Callable[..., tuple[VideoBackend,
                                          Capabilities]], name: str) -> None:
    backend, caps = engine(name)
    request = _request(name, caps)
    frames, steps, clip = _run(backend, request)
    _check_clip(frames, clip, caps, request)
    total = steps[-1][1]
    assert steps[-1] == (total, total)
    assert [d for d, _ in steps] == sorted(d for d, _ in steps)  # never backwards
    assert len({d for d, t in steps if 0 < d < t}) >= 2  # several intermediate values
    again, _, _ = _run(backend, request)
    assert _differs(frames, again) == 0.0  # deterministic in (prompt, seed)


@pytest.mark.parametrize("name", MODELS)
def test_twelve_seconds_give_twelve_seconds(engine: Callable[..., tuple[VideoBackend,
                                            Capabilities]], name: str) -> None:
    backend, caps = engine(name)
    request = _request(name, caps, seconds=12)
    frames, _, clip = _run(backend, request)
    _check_clip(frames, clip, caps, request)


@pytest.mark.parametrize("name", MODELS)
def test_image_reference(engine: Callable[..., tuple[VideoBackend, Capabilities]],
                         name: str) -> None:
    backend, caps = engine(name)
    if not caps.image_reference:
        pytest.skip("the model's capabilities say it takes no input_reference")
    red = _request(name, caps, reference_image=_flat((250, 20, 20)))
    blue = replace(red, reference_image=_flat((20, 20, 250)))
    a, _, clip = _run(backend, red)
    b, _, _ = _run(backend, blue)
    _check_clip(a, clip, caps, red)
    assert _differs(a[:4], b[:4]) > 0.5  # the reference conditions the clip's start


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("kind", ["remix", "edit"])
def test_remix_and_edit_from_the_source(engine: Callable[..., tuple[VideoBackend,
                                        Capabilities]], name: str, kind: str) -> None:
    backend, caps = engine(name)
    if kind == "edit" and not caps.edit:
        pytest.skip("the model's capabilities say it cannot edit")
    first = _request(name, caps)
    source, _, _ = _run(backend, first)
    data = _mp4(source)
    request = replace(first, prompt="a dog playing drums in the snow",
                      reference_image=None if caps.text_to_video else first.reference_image)
    if kind == "remix":
        request = replace(request, source_prompt=first.prompt,
                          source_video=data if caps.remix_from_source else None)
    else:
        request = replace(request, source_video=data)
    frames, steps, clip = _run(backend, request)
    _check_clip(frames, clip, caps, request)
    assert steps and steps[-1][0] == steps[-1][1]
    if request.source_video is not None and caps.text_to_video:
        plain, _, _ = _run(backend, replace(request, source_video=None, source_prompt=None))
        assert _differs(frames, plain) > 0.1  # conditioned on the source, not only the seed


@pytest.mark.parametrize("name", MODELS)
def test_extension_continues_the_last_frame(engine: Callable[..., tuple[VideoBackend,
                                            Capabilities]], name: str) -> None:
    backend, caps = engine(name)
    if not caps.extend:
        pytest.skip("the model's capabilities say it cannot extend")
    last = _flat((30, 200, 90))
    # what the worker sends for an extension: the segment, and the source's last frame
    request = _request(name, caps, continue_from=last, reference_image=last)
    frames, _, clip = _run(backend, request)
    _check_clip(frames, clip, caps, request)
    other = replace(request, continue_from=_flat((200, 30, 200)),
                    reference_image=_flat((200, 30, 200)))
    b, _, _ = _run(backend, other)
    # the seam follows the source (had the last frame been ignored, the frames would be
    # identical; a random SDEdit model keeps only a little of a held frame)
    assert _differs(frames[:4], b[:4]) > 0.0


@pytest.mark.parametrize("name", MODELS)
def test_cancel_inside_a_step(engine: Callable[..., tuple[VideoBackend, Capabilities]],
                              name: str) -> None:
    backend, caps = engine(name)
    steps: Steps = []
    asked: list[int] = []

    def should_stop() -> bool:
        asked.append(len(steps))
        # after the first step: stop at the second check inside the next step
        return sum(1 for n in asked if n >= 1) >= 2

    with pytest.raises(GenerationCancelled):
        list(backend.generate(_request(name, caps, seconds=8),
                              lambda d, t: steps.append((d, t)), should_stop).frames)
    if name == "procedural":  # it asks before each step: the third never started
        assert len(steps) == 2
    else:  # diffusers: a block hook asked mid-step; the second step never finished
        assert len(steps) == 1 and asked.count(1) >= 2
    # and the model serves the next job at once
    frames, _, clip = _run(backend, _request(name, caps))
    _check_clip(frames, clip, caps, _request(name, caps))


@pytest.mark.parametrize("name", MODELS)
def test_two_concurrent_jobs_on_one_model(engine: Callable[..., tuple[VideoBackend,
                                          Capabilities]], name: str) -> None:
    backend, caps = engine(name)
    requests = [_request(name, caps, seed=11), _request(name, caps, seed=12)]
    alone = [_run(backend, r)[0] for r in requests]
    results: dict[int, list[np.ndarray]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def job(i: int) -> None:
        try:
            barrier.wait()
            results[i] = _run(backend, requests[i])[0]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=job, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors
    for i in range(2):  # each job as if it had run alone: no shared scheduler state
        assert _differs(results[i], alone[i]) == 0.0


_CALLS = re.compile(r"window (\d+)/\d+ \((\w+), \w+\): \d+ steps, denoiser calls (\{.*\})")


def _windows(caplog: pytest.LogCaptureFixture) -> list[tuple[str, dict[str, int]]]:
    import ast

    found = [_CALLS.search(r.getMessage()) for r in caplog.records]
    return [(m[2], ast.literal_eval(m[3])) for m in found if m]


def test_wan22_a14b_runs_both_experts_in_every_window(
    engine: Callable[..., tuple[VideoBackend, Capabilities]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    name = "tiny-wan22-a14b"
    backend, caps = engine(name)
    caplog.set_level("INFO", logger="vidserve.engine.diffusers")
    source, _, _ = _run(backend, _request(name, caps, seconds=12))
    long = _windows(caplog)
    assert len(long) == 8 and [r for r, _ in long] == ["text"] + ["video"] * 7
    data = _mp4(source[:96])
    for request in (  # remix and edit: the video-to-video pipeline, derived
        _request(name, caps, source_video=data, source_prompt="a cat"),
        _request(name, caps, source_video=data),
    ):
        caplog.clear()
        _run(backend, request)
        windows = _windows(caplog)
        assert windows and all(r == "video" for r, _ in windows)
        long += windows
    for _, calls in long:
        assert calls.get("transformer", 0) > 0 and calls.get("transformer_2", 0) > 0, long
