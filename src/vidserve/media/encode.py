"""Frames -> MP4 (H.264), plus the clip's WebP thumbnail and JPEG spritesheet, in one pass.

Contract of :func:`encode_video`:

- ``frames`` is consumed lazily, one frame at a time, and streamed into libx264 through PyAV;
  at no point are all frames held in memory (only the thumbnail frame and 25 small spritesheet
  tiles are kept).
- Each frame must be an ``H x W x 3`` uint8 RGB array. A frame whose size differs from
  ``width x height`` is resized (Lanczos, by FFmpeg's swscale, in the same pass that converts
  it to yuv420p: a third of the CPU of Pillow's resize followed by the conversion). ``width``
  and ``height`` must be even (yuv420p needs it).
- The output is an MP4 (``movflags=+faststart``) holding one H.264 yuv420p stream of exactly
  ``width x height``, time base ``1/fps``, frame ``i`` at pts ``i``; ``crf`` and ``preset`` go
  to libx264. Decoding it yields exactly as many frames as were fed, and its duration is
  ``frames / fps``.
- ``expected_frames`` is how many frames the caller expects; it only places the thumbnail
  (frame ``expected_frames // 2``) and the spritesheet tiles (25 frames evenly spaced over
  ``expected_frames``). If fewer frames arrive, the thumbnail falls back to the last frame
  fed and missing tiles repeat the last tile available.
- ``audio`` (a clip's sound, any rate and channel count) becomes an AAC track, 48 kHz
  stereo, beside the video in the same file, interleaved with it: after each frame the
  encoder is fed the sound up to that frame's end, so the track lasts exactly as long as
  the frames fed (``frames * 48000 // fps`` samples; a shorter sound is padded with
  silence, a longer one cut). Without ``audio`` the track is silence, so that every file has
  the shape of a Sora file, unless ``audio_track`` is False (then the file has no audio).
- ``on_frame(n)`` is called after the ``n``-th frame (1-based count) has been handed to the
  encoder.
- An empty iterator raises :class:`ValueError`. Any exception (including one raised by the
  frame iterator, e.g. ``GenerationCancelled``) closes the container, removes the partial file
  and propagates.

:func:`probe_video` reads a file back with PyAV and returns ``(width, height, frames,
duration_seconds)``, counting frames by decoding.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import av
import numpy as np
from PIL import Image

from vidserve.media.audio import SAMPLE_RATE, conform

if TYPE_CHECKING:
    from vidserve.domain import Audio, Frame

SPRITE_COLUMNS = 5
SPRITE_ROWS = 5
SPRITE_TILE_WIDTH = 256
SPRITE_TILE_MAX_HEIGHT = 2 * SPRITE_TILE_WIDTH  # a 9:16 tile (455 px) fits
SPRITE_JPEG_QUALITY = 85
THUMBNAIL_WEBP_QUALITY = 80
AAC_BIT_RATE = 128_000
# FFmpeg's "fast" AAC coder: 12 s of stereo in ~0.1 s here, against ~0.25 s for the default
# two-loop search, for a difference a listener of generated ambience does not hear.
AAC_OPTIONS = {"aac_coder": "fast"}


@dataclass(frozen=True, slots=True)
class EncodedClip:
    """What :func:`encode_video` produced besides the MP4 file itself."""

    frames: int
    duration: float
    thumbnail: bytes  # WebP, full size
    spritesheet: bytes  # JPEG, 5 x 5 tiles of 256 px wide


def sprite_indices(expected_frames: int, tiles: int = SPRITE_COLUMNS * SPRITE_ROWS) -> list[int]:
    """The frame index each spritesheet tile shows: evenly spaced, first to last frame."""
    if expected_frames <= 1:
        return [0] * tiles
    return [round(k * (expected_frames - 1) / (tiles - 1)) for k in range(tiles)]


def sprite_tile_size(width: int, height: int) -> tuple[int, int]:
    """A tile :data:`SPRITE_TILE_WIDTH` wide at the clip's aspect, but never taller than
    :data:`SPRITE_TILE_MAX_HEIGHT`: a clip of extreme aspect ratio (4 x 256) gets a narrow tile,
    not a sheet of 1280 x 80,000 pixels."""
    tile_w = SPRITE_TILE_WIDTH
    tile_h = max(1, round(SPRITE_TILE_WIDTH * height / width))
    if tile_h > SPRITE_TILE_MAX_HEIGHT:
        tile_w = max(1, round(SPRITE_TILE_MAX_HEIGHT * width / height))
        tile_h = SPRITE_TILE_MAX_HEIGHT
    return tile_w, tile_h


def _check_frame(frame: Frame, index: int) -> None:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
        raise ValueError(f"frame {index} is not a uint8 numpy array")
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame {index} has shape {frame.shape}, expected (height, width, 3)")


def _same_size(frame: Frame, width: int, height: int) -> bool:
    return bool(frame.shape[0] == height and frame.shape[1] == width)


def _conform(frame: Frame, width: int, height: int) -> Frame:
    """The frame at ``width x height``, RGB (the thumbnail's and the tiles' source): scaled
    as :func:`_to_encoder` scales it."""
    if _same_size(frame, width, height):
        return np.ascontiguousarray(frame)
    scaled = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24").reformat(
        width=width, height=height, interpolation="LANCZOS")
    return np.asarray(scaled.to_ndarray(format="rgb24"), dtype=np.uint8)


def _to_encoder(frame: Frame, width: int, height: int) -> av.VideoFrame:
    """The frame as libx264 takes it: yuv420p at ``width x height``, scaled and converted in
    one swscale pass."""
    video = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
    if _same_size(frame, width, height):
        return video.reformat(format="yuv420p")
    return video.reformat(width=width, height=height, format="yuv420p", interpolation="LANCZOS")


def _tile(frame: Frame, tile_w: int, tile_h: int) -> Image.Image:
    return Image.fromarray(frame, "RGB").resize((tile_w, tile_h), Image.Resampling.BILINEAR)


class _AudioTrack:
    """The AAC stream of a file being written, fed frame by frame with the clip's sound."""

    CHANNELS = 2

    def __init__(self, container: av.container.OutputContainer, audio: Audio | None, fps: int):
        self.rate = SAMPLE_RATE
        self.fps = fps
        self.samples = conform(audio).samples if audio is not None else None
        self.stream = container.add_stream("aac", rate=self.rate, options=AAC_OPTIONS)
        self.stream.layout = "stereo"
        self.stream.bit_rate = AAC_BIT_RATE
        self.stream.time_base = Fraction(1, self.rate)
        self.container = container
        self.fed = 0

    def feed_until(self, frames: int) -> None:
        """Encode the sound up to the end of video frame ``frames`` (a count)."""
        end = frames * self.rate // self.fps
        if end <= self.fed:
            return
        chunk = np.zeros((self.CHANNELS, end - self.fed), dtype=np.float32)
        if self.samples is not None and self.fed < self.samples.shape[1]:
            have = self.samples[:, self.fed : end]
            chunk[:, : have.shape[1]] = have
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
        frame.sample_rate = self.rate
        frame.pts = self.fed
        frame.time_base = Fraction(1, self.rate)
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.fed = end

    def flush(self) -> None:
        for packet in self.stream.encode(None):
            self.container.mux(packet)


def encode_video(
    frames: Iterable[Frame],
    path: Path,
    *,
    width: int,
    height: int,
    fps: int,
    expected_frames: int,
    preset: str = "veryfast",
    crf: int = 23,
    on_frame: Callable[[int], None] | None = None,
    audio: Audio | None = None,
    audio_track: bool = True,
) -> EncodedClip:
    """Stream ``frames`` into an H.264 MP4 at ``path``; return counts, thumbnail, spritesheet."""
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise ValueError(f"width and height must be positive and even, got {width}x{height}")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    path = Path(path)
    expected = max(int(expected_frames), 1)
    thumb_index = expected // 2
    tile_w, tile_h = sprite_tile_size(width, height)
    wanted = sprite_indices(expected)
    tiles: dict[int, Image.Image] = {}  # frame index -> tile
    thumbnail: Frame | None = None
    last: Frame | None = None  # as fed: scaled only if it is needed (fewer frames than expected)
    count = 0

    container = av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"})
    try:
        stream = container.add_stream(
            "libx264", rate=fps, options={"crf": str(crf), "preset": preset}
        )
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, fps)
        stream.codec_context.time_base = Fraction(1, fps)
        sound = _AudioTrack(container, audio, fps) if audio is not None or audio_track else None
        wanted_set = set(wanted)
        for raw in frames:
            _check_frame(raw, count)
            video_frame = _to_encoder(raw, width, height)
            video_frame.pts = count
            video_frame.time_base = Fraction(1, fps)
            for packet in stream.encode(video_frame):
                container.mux(packet)
            if sound is not None:
                sound.feed_until(count + 1)
            if count == thumb_index or count in wanted_set:  # scaled once for both
                frame = _conform(raw, width, height)
                if count == thumb_index:
                    thumbnail = frame.copy()
                if count in wanted_set:
                    tiles[count] = _tile(frame, tile_w, tile_h)
            last = raw
            count += 1
            if on_frame is not None:
                on_frame(count)
        if count == 0:
            raise ValueError("the frame iterator yielded no frames")
        for packet in stream.encode(None):
            container.mux(packet)
        if sound is not None:
            sound.flush()
        if thumbnail is None:
            assert last is not None
            thumbnail = _conform(last, width, height).copy()
        last_tile = tiles[max(tiles)] if tiles else _tile(thumbnail, tile_w, tile_h)
    except BaseException:
        with contextlib.suppress(Exception):  # keep the original error, not a close() error
            container.close()
        path.unlink(missing_ok=True)
        raise
    container.close()

    sheet = Image.new("RGB", (tile_w * SPRITE_COLUMNS, tile_h * SPRITE_ROWS))
    for k, index in enumerate(wanted):
        tile = tiles.get(index, last_tile)
        sheet.paste(tile, ((k % SPRITE_COLUMNS) * tile_w, (k // SPRITE_COLUMNS) * tile_h))
    sprite_buf = io.BytesIO()
    sheet.save(sprite_buf, format="JPEG", quality=SPRITE_JPEG_QUALITY)
    thumb_buf = io.BytesIO()
    Image.fromarray(thumbnail, "RGB").save(thumb_buf, format="WEBP", quality=THUMBNAIL_WEBP_QUALITY)
    return EncodedClip(
        frames=count,
        duration=count / fps,
        thumbnail=thumb_buf.getvalue(),
        spritesheet=sprite_buf.getvalue(),
    )


def probe_video(path: Path) -> tuple[int, int, int, float]:
    """``(width, height, frames, duration_seconds)`` of the first video stream, by decoding.

    ``frames`` is the number of frames decoded; ``duration`` is the stream's duration from the
    container when known, else ``frames / average_rate``.
    """
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        width = stream.codec_context.width
        height = stream.codec_context.height
        decoded = sum(1 for _ in container.decode(stream))
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        else:
            rate = stream.average_rate or stream.guessed_rate
            duration = decoded / float(rate) if rate else 0.0
    return width, height, decoded, duration
