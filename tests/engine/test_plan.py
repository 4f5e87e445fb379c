"""Frame arithmetic of the diffusers backend: native grid, windows, stitching, resampling."""

from __future__ import annotations

import numpy as np
import pytest

from vidserve.engine.diffusion.plan import (
    Resampler,
    Stitcher,
    choose_native_size,
    floor_length,
    native_frame_count,
    plan_windows,
    valid_length,
)


def test_valid_lengths() -> None:
    assert [valid_length(n, 4) for n in (1, 2, 5, 6, 81, 82)] == [1, 5, 5, 9, 81, 85]
    assert [floor_length(n, 8) for n in (1, 8, 9, 161, 168)] == [1, 1, 9, 161, 161]


@pytest.mark.parametrize(
    ("width", "height", "native"),
    [
        (1280, 720, (832, 480)),
        (1792, 1024, (832, 480)),
        (720, 1280, (480, 832)),
        (1024, 1792, (480, 832)),
    ],
)
def test_native_size_follows_the_aspect(width: int, height: int, native: tuple[int, int]) -> None:
    assert choose_native_size(((832, 480), (480, 832)), width, height) == native


def test_native_size_prefers_the_larger_of_equal_aspects() -> None:
    sizes = ((832, 480), (1280, 720), (720, 1280))
    assert choose_native_size(sizes, 1280, 720) == (1280, 720)


@pytest.mark.parametrize("factor", [4, 8])
@pytest.mark.parametrize("overlap", [1, 5, 9])
def test_windows_cover_every_length(factor: int, overlap: int) -> None:
    budget = floor_length(81, factor)
    for total in range(1, 400, 7):
        windows = plan_windows(total, 81, overlap, factor)
        assert windows[0].start == 0
        for w in windows:
            assert (w.length - 1) % factor == 0 and 1 <= w.length <= budget
        for prev, nxt in zip(windows, windows[1:], strict=False):
            assert nxt.start == prev.end - overlap and nxt.overlap == overlap
        assert windows[-1].end >= total
        assert len(windows) == 1 or windows[-2].end < total  # no window is wasted


def test_twelve_seconds_of_wan() -> None:
    # Wan 2.1: 16 fps, 81-frame budget: 12 s = 192 native frames in three windows
    total = native_frame_count(12, 16)
    windows = plan_windows(total, 81, 9, 4)
    assert total == 192
    assert [(w.start, w.length) for w in windows] == [(0, 81), (72, 81), (144, 49)]


def _frame(value: int) -> np.ndarray:
    return np.full((2, 2, 3), value, dtype=np.uint8)


def test_stitcher_releases_every_frame_once_in_order_and_crossfades() -> None:
    total = 40
    windows = plan_windows(total, 17, 5, 4)
    stitcher = Stitcher(windows, total)
    released: list[tuple[int, int]] = []
    for w in windows:
        # window i paints 10 * (i + 1): overlaps blend the two values
        frames = [_frame(10 * (w.index + 1)) for _ in range(w.length)]
        if w.index:
            assert len(stitcher.tail(w.overlap)) == w.overlap
        released += [(i, int(f[0, 0, 0])) for i, f in stitcher.add(w, frames)]
    assert [i for i, _ in released] == list(range(total))
    values = dict(released)
    second = windows[1]
    ramp = [values[second.start + k] for k in range(second.overlap)]
    assert ramp == sorted(ramp) and 10 < ramp[0] and ramp[-1] < 20  # a gradual cross-fade
    assert values[second.start + second.overlap] == 20


@pytest.mark.parametrize("seconds", [4, 8, 12])
@pytest.mark.parametrize("native_fps", [8, 16, 24, 25, 30])
def test_resampler_gives_exactly_seconds_times_fps(seconds: int, native_fps: int) -> None:
    native = native_frame_count(seconds, native_fps)
    resampler = Resampler(native, seconds * 24)
    out = [j for n in range(native) for j in resampler.feed(n, n)]
    assert len(out) == seconds * 24 == resampler.emitted
    assert out == sorted(out) and out[0] == 0
    # each output frame shows the native frame at (about) the same instant
    for j, n in enumerate(out):
        assert abs((j + 0.5) / 24 - (n + 0.5) / native_fps) <= 1 / native_fps


def test_audio_stitcher_joins_windows_without_a_click_and_fits_the_seconds() -> None:
    from vidserve.engine.diffusion.plan import AudioStitcher

    rate, fps = 16000, 8
    windows = plan_windows(32, 17, 5, 4)  # 4 s at 8 fps: 17, 17, 9 frames sharing 5
    stitcher = AudioStitcher(fps, 4)
    for w in windows:  # each window's sound: one continuous 220 Hz tone over its own frames
        t = (np.arange(round(w.length / fps * rate)) / rate) + w.start / fps
        stitcher.add(w, np.stack([np.sin(2 * np.pi * 220 * t)] * 2).astype(np.float32), rate)
    audio = stitcher.result()
    assert audio is not None and audio.sample_rate == rate and audio.samples.shape == (2, 64000)
    steps = np.abs(np.diff(audio.samples[0]))
    tone_step = 2 * np.pi * 220 / rate  # the tone's own largest sample-to-sample change
    assert steps.max() <= tone_step * 1.05  # no discontinuity at the joins
