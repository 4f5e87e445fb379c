"""Benchmark: what the AAC track costs, as a share of the H.264 encode alone.

The same frames (a 12 s 1280x720 procedural clip, 288 frames at 24 fps, rendered beforehand
and held in memory) are encoded three ways with the server's encoder settings, alternating, a
few repetitions each, in this process:

- video only (``audio_track=False``): the baseline;
- with the clip's procedural soundtrack (synthesised beforehand) muxed as AAC 48 kHz stereo;
- with the silent track a model without sound gets.

It also times the soundtrack's synthesis (``sound_for``) on its own.

    python bench/audio_mux.py [--reps 5] [--seconds 12] [--size 1280x720]

Prints the medians and ``audio mux = +X.X % of the encode (goal <= 5 %)`` for the sound and
for silence, plus the synthesis cost as a share of the encode.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from vidserve.domain import Audio, GenerationRequest
from vidserve.engine.procedural import ProceduralBackend
from vidserve.engine.procedural.sound import sound_for
from vidserve.media.encode import encode_video

DEFAULT_PROMPT = "rain over a neon city at night, cars passing, a slow drifting camera"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--prompt", default=DEFAULT_PROMPT)
    parser.add_argument("--seconds", type=int, default=12)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--crf", type=int, default=23)
    args = parser.parse_args(argv)

    width, height = (int(v) for v in args.size.split("x"))
    request = GenerationRequest(
        model="procedural", prompt=args.prompt, width=width, height=height,
        seconds=args.seconds, seed=1234,
    )
    clip = ProceduralBackend().generate(request, lambda done, total: None, lambda: False)
    frames = list(clip.frames)
    sound = clip.audio
    assert sound is not None

    def cpu_wall(run: Callable[[], object]) -> tuple[float, float]:
        cpu0, start = os.times(), time.perf_counter()
        run()
        wall, cpu1 = time.perf_counter() - start, os.times()
        return wall, (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)

    results: dict[str, list[tuple[float, float]]] = {"video": [], "sound": [], "silence": []}
    synth: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "clip.mp4"

        def encode(audio: Audio | None, track: bool) -> Callable[[], object]:
            def run() -> None:
                encode_video(
                    iter(frames), out, width=width, height=height, fps=request.fps,
                    expected_frames=len(frames), preset=args.preset, crf=args.crf,
                    audio=audio, audio_track=track,
                )

            return run

        runs = {
            "video": encode(None, False),
            "sound": encode(sound, True),
            "silence": encode(None, True),
        }
        runs["video"]()  # warm-up
        for _ in range(args.reps):  # interleaved, so that load changes hit all alike
            for name, run in runs.items():
                results[name].append(cpu_wall(run))
            synth.append(cpu_wall(lambda: sound_for(request)))

    def median(values: list[tuple[float, float]], k: int) -> float:
        return statistics.median(v[k] for v in values)

    video, video_cpu = median(results["video"], 0), median(results["video"], 1)
    print(f"clip: {width}x{height}, {len(frames)} frames, {sound.seconds:.1f} s of sound at "
          f"{sound.sample_rate} Hz -> AAC 48 kHz stereo; x264 {args.preset} crf {args.crf}; "
          f"reps={args.reps}")
    print("medians:                      wall s   cpu s   (wall of each run)")
    for name, label in (("video", "video only"), ("sound", "video + soundtrack"),
                        ("silence", "video + silent track")):
        walls = ", ".join(f"{v[0]:.2f}" for v in results[name])
        print(f"  {label:<27} {median(results[name], 0):7.3f} {median(results[name], 1):7.3f}"
              f"   ({walls})")
    print(f"  soundtrack synthesis        {median(synth, 0):7.3f} {median(synth, 1):7.3f}")
    for name in ("sound", "silence"):
        wall = median(results[name], 0) / video - 1
        cpu = median(results[name], 1) / video_cpu - 1
        print(f"audio mux ({name}) = {wall * 100:+.1f} % of the encode, cpu {cpu * 100:+.1f} %"
              " (goal <= 5 %)")
    print(f"soundtrack synthesis = {median(synth, 0) / video * 100:.1f} % of the encode")
    return 0


if __name__ == "__main__":
    sys.exit(main())
