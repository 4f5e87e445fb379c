"""Benchmark: procedural render + H.264 encode vs encode alone of the same frames.

Renders a 12 s 1280x720 clip (288 frames at 24 fps, and its soundtrack) with
:class:`ProceduralBackend` and streams it through :func:`encode_video` (render+encode, the
soundtrack muxed as AAC), and separately encodes the same 288 frames and soundtrack, made
beforehand and held in memory, with the same encoder settings (encode-only baseline).
Both run in this process, alternating, a few repetitions each; the medians are compared.

    python bench/render_encode.py [--reps 5] [--prompt "..."] [--preset veryfast] [--crf 23]

Prints both medians and ``render+encode / encode-only = X.XXx (goal <= 1.30x)``.
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

from vidserve.domain import Clip, GenerationRequest
from vidserve.engine.procedural import ProceduralBackend
from vidserve.media.encode import encode_video

DEFAULT_PROMPT = "a red balloon drifting over a calm ocean at sunset, seagulls flying by"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--prompt", default=DEFAULT_PROMPT)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--seconds", type=int, default=12)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--crf", type=int, default=23)
    args = parser.parse_args(argv)

    width, height = (int(v) for v in args.size.split("x"))
    request = GenerationRequest(
        model="procedural",
        prompt=args.prompt,
        width=width,
        height=height,
        seconds=args.seconds,
        seed=args.seed,
    )
    backend = ProceduralBackend()
    n = request.num_frames

    def generate() -> Clip:
        return backend.generate(request, lambda done, total: None, lambda: False)

    made = generate()
    rendered = list(made.frames)  # the baseline's input: the very frames the renderer makes
    sound = made.audio

    def timed(run: Callable[[], object]) -> tuple[float, float]:
        """(wall seconds, CPU seconds of this process, all threads) of one run."""
        cpu0, start = os.times(), time.perf_counter()
        run()
        wall, cpu1 = time.perf_counter() - start, os.times()
        return wall, (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)

    render_only: list[tuple[float, float]] = []
    combined: list[tuple[float, float]] = []
    encode_only: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "clip.mp4"

        def encode(source: Callable[[], Clip]) -> Callable[[], object]:
            def run() -> None:
                made = source()
                clip = encode_video(
                    made.frames,
                    out,
                    width=width,
                    height=height,
                    fps=request.fps,
                    expected_frames=n,
                    preset=args.preset,
                    crf=args.crf,
                    audio=made.audio,
                )
                assert clip.frames == n

            return run

        def render() -> None:
            for _frame in generate().frames:
                pass

        pre_rendered = encode(lambda: Clip(iter(rendered), sound))
        streamed = encode(generate)
        pre_rendered()  # warm-up
        for _ in range(args.reps):  # interleaved, so that load changes hit all three alike
            encode_only.append(timed(pre_rendered))
            combined.append(timed(streamed))
            render_only.append(timed(render))
        size = out.stat().st_size

    def median(values: list[tuple[float, float]], k: int) -> float:
        return statistics.median(v[k] for v in values)

    def runs(values: list[tuple[float, float]]) -> str:
        return ", ".join(f"{v[0]:.2f}" for v in values)

    enc, both, ren = (median(v, 0) for v in (encode_only, combined, render_only))
    enc_cpu, both_cpu, ren_cpu = (median(v, 1) for v in (encode_only, combined, render_only))
    print(f"clip: {width}x{height}, {n} frames, prompt={args.prompt!r}, seed={args.seed}")
    print(f"x264 preset={args.preset} crf={args.crf}; mp4 {size / 1e6:.2f} MB; reps={args.reps}")
    print("medians:                     wall s   cpu s   (wall of each run)")
    print(f"  render only (streamed)     {ren:7.3f} {ren_cpu:7.3f}   ({runs(render_only)})")
    print(f"  encode only (pre-rendered) {enc:7.3f} {enc_cpu:7.3f}   ({runs(encode_only)})")
    print(f"  render+encode (streamed)   {both:7.3f} {both_cpu:7.3f}   ({runs(combined)})")
    print(f"cpu: render+encode / encode-only = {both_cpu / enc_cpu:.2f}x")
    print(f"render+encode / encode-only = {both / enc:.2f}x (goal <= 1.30x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
