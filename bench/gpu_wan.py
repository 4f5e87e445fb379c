"""Benchmark: Wan2.1-T2V-1.3B architecture at 832x480x81 on a GPU, vidserve vs plain diffusers.

Random weights (timing needs the shapes, not the training): the pipeline is built with
:func:`vidserve.engine.diffusion.random_pipelines.wan21_1_3b` (transformer 30 x 1536, Wan VAE,
UMT5-XXL-shaped text encoder, UniPC flow scheduler) and written with ``save_pretrained``; both
sides then load that folder with ``from_pretrained``, as they would real weights.

- plain diffusers: ``WanPipeline.from_pretrained(folder, dtype=bfloat16)`` with the VAE in
  float32 (as diffusers' Wan examples do), ``.to(device)``, one call of ``--steps`` steps at
  832x480, 81 frames, ``output_type="np"``; seconds per step from ``callback_on_step_end``
  (after ``torch.cuda.synchronize``).
- vidserve: the ``diffusers`` backend loaded from a models-file entry for the same folder,
  ``generate`` for 5 s at 16 fps (80 output frames: one 81-frame window), every frame
  consumed; seconds per step from ``on_step``.

Each side runs a short warm-up first. End to end = the call until the last frame is on the
host (text encoding, denoising, VAE decode, conversion).

    python bench/gpu_wan.py                     # on a CUDA machine
    python bench/gpu_wan.py --text-layers 2     # faster set-up (smaller random text encoder)
    python bench/gpu_wan.py --tiny              # CPU dry run of this script (tiny config)

Prints both sides' medians and ``vidserve / diffusers`` ratios (goal <= 1.05x).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PROMPT = "a red fox running through fresh snow in a pine forest, cinematic light"


def _sync(torch: Any, device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="CPU dry run with a tiny config")
    parser.add_argument("--steps", type=int, default=None, help="default 20 (tiny: 3)")
    parser.add_argument("--text-layers", type=int, default=24)
    parser.add_argument("--device", default=None, help="default cuda (tiny: cpu)")
    parser.add_argument("--weights-dir", type=Path, default=None,
                        help="reuse/keep the random weights here (default: a temp folder)")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)

    import torch

    from vidserve.domain import GenerationRequest
    from vidserve.engine.diffusion import random_pipelines
    from vidserve.engine.loader import load_backend
    from vidserve.engine.registry import ModelRegistry

    tiny = args.tiny
    if tiny:
        torch.set_num_threads(1)  # as the tiny models-file entry below (cpu_threads = 1)
    device = args.device or ("cpu" if tiny else "cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device: run on a GPU machine, or use --tiny for a CPU dry run",
              file=sys.stderr)
        return 2
    steps = args.steps or (3 if tiny else 20)
    width, height, frames = (64, 32, 17) if tiny else (832, 480, 81)
    native_fps = 16
    seconds = (frames - 1) // native_fps  # 81 frames: 5 s at 16 fps -> one 81-frame window
    dtype = torch.float32 if tiny else torch.bfloat16
    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") else "CPU"

    folder = args.weights_dir or Path(tempfile.mkdtemp(prefix="vidserve-wan-bench-"))
    if not (folder / "model_index.json").is_file():
        started = time.perf_counter()
        if tiny:
            pipe = random_pipelines.tiny_wan_t2v()
        else:
            pipe = random_pipelines.wan21_1_3b(text_layers=args.text_layers, device=device)
        pipe.save_pretrained(str(folder), safe_serialization=True)
        del pipe
        print(f"random weights written to {folder} in {time.perf_counter() - started:.1f}s",
              file=sys.stderr)

    # -- plain diffusers -------------------------------------------------------------------
    from diffusers import AutoencoderKLWan, WanPipeline

    started = time.perf_counter()
    vae: Any = AutoencoderKLWan.from_pretrained(str(folder), subfolder="vae",
                                                dtype=torch.float32)
    pipes: dict[str, Any] = {
        "plain": WanPipeline.from_pretrained(str(folder), vae=vae, dtype=dtype).to(device)
    }
    pipes["plain"].set_progress_bar_config(disable=True)
    plain_load = time.perf_counter() - started
    kwargs: dict[str, Any] = {"prompt": PROMPT, "height": height, "width": width,
                              "num_frames": frames, "guidance_scale": 5.0, "output_type": "np"}
    if tiny:
        kwargs["max_sequence_length"] = 16

    def run_plain(n_steps: int) -> tuple[float, list[float]]:
        marks: list[float] = []

        def on_step_end(p: Any, i: int, t: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            _sync(torch, device)
            marks.append(time.perf_counter())
            return tensors

        _sync(torch, device)
        begin = time.perf_counter()
        with torch.inference_mode():
            out = pipes["plain"](**kwargs, num_inference_steps=n_steps,
                        generator=torch.Generator("cpu").manual_seed(args.seed),
                        callback_on_step_end=on_step_end).frames
        assert out.shape[1] == frames
        end = time.perf_counter()
        return end - begin, [b - a for a, b in zip(marks, marks[1:], strict=False)]

    run_plain(2)  # warm-up
    plain_total, plain_steps = run_plain(steps)
    pipes.clear()
    del vae
    if device.startswith("cuda"):
        torch.cuda.empty_cache()

    # -- vidserve --------------------------------------------------------------------------
    models = folder.parent / f"{folder.name}.models.toml"
    extra = "max_sequence_length = 16\ncpu_threads = 1\n" if tiny else ""
    models.write_text(f"""
[models.wan]
backend = "diffusers"
pipeline = "WanPipeline"
weights = "{folder}"
device = "{device}"
dtype = "{'float32' if tiny else 'bfloat16'}"
steps = {steps}
native_sizes = ["{width}x{height}", "{height}x{width}"]
native_fps = {native_fps}
max_frames = {frames}
{extra}""")
    served = ModelRegistry.from_file(models).get("wan")
    assert served is not None and served.spec.problem is None, served
    backend: Any = load_backend(served.spec)
    started = time.perf_counter()
    backend.load()
    ours_load = time.perf_counter() - started

    def run_ours(n_steps: int) -> tuple[float, list[float]]:
        marks: list[float] = []
        request = GenerationRequest(model="wan", prompt=PROMPT, width=width, height=height,
                                    seconds=seconds, seed=args.seed, fps=native_fps,
                                    steps=n_steps)
        _sync(torch, device)
        begin = time.perf_counter()
        count = sum(1 for _ in backend.generate(
            request, lambda d, t: marks.append(time.perf_counter()), lambda: False).frames)
        end = time.perf_counter()
        assert count == seconds * native_fps
        return end - begin, [b - a for a, b in zip(marks, marks[1:], strict=False)]

    run_ours(2)  # warm-up
    ours_total, ours_steps = run_ours(steps)

    plain_step = statistics.median(plain_steps)
    ours_step = statistics.median(ours_steps)
    print(f"device: {gpu}; torch {torch.__version__}; Wan2.1-1.3B architecture"
          f"{' (TINY dry run)' if tiny else ''}, random weights, {width}x{height}x{frames}, "
          f"{steps} steps, CFG 5.0, {'fp32' if tiny else 'bf16'} (VAE fp32)")
    print(f"  load:      diffusers {plain_load:.1f}s   vidserve {ours_load:.1f}s")
    print(f"  per step:  diffusers {plain_step:.4f}s   vidserve {ours_step:.4f}s   "
          f"vidserve / diffusers = {ours_step / plain_step:.3f}x (goal <= 1.05x)")
    print(f"  end to end: diffusers {plain_total:.2f}s   vidserve {ours_total:.2f}s   "
          f"vidserve / diffusers = {ours_total / plain_total:.3f}x (goal <= 1.05x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
