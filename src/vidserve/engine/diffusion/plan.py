"""Frame arithmetic for the diffusers backend: native grid, windows, stitching, resampling.

Pure functions (numpy and Pillow only), so they are tested without torch:

- :func:`choose_native_size`: the model's native resolution closest in aspect to the request;
  the encoder resizes to the requested ``width x height``.
- :func:`plan_windows`: a clip of ``total`` native frames as generation windows of at most
  ``max_frames`` frames (each a valid ``k * factor + 1`` length), each window after the first
  sharing ``overlap`` frames with the one before (conditioned continuation).
- :class:`Stitcher`: collects the windows' frames, cross-fades the overlaps and releases the
  frames of the clip, in order, as soon as no later window can change them.
- :class:`Resampler`: maps the clip's native frames (``native_fps``) onto the requested
  ``seconds * fps`` output frames (nearest frame in time), streaming.
- :class:`AudioStitcher`: the sound of the windows (LTX-2) as one track, joined at the middle
  of each overlap with the shared crossfade of :mod:`vidserve.media.audio` (no click at the
  joins), trimmed or padded with silence to exactly ``seconds``.
- :func:`carry_over`: the first frames of an extension corrected by what the model did not
  reproduce of the source's last frame, fading out, so the join shows no jump.
- :func:`fit_reference`: a character's reference image fitted inside the native grid.
- :func:`unstretch`: a frame of a file we encoded (the encoder stretches the native frames to
  the requested size) back at the native size, the same picture the model made.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps

from vidserve.domain import Audio

if TYPE_CHECKING:
    from vidserve.domain import Frame


def valid_length(n: int, factor: int) -> int:
    """The smallest ``k * factor + 1 >= n`` (what a video VAE with temporal stride
    ``factor`` accepts)."""
    if n <= 1:
        return 1
    return -(-(n - 1) // factor) * factor + 1


def floor_length(n: int, factor: int) -> int:
    """The largest ``k * factor + 1 <= n`` (at least 1)."""
    if n <= 1:
        return 1
    return (n - 1) // factor * factor + 1


def native_frame_count(seconds: int, native_fps: int) -> int:
    """Native frames that span ``seconds`` at the model's own frame rate."""
    return max(1, math.ceil(seconds * native_fps))


def choose_native_size(
    native_sizes: tuple[tuple[int, int], ...], width: int, height: int
) -> tuple[int, int]:
    """The native ``(width, height)`` whose aspect is closest to ``width / height`` (ties:
    the larger area)."""
    if not native_sizes:
        raise ValueError("no native sizes")
    want = math.log(width / height)

    def key(size: tuple[int, int]) -> tuple[float, int]:
        return (round(abs(math.log(size[0] / size[1]) - want), 9), -size[0] * size[1])

    return min(native_sizes, key=key)


@dataclass(frozen=True, slots=True)
class Window:
    """One pipeline call: native frames ``[start, start + length)`` of the clip."""

    index: int
    start: int
    length: int
    overlap: int  # frames shared with the previous window (0 for the first)

    @property
    def end(self) -> int:
        return self.start + self.length


def plan_windows(total: int, max_frames: int, overlap: int, factor: int) -> list[Window]:
    """Cover ``total`` native frames with windows of valid lengths (``k * factor + 1``) of at
    most ``max_frames``; the last window may run past ``total`` (the extra frames are
    dropped)."""
    if total < 1:
        raise ValueError("total must be at least 1")
    budget = floor_length(max_frames, factor)
    if total <= budget:
        return [Window(0, 0, valid_length(total, factor), 0)]
    if not 1 <= overlap < budget:
        raise ValueError(f"overlap {overlap} must be in [1, {budget})")
    windows = [Window(0, 0, budget, 0)]
    covered = budget
    while covered < total:
        length = min(budget, valid_length(overlap + total - covered, factor))
        start = covered - overlap
        windows.append(Window(len(windows), start, length, overlap))
        covered = start + length
    return windows


def _blend(old: Frame, new: Frame, weight: float) -> Frame:
    mixed = old.astype(np.float32) * (1.0 - weight) + new.astype(np.float32) * weight
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


class Stitcher:
    """Assemble the windows of :func:`plan_windows` into one clip of ``total`` native frames.

    ``add(window, frames)`` returns the ``(index, frame)`` pairs that are now final, in order:
    every frame before the next window's start. In an overlap, the new window's frame ``k`` is
    cross-faded over the kept one with weight ``(k + 1) / (overlap + 1)``, so the seam moves
    gradually from the old window to the new one.
    """

    def __init__(self, windows: list[Window], total: int) -> None:
        self.windows = windows
        self.total = total
        self._pending: dict[int, Frame] = {}
        self._next = 0  # the next clip index to release

    def add(self, window: Window, frames: list[Frame]) -> list[tuple[int, Frame]]:
        if len(frames) < window.length:
            raise ValueError(f"window {window.index}: {len(frames)} frames < {window.length}")
        for k in range(window.length):
            index = window.start + k
            if index >= self.total:
                break
            kept = self._pending.get(index)
            if kept is not None and k < window.overlap:
                self._pending[index] = _blend(kept, frames[k], (k + 1) / (window.overlap + 1))
            else:
                self._pending[index] = frames[k]
        following = window.index + 1
        until = self.windows[following].start if following < len(self.windows) else self.total
        out = []
        while self._next < min(until, self.total) and self._next in self._pending:
            out.append((self._next, self._pending.pop(self._next)))
            self._next += 1
        return out

    def tail(self, count: int) -> list[Frame]:
        """The last ``count`` frames held back (what the next window is conditioned on)."""
        held = sorted(self._pending)[-count:]
        return [self._pending[i] for i in held]

    @property
    def released(self) -> int:
        return self._next


class Resampler:
    """Map ``native`` clip frames onto ``out`` output frames: output frame ``j`` shows native
    frame ``floor((j + 0.5) * native / out)``, the one at the same instant (frames repeat
    when the model's frame rate is lower than the output's, and are skipped when higher)."""

    def __init__(self, native: int, out: int) -> None:
        if native < 1 or out < 1:
            raise ValueError("frame counts must be positive")
        self.native = native
        self.out = out
        self._j = 0

    def source_index(self, j: int) -> int:
        return min(self.native - 1, (2 * j + 1) * self.native // (2 * self.out))

    def feed(self, index: int, frame: Frame) -> Iterator[Frame]:
        while self._j < self.out and self.source_index(self._j) == index:
            self._j += 1
            yield frame

    @property
    def emitted(self) -> int:
        return self._j


class AudioStitcher:
    """Collect each window's sound (``(channels, samples)`` float32) into one track.

    Window *k* starts at ``start / native_fps`` seconds and shares its first ``overlap``
    frames with window *k - 1*: both sounds are cut at the middle of that overlap and joined
    there with :func:`vidserve.media.audio.join` (a short crossfade centred on the seam, no
    click); the track is then fitted to exactly ``seconds`` (:func:`~vidserve.media.audio.fit`).
    """

    def __init__(self, native_fps: int, seconds: int, lead: int = 0) -> None:
        self.native_fps = native_fps
        self.seconds = seconds
        self.lead = lead  # native frames before the clip (an extension's context): cut off
        self._track: Audio | None = None

    def add(self, window: Window, samples: np.ndarray, rate: int) -> None:
        from vidserve.media.audio import fit, join

        if samples.ndim == 1:
            samples = samples[None, :]
        sound = Audio(np.ascontiguousarray(np.clip(samples, -1.0, 1.0), dtype=np.float32), rate)
        if self._track is None or window.index == 0:
            self._track = sound
            return
        seam = (window.start + window.overlap / 2) / self.native_fps
        cut = min(round(window.overlap / 2 / self.native_fps * rate), sound.samples.shape[1])
        rest = Audio(np.ascontiguousarray(sound.samples[:, cut:]), rate)
        self._track = join(fit(self._track, seam), rest)

    def result(self) -> Audio | None:
        """The track, exactly ``seconds`` long (None: no window made sound)."""
        if self._track is None:
            return None
        from vidserve.media.audio import fit

        track = self._track
        if self.lead:
            cut = min(round(self.lead / self.native_fps * track.sample_rate),
                      track.samples.shape[1])
            track = Audio(np.ascontiguousarray(track.samples[:, cut:]), track.sample_rate)
        return fit(track, self.seconds)


def unstretch(frame: Frame, width: int, height: int) -> Image.Image:
    """A frame of an output file at the native ``width x height``: resized without a crop, the
    inverse of the encoder's resize, so that a source's or an extension's frames line up with
    the frames the model makes next (a centre crop would zoom them whenever the native aspect
    is not the requested one: 768x512 LTX-2 frames in a 1280x720 file)."""
    image = Image.fromarray(np.ascontiguousarray(frame), "RGB")
    if image.size == (width, height):
        return image
    return image.resize((width, height), Image.Resampling.LANCZOS)


def fit_frame(frame: Frame, width: int, height: int) -> Image.Image:
    """Centre-crop ``frame`` to the aspect of ``width x height`` and resize it (Lanczos)."""
    image = Image.fromarray(np.ascontiguousarray(frame), "RGB")
    if image.size == (width, height):
        return image
    return ImageOps.fit(image, (width, height), Image.Resampling.LANCZOS)


def fit_reference(frame: Frame, width: int, height: int) -> Image.Image:
    """A reference image no larger than ``width x height``, its aspect kept (the pipeline
    centres it on its own canvas)."""
    image = Image.fromarray(np.ascontiguousarray(frame), "RGB")
    scale = min(width / image.width, height / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image if size == image.size else image.resize(size, Image.Resampling.LANCZOS)


def _change(a: Frame, b: Frame) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def carry_over(frames: list[Frame], given: Frame, at: int, span: int, ease: int) -> list[Frame]:
    """Join a continuation to the clip it continues without a jump.

    ``frames[at - 1]`` is the model's rendition of ``given`` (the last frame it was given as
    known) and ``frames[at:]`` are new. Over the ``span`` frames after the join:

    - their difference from ``given`` (what the model did not reproduce of it) is added to
      the new frames, fading out linearly: the first new frame is ``given`` plus the model's
      own change from ``frames[at - 1]``, so the join has no offset;
    - where that change is larger than half the model's median change between the following
      frames, the first ``ease`` new frames are eased in time: each is mixed with the one
      before it, at the join just enough that it moves no more than half that median, fading
      to none (they catch up within ``ease`` frames). The join is then the calmest moment of
      the segment's start: a model that jumps from its given frames to its new ones shows no
      pop, one that moves evenly only a one-frame ease-in.

    After ``span`` frames the model's frames are its own."""
    if at < 1 or span < 1 or at >= len(frames):
        return frames
    end = min(len(frames), at + span)
    following = [_change(frames[i], frames[i + 1]) for i in range(at, end - 1)]
    typical = float(np.median(following)) if following else 0.0
    jump = _change(frames[at - 1], frames[at])
    calm = typical / 2  # how far the join may move
    hold = min(0.9, 1.0 - calm / jump) if jump > calm else 0.0
    offset = given.astype(np.float32) - frames[at - 1].astype(np.float32)
    out = list(frames)
    previous = given.astype(np.float32)
    for k in range(end - at):
        corrected = frames[at + k].astype(np.float32) + offset * (1.0 - k / span)
        mix = hold * max(0.0, 1.0 - k / ease) if ease > 0 else 0.0
        previous = np.clip(mix * previous + (1.0 - mix) * corrected, 0, 255).astype(np.float32)
        out[at + k] = (previous + 0.5).astype(np.uint8)
    return out
