"""Sound: the AAC track beside H.264, the audio helpers, the procedural soundtrack, and how a
job's sound is made from its source's (extension, edit, remix). Everything decoded with PyAV."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

from tests.surface.clips import FADE_SLOPE, extension_seam_jump, seam_jump
from vidserve.domain import Audio, GenerationRequest
from vidserve.engine.procedural import ProceduralBackend
from vidserve.engine.procedural.look import analyse_prompt
from vidserve.engine.procedural.sound import sound_events, soundtrack
from vidserve.media.audio import SAMPLE_RATE, conform, fit, join, loop, read_audio, silence
from vidserve.media.encode import encode_video
from vidserve.settings import Settings
from vidserve.worker.inputs import Inputs, LeadIn

W, H, FPS = 64, 48, 24
AAC_FRAME = 1024


def request(prompt: str, seconds: int = 1, seed: int = 5, **kw: object) -> GenerationRequest:
    return GenerationRequest(
        model="procedural", prompt=prompt, width=W, height=H, seconds=seconds, seed=seed,
        fps=FPS, **kw,  # type: ignore[arg-type]
    )


def make(req: GenerationRequest, path: Path, **kw: object) -> bytes:
    clip = ProceduralBackend().generate(req, lambda d, t: None, lambda: False)
    encode_video(
        clip.frames, path, width=W, height=H, fps=FPS, expected_frames=req.num_frames,
        preset="ultrafast", audio=clip.audio, **kw,  # type: ignore[arg-type]
    )
    return path.read_bytes()


def tracks(path: Path) -> tuple[float, av.audio.stream.AudioStream | None, float | None]:
    """The video's duration, the audio stream (None: none) and its duration."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        assert video.duration is not None and video.time_base is not None
        v = float(video.duration * video.time_base)
        if not container.streams.audio:
            return v, None, None
        audio = container.streams.audio[0]
        assert audio.duration is not None and audio.time_base is not None
        return v, audio, float(audio.duration * audio.time_base)


def steps(samples: np.ndarray) -> np.ndarray:
    """|x[i+1] - x[i]|, the larger of the two channels."""
    step: np.ndarray = np.abs(np.diff(samples, axis=1)).max(axis=0)
    return step


def tone(seconds: float, freq: float, rate: int = SAMPLE_RATE, phase: float = 0.0) -> Audio:
    t = np.arange(round(seconds * rate)) / rate
    wave = (0.4 * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)
    return Audio(np.stack([wave, wave]), rate)


# --------------------------------------------------------------------------- the AAC track


@pytest.mark.parametrize("seconds", [4, 8, 12])
def test_track_is_aac_48k_stereo_as_long_as_the_video(tmp_path: Path, seconds: int) -> None:
    data = make(request("rain over the ocean at night", seconds=seconds), tmp_path / "c.mp4")
    video_s, stream, audio_s = tracks(tmp_path / "c.mp4")
    assert stream is not None and audio_s is not None
    assert stream.codec_context.name == "aac"
    assert (stream.rate, stream.layout.name, stream.channels) == (48000, "stereo", 2)
    assert video_s == pytest.approx(seconds)
    assert abs(audio_s - video_s) <= AAC_FRAME / 48000
    decoded = read_audio(data)
    assert decoded is not None
    assert abs(decoded.seconds - video_s) <= AAC_FRAME / 48000
    assert float(np.sqrt(np.mean(decoded.samples**2))) > 0.02  # not silent


def test_any_rate_and_channels_are_resampled(tmp_path: Path) -> None:
    frames = [np.full((H, W, 3), 5 * i, np.uint8) for i in range(2 * FPS)]
    mono = Audio(tone(3.0, 440.0, rate=16000).samples[:1], 16000)  # 3 s for a 2 s video
    encode_video(frames, tmp_path / "m.mp4", width=W, height=H, fps=FPS,
                 expected_frames=len(frames), audio=mono)
    video_s, stream, audio_s = tracks(tmp_path / "m.mp4")
    assert stream is not None and audio_s is not None
    assert (stream.rate, stream.channels) == (48000, 2)
    assert abs(audio_s - video_s) <= AAC_FRAME / 48000
    back = read_audio(tmp_path / "m.mp4")
    assert back is not None
    spectrum = np.abs(np.fft.rfft(back.samples[0, 4800:91200]))
    peak_hz = np.argmax(spectrum) * 48000 / (91200 - 4800)
    assert abs(peak_hz - 440.0) < 2.0  # the same pitch: resampled, not reinterpreted
    assert np.allclose(back.samples[0], back.samples[1], atol=0.02)  # mono on both sides


def test_a_model_without_sound_gets_a_silent_track_unless_turned_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames = [np.full((H, W, 3), 40, np.uint8)] * FPS
    encode_video(frames, tmp_path / "s.mp4", width=W, height=H, fps=FPS, expected_frames=FPS)
    _, stream, audio_s = tracks(tmp_path / "s.mp4")
    assert stream is not None and audio_s == pytest.approx(1.0, abs=AAC_FRAME / 48000)
    back = read_audio(tmp_path / "s.mp4")
    assert back is not None and back.samples.shape[1] >= 47000
    assert float(np.abs(back.samples).max()) == 0.0
    encode_video(frames, tmp_path / "n.mp4", width=W, height=H, fps=FPS, expected_frames=FPS,
                 audio_track=False)
    assert tracks(tmp_path / "n.mp4")[1] is None
    assert read_audio(tmp_path / "n.mp4") is None
    # the operator's switch (the worker passes it as audio_track)
    monkeypatch.delenv("VIDSERVE_SILENT_AUDIO_TRACK", raising=False)
    assert Settings().silent_audio_track is True
    monkeypatch.setenv("VIDSERVE_SILENT_AUDIO_TRACK", "0")
    assert Settings().silent_audio_track is False


def test_audio_is_interleaved_with_the_video(tmp_path: Path) -> None:
    """Sound and pictures alternate in the file (a player streaming it by ranges needs both
    at once), not all the video then all the audio."""
    make(request("birds", seconds=4), tmp_path / "i.mp4")
    with av.open(str(tmp_path / "i.mp4")) as container:
        order = [p.stream.type for p in container.demux() if p.size]
    switches = sum(1 for a, b in zip(order, order[1:], strict=False) if a != b)
    assert switches >= 4


# --------------------------------------------------------------------------- helpers


def test_fit_trims_and_pads_exactly() -> None:
    a = tone(1.0, 300.0)
    assert np.array_equal(fit(a, 0.5).samples, a.samples[:, :24000])
    padded = fit(a, 1.5)
    assert padded.samples.shape == (2, 72000)
    assert float(np.abs(padded.samples[:, 48000:]).max()) == 0.0


def test_conform_and_silence() -> None:
    five = Audio(np.full((5, 800), 0.2, np.float32), 8000)  # 5 channels at 8 kHz
    out = conform(five)
    assert (out.sample_rate, out.channels) == (48000, 2)
    assert out.seconds == pytest.approx(0.1, abs=0.002)
    assert silence(0.25).samples.shape == (2, 12000)


def test_join_has_no_click_where_a_hard_cut_does() -> None:
    a, b = tone(1.0, 220.0), tone(1.0, 330.0, phase=2.0)  # out of phase at the seam
    joined = join(a, b)
    assert joined.samples.shape == (2, 96000)
    at_seam, around = seam_jump(joined.samples, 48000)
    assert at_seam <= around
    cut = np.concatenate([a.samples, b.samples], axis=1)  # the measure sees a hard cut
    at_cut, around_cut = seam_jump(cut, 48000)
    assert at_cut > 5 * around_cut
    # away from the crossfade each side is untouched
    assert np.array_equal(joined.samples[:, :46000], a.samples[:, :46000])
    assert np.array_equal(joined.samples[:, 50000:], b.samples[:, 2000:])


def test_a_join_ending_at_the_seam_hides_a_decoded_files_last_samples() -> None:
    """An AAC stream's last samples ring (its last frame is padded with silence): a sound
    decoded from a file, continued by another, must not replay them at the seam."""
    a, b = tone(1.0, 220.0), tone(1.0, 330.0, phase=2.0)
    rung = a.samples.copy()
    rung[:, -1] += 0.2  # the ringing of the codec at the file's end, as decoded
    decoded = Audio(rung, a.sample_rate)
    at_seam, around = seam_jump(join(decoded, b).samples, 48000)
    assert at_seam > 1.5 * around  # a centred fade plays it back at half level
    joined = join(decoded, b, ends_at_seam=True)
    assert joined.samples.shape == (2, 96000)
    at_seam, around = extension_seam_jump(joined.samples, 48000)
    assert at_seam <= around + FADE_SLOPE, (at_seam, around)  # the tones' own steps
    # the measure sees the ringing where a cut leaves it
    cut = np.concatenate([rung, b.samples], axis=1)
    assert extension_seam_jump(cut, 48000)[0] > 1.5 * around
    # the crossfade lies before the seam: second plays from there on as it is
    assert np.array_equal(joined.samples[:, :45600], a.samples[:, :45600])
    assert np.array_equal(joined.samples[:, 48000:], b.samples)


def test_loop_continues_a_sound() -> None:
    looped = loop(tone(0.3, 440.0), 1.0)
    assert looped.samples.shape == (2, 48000)
    assert float(np.abs(looped.samples[:, 30000:]).max()) > 0.3
    assert loop(Audio(np.zeros((2, 0), np.float32), 48000), 0.5).samples.shape == (2, 24000)


# --------------------------------------------------------------------------- procedural


def test_procedural_sound_follows_the_prompt() -> None:
    assert ProceduralBackend().capabilities().audio is True
    look = analyse_prompt("rain on a city street, birds, a car engine")
    assert sound_events("rain on a city street, birds, a car engine", look) == (
        "rain", "city", "birds", "engine",
    )
    waves = "waves on the ocean with wind"
    assert sound_events(waves, analyse_prompt(waves)) == ("ocean", "wind")
    dance = "balls bouncing fast"  # a motion word: the look's motion (bounce) is heard
    assert sound_events(dance, analyse_prompt(dance)) == ("thud",)
    assert sound_events("a quiet gradient", analyse_prompt("a quiet gradient")) == ()
    red = soundtrack("red", 1, 2.0, analyse_prompt("red")).samples[0]
    blue = soundtrack("blue", 1, 2.0, analyse_prompt("blue")).samples[0]

    def pitch(x: np.ndarray) -> float:
        spectrum = np.abs(np.fft.rfft(x[:24000]))
        return float(np.argmax(spectrum[20:]) + 20)

    assert pitch(red) != pitch(blue)  # another key
    rain = soundtrack("rain", 1, 2.0, analyse_prompt("rain")).samples
    plain = soundtrack("plain", 1, 2.0, analyse_prompt("plain")).samples

    def treble(x: np.ndarray) -> float:  # the share of energy above 3 kHz
        power = np.abs(np.fft.rfft(x[0])) ** 2
        freqs = np.fft.rfftfreq(x.shape[1], 1 / 24000)
        return float(power[freqs > 3000].sum() / power.sum())

    assert treble(rain) > 0.2 > 0.01 > treble(plain)  # rain is hiss; the bed is tones


def test_procedural_sound_is_deterministic_to_the_byte(tmp_path: Path) -> None:
    req = request("waves on a sunset beach, seagulls, birds", seconds=2)
    one = make(req, tmp_path / "a.mp4")
    two = make(req, tmp_path / "b.mp4")
    assert hashlib.sha256(one).digest() == hashlib.sha256(two).digest()
    other_seed = make(replace(req, seed=6), tmp_path / "c.mp4")
    assert one != other_seed


def test_remix_makes_new_sound_and_edit_keeps_the_source_sound(tmp_path: Path) -> None:
    source_req = request("red balls bouncing", seconds=2)
    source_mp4 = make(source_req, tmp_path / "src.mp4")
    source = read_audio(source_mp4)
    assert source is not None
    n = 2 * 48000

    def corr(a: Audio, b: Audio) -> float:
        return float(np.corrcoef(a.samples[0, :n], b.samples[0, :n])[0, 1])

    # a remix: same seed, new prompt, no source sound (the worker passes none)
    remix_req = replace(source_req, prompt="blue calm lake, wind")
    remix = ProceduralBackend().generate(remix_req, lambda d, t: None, lambda: False).audio
    assert remix is not None
    assert abs(corr(conform(remix), source)) < 0.3
    assert Inputs(remix_req).audio(remix) is remix

    # an edit whose prompt names no sound: the engine adds none, the file keeps the source's
    edit_req = replace(source_req, prompt="golden grade", source_video=source_mp4,
                       source_audio=source)
    clip = ProceduralBackend().generate(edit_req, lambda d, t: None, lambda: False)
    list(clip.frames)
    assert clip.audio is None
    assert Inputs(edit_req).audio(clip.audio) is source
    # an edit that names sounds: the source's, with rain under it
    rainy = replace(edit_req, prompt="golden grade with rain")
    clip = ProceduralBackend().generate(rainy, lambda d, t: None, lambda: False)
    list(clip.frames)
    assert clip.audio is not None
    mixed = Inputs(rainy).audio(clip.audio)
    assert mixed is not None and corr(mixed, source) > 0.5
    assert not np.allclose(mixed.samples[:, :n], source.samples[:, :n], atol=0.01)


def test_extension_continues_the_source_sound_across_the_seam(tmp_path: Path) -> None:
    source_req = request("a bright violet sky", seconds=4)
    source_mp4 = make(source_req, tmp_path / "src.mp4")
    source = read_audio(source_mp4)
    assert source is not None
    lead_in = LeadIn(tmp_path / "src.mp4", 4 * FPS, W, H, FPS)
    last = np.zeros((H, W, 3), np.uint8)
    segment_req = request("a calm blue night sky", seconds=8, source_audio=source,
                          continue_from=last, reference_image=last)
    segment = ProceduralBackend().generate(segment_req, lambda d, t: None, lambda: False).audio
    assert segment is not None
    # the sounds meet at full level: a hard cut between them is seen by the measure
    cut = np.concatenate([source.samples[:, : 4 * 48000], conform(segment).samples], axis=1)
    at_cut, around_cut = extension_seam_jump(cut, 4 * 48000)
    assert at_cut > 2 * around_cut, (at_cut, around_cut)
    for new in (segment, None):  # the model's new sound, or none (the source's continued)
        joined = Inputs(segment_req, lead_in).audio(new)
        assert joined is not None and joined.samples.shape == (2, 12 * 48000)
        # the first 4 s are the source's sound
        assert np.allclose(joined.samples[:, :189600], source.samples[:, :189600], atol=1e-6)
        at_seam, around = extension_seam_jump(joined.samples, 4 * 48000)
        assert at_seam <= around + FADE_SLOPE, (at_seam, around)
        assert float(np.sqrt(np.mean(joined.samples[:, 5 * 48000 :] ** 2))) > 0.02
