"""The ``--parallel N`` rows of ``bench/gpu_wan.py``: one Wan clip on 1 device and on N.

Both sides serve the same weights folder from a models-file entry; the N-device side adds
``parallel = { ulysses = N }`` and runs through :class:`vidserve.worker.group.DeviceGroup`
(N rank processes, NCCL on CUDA, gloo on CPU), as a worker would. Each side loads, runs a
short warm-up, then one measured clip of ``steps`` steps; seconds per step are the median
of the intervals between reported steps. Printed: s/step on 1 and on N devices, the
speed-up and the scaling efficiency (speed-up / N), and how far the N-device frames are from
the single device's (on CPU with gloo: identical, and no timing rows: a shared CPU says
nothing about scaling).

    python bench/gpu_wan.py --parallel 4 --rows default      # on a machine with 4 GPUs
    python bench/parallel_wan.py --tiny                      # CPU, 2 gloo ranks: equality only
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PROMPT = "a red fox running through fresh snow in a pine forest, cinematic light"


@dataclass(frozen=True)
class Side:
    ranks: int
    load: float
    step: float  # median seconds per step
    total: float  # the measured clip, end to end
    frames: list[Any]


def _entry(name: str, folder: Path, device: str, dtype: str, steps: int, width: int,
           height: int, frames: int, ranks: int, tiny: bool, mode: str = "ulysses") -> str:
    parallel = f"parallel = {{ {mode} = {ranks} }}\n" if ranks > 1 else ""
    if mode == "ring":  # ring merges partial attentions by their log-sum-exp: both sides
        parallel += 'attention_backend = "_native_cudnn"\n'
    extra = "max_sequence_length = 16\ncpu_threads = 1\n" if tiny else ""
    return f"""
[models.{name}]
backend = "diffusers"
pipeline = "WanPipeline"
weights = "{folder}"
device = "{device}"
dtype = "{dtype}"
steps = {steps}
native_sizes = ["{width}x{height}"]
native_fps = 16
max_frames = {frames}
{parallel}{extra}"""


def _side(backend: Any, ranks: int, load: float, steps: int, width: int, height: int,
          frames: int, seed: int) -> Side:
    from vidserve.domain import GenerationRequest

    seconds = max(1, (frames - 1) // 16)

    def call(n: int, marks: list[float]) -> list[Any]:
        request = GenerationRequest(model="wan", prompt=PROMPT, width=width, height=height,
                                    seconds=seconds, seed=seed, fps=16, steps=n)
        return list(backend.generate(request, lambda d, t: marks.append(time.perf_counter()),
                                     lambda: False).frames)

    call(2, [])  # warm-up
    marks: list[float] = []
    begin = time.perf_counter()
    out = call(steps, marks)
    total = time.perf_counter() - begin
    step = statistics.median(b - a for a, b in zip(marks, marks[1:], strict=False))
    return Side(ranks, load, step, total, out)


def measure(folder: Path, *, ranks: int, device: str, dtype: str, steps: int, width: int,
            height: int, frames: int, seed: int = 42, tiny: bool = False,
            mode: str = "ulysses") -> tuple[Side, Side]:
    """One clip on one device, then on a group of ``ranks`` (``mode``: ulysses or ring)."""
    from vidserve.engine.loader import load_backend
    from vidserve.engine.registry import ModelRegistry
    from vidserve.worker.group import DeviceGroup

    models = folder.parent / f"{folder.name}.parallel.toml"
    models.write_text(
        _entry("one", folder, device, dtype, steps, width, height, frames, 1, tiny, mode)
        + _entry("group", folder, device, dtype, steps, width, height, frames, ranks, tiny,
                 mode))
    registry = ModelRegistry.from_file(models)
    sides = []
    for name in ("one", "group"):
        served = registry.get(name)
        assert served is not None and served.spec.problem is None, served
        started = time.perf_counter()
        backend: Any
        if name == "one":
            backend = load_backend(served.spec)
            backend.load()
        else:
            backend = DeviceGroup(served.spec)
            backend.start()
        try:
            sides.append(_side(backend, 1 if name == "one" else ranks,
                               time.perf_counter() - started, steps, width, height, frames,
                               seed))
        finally:
            if name == "group":
                backend.close()
            del backend
    return sides[0], sides[1]


def report(one: Side, group: Side, *, timing: bool) -> list[str]:
    """The printed rows: frame difference always, timing where it means something."""
    import numpy as np

    diff = max(int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())
               for a, b in zip(one.frames, group.frames, strict=True))
    lines = [f"  frames on {group.ranks} ranks vs 1 device: "
             + ("identical" if diff == 0 else f"max difference {diff}/255")]
    if timing:
        speedup = one.step / group.step
        lines += [
            f"  {'1 device':<24} {one.step:9.4f} s/step  end to end {one.total:8.2f}s",
            f"  {f'{group.ranks} ranks (ulysses)':<24} {group.step:9.4f} s/step  "
            f"end to end {group.total:8.2f}s",
            f"  speed-up {speedup:.2f}x per step, {one.total / group.total:.2f}x end to end; "
            f"scaling efficiency {speedup / group.ranks:.0%}",
        ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="CPU, 2 gloo ranks, a tiny Wan")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args(argv)
    if not args.tiny:
        print("use bench/gpu_wan.py --parallel N on a GPU machine, or --tiny here",
              file=sys.stderr)
        return 2
    from vidserve.engine.diffusion import random_pipelines

    with tempfile.TemporaryDirectory() as tmp:
        folder = random_pipelines.save("wan-t2v", Path(tmp) / "wan")
        one, group = measure(folder, ranks=args.ranks, device="cpu", dtype="float32",
                             steps=args.steps, width=64, height=32, frames=17, tiny=True)
    lines = report(one, group, timing=False)
    print("\n".join(lines))
    return 0 if "identical" in lines[0] else 1


if __name__ == "__main__":
    sys.exit(main())
