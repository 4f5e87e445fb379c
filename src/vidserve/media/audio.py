"""A clip's sound (:class:`vidserve.domain.Audio`): conforming, fitting, joining, reading back.

numpy only, plus PyAV for resampling and for reading a file's audio track (no torch).

- :func:`conform` resamples any rate and channel count to the file format (48 kHz stereo
  float32) through FFmpeg's resampler (``AudioResampler``).
- :func:`fit` trims or pads (with silence) a sound to an exact number of seconds.
- :func:`join` puts one sound after another with a linear (equal-gain) crossfade of
  :data:`CROSSFADE_SECONDS` centred on the seam, or ending there (``ends_at_seam``: for a
  sound decoded from a lossy file, whose last samples carry the codec's end-of-stream
  ringing): the result lasts exactly the sum of both, and the join shows no step larger
  than the signals' own sample-to-sample changes.
- :func:`loop` continues a sound for a given time by playing it again (crossfaded joins
  ending at each return).
- :func:`read_audio` decodes a file's first audio track (bytes or a path) as one
  :class:`Audio` in the file format, or None when the file has none.
"""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from vidserve.domain import Audio
from vidserve.media.errors import MediaError

SAMPLE_RATE = 48_000
CHANNELS = 2
CROSSFADE_SECONDS = 0.05

Samples = npt.NDArray[np.float32]
_LAYOUTS = {1: "mono", 2: "stereo"}


def silence(seconds: float, sample_rate: int = SAMPLE_RATE) -> Audio:
    """``seconds`` of silence in stereo."""
    n = max(0, round(seconds * sample_rate))
    return Audio(np.zeros((CHANNELS, n), dtype=np.float32), sample_rate)


def _stereo(samples: Samples) -> Samples:
    """Mono is duplicated; more than two channels are folded onto two (even to the left, odd
    to the right) at equal loudness."""
    channels = samples.shape[0]
    if channels == CHANNELS:
        return samples
    if channels == 1:
        return np.repeat(samples, CHANNELS, axis=0)
    left = samples[0::2].sum(axis=0) / max(1, (channels + 1) // 2)
    right = samples[1::2].sum(axis=0) / max(1, channels // 2)
    return np.stack([left, right]).astype(np.float32)


def conform(audio: Audio) -> Audio:
    """The same sound at 48 kHz in stereo, float32 in [-1, 1]."""
    samples = np.asarray(audio.samples, dtype=np.float32)
    if samples.ndim != 2 or samples.shape[0] < 1:
        raise ValueError(f"audio samples must be shaped (channels, n), got {samples.shape}")
    if audio.sample_rate <= 0:
        raise ValueError(f"audio sample rate must be positive, got {audio.sample_rate}")
    samples = np.clip(np.nan_to_num(_stereo(samples)), -1.0, 1.0)
    if audio.sample_rate == SAMPLE_RATE or samples.shape[1] == 0:
        return Audio(np.ascontiguousarray(samples, dtype=np.float32), SAMPLE_RATE)
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="fltp",
                                       layout="stereo")
    frame.sample_rate = audio.sample_rate
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=SAMPLE_RATE)
    out = [_planes(f) for f in (*resampler.resample(frame), *resampler.resample(None))]
    merged = np.concatenate(out, axis=1) if out else np.zeros((CHANNELS, 0), np.float32)
    return Audio(np.clip(merged, -1.0, 1.0).astype(np.float32), SAMPLE_RATE)


def fit(audio: Audio, seconds: float) -> Audio:
    """Exactly ``round(seconds * rate)`` samples: the end cut or padded with silence. A cut
    is not faded: what follows (a crossfaded join, or the end of the file) needs no fade."""
    n = max(0, round(seconds * audio.sample_rate))
    have = audio.samples.shape[1]
    if have == n:
        return audio
    if have > n:
        return Audio(np.ascontiguousarray(audio.samples[:, :n]), audio.sample_rate)
    pad = np.zeros((audio.samples.shape[0], n - have), dtype=np.float32)
    return Audio(np.concatenate([audio.samples, pad], axis=1), audio.sample_rate)


def join(first: Audio, second: Audio, *, ends_at_seam: bool = False) -> Audio:
    """``first`` then ``second`` (same rate and channels), crossfaded at the seam.

    The crossfade spans ``CROSSFADE_SECONDS``. By default it is centred on the seam: ``first``
    fades out over its last half-window and, past its end, is continued by that half-window
    read backwards (so the fade-out never reaches into silence); ``second`` fades in
    symmetrically, its first half-window read backwards before its start.

    With ``ends_at_seam`` the whole crossfade lies before the seam: ``first`` fades out to
    nothing at its very end, under ``second``'s first window read backwards, and ``second``
    plays from the seam on as it is. That is the join for a ``first`` decoded from a lossy
    file (an extension's source): the codec leaves ringing in a file's last samples (an AAC
    stream ends inside a frame padded with silence), which a centred fade would replay at
    half level right at the seam.

    The fade is linear (equal gain), not equal power, so that no sample-to-sample step inside
    it exceeds the larger of the two sounds' own but for the fade's own slope (``|b - a|`` over
    the window's samples: under 0.1 % of full scale; an equal-power fade of two tones
    overshoots both by up to 41 %). The output has exactly the samples of both.
    """
    if first.sample_rate != second.sample_rate or first.channels != second.channels:
        raise ValueError("join needs two sounds of the same rate and channels")
    a, b = first.samples, second.samples
    window = round(CROSSFADE_SECONDS * first.sample_rate)
    if ends_at_seam:
        n = min(window, a.shape[1], b.shape[1])
        if n == 0:
            return Audio(np.concatenate([a, b], axis=1), first.sample_rate)
        fade_in = _ramp(n)
        seam = a[:, -n:] * (1.0 - fade_in) + b[:, n - 1 :: -1] * fade_in
        out = np.concatenate([a[:, :-n], seam, b], axis=1)
        return Audio(np.clip(out, -1.0, 1.0).astype(np.float32), first.sample_rate)
    half = min(window // 2, a.shape[1], b.shape[1])
    if half == 0:
        return Audio(np.concatenate([a, b], axis=1), first.sample_rate)
    # around the seam: first's tail mirrored on past its end, second's head mirrored before
    a_ext = np.concatenate([a[:, -half:], a[:, -1:-half - 1:-1]], axis=1)
    b_ext = np.concatenate([b[:, half - 1::-1], b[:, :half]], axis=1)
    fade_in = _ramp(2 * half)
    seam = a_ext * (1.0 - fade_in) + b_ext * fade_in
    out = np.concatenate([a[:, :-half], seam, b[:, half:]], axis=1)
    return Audio(np.clip(out, -1.0, 1.0).astype(np.float32), first.sample_rate)


def _ramp(n: int) -> npt.NDArray[np.float32]:
    """``n`` gains rising linearly from near 0 to near 1 (sample centres)."""
    return ((np.arange(n, dtype=np.float64) + 0.5) / n).astype(np.float32)


def _planes(frame: av.AudioFrame) -> Samples:
    samples: Samples = frame.to_ndarray().astype(np.float32, copy=False)
    return samples


def loop(audio: Audio, seconds: float) -> Audio:
    """``audio`` played again and again for exactly ``seconds``: how a sound is continued
    where nothing new is made for it. Each return is crossfaded in before the end of the
    copy it follows (``join(..., ends_at_seam=True)``: ``audio`` is a file's decoded sound)."""
    n = round(seconds * audio.sample_rate)
    if audio.samples.shape[1] == 0:
        return silence(seconds, audio.sample_rate)
    out = audio
    while out.samples.shape[1] < n:
        out = join(out, audio, ends_at_seam=True)
    return fit(out, seconds)


def read_audio(source: bytes | Path, max_seconds: float | None = None) -> Audio | None:
    """The first audio track of a media file, at 48 kHz stereo; None if it has none.

    ``max_seconds`` stops decoding there (an upload's audio track may claim to last far longer
    than its video). A file that cannot be decoded raises :class:`MediaError`."""
    try:
        return _read(source, None if max_seconds is None else round(max_seconds * SAMPLE_RATE))
    except av.error.FFmpegError as exc:
        raise MediaError(
            f"The audio track cannot be read: {exc}", subject="video", code="invalid_video"
        ) from None


def _read(source: bytes | Path, limit: int | None) -> Audio | None:
    opened = av.open(str(source) if isinstance(source, Path) else io.BytesIO(source), mode="r")
    with opened as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=SAMPLE_RATE)
        chunks: list[Samples] = []
        have = 0
        for frame in container.decode(stream):
            new = [_planes(f) for f in resampler.resample(frame)]
            chunks += new
            have += sum(c.shape[1] for c in new)
            if limit is not None and have >= limit:
                break
        else:
            chunks += [_planes(f) for f in resampler.resample(None)]
    if not chunks:
        return None
    samples = np.concatenate(chunks, axis=1).astype(np.float32)
    return Audio(samples if limit is None else samples[:, :limit], SAMPLE_RATE)
