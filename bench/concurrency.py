"""Two jobs of one model on one device: two denoising loops at once, or one after the other?

``vidserve worker --concurrency N`` runs N jobs; jobs of the same model share its resident
weights. Each job gets its own pipeline *view* (own scheduler and guider state), so running
two denoising loops at once would be *safe* for the transformer; the question is whether it
*gains* anything on one device. This script measures it with the same pipeline, in one
process, alternating:

- baseline (lock): the two jobs' denoising loops one after the other, in two threads taking a
  lock around each pipeline call (what the engine does);
- concurrent (views): the two loops at the same time, in two threads, each on its own view.

Only the transformer loop is timed (``output_type="latent"``): the VAE cannot run twice at
once anyway (the Wan VAE keeps a causal-convolution cache between chunks: two concurrent
decodes corrupt each other, which the engine's lock prevents). It prints
``throughput(concurrent) / throughput(lock)`` and the first job's latency ratio.

    python bench/concurrency.py                      # tiny Wan on CPU (2 threads per loop)
    python bench/concurrency.py --kind wan2.1-1.3b --device cuda --size 832x480 --frames 33

A ratio near 1.0 (or below) means the device is already busy with one loop: the lock costs
no throughput and halves the first job's latency and the activation memory.

Measured 2026-12-01 on the shared 2-core CPU box (load ~11), tiny Wan, 128x64x17, 6 steps,
median of 5 (no GPU was lent for this task, so the device figure is still to be taken):

- ``--threads 1`` (each loop single-threaded: the fair one-device case): concurrent / lock
  throughput 0.90x, first job's latency 2.20x: the lock wins.
- ``--threads 2``: 14.4x *for* concurrency, because the locked runs were pathologically slow
  (12.9 s for one tiny job that takes 0.7 s alone in a fresh thread); OpenMP thread teams
  handed between Python threads on an oversubscribed 2-core machine, not the device. Not a
  basis for a decision; the correctness argument (the Wan VAE is not reentrant) stands.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", default="wan-t2v", help="a random_pipelines kind")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", default="128x64")
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (CPU)")
    args = parser.parse_args()

    import torch

    from vidserve.engine.diffusion import random_pipelines
    from vidserve.engine.diffusion.pipelines import derive

    width, height = (int(v) for v in args.size.split("x"))
    main_pipe: Any = random_pipelines.build(args.kind)
    main_pipe.to(args.device)
    if args.device == "cpu":
        torch.set_num_threads(args.threads)
    lock = threading.Lock()

    def job(seed: int, locked: bool, done: dict[int, float], start: float) -> None:
        view = derive(type(main_pipe), main_pipe)
        kwargs = dict(prompt="a cat playing piano", height=height, width=width,
                      num_frames=args.frames, num_inference_steps=args.steps,
                      guidance_scale=5.0, output_type="latent",
                      generator=torch.Generator().manual_seed(seed))
        with torch.inference_mode():
            if locked:
                with lock:
                    view(**kwargs)
            else:
                view(**kwargs)
        if args.device == "cuda":
            torch.cuda.synchronize()
        done[seed] = time.perf_counter() - start

    def pair(locked: bool) -> tuple[float, float]:
        done: dict[int, float] = {}
        start = time.perf_counter()
        threads = [threading.Thread(target=job, args=(s, locked, done, start)) for s in (1, 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return max(done.values()), min(done.values())

    pair(True)  # warm-up (allocator, kernels)
    walls: dict[bool, list[float]] = {True: [], False: []}
    firsts: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(args.reps):
        for locked in (True, False):
            wall, first = pair(locked)
            walls[locked].append(wall)
            firsts[locked].append(first)
    lock_wall, view_wall = statistics.median(walls[True]), statistics.median(walls[False])
    lock_first, view_first = statistics.median(firsts[True]), statistics.median(firsts[False])
    threads = f" ({args.threads} torch threads)" if args.device == "cpu" else ""
    print(f"{args.kind} on {args.device}{threads}, {args.size} x {args.frames} frames, "
          f"{args.steps} steps, 2 jobs, median of {args.reps}")
    print(f"  lock (one loop at a time): both done in {lock_wall:.2f}s, first in "
          f"{lock_first:.2f}s")
    print(f"  views (two loops at once): both done in {view_wall:.2f}s, first in "
          f"{view_first:.2f}s")
    print(f"throughput concurrent / lock = {lock_wall / view_wall:.2f}x; "
          f"first job's latency concurrent / lock = {view_first / lock_first:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
