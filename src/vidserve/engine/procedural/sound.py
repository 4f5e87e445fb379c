"""The procedural soundtrack: numpy synthesis from the prompt's words, not a neural model.

Like the pictures it makes no claim to understand the prompt, and nothing in it is synced to
what moves on screen beyond the shared tempo. It is an ambient **bed** plus **sound events**:

- The bed is a slow chord progression (four chords, each held ``4 / speed`` seconds, clamped
  to 2-8 s, overlapping with raised-cosine crossfades) played by a chorused, slightly
  detuned additive voice in stereo. Its **key** follows the palette: the hue of the look's
  colours picks the root (12 hues, 12 semitones from A2), dark palettes play an octave lower,
  warm or bright palettes play in major (I-V-vi-IV), cool or dark ones in minor (i-VI-III-VII).
  Its **timbre** follows the palette's saturation: vivid colours give a brighter voice (more
  and stronger harmonics), pastel and grey ones a softer, near-sine pad.
- Scene and effect words add events, each from seeded noise or tones: ``rain`` (band-passed
  hiss with drops), ``storm``/``thunder`` (low rumbles), ``ocean``/``sea``/``waves`` (noise
  under a slow swell), ``wind`` (band noise with gusts), ``city``/``traffic`` (low rumble and
  the odd horn), ``birds``/``forest``/``garden`` (frequency-swept chirps), ``engine``/``car``/
  ``motor``/``rocket`` (a harmonic buzz), ``fire``/``campfire`` (crackle over a low roar),
  ``bubbles``/``underwater`` (rising blips). Motion words add rhythm: ``pulse``/``dance``/
  ``music``/``beat`` a soft kick at a tempo set by the speed, ``bounce`` thuds, ``spin``/``fly``/
  ``zoom`` a panning whoosh.

Output: :class:`~vidserve.domain.Audio`, stereo float32 at :data:`SAMPLE_RATE`, exactly
``seconds`` long, peak below 0.9, a 10 ms fade-in (none for an extension: its start is
crossfaded onto the source's end). A pure function of
``(prompt, seed, seconds)``: seeded generators only (see :mod:`.common`), so the same request
gives the same samples, and the encoder the same bytes. Everything is vectorised numpy
(noise is shaped in one FFT per layer); 12 s cost tens of milliseconds.
"""

from __future__ import annotations

import colorsys
import math

import numpy as np

from vidserve.domain import Audio, GenerationRequest
from vidserve.engine.procedural.common import FloatArray, seeded_rng
from vidserve.engine.procedural.look import MOTIONS, WORD, Look, analyse_prompt

SAMPLE_RATE = 24_000  # the encoder resamples to 48 kHz; nothing here needs more than 12 kHz
FADE_IN_SECONDS = 0.01
PEAK = 0.88
_TABLE = 4096  # samples in a one-period wavetable
_NOISE_LOOP = 1 << 17  # 5.5 s: the length of the filtered noise loops


def _wavetable(weights: list[float]) -> FloatArray:
    """One period of a tone with harmonic ``k + 1`` at ``weights[k]``."""
    phase = np.arange(_TABLE) * (2 * np.pi / _TABLE)
    table = np.zeros(_TABLE)
    for k, w in enumerate(weights):
        table += w * np.sin((k + 1) * phase)
    return table

_MAJOR = ((0, 4, 7), (7, 11, 14), (9, 12, 16), (5, 9, 12))  # I V vi IV
_MINOR = ((0, 3, 7), (8, 12, 15), (3, 7, 10), (10, 14, 17))  # i VI III VII


def _words(groups: dict[str, str]) -> dict[str, str]:
    return {word: event for event, words in groups.items() for word in words.split()}


EVENT_WORDS = _words(
    {
        "rain": "rain raining rainy drizzle downpour monsoon shower showers",
        "thunder": "storm stormy thunder thunderstorm lightning",
        "ocean": "ocean sea seas wave waves beach surf shore tide coast",
        "wind": "wind windy breeze gust gusts blizzard storm stormy tornado desert arctic",
        "city": "city cities street streets traffic downtown urban metropolis cyberpunk",
        "birds": "bird birds forest garden meadow jungle spring songbird songbirds",
        "engine": "engine engines car cars motor motorcycle truck racing rocket plane train",
        "fire": "fire fires campfire flame flames fireplace embers burning",
        "bubbles": "bubble bubbles underwater aquarium fizz soda",
    }
)
MOTION_EVENTS = {
    "pulse": "beat",
    "bounce": "thud",
    "spin": "whoosh",
    "fly": "whoosh",
    "zoom": "whoosh",
    "burst": "boom",
}
_BEAT_WORDS = frozenset("music dance dancing party disco beat beating heartbeat drum drums".split())


def sound_events(prompt: str, look: Look) -> tuple[str, ...]:
    """The events the prompt asks for, in a stable order (first mention first)."""
    found: list[str] = []
    words = WORD.findall(prompt.lower())
    for word in words:
        event = EVENT_WORDS.get(word) or ("beat" if word in _BEAT_WORDS else None)
        if event is not None and event not in found:
            found.append(event)
    # the look's motion sounds only where a word asked for it (not the hash's default)
    motion = MOTION_EVENTS.get(look.motion) if any(w in MOTIONS for w in words) else None
    if motion is not None and motion not in found:
        found.append(motion)
    return tuple(found)


class _Synth:
    """One soundtrack's shared state: its time axis, seeded generator and tempo."""

    def __init__(self, prompt: str, seed: int, seconds: float, look: Look) -> None:
        self.n = max(1, round(seconds * SAMPLE_RATE))
        self.t: FloatArray = np.arange(self.n, dtype=np.float64) / SAMPLE_RATE
        self.look = look
        self.rng = seeded_rng("sound", prompt, str(seed))
        self.speed = look.speed

    # ----------------------------------------------------------------- building blocks

    def noise(self, lo: float, hi: float, extra: FloatArray | None = None) -> FloatArray:
        """Stereo noise band-passed to ``lo .. hi`` Hz (gentle 4th-order slopes), RMS 1.

        The filter runs on a loop of :data:`_NOISE_LOOP` samples (circular, so it repeats
        without a seam) tiled over the clip, the right channel read from another point of
        it: one short FFT instead of one the length of the clip. ``extra`` (impulses, at most
        :data:`_NOISE_LOOP` samples) is added to the white noise before the filter."""
        size = min(self.n, _NOISE_LOOP)
        white = self.rng.standard_normal(size)
        if extra is not None:
            white[: extra.shape[-1]] += extra
        spec = np.fft.rfft(white)
        f = np.fft.rfftfreq(size, 1.0 / SAMPLE_RATE)
        f[0] = 1e-3
        gain = 1.0 / (1.0 + (lo / f) ** 4) / (1.0 + (f / hi) ** 4)
        loop = np.fft.irfft(spec * gain, size)
        loop /= float(np.sqrt(np.mean(loop**2))) or 1.0
        index = np.arange(self.n)
        shift = int(self.rng.integers(size // 4, 3 * size // 4 + 1))
        result: FloatArray = np.stack([loop[index % size], loop[(index + shift) % size]])
        return result

    def tone(self, table: FloatArray, cycles: FloatArray) -> FloatArray:
        """One period ``table`` played at the given phase (in cycles) per sample."""
        played: FloatArray = table[(cycles * _TABLE).astype(np.int64) % _TABLE]
        return played

    def envelope(self, points_per_second: float, depth: float) -> FloatArray:
        """A smooth random envelope in ``1 - depth .. 1`` (seeded points, cosine-interpolated)."""
        count = max(2, math.ceil(self.t[-1] * points_per_second) + 2)
        values = 1.0 - depth * self.rng.random(count)
        x = self.t * points_per_second
        i = np.minimum(x.astype(np.int64), count - 2)
        u = (1 - np.cos(np.pi * (x - i))) / 2
        env: FloatArray = values[i] * (1 - u) + values[i + 1] * u
        return env

    def times(self, per_second: float) -> FloatArray:
        """Seeded event times (a Poisson process) within the clip."""
        count = int(self.rng.poisson(per_second * self.t[-1])) if self.t[-1] > 0 else 0
        times: FloatArray = np.sort(self.rng.uniform(0.0, self.t[-1], count))
        return times

    def place(self, out: FloatArray, start: float, grain: FloatArray, pan: float) -> None:
        """Add a mono ``grain`` at ``start`` seconds, panned (-1 left .. 1 right)."""
        i = round(start * SAMPLE_RATE)
        if i >= self.n:
            return
        g = grain[: self.n - i]
        out[0, i : i + len(g)] += g * math.cos((pan + 1) * math.pi / 4)
        out[1, i : i + len(g)] += g * math.sin((pan + 1) * math.pi / 4)

    # ----------------------------------------------------------------- the bed

    def bed(self) -> FloatArray:
        look = self.look
        colours = (look.bg_top, look.bg_bottom, *look.accents[:2])
        hsv = [colorsys.rgb_to_hsv(r / 255, g / 255, b / 255) for r, g, b in colours]
        hue = math.atan2(
            sum(math.sin(2 * math.pi * h) * s for h, s, _ in hsv),
            sum(math.cos(2 * math.pi * h) * s for h, s, _ in hsv),
        ) / (2 * math.pi) % 1.0
        saturation = sum(s for _, s, _ in hsv) / len(hsv)
        value = sum(v for _, _, v in hsv) / len(hsv)
        root = 110.0 * 2 ** (int(hue * 12) / 12) * (0.5 if value < 0.35 else 1.0)
        warm = hue < 0.17 or hue > 0.9
        major = (warm and value > 0.3) or value > 0.7
        progression = _MAJOR if major else _MINOR
        rolloff = 2.6 - 1.5 * saturation  # harmonic k at 1 / k**rolloff: vivid = brighter
        harmonics = 2 + round(4 * saturation)
        hold = min(8.0, max(2.0, 4.0 / self.speed))
        xfade = hold * 0.35
        offset = int(self.rng.integers(0, 4))

        # the voice's waveform, one period: additive harmonics, then read as a wavetable
        table = _wavetable([1 / h**rolloff for h in range(1, harmonics + 1)])
        out = np.zeros((2, self.n))
        segments = math.ceil(self.t[-1] / hold) + 1
        for k in range(segments):
            start, end = k * hold - xfade, (k + 1) * hold + xfade
            i0, i1 = max(0, round(start * SAMPLE_RATE)), min(self.n, round(end * SAMPLE_RATE))
            if i1 <= i0:
                continue
            t = self.t[i0:i1]
            window = np.clip(np.minimum(t - start, end - t) / (2 * xfade), 0, 1)
            window = np.sin(window * np.pi / 2) ** 2
            chord = progression[(k + offset) % 4]
            freqs = [root * 2 ** (s / 12) for s in chord] + [root / 2 * 2 ** (chord[0] / 12)]
            for channel, detune in ((0, -0.0025), (1, 0.0025)):
                voice = np.zeros(len(t))
                for j, f0 in enumerate(freqs):
                    cycles = f0 * (1 + detune) * t + 0.2 * j + 0.15 * channel
                    voice += self.tone(table, cycles)
                out[channel, i0:i1] += voice * window
        tremolo = 1.0 - 0.25 * (1 + np.sin(2 * np.pi * 0.11 * self.speed * self.t)) / 2
        bed: FloatArray = out * tremolo
        return bed / (float(np.abs(bed).max()) or 1.0)

    # ----------------------------------------------------------------- the events

    def event(self, kind: str) -> FloatArray:
        """The named event (see :data:`EVENT_WORDS` and :data:`MOTION_EVENTS`), stereo."""
        if kind in ("beat", "thud", "boom"):
            return self._kick(kind)
        make = getattr(self, f"_{kind}", None)
        if make is None:
            raise ValueError(f"unknown sound event {kind!r}")
        result: FloatArray = make()
        return result

    def _rain(self) -> FloatArray:
        n, rng = self.n, self.rng
        size = min(n, _NOISE_LOOP)
        drops = np.zeros(size)
        count = int(size / SAMPLE_RATE * 60)
        drops[rng.integers(0, size, count)] = rng.uniform(20, 60, count)
        return 0.35 * self.noise(900.0, 7000.0, drops) * self.envelope(0.5, 0.25)

    def _thunder(self) -> FloatArray:
        t, n = self.t, self.n
        out = np.zeros((2, n))
        rumble = self.noise(25.0, 140.0)
        for start in self.times(0.15)[:4]:
            env = np.exp(-np.maximum(t - start, 0) / 1.2) * (t >= start)
            env *= np.minimum(1.0, np.maximum(t - start, 0) / 0.15)
            out += rumble * env
        return 0.6 * out

    def _ocean(self) -> FloatArray:
        t, rng = self.t, self.rng
        period = float(rng.uniform(6.0, 9.0)) / min(1.5, self.speed)
        swell = (0.5 * (1 - np.cos(2 * np.pi * t / period + rng.uniform(0, 6)))) ** 2
        return 0.45 * self.noise(80.0, 1200.0) * (0.15 + swell)

    def _wind(self) -> FloatArray:
        return 0.3 * self.noise(180.0, 1400.0) * self.envelope(0.4 * self.speed, 0.85) ** 2

    def _city(self) -> FloatArray:
        rng = self.rng
        out = 0.25 * self.noise(40.0, 320.0)
        for start in self.times(0.12):
            length = int(0.35 * SAMPLE_RATE)
            tt = np.arange(length) / SAMPLE_RATE
            f = float(rng.uniform(330, 480))
            horn = np.sign(np.sin(2 * np.pi * f * tt)) + np.sign(np.sin(2.52 * np.pi * f * tt))
            horn *= np.minimum(1.0, np.minimum(tt, tt[-1] - tt) / 0.03) * 0.06
            self.place(out, float(start), horn, float(rng.uniform(-0.8, 0.8)))
        return out

    def _birds(self) -> FloatArray:
        n, rng = self.n, self.rng
        out = np.zeros((2, n))
        for start in self.times(1.6):
            side, f_hi = float(rng.uniform(-0.9, 0.9)), float(rng.uniform(2800, 5200))
            for syllable in range(int(rng.integers(1, 4))):
                length = int(rng.uniform(0.05, 0.12) * SAMPLE_RATE)
                u = np.arange(length) / length
                freq = f_hi * (1 - 0.35 * u)
                phase = 2 * np.pi * np.cumsum(freq) / SAMPLE_RATE
                chirp = np.sin(phase) * np.sin(np.pi * u) ** 2 * 0.22
                self.place(out, float(start) + syllable * 0.14, chirp, side)
        return out

    def _engine(self) -> FloatArray:
        t = self.t
        f0 = 38.0 + 22.0 * min(2.0, self.speed)
        wobble = 1 + 0.02 * np.sin(2 * np.pi * 0.7 * t)
        saw = _wavetable([1 / h for h in range(1, 9)])
        buzz = self.tone(saw, f0 * np.cumsum(wobble) / SAMPLE_RATE)
        return 0.35 * np.stack([buzz, np.roll(buzz, 37)]) * self.envelope(0.3, 0.3)

    def _fire(self) -> FloatArray:
        n, rng = self.n, self.rng
        size = min(n, _NOISE_LOOP)
        crackle = np.zeros(size)
        count = int(size / SAMPLE_RATE * 25)
        crackle[rng.integers(0, size, count)] = rng.uniform(40, 140, count)
        return 0.25 * self.noise(60.0, 500.0) + 0.2 * self.noise(1500.0, 9000.0, crackle)

    def _bubbles(self) -> FloatArray:
        n, rng = self.n, self.rng
        out = np.zeros((2, n))
        for start in self.times(3.0):
            length = int(rng.uniform(0.03, 0.07) * SAMPLE_RATE)
            u = np.arange(length) / length
            freq = float(rng.uniform(300, 900)) * (1 + 1.2 * u)
            blip = np.sin(2 * np.pi * np.cumsum(freq) / SAMPLE_RATE) * np.sin(np.pi * u) * 0.2
            self.place(out, float(start), blip, float(rng.uniform(-0.7, 0.7)))
        return out

    def _kick(self, kind: str) -> FloatArray:
        t, n, rng = self.t, self.n, self.rng
        out = np.zeros((2, n))
        interval = {"beat": 60.0 / (70 + 45 * self.speed), "thud": 1.1 / self.speed}.get(
            kind, 3.0 / self.speed
        )
        length = min(n, int((0.9 if kind == "boom" else 0.3) * SAMPLE_RATE))
        tt = np.arange(length) / SAMPLE_RATE
        pitch = 42.0 + 90.0 * np.exp(-tt / 0.03)
        kick = np.sin(2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE) * np.exp(-tt / 0.12)
        if kind == "boom":
            kick = kick * 0.6 + self.noise(30.0, 200.0)[0, :length] * np.exp(-tt / 0.3) * 0.4
        for start in np.arange(float(rng.uniform(0.0, interval)), t[-1], interval):
            self.place(out, float(start), kick * 0.5, 0.0)
        return out

    def _whoosh(self) -> FloatArray:
        t, rng = self.t, self.rng
        rate = 0.15 * self.speed
        pan = np.sin(2 * np.pi * rate * t + rng.uniform(0, 6))
        swell = (0.5 * (1 + np.sin(2 * np.pi * rate * 2 * t))) ** 2
        band = self.noise(300.0, 2500.0)
        gains = np.stack([np.cos((pan + 1) * np.pi / 4), np.sin((pan + 1) * np.pi / 4)])
        whoosh: FloatArray = 0.3 * band * swell * gains
        return whoosh


def sound_for(request: GenerationRequest) -> Audio | None:
    """A request's sound: a new clip's soundtrack (an extension's without its fade-in); for
    an edit, the source's sound with the prompt's events mixed in, or None (the source's kept
    as it is) where the prompt names none."""
    look = analyse_prompt(request.prompt)
    seconds = request.num_frames / request.fps
    if request.source_video is None:
        return soundtrack(
            request.prompt, request.seed, seconds, look, fade_in=request.continue_from is None
        )
    if not sound_events(request.prompt, look):
        return None
    events = soundtrack(request.prompt, request.seed, seconds, look, bed=False)
    return events if request.source_audio is None else layered(request.source_audio, events)


def soundtrack(
    prompt: str, seed: int, seconds: float, look: Look, *, bed: bool = True,
    fade_in: bool = True,
) -> Audio:
    """The clip's sound: the bed (unless ``bed`` is False) and the prompt's events; it fades
    in over 10 ms unless ``fade_in`` is False (an extension's, which is crossfaded onto the
    source's sound instead)."""
    synth = _Synth(prompt, seed, seconds, look)
    mix = np.zeros((2, synth.n))
    if bed:
        mix += 0.3 * synth.bed()
    for kind in sound_events(prompt, look):
        mix += synth.event(kind)
    return _master(mix, fade_in)


def layered(source: Audio, events: Audio) -> Audio:
    """An edit's sound: the source's, with the prompt's events mixed in under it."""
    from vidserve.media.audio import conform, fit

    base = fit(conform(source), events.seconds)
    extra = fit(conform(events), base.seconds)
    mixed = base.samples.astype(np.float64) + 0.5 * extra.samples
    peak = float(np.abs(mixed).max())
    if peak > 1.0:
        mixed /= peak
    return Audio(mixed.astype(np.float32), base.sample_rate)


def _master(mix: FloatArray, fade_in: bool) -> Audio:
    n = mix.shape[1]
    peak = float(np.abs(mix).max())
    if peak > 0:
        mix = np.tanh(mix * (1.5 / peak)) * (PEAK / math.tanh(1.5))
    fade = min(n, round(FADE_IN_SECONDS * SAMPLE_RATE)) if fade_in else 0
    if fade:
        mix[:, :fade] *= np.linspace(0.0, 1.0, fade)
    return Audio(mix.astype(np.float32), SAMPLE_RATE)
