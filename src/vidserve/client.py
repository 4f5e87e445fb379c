"""``vidserve generate``: a small HTTP client of the public API with a live progress bar."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx


def _bar(progress: int, status: str, elapsed: float, width: int = 30) -> str:
    filled = width * progress // 100
    eta = ""
    if 0 < progress < 100:
        eta = f" eta {elapsed * (100 - progress) / progress:4.0f}s"
    return f"\r[{'#' * filled}{'.' * (width - filled)}] {progress:3d}% {status:<11}{eta}"


def generate(
    *,
    base_url: str,
    api_key: str,
    prompt: str,
    seconds: str,
    size: str,
    model: str,
    output: Path,
) -> int:
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=60) as http:
        resp = http.post(
            "/videos", json={"prompt": prompt, "seconds": seconds, "size": size, "model": model}
        )
        if resp.status_code != 200:
            print(f"error {resp.status_code}: {resp.json()['error']['message']}", file=sys.stderr)
            return 1
        video = resp.json()
        started = time.monotonic()
        print(f"{video['id']} ({model}, {size}, {seconds}s)", file=sys.stderr)
        while video["status"] in ("queued", "in_progress"):
            sys.stderr.write(_bar(video["progress"], video["status"], time.monotonic() - started))
            sys.stderr.flush()
            time.sleep(int(resp.headers.get("openai-poll-after-ms", "500")) / 1000 / 2)
            resp = http.get(f"/videos/{video['id']}")
            video = resp.json()
        sys.stderr.write(_bar(video["progress"], video["status"], time.monotonic() - started))
        sys.stderr.write("\n")
        if video["status"] != "completed":
            error = video.get("error") or {}
            print(f"failed: {error.get('code')}: {error.get('message')}", file=sys.stderr)
            return 1
        with http.stream("GET", f"/videos/{video['id']}/content") as stream, output.open(
            "wb"
        ) as out:
            for chunk in stream.iter_bytes():
                out.write(chunk)
        print(str(output))
    return 0
