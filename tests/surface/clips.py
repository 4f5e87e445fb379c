"""Small video clips made on the spot (no fixtures on disk) and decoding helpers."""

from __future__ import annotations

import io
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

from vidserve.media.audio import CROSSFADE_SECONDS, SAMPLE_RATE
from vidserve.media.encode import encode_video

Frame = Any  # numpy uint8 H x W x 3


def moving_frames(width: int, height: int, count: int, seed: int = 0) -> list[Frame]:
    """A gradient with a bright square crossing it: every frame differs from the last."""
    rng = np.random.default_rng(seed)
    base = np.zeros((height, width, 3), dtype=np.uint8)
    base[..., 0] = np.linspace(30, 200, width, dtype=np.uint8)[None, :]
    base[..., 1] = np.linspace(60, 160, height, dtype=np.uint8)[:, None]
    base[..., 2] = int(rng.integers(40, 200))
    side = max(4, min(width, height) // 4)
    out = []
    for i in range(count):
        frame = base.copy()
        x = int((width - side) * (i / max(count - 1, 1)))
        y = (height - side) // 2
        frame[y : y + side, x : x + side] = (250, 240, 60)
        out.append(frame)
    return out


def mp4_clip(width: int, height: int, seconds: float, fps: int = 24, seed: int = 0) -> bytes:
    count = max(1, round(seconds * fps))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        encode_video(
            moving_frames(width, height, count, seed), path, width=width, height=height,
            fps=fps, expected_frames=count, preset="ultrafast",
        )
        return path.read_bytes()


def encoded_clip(
    width: int, height: int, seconds: float, *, fmt: str, codec: str, fps: int = 24,
    pix_fmt: str = "yuv420p",
) -> bytes:
    """A clip in another container or codec (WebM/VP9, MJPEG in MP4, ...)."""
    count = max(1, round(seconds * fps))
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.time_base = Fraction(1, fps)
        for i, frame in enumerate(moving_frames(width, height, count)):
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts = i
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


def decode(data: bytes) -> list[Frame]:
    with av.open(io.BytesIO(data)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def duration(data: bytes) -> float:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert stream.duration is not None and stream.time_base is not None
        return float(stream.duration * stream.time_base)


def audio_track(data: bytes) -> tuple[str, int, str, float, np.ndarray]:
    """The first audio stream: codec, rate, layout, duration (s) and the decoded samples
    (``(channels, n)`` float32)."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        assert stream.duration is not None and stream.time_base is not None
        seconds = float(stream.duration * stream.time_base)
        samples = np.concatenate([f.to_ndarray() for f in container.decode(stream)], axis=1)
        return stream.codec_context.name, stream.rate, stream.layout.name, seconds, samples


# join's fade, in samples (50 ms at 48 kHz), and what a linear crossfade may add to a step
# beyond the two sounds' own: |b - a| <= 2 (full scale) over the fade. A click is far larger.
FADE = round(CROSSFADE_SECONDS * SAMPLE_RATE)
FADE_SLOPE = 2 / FADE


def seam_jump(
    samples: np.ndarray, seam: int, before: int = 1200, after: int = 1200
) -> tuple[float, float]:
    """How a join of two sounds at sample ``seam`` is judged: the largest sample-to-sample
    step (the larger of the channels) inside the crossfade, ``[seam - before, seam + after)``,
    and the largest in the ten windows of the same width on either side of it (the
    neighbouring 0.25 s). A join without a click has the first no larger than the second.

    The default window is 50 ms centred on the seam (``join``'s default fade). An extension's
    fade ends at the seam (``join(..., ends_at_seam=True)``): ``before=FADE, after=0``, whose
    last step is the one onto the second sound; what follows is the second sound as it is."""
    d = np.abs(np.diff(samples, axis=1)).max(axis=0)
    lo, hi = seam - before, seam + after
    width = hi - lo
    at_seam = float(d[lo:hi].max())
    around = [
        float(d[a : a + width].max())
        for k in range(1, 11)
        for a in (lo - width * k, hi + width * (k - 1))
    ]
    return at_seam, max(around)


def extension_seam_jump(samples: np.ndarray, seam: int) -> tuple[float, float]:
    """:func:`seam_jump` for an extension's join, whose fade ends at the seam."""
    return seam_jump(samples, seam, before=FADE, after=0)


def mad(a: Frame, b: Frame) -> float:
    """Mean absolute difference of two frames (0..255)."""
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def png(width: int, height: int, colour: tuple[int, int, int] = (30, 140, 220)) -> bytes:
    image = Image.new("RGB", (width, height), colour)
    image.paste((240, 200, 40), (width // 4, height // 4, width // 2, height // 2))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
