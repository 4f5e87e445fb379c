"""``vidserve generate``: a small HTTP client of the public API with a live progress bar.

It creates a video (or, with ``--watch ID``, follows one that already exists), shows its
progress with an ETA, polls as often as the server's ``openai-poll-after-ms`` says, saves the
MP4 and, with ``--open``, plays it with the system's default player.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx

ACTIVE = ("queued", "in_progress")


def _bar(progress: int, status: str, eta: float | None, width: int = 30) -> str:
    filled = width * max(0, min(progress, 100)) // 100
    shown = f" eta {_duration(eta)}" if eta is not None else ""
    return f"[{'#' * filled}{'.' * (width - filled)}] {progress:3d}% {status:<11}{shown}"


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


@dataclass
class Progress:
    """Estimates the time left from the progress made since the job started running (time
    spent queued says nothing about the speed of the GPU)."""

    running_since: float | None = None
    progress_at_start: int = 0
    samples: list[tuple[float, int]] = field(default_factory=list)

    def eta(self, status: str, progress: int, now: float) -> float | None:
        if status != "in_progress":
            return None
        if self.running_since is None:
            self.running_since, self.progress_at_start = now, progress
        self.samples.append((now, progress))
        self.samples = self.samples[-20:]  # recent speed: steps slow down or speed up
        t0, p0 = self.samples[0]
        if progress <= p0 or now <= t0:
            if progress > self.progress_at_start and now > self.running_since:
                t0, p0 = self.running_since, self.progress_at_start
            else:
                return None
        rate = (progress - p0) / (now - t0)
        return (100 - progress) / rate if rate > 0 else None


class Display:
    """A bar redrawn in place on a terminal; one line per status change or 25 % otherwise."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self.last: tuple[str, int] | None = None

    def show(self, progress: int, status: str, eta: float | None) -> None:
        line = _bar(progress, status, eta)
        if self.tty:
            self.out.write("\r" + line)
        else:
            key = (status, progress // 25)
            if key == self.last:
                return
            self.last = key
            self.out.write(line + "\n")
        self.out.flush()

    def done(self, progress: int, status: str) -> None:
        line = _bar(progress, status, None)
        self.out.write(("\r" + line + "\n") if self.tty else line + "\n")
        self.out.flush()


def _error_text(resp: httpx.Response) -> str:
    try:
        error = resp.json()["error"]
        parts = [str(error.get("message"))]
        extra = ", ".join(f"{k}={error[k]}" for k in ("code", "param") if error.get(k))
        return f"{parts[0]} ({extra})" if extra else parts[0]
    except (ValueError, KeyError, TypeError, AttributeError):
        return resp.text[:300] or resp.reason_phrase


def open_file(path: Path) -> bool:
    """Open ``path`` with the desktop's default application; False if there is none."""
    if sys.platform == "win32":
        os.startfile(path)  # type: ignore[attr-defined,unused-ignore]
        return True
    opener = "open" if sys.platform == "darwin" else "xdg-open"
    if shutil.which(opener) is None:
        return False
    subprocess.Popen(
        [opener, str(path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return True


def _follow(http: httpx.Client, video: dict[str, Any], poll_ms: int, err: TextIO) -> dict[str, Any]:
    display = Display(err)
    progress = Progress()
    while video["status"] in ACTIVE:
        now = time.monotonic()
        display.show(video["progress"], video["status"], progress.eta(
            video["status"], video["progress"], now))
        time.sleep(max(poll_ms, 100) / 1000)
        resp = http.get(f"/videos/{video['id']}")
        if resp.status_code != 200:
            raise _ApiError(resp)
        video = resp.json()
        poll_ms = int(resp.headers.get("openai-poll-after-ms", poll_ms))
    display.done(video["progress"], video["status"])
    return video


class _ApiError(Exception):
    def __init__(self, resp: httpx.Response) -> None:
        super().__init__(f"error {resp.status_code}: {_error_text(resp)}")


def generate(
    *,
    base_url: str,
    api_key: str,
    prompt: str | None,
    seconds: str,
    size: str,
    model: str,
    output: Path | None,
    watch: str | None = None,
    open_after: bool = False,
) -> int:
    err = sys.stderr
    headers = {"Authorization": f"Bearer {api_key}"}
    base = base_url.rstrip("/")
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
            if watch is not None:
                resp = http.get(f"/videos/{watch}")
            else:
                body = {"prompt": prompt, "seconds": seconds, "size": size, "model": model}
                resp = http.post("/videos", json=body)
            if resp.status_code != 200:
                raise _ApiError(resp)
            video = resp.json()
            print(
                f"{video['id']} ({video['model']}, {video['size']}, {video['seconds']}s): "
                f"{video['status']}",
                file=err,
            )
            poll_ms = int(resp.headers.get("openai-poll-after-ms", "1000"))
            try:
                video = _follow(http, video, poll_ms, err)
            except KeyboardInterrupt:
                print(
                    f"\nstopped watching; the job goes on: vidserve generate --watch {video['id']}",
                    file=err,
                )
                return 130
            if video["status"] != "completed":
                error = video.get("error") or {}
                print(f"failed: {error.get('code')}: {error.get('message')}", file=err)
                return 1
            default = "video.mp4" if watch is None else f"{video['id']}.mp4"
            target = output if output is not None else Path(default)
            with http.stream("GET", f"/videos/{video['id']}/content") as stream:
                if stream.status_code != 200:
                    stream.read()
                    raise _ApiError(stream)
                with target.open("wb") as out:
                    for chunk in stream.iter_bytes():
                        out.write(chunk)
    except _ApiError as exc:
        print(str(exc), file=err)
        return 1
    except httpx.TransportError as exc:
        print(f"cannot reach the server at {base}: {exc}", file=err)
        return 1
    print(str(target))
    if open_after and not open_file(target):
        print(f"no program to open videos was found; the file is {target}", file=err)
    return 0
