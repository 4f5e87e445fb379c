"""Benchmark: a tiny diffusers pipeline called directly vs the same job through the HTTP API.

Baseline ("direct"): ``WanPipeline.from_pretrained(folder)`` in this process, one call
(``num_frames``, ``steps``, seed) at the native size, frames to uint8, then ``encode_video`` to
an H.264 MP4 at the requested size with the server's default encoder settings.

vidserve: a real ``vidserve serve`` (embedded worker) whose models file points at the same
folder, with the same steps, size, frames and seed (one window: ``max_frames`` covers the clip
at ``native_fps = 24``). Timed from ``POST /v1/videos`` until a poll sees ``completed`` (the
worker claims, generates with per-step heartbeats, encodes, uploads, finishes).

The server runs at the default settings except ``VIDSERVE_EMBEDDED_WORKER_NICE=0`` (the
direct baseline runs at normal priority too). A third line times vidserve's backend in this
process (generate + encode, no HTTP, no queue) to split the overhead between the engine and
the server. The first run of each path is a
warm-up and is not timed. Both outputs are checked to be the same frames.

    python bench/generation_overhead.py [--reps 5] [--steps 20] [--seconds 4] [--native 128x64]

Prints the medians and ``vidserve / direct = X.XXx (goal <= 1.10x)`` (wall clock), plus the
CPU seconds each path used per clip (the server's processes and this client), which other
load on the machine does not inflate.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import httpx
import numpy as np

PROMPT = "a cat playing piano"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes (Linux /proc); 0 where unreadable."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _descendants(pid: int) -> list[int]:
    found = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == pid:
                found.extend(_descendants(int(entry.name)))
    return found


def _decode(data: bytes) -> list[np.ndarray]:
    import av

    with av.open(io.BytesIO(data)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


class Server:
    def __init__(self, root: Path, models: Path) -> None:
        self.root = root
        self.port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIDSERVE_")}
        env |= {
            "VIDSERVE_DATA_DIR": str(root / "data"),
            "VIDSERVE_MODELS_FILE": str(models),
            "VIDSERVE_POLL_AFTER_MS": "50",
            # the embedded worker is niced by default (the API comes first); this bench
            # compares it with a direct call at normal priority, so schedule both alike
            "VIDSERVE_EMBEDDED_WORKER_NICE": "0",
        }
        self.log = (root / "server.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vidserve", "serve", "--port", str(self.port)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.base = f"http://127.0.0.1:{self.port}/v1"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited; see " + str(root / "server.log"))
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).is_success:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not start")

    def cpu(self) -> float:
        """CPU seconds used so far by the server and its worker, plus this process."""
        return _cpu_seconds(_descendants(self.proc.pid)) + time.process_time()

    def job(self, client: httpx.Client, seconds: int, size: str, seed: int,
            poll: float) -> tuple[float, str]:
        started = time.perf_counter()
        r = client.post(f"{self.base}/videos", json={
            "prompt": PROMPT, "model": "tiny-wan", "seconds": str(seconds), "size": size,
            "seed": seed,
        })
        r.raise_for_status()
        video_id = r.json()["id"]
        while True:
            body = client.get(f"{self.base}/videos/{video_id}").json()
            if body["status"] == "completed":
                return time.perf_counter() - started, video_id
            if body["status"] == "failed":
                raise RuntimeError(f"job failed: {body['error']}")
            # poll gently while it denoises, tightly once the end is near (encode, upload):
            # the measured time then overshoots by at most one short interval
            time.sleep(poll if body["progress"] >= 85 else 0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--native", default="128x64", help="the tiny model's native WxH")
    parser.add_argument("--layers", type=int, default=2, help="tiny transformer layers")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (both paths)")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--poll", type=float, default=0.02,
                        help="client poll interval near the end of a job, s")
    args = parser.parse_args(argv)

    import torch

    from vidserve.domain import GenerationRequest
    from vidserve.engine.diffusion import random_pipelines
    from vidserve.engine.diffusion.plan import valid_length
    from vidserve.engine.loader import load_backend
    from vidserve.engine.registry import ModelRegistry
    from vidserve.media.encode import encode_video
    from vidserve.settings import Settings

    torch.set_num_threads(args.threads)
    defaults = Settings()
    out_w, out_h = (int(v) for v in args.size.split("x"))
    nat_w, nat_h = (int(v) for v in args.native.split("x"))
    frames_out = args.seconds * 24
    window = valid_length(frames_out, 4)

    root = Path(tempfile.mkdtemp(prefix="vidserve-bench-"))
    weights = root / "tiny-wan"
    random_pipelines.tiny_wan_t2v(layers=args.layers).save_pretrained(str(weights))
    models = root / "models.toml"
    models.write_text(f"""
[models.tiny-wan]
backend = "diffusers"
pipeline = "WanPipeline"
weights = "{weights}"
steps = {args.steps}
native_sizes = ["{nat_w}x{nat_h}", "{nat_h}x{nat_w}"]
native_fps = 24
max_frames = {window}
max_sequence_length = 16
cpu_threads = {args.threads}
""")

    # -- direct: plain diffusers + encode ----------------------------------------------------
    from diffusers import WanPipeline

    pipe: Any = WanPipeline.from_pretrained(str(weights), dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)

    def direct(path: Path) -> float:
        started = time.perf_counter()
        with torch.inference_mode():
            out = pipe(prompt=PROMPT, height=nat_h, width=nat_w, num_frames=window,
                       num_inference_steps=args.steps, guidance_scale=5.0,
                       generator=torch.Generator("cpu").manual_seed(args.seed),
                       output_type="pt", max_sequence_length=16).frames
        video = out[0].clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        # a plain H.264 file, as diffusers' own export writes: vidserve's has a silent AAC track
        encode_video((video[i] for i in range(frames_out)), path, width=out_w, height=out_h,
                     fps=24, expected_frames=frames_out, preset=defaults.x264_preset,
                     crf=defaults.x264_crf, audio_track=False)
        return time.perf_counter() - started

    # -- vidserve's engine in this process (no HTTP, no queue) --------------------------------
    served = ModelRegistry.from_file(models).get("tiny-wan")
    assert served is not None
    backend = load_backend(served.spec)
    request = GenerationRequest(model="tiny-wan", prompt=PROMPT, width=out_w, height=out_h,
                                seconds=args.seconds, seed=args.seed)

    def engine(path: Path) -> float:
        started = time.perf_counter()
        clip = backend.generate(request, lambda d, t: None, lambda: False)
        encode_video(clip.frames, path, width=out_w, height=out_h, fps=24,
                     expected_frames=frames_out, preset=defaults.x264_preset,
                     crf=defaults.x264_crf, audio=clip.audio)  # as the worker: a silent track
        return time.perf_counter() - started

    server = Server(root, models)
    try:
        direct(root / "warm-direct.mp4")
        engine(root / "warm-engine.mp4")
        with httpx.Client(headers={"Authorization": "Bearer bench"}, timeout=30) as client:
            server.job(client, args.seconds, args.size, args.seed, args.poll)  # loads the model
            times: dict[str, list[float]] = {"direct": [], "engine": [], "http": []}
            cpu: dict[str, list[float]] = {"direct": [], "http": []}
            video_id = ""
            for _ in range(args.reps):  # alternate, so drifts in machine load hit all three
                before = time.process_time()
                times["direct"].append(direct(root / "direct.mp4"))
                cpu["direct"].append(time.process_time() - before)
                times["engine"].append(engine(root / "engine.mp4"))
                before = server.cpu()
                took, video_id = server.job(client, args.seconds, args.size, args.seed,
                                            args.poll)
                cpu["http"].append(server.cpu() - before)
                times["http"].append(took)
            served_mp4 = client.get(f"{server.base}/videos/{video_id}/content").content
    finally:
        server.stop()

    same = [np.array_equal(a, b) for a, b in zip(
        _decode((root / "direct.mp4").read_bytes()), _decode(served_mp4), strict=True)]
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"workload: tiny WanPipeline ({args.layers} layers), {args.steps} steps, "
          f"{window} frames at {nat_w}x{nat_h}, encoded to {frames_out} frames {args.size} "
          f"({defaults.x264_preset}, crf {defaults.x264_crf}); {args.threads} torch threads; "
          f"{args.reps} reps")
    for key, label in (("direct", "direct diffusers + encode"),
                       ("engine", "vidserve engine + encode"),
                       ("http", "vidserve HTTP job")):
        print(f"  {label:28s} median {med[key]:.3f}s  "
              f"({', '.join(f'{t:.2f}' for t in times[key])})")
    print(f"same frames as direct: {all(same)} ({sum(same)}/{len(same)})")
    cpu_direct = statistics.median(cpu["direct"])
    cpu_http = statistics.median(cpu["http"])
    print(f"CPU seconds per clip (immune to other load): direct {cpu_direct:.2f}, vidserve "
          f"{cpu_http:.2f} (API + worker + this client) = {cpu_http / cpu_direct:.2f}x")
    print(f"engine / direct = {med['engine'] / med['direct']:.3f}x")
    print(f"vidserve / direct = {med['http'] / med['direct']:.2f}x (goal <= 1.10x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
