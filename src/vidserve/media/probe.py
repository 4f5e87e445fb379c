"""Uploaded videos: probing with hard limits, decoding to frames, re-encoding.

Contract:

- :func:`probe_upload` judges a client's file by its bytes, never by a filename or a declared
  media type. Only MP4/QuickTime (``ftyp`` box) and Matroska/WebM (EBML header) containers are
  opened, each with its own demuxer (FFmpeg never guesses among all formats); the first video
  stream must use H.264, H.265/HEVC, VP8, VP9, AV1 or MPEG-4 Part 2. Size, resolution and
  duration are checked from the headers *before* any frame is decoded. Every problem is a
  :class:`~vidserve.media.errors.MediaError` (``subject="video"``, code ``invalid_video`` or
  ``file_too_large``) whose message names it.
- :func:`iter_frames` decodes a clip (bytes or a path) lazily into exactly ``count`` frames of
  ``width x height`` at ``fps``: each output frame is the decoded frame nearest in time
  (so a clip of the same fps maps one to one), centre-cropped and resized when the size
  differs; when the clip runs out, its last frame repeats. Decoding stops with
  ``invalid_video`` if a stream holds more frames or larger frames than its headers promised
  (``max_frames`` / ``max_side``), so a lying header cannot make the server decode forever.
- :func:`normalise` = :func:`iter_frames` into :func:`vidserve.media.encode.encode_video`:
  an H.264 MP4 of exactly ``seconds * fps`` frames with the upload's own sound (if it has any)
  as AAC, the only form in which an upload is kept.
- ``iter_frames(..., first=n)`` yields only frames ``n .. count - 1`` of the same sequence,
  decoded from the keyframe before frame ``n`` instead of from the start of the clip (an
  extension's last second and its seam: the whole clip is decoded once, by the encoder).
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import av

from vidserve.media.audio import read_audio
from vidserve.media.encode import encode_video
from vidserve.media.errors import MediaError
from vidserve.media.images import fit_image

if TYPE_CHECKING:
    from vidserve.domain import Frame

CODECS = {
    "h264": "H.264",
    "hevc": "H.265/HEVC",
    "vp8": "VP8",
    "vp9": "VP9",
    "av1": "AV1",
    "libdav1d": "AV1",
    "libaom-av1": "AV1",
    "mpeg4": "MPEG-4",
}
MAX_FPS = 120.0  # frames per second a stream may really hold, whatever it claims


@dataclass(frozen=True, slots=True)
class UploadLimits:
    max_bytes: int
    max_seconds: float
    max_side: int
    min_seconds: float = 0.5


@dataclass(frozen=True, slots=True)
class VideoInfo:
    container: str  # "mp4" or "webm"
    codec: str
    width: int
    height: int
    duration: float  # seconds
    fps: float  # average frame rate from the headers (24.0 when unknown)

    @property
    def seconds(self) -> int:
        """Whole seconds, as the ``seconds`` of a video: at least 1."""
        return max(1, round(self.duration))


def _bad(message: str, code: str = "invalid_video") -> MediaError:
    return MediaError(message, subject="video", code=code)


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def sniff_container(data: bytes) -> str | None:
    """``"mp4"`` (MP4/QuickTime), ``"webm"`` (Matroska/WebM) or None."""
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return "mp4"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    return None


def _looks_like(data: bytes) -> str:
    head = data[:16]
    for magic, name in (
        (b"\x89PNG", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"RIFF", "a RIFF file (AVI, WAV or WebP)"),
        (b"%PDF", "a PDF document"),
        (b"ID3", "an MP3 file"),
        (b"OggS", "an Ogg file"),
        (b"PK\x03\x04", "a ZIP archive"),
    ):
        if head.startswith(magic):
            return f" (it looks like {name})"
    return ""


_DEMUXERS = {"mp4": "mov", "webm": "matroska"}


def _open(source: bytes | Path, container: str | None = None) -> av.container.InputContainer:
    if isinstance(source, Path):
        return av.open(str(source), mode="r", format=_DEMUXERS[container] if container else None)
    kind = container or sniff_container(source)
    return av.open(io.BytesIO(source), mode="r", format=_DEMUXERS[kind] if kind else None)


def probe_upload(data: bytes, limits: UploadLimits) -> VideoInfo:
    """Check an uploaded video against ``limits`` from its headers; decode nothing."""
    if not data:
        raise _bad("The video file is empty.")
    if len(data) > limits.max_bytes:
        raise _bad(
            f"The video file is {_mb(len(data))}, more than the limit of "
            f"{_mb(limits.max_bytes)}.",
            "file_too_large",
        )
    kind = sniff_container(data)
    if kind is None:
        raise _bad(
            f"The video file is not an MP4, QuickTime or WebM video{_looks_like(data)}."
        )
    try:
        with _open(data, kind) as container:
            if not container.streams.video:
                raise _bad("The video file has no video stream.")
            stream = container.streams.video[0]
            ctx = stream.codec_context
            codec = ctx.name
            width, height = int(ctx.width or 0), int(ctx.height or 0)
            duration = None
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / 1_000_000
            rate = stream.average_rate or stream.guessed_rate
            fps = float(rate) if rate else 24.0
    except MediaError:
        raise
    except (av.FFmpegError, ValueError, OSError, EOFError, IndexError, KeyError) as exc:
        raise _bad(f"The video file could not be read: {_reason(exc)}.") from None
    if codec not in CODECS:
        raise _bad(
            f"The video's codec ({codec[:40] or 'unknown'}) is not supported; use H.264, "
            "H.265/HEVC, VP8, VP9, AV1 or MPEG-4.",
        )
    if width <= 0 or height <= 0:
        raise _bad("The video has no frame size in its headers.")
    if max(width, height) > limits.max_side:
        raise _bad(
            f"The video is {width}x{height}; its longer side may be at most "
            f"{limits.max_side} pixels.",
        )
    if duration is None or not math.isfinite(duration) or duration <= 0:
        raise _bad("The video's duration could not be determined from its headers.")
    if duration > limits.max_seconds:
        raise _bad(
            f"The video is {duration:.1f} seconds long, more than the limit of "
            f"{limits.max_seconds:g} seconds.",
        )
    if duration < limits.min_seconds:
        raise _bad(
            f"The video is {duration:.2f} seconds long; it must be at least "
            f"{limits.min_seconds:g} seconds.",
        )
    if not 0 < fps <= MAX_FPS:
        fps = 24.0
    return VideoInfo(kind, CODECS[codec], width, height, duration, fps)


def _reason(exc: BaseException) -> str:
    """A short, path-free reason: FFmpeg's own words without its errno and file name."""
    text = getattr(exc, "strerror", None) if isinstance(exc, av.FFmpegError) else None
    if not text:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return str(text)[:160].rstrip(".")


def _decoded(
    source: bytes | Path,
    *,
    max_frames: int | None,
    max_side: int | None,
    skip_seconds: float = 0.0,
) -> Generator[tuple[float, Frame], None, None]:
    """(time in seconds, RGB frame) in presentation order: the first frame, then (with
    ``skip_seconds``) on from the keyframe at or before ``skip_seconds`` after it."""
    container = None
    if isinstance(source, Path):
        with source.open("rb") as fh:
            kind = sniff_container(fh.read(16))
    else:
        kind = sniff_container(source)
    try:
        container = _open(source, kind)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        step = 1.0 / float(rate) if rate else 1.0 / 24
        count = 0

        def frames() -> Iterator[tuple[float, av.VideoFrame]]:
            nonlocal count
            for frame in container.decode(stream):
                if max_frames is not None and count >= max_frames:
                    raise _bad(
                        "The video holds more frames than its duration allows; it may be "
                        "corrupt.",
                    )
                if max_side is not None and max(frame.width, frame.height) > max_side:
                    raise _bad(
                        f"A frame of the video is {frame.width}x{frame.height}, larger than "
                        "its headers said.",
                    )
                count += 1
                yield (float(frame.time) if frame.time is not None else (count - 1) * step,
                       frame)

        decoded = frames()
        first = next(decoded, None)
        if first is None:
            raise _bad("The video has no frames that could be decoded.")
        start = first[0]
        yield start, _rgb(first[1])
        if skip_seconds > 0 and first[1].time is not None and stream.time_base is not None:
            target = start + skip_seconds
            container.seek(int(target / stream.time_base), stream=stream, backward=True)
            decoded = frames()
            landed = next(decoded, None)
            if landed is None or landed[0] > target + 1e-6:
                # nothing, or a keyframe after the frames asked for: decode from the start
                container.seek(0, stream=stream, backward=True)
                count = 0
                decoded = frames()
            else:
                decoded = itertools.chain([landed], decoded)
        for t, frame in decoded:
            if t > start:  # a seek back to the start gives the first frame again
                yield t, _rgb(frame)
    except MediaError:
        raise
    except (av.FFmpegError, ValueError, OSError, EOFError, IndexError) as exc:
        raise _bad(f"The video could not be decoded: {_reason(exc)}.") from None
    finally:
        if container is not None:
            container.close()


def _rgb(frame: av.VideoFrame) -> Frame:
    rgb: Frame = frame.to_ndarray(format="rgb24")  # type: ignore[assignment]
    return rgb


def iter_frames(
    source: bytes | Path,
    *,
    width: int,
    height: int,
    fps: float,
    count: int,
    first: int = 0,
    max_frames: int | None = None,
    max_side: int | None = None,
) -> Generator[Frame, None, None]:
    """Exactly ``count`` frames of ``width x height``, sampled at ``fps`` (nearest in time);
    with ``first``, only frames ``first .. count - 1`` of them, decoded from the keyframe
    before frame ``first``."""
    decoded = _decoded(source, max_frames=max_frames, max_side=max_side,
                       skip_seconds=first / fps)
    try:
        current = next(decoded)
        upcoming = next(decoded, None)
        start = current[0]
        for i in range(count):
            t = start + i / fps
            # the later frame on a tie; with ``first``, the frames the seek skipped all come
            # before a keyframe at or before frame ``first``'s time: never the nearest to it
            while upcoming is not None and abs(upcoming[0] - t) <= abs(current[0] - t) + 1e-9:
                current, upcoming = upcoming, next(decoded, None)
            if i >= first:
                yield fit_image(current[1], width, height)
    finally:
        decoded.close()


def normalise(
    data: bytes,
    info: VideoInfo,
    path: Path,
    *,
    width: int,
    height: int,
    fps: int,
    seconds: float,
    preset: str = "veryfast",
) -> int:
    """Re-encode an upload (probed with :func:`probe_upload`) as H.264 at ``width x height``
    and ``fps``, ``round(seconds * fps)`` frames; returns the frame count."""
    count = max(1, round(seconds * fps))
    frames = iter_frames(
        data,
        width=width,
        height=height,
        fps=fps,
        count=count,
        max_frames=math.ceil((info.duration + 1.0) * MAX_FPS),
        max_side=max(info.width, info.height) * 2,
    )
    # the upload's own sound is kept (none: no track, so that it reads back as none)
    clip = encode_video(
        frames, path, width=width, height=height, fps=fps, expected_frames=count,
        preset=preset, crf=20, audio=read_audio(data, max_seconds=seconds), audio_track=False,
    )
    return clip.frames
