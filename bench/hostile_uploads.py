"""The API process's memory under a campaign of hostile uploads and images (issue 15).

    python bench/hostile_uploads.py [--rounds 50] [--concurrency 8]

Starts ``python -m vidserve serve --no-worker`` (dev mode, a temporary data dir, 127.0.0.1),
waits for it to settle and reads its idle RSS (``/proc/PID/status``: ``VmRSS``). Then it sends
``--rounds`` hostile requests, ``--concurrency`` at a time, cycling through the kinds below,
and reads the API process's peak (``VmHWM``, the kernel's high-water mark, so no peak is
missed between samples) and its RSS 5 s after the last answer. The baseline is the same
process's idle RSS, read in the same run: the goals are peak < 1 GB and final RSS within
20 % of idle. Every answer must be a 4xx or a 200 (never a 5xx); the counts are printed.

Kinds (each built here, in memory, once):
- ``png_6000``: a 70 KB 6000x6000 PNG (under the 40 MP cap) as ``input_reference`` for a
  1280x720 video: checked against the request from its header, decoded at most 2 at a time;
- ``jpeg_6000``: the same as JPEG (decoded at 1/8 scale by libjpeg's draft mode);
- ``png_bomb``: a PNG header claiming 60000x60000 (refused from the header);
- ``aspect_clip``: a 4x256 character clip (the spritesheet tile is bounded);
- ``streams_mp4``: an MP4 with 200 video streams as an edit's source;
- ``long_clip``: a 12 s 640x360 clip as an edit's source (re-encoded in a child process);
- ``garbage_mp4``: random bytes named .mp4.
Uploaded videos are probed and re-encoded in child processes with a memory limit, so their
cost shows in those children, never in the API's RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path

import av
import httpx
import numpy as np
from PIL import Image


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (width, height), 7).save(out, format="PNG", optimize=True)
    return out.getvalue()


def _jpeg(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (9, 90, 200)).save(out, format="JPEG", quality=50)
    return out.getvalue()


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def _clip(width: int, height: int, frames: int, streams: int = 1) -> bytes:
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        outs = []
        for _ in range(streams):
            stream = container.add_stream("libx264", rate=24)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"preset": "ultrafast"}
            outs.append(stream)
        for i in range(frames):
            image = np.full((height, width, 3), (i * 5) % 255, np.uint8)
            for stream in outs:
                for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                    container.mux(packet)
        for stream in outs:
            for packet in stream.encode():
                container.mux(packet)
    return out.getvalue()


def _kinds() -> dict[str, tuple[str, dict[str, object]]]:
    png_6000, jpeg_6000 = _png(6000, 6000), _jpeg(6000, 6000)
    mp4 = "video/mp4"
    return {
        "png_6000": ("/videos", {"data": {"prompt": "x", "size": "1280x720"},
                                 "files": {"input_reference": ("r.png", png_6000, "image/png")}}),
        "jpeg_6000": ("/videos", {"data": {"prompt": "x", "size": "1280x720"},
                                  "files": {"input_reference": ("r.jpg", jpeg_6000,
                                                                "image/jpeg")}}),
        "png_bomb": ("/videos", {"data": {"prompt": "x"},
                                 "files": {"input_reference": ("b.png", _png_header(60000, 60000),
                                                               "image/png")}}),
        "aspect_clip": ("/videos/characters", {"data": {"name": "thin"},
                                               "files": {"video": ("c.mp4", _clip(4, 256, 30),
                                                                   mp4)}}),
        "streams_mp4": ("/videos/edits", {"data": {"prompt": "x"},
                                          "files": {"video": ("s.mp4", _clip(64, 64, 24, 200),
                                                              mp4)}}),
        "long_clip": ("/videos/edits", {"data": {"prompt": "x"},
                                        "files": {"video": ("l.mp4", _clip(640, 360, 288), mp4)}}),
        "garbage_mp4": ("/videos/edits", {"data": {"prompt": "x"},
                                          "files": {"video": ("g.mp4", os.urandom(2_000_000),
                                                              mp4)}}),
    }


def _ordinary() -> dict[str, tuple[str, dict[str, object]]]:
    clip = _clip(64, 64, 48)
    return {
        "image": ("/videos", {"data": {"prompt": "x", "size": "1280x720"},
                              "files": {"input_reference": ("r.png", _png(1280, 720),
                                                            "image/png")}}),
        "edit": ("/videos/edits", {"data": {"prompt": "x"},
                                   "files": {"video": ("e.mp4", clip, "video/mp4")}}),
        "character": ("/videos/characters", {"data": {"name": "ok"},
                                             "files": {"video": ("c.mp4", clip, "video/mp4")}}),
    }


async def _campaign(base: str, rounds: int, concurrency: int,
                    kinds: dict[str, tuple[str, dict[str, object]]]) -> Counter[tuple[str, int]]:
    names = list(kinds)
    seen: Counter[tuple[str, int]] = Counter()
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=600,
                                 headers={"Authorization": "Bearer bench"}) as http:
        async def one(i: int) -> None:
            name = names[i % len(names)]
            path, kwargs = kinds[name]
            async with gate:
                r = await http.post(path, **kwargs)  # type: ignore[arg-type]
            seen[(name, r.status_code)] += 1
            if r.status_code == 200 and path != "/videos/characters":
                await http.delete(f"/videos/{r.json()['id']}")

        await asyncio.gather(*(one(i) for i in range(rounds)))
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    print("building the hostile inputs...", flush=True)
    kinds = _kinds()
    with tempfile.TemporaryDirectory(prefix="vidserve-bench-") as tmp:
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIDSERVE_")}
        env |= {"VIDSERVE_DATA_DIR": tmp, "VIDSERVE_X264_PRESET": "ultrafast"}
        server = subprocess.Popen(
            [sys.executable, "-m", "vidserve", "serve", "--no-worker", "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=open(Path(tmp) / "server.log", "wb"),
        )
        try:
            base = f"http://127.0.0.1:{port}/v1"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).is_success:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    print("the server did not start", file=sys.stderr)
                    return 2
                time.sleep(0.2)
            # warm: one ordinary request of each kind (so the libraries they import, Pillow
            # and PyAV, are in the idle figure: loading a library once is not a leak)
            asyncio.run(_campaign(base, len(kinds), 1, _ordinary()))
            time.sleep(2)
            idle = _status(server.pid, "VmRSS")
            started = time.monotonic()
            seen = asyncio.run(_campaign(base, args.rounds, args.concurrency, kinds))
            took = time.monotonic() - started
            peak = _status(server.pid, "VmHWM")
            time.sleep(5)
            final = _status(server.pid, "VmRSS")
        finally:
            server.terminate()
            server.wait(30)
    mib = 1024 * 1024
    print(f"{args.rounds} hostile requests, {args.concurrency} at a time, in {took:.1f} s")
    for (name, status), count in sorted(seen.items()):
        print(f"  {name:<12} HTTP {status}: {count}")
    errors = sum(c for (_, status), c in seen.items() if status >= 500)
    print(f"5xx answers: {errors}")
    print(f"API RSS idle {idle / mib:.0f} MiB, peak {peak / mib:.0f} MiB, "
          f"after {final / mib:.0f} MiB")
    ratio = final / idle
    print(f"peak {peak / 1e9:.2f} GB (goal < 1 GB); after / idle = {ratio:.2f}x (goal <= 1.20x)")
    return 0 if errors == 0 and peak < 1e9 and ratio <= 1.2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
