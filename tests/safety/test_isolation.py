"""Hostile uploads cost a child process (memory limit, timeout), and stale scratch folders go."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vidserve import scratch
from vidserve.media.errors import MediaError
from vidserve.media.isolated import ChildLimits, MediaChildren

LIMITS = ChildLimits(memory_bytes=512 * 1024**2, timeout_seconds=5.0, concurrency=2)


def _ok(x: int) -> tuple[int, int]:
    return x, os.getpid()


def _hog(n: int) -> int:
    blocks = [bytearray(64 * 1024**2) for _ in range(n)]  # far past the child's RLIMIT_AS
    return len(blocks)


def _hang() -> None:
    time.sleep(60)


def _crash() -> None:
    os._exit(3)


def _media_error() -> None:
    raise MediaError("The video file is not an MP4.", subject="video", code="invalid_video")


def test_children_run_apart_and_are_bounded() -> None:
    children = MediaChildren(LIMITS)
    value, pid = asyncio.run(children.run(_ok, 7))
    assert value == 7 and pid != os.getpid()

    with pytest.raises(MediaError, match="more than 512 MiB") as hog:
        asyncio.run(children.run(_hog, 64))
    assert hog.value.code == "invalid_video" and hog.value.subject == "video"

    started = time.monotonic()
    with pytest.raises(MediaError, match="longer than"):
        asyncio.run(MediaChildren(ChildLimits(LIMITS.memory_bytes, 0.5, 1)).run(_hang))
    assert time.monotonic() - started < 10

    with pytest.raises(MediaError, match="stopped unexpectedly"):
        asyncio.run(children.run(_crash))
    with pytest.raises(MediaError, match="not an MP4") as own:  # the child's own error, as is
        asyncio.run(children.run(_media_error))
    assert own.value.code == "invalid_video"


def test_sweep_removes_only_folders_of_dead_owners(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    gone = int(dead.stdout)
    stale = [tmp_path / f"vidserve-job-{gone}-abc", tmp_path / f"vidserve-source-{gone}-x"]
    live = [tmp_path / f"vidserve-job-{os.getpid()}-mine", tmp_path / "vidserve-job-1-init"]
    old_unowned, new_unowned = tmp_path / "vidserve-job-olds", tmp_path / "vidserve-character-n"
    others = [tmp_path / "vidserve-somethingelse", tmp_path / "unrelated"]
    for folder in [*stale, *live, old_unowned, new_unowned, *others]:
        folder.mkdir()
        (folder / "f").write_bytes(b"x")
    an_hour_ago = time.time() - 7200
    os.utime(old_unowned, (an_hour_ago, an_hour_ago))
    assert scratch.sweep(tmp_path) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in [*live, new_unowned, *others]
    )
