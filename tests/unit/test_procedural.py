"""The procedural engine: determinism, prompt/seed roles, reference image, steps, cancellation."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
from PIL import ImageFont

from vidserve.domain import GenerationRequest
from vidserve.engine.base import GenerationCancelled, VideoBackend
from vidserve.engine.procedural import (
    FRAMES_PER_STEP,
    ProceduralBackend,
    analyse_prompt,
    make_structure,
)
from vidserve.engine.procedural.caption import wrap

W, H = 192, 112


def request(
    prompt: str = "a red balloon over the sea",
    seed: int = 7,
    *,
    seconds: int = 1,
    fps: int = 24,
    width: int = W,
    height: int = H,
    reference: np.ndarray | None = None,
) -> GenerationRequest:
    return GenerationRequest(
        model="procedural",
        prompt=prompt,
        width=width,
        height=height,
        seconds=seconds,
        seed=seed,
        fps=fps,
        reference_image=reference,
    )


def render(req: GenerationRequest, backend: ProceduralBackend | None = None) -> list[np.ndarray]:
    backend = backend or ProceduralBackend()
    return list(backend.generate(req, lambda done, total: None, lambda: False).frames)


def edges(frame: np.ndarray, caption_rows: int) -> np.ndarray:
    """Where the picture has hard edges (shape outlines), above the caption band."""
    body = frame[: frame.shape[0] - caption_rows].astype(np.int16)
    gx = np.abs(np.diff(body, axis=1)).max(axis=2)[:-1, :]
    gy = np.abs(np.diff(body, axis=0)).max(axis=2)[:, :-1]
    mask: np.ndarray = np.maximum(gx, gy) > 24
    return mask


def dilate(mask: np.ndarray, r: int = 2) -> np.ndarray:
    out = mask.copy()
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            out |= np.roll(np.roll(mask, dy, axis=0), dx, axis=1)
    return out


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Share of edge pixels of each mask found near an edge of the other (symmetric)."""
    if not a.any() or not b.any():
        return 0.0
    return float(min((a & dilate(b)).sum() / a.sum(), (b & dilate(a)).sum() / b.sum()))


# --------------------------------------------------------------------------- protocol, shape


def test_is_a_video_backend() -> None:
    backend = ProceduralBackend(sizes=("1280x720",))
    assert isinstance(backend, VideoBackend)
    assert backend.name == "procedural"
    caps = backend.capabilities()
    assert caps.sizes == ("1280x720",)
    assert caps.image_reference and caps.remix
    assert ProceduralBackend().capabilities().sizes == (
        "720x1280",
        "1280x720",
        "1024x1792",
        "1792x1024",
    )


@pytest.mark.parametrize(("seconds", "fps", "width", "height"), [(1, 24, W, H), (2, 10, 96, 160)])
def test_frame_count_shape_and_dtype(seconds: int, fps: int, width: int, height: int) -> None:
    frames = render(request(seconds=seconds, fps=fps, width=width, height=height))
    assert len(frames) == seconds * fps
    for frame in frames:
        assert frame.shape == (height, width, 3)
        assert frame.dtype == np.uint8
        assert frame.flags["C_CONTIGUOUS"]
    # it is animated: the last frame is not the first
    assert not np.array_equal(frames[0], frames[-1])


def test_full_size_landscape_frame() -> None:
    frames = render(request(seconds=1, fps=2, width=1280, height=720))
    assert [f.shape for f in frames] == [(720, 1280, 3)] * 2


# --------------------------------------------------------------------------- determinism


def test_same_prompt_and_seed_give_identical_bytes() -> None:
    a = render(request("neon city in the rain, fast", seed=42))
    b = render(request("neon city in the rain, fast", seed=42), ProceduralBackend())
    assert len(a) == len(b)
    assert all(x.tobytes() == y.tobytes() for x, y in zip(a, b, strict=True))


def test_different_seeds_differ() -> None:
    a = render(request(seed=1))
    b = render(request(seed=2))
    assert not np.array_equal(a[0], b[0])


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("a red balloon over the sea", "a blue balloon over the sea"),
        ("a quiet cat", "a quiet dog"),  # unknown words still count
        ("purple squares spinning", "purple squares flying"),  # motion only
    ],
)
def test_different_prompts_differ(first: str, second: str) -> None:
    a = render(request(first))
    b = render(request(second))
    assert any(not np.array_equal(x, y) for x, y in zip(a[1:], b[1:], strict=True))
    # and the difference is not only the caption: compare above the caption band
    body = slice(0, H // 2)
    assert any(not np.array_equal(x[body], y[body]) for x, y in zip(a, b, strict=True))


def test_colour_words_set_the_palette() -> None:
    red = render(request("crimson red fire", seconds=1, fps=2))[0].astype(float)
    blue = render(request("deep blue ocean", seconds=1, fps=2))[0].astype(float)
    assert red[..., 0].mean() > red[..., 2].mean() + 30
    assert blue[..., 2].mean() > blue[..., 0].mean() + 30


def test_motion_words_set_the_motion_and_speed() -> None:
    assert analyse_prompt("things spinning around").motion == "spin"
    assert analyse_prompt("birds flying south").motion == "fly"
    assert analyse_prompt("bouncing balls").motion == "bounce"
    assert analyse_prompt("a fast car").speed > 1.5 * analyse_prompt("a slow car").speed
    assert "rain" in analyse_prompt("a rainy street").effects
    assert "snow" in analyse_prompt("snowy village").effects
    assert analyse_prompt("red triangles").styles == ("triangle",)
    # deterministic for unknown words, and they do matter
    assert analyse_prompt("xyzzy plugh") == analyse_prompt("xyzzy plugh")
    assert analyse_prompt("xyzzy plugh") != analyse_prompt("plover frotz")


def test_faster_prompt_moves_more() -> None:
    slow = render(request("slow red circles", seconds=1, fps=12))
    fast = render(request("fast red circles", seconds=1, fps=12))

    def motion(frames: list[np.ndarray]) -> float:
        body = slice(0, H - 30)
        return float(
            np.mean(
                [
                    np.abs(a[body].astype(int) - b[body].astype(int)).mean()
                    for a, b in zip(frames, frames[1:], strict=False)
                ]
            )
        )

    assert motion(fast) > 1.3 * motion(slow)


# --------------------------------------------------------------------------- seed = structure


def test_structure_depends_on_the_seed_only() -> None:
    assert make_structure(5) == make_structure(5)
    assert make_structure(5) != make_structure(6)


def test_remix_keeps_structure_and_changes_colours() -> None:
    caption = 34  # rows of the caption band at this size, excluded from the comparison
    # prompts that name no scene: the abstract shapes (scenes: tests/unit/test_scenes.py)
    original = render(request("warm red and orange shapes", seed=11))[0]
    remix = render(request("cool green and teal shapes", seed=11))[0]
    other = render(request("warm red and orange shapes", seed=12))[0]
    e_orig, e_remix, e_other = (edges(f, caption) for f in (original, remix, other))
    assert e_orig.sum() > 100  # there are shapes to compare
    # same seed, new prompt: the shapes' outlines are in the same places
    assert overlap(e_orig, e_remix) > 0.8
    # another seed: a different composition
    assert overlap(e_orig, e_other) < 0.5
    # ... and the look changed: the colours are far apart
    diff = np.abs(original.astype(int) - remix.astype(int)).mean()
    assert diff > 25
    assert original[..., 0].mean() > remix[..., 0].mean()  # red -> green/teal


# --------------------------------------------------------------------------- caption


def test_prompt_is_drawn_as_a_caption() -> None:
    body_rows = slice(0, H - 40)
    band_rows = slice(H - 20, H)
    with_text = render(request("deep navy blue", seconds=1, fps=2))[0]
    # white text on the band near the bottom, nothing that white above it
    white = with_text.min(axis=2) > 200
    assert white[band_rows].sum() > 10
    assert white[body_rows].sum() == 0
    # no prompt, no caption: the same place has no white text
    without = render(request("", seconds=1, fps=2))[0]
    assert (without.min(axis=2) > 200)[band_rows].sum() == 0


def test_long_prompts_are_wrapped_and_truncated() -> None:
    font = ImageFont.load_default(size=20)
    text = "word " * 400
    lines = wrap(text.strip(), font, 300, 2)
    assert len(lines) == 2
    assert lines[-1].endswith("...")
    assert all(font.getlength(line) <= 300 for line in lines)
    assert wrap("short prompt", font, 300, 2) == ["short prompt"]
    # one unbreakable word wider than a line is cut, not overflowing
    long_word = wrap("x" * 500, font, 100, 2)
    assert all(font.getlength(line) <= 100 for line in long_word)
    # a huge prompt still renders quickly at full size
    start = time.perf_counter()
    render(request("an endless prompt " * 2000, seconds=1, fps=1, width=1280, height=720))
    assert time.perf_counter() - start < 5


# --------------------------------------------------------------------------- reference image


def test_reference_image_is_frame_zero_then_animated() -> None:
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (H // 8, W // 8, 3), dtype=np.uint8)
    reference = np.ascontiguousarray(np.kron(small, np.ones((8, 8, 1), dtype=np.uint8)))
    frames = render(request("gentle snow falling", reference=reference, seconds=2, fps=12))
    assert np.array_equal(frames[0], reference)
    assert frames[0] is not reference  # a copy, not the caller's array
    first_step = np.abs(frames[1].astype(int) - reference.astype(int)).mean()
    last = np.abs(frames[-1].astype(int) - reference.astype(int)).mean()
    assert first_step < last  # it departs from the image gradually
    assert last > 5  # ... and it is animated
    # the picture is still recognisable at the end: much closer than an unrelated image
    unrelated = np.abs(frames[-1].astype(int) - reference[::-1, ::-1].astype(int)).mean()
    assert last < unrelated


def test_reference_image_of_another_size_is_fitted() -> None:
    reference = np.full((50, 70, 3), 90, dtype=np.uint8)
    frames = render(request("x", reference=reference, seconds=1, fps=2))
    assert frames[0].shape == (H, W, 3)


# --------------------------------------------------------------------------- steps


def test_steps_and_progress_callbacks() -> None:
    calls: list[tuple[int, int]] = []
    req = request(seconds=2, fps=10)  # 20 frames: steps of 12 and 8
    total = math.ceil(20 / FRAMES_PER_STEP)
    frames = list(
        ProceduralBackend().generate(req, lambda d, t: calls.append((d, t)), lambda: False).frames
    )
    assert len(frames) == 20
    assert calls == [(k, total) for k in range(1, total + 1)]


def test_generate_is_lazy_and_interleaves_steps_with_frames() -> None:
    events: list[str] = []

    def should_stop() -> bool:
        events.append("check")
        return False

    gen = ProceduralBackend().generate(
        request(seconds=2, fps=12), lambda d, t: events.append(f"step{d}"), should_stop
    ).frames
    assert events == []  # nothing rendered before the first frame is asked for
    next(gen)
    assert events == ["check", "step1"]
    for _ in range(FRAMES_PER_STEP - 1):
        next(gen)
    assert events == ["check", "step1"]
    next(gen)
    assert events == ["check", "step1", "check", "step2"]


def test_cancellation_stops_at_the_next_step() -> None:
    steps: list[int] = []
    stop = {"now": False}

    def on_step(done: int, total: int) -> None:
        steps.append(done)
        if done == 2:
            stop["now"] = True

    got: list[np.ndarray] = []
    clip = ProceduralBackend().generate(request(seconds=4, fps=12), on_step, lambda: stop["now"])
    gen = clip.frames
    with pytest.raises(GenerationCancelled):
        for frame in gen:
            got.append(frame)
    assert steps == [1, 2]
    assert len(got) == 2 * FRAMES_PER_STEP


def test_cancelled_before_the_first_step() -> None:
    steps: list[int] = []
    gen = ProceduralBackend().generate(request(), lambda d, t: steps.append(d), lambda: True).frames
    with pytest.raises(GenerationCancelled):
        next(iter(gen))
    assert steps == []


def render_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("procedural-render")]


def test_no_render_thread_outlives_the_generator() -> None:
    backend = ProceduralBackend()
    clip = backend.generate(request(seconds=4, fps=12), lambda d, t: None, lambda: False)
    gen = iter(clip.frames)
    next(gen)  # one step handed over, the next one rendering ahead
    assert render_threads()
    gen.close()  # the consumer gives up (say the encoder failed)
    assert render_threads() == []

    stop = {"now": False}
    clip = backend.generate(request(seconds=4, fps=12), lambda d, t: None, lambda: stop["now"])
    gen = iter(clip.frames)
    next(gen)
    stop["now"] = True
    with pytest.raises(GenerationCancelled):
        list(gen)
    assert render_threads() == []
