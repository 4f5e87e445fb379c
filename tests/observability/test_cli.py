"""``vidserve status`` and ``vidserve generate --watch ID --open``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import httpx
import pytest

from tests.backends import HOLD
from tests.observability.conftest import wait_for
from tests.servers import ServerProcess
from vidserve.client import Progress, _bar


def _run(args: list[str], data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("VIDSERVE_")}
    return subprocess.run(
        [sys.executable, "-m", "vidserve", *args],
        env={**base, "VIDSERVE_DATA_DIR": str(data_dir), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _create(server: ServerProcess, prompt: str, seconds: str = "4") -> str:
    resp = httpx.post(
        f"{server.base_url}/videos",
        headers={"Authorization": "Bearer sk-cli"},
        json={"prompt": prompt, "seconds": seconds, "model": "sora-2"},
    )
    assert resp.status_code == 200, resp.text
    return str(resp.json()["id"])


def _status_of(http: httpx.Client, server: ServerProcess, video_id: str) -> str:
    return str(http.get(f"{server.base_url}/videos/{video_id}",
                        headers={"Authorization": "Bearer sk-cli"}).json()["status"])


def test_status_shows_the_queue_workers_and_readiness(
    obs_server: ServerProcess, tmp_path: Path, http: httpx.Client
) -> None:
    hold = tmp_path / "hold"  # the job stays in progress until the file is gone
    hold.touch()
    try:
        video_id = _create(obs_server, f"status: a slow train {HOLD}{hold}", seconds="8")
        _status_while_in_progress(http, obs_server, video_id)
    finally:
        hold.unlink(missing_ok=True)
    wait_for(lambda: _status_of(http, obs_server, video_id) == "completed",
             what="the job to finish")
    base = f"http://127.0.0.1:{obs_server.port}"
    # --verbose brings the log lines back
    verbose = _run(["status", "--base-url", base, "--verbose"], obs_server.data_dir,
                   VIDSERVE_LOG_FORMAT="text")
    assert "HTTP Request: GET" in verbose.stderr and "/readyz" in verbose.stderr

    unreachable = _run(["status", "--base-url", "http://127.0.0.1:9"], obs_server.data_dir)
    assert unreachable.returncode == 1 and "unreachable" in unreachable.stdout


def _status_while_in_progress(
    http: httpx.Client, obs_server: ServerProcess, video_id: str
) -> None:
    wait_for(lambda: _status_of(http, obs_server, video_id) == "in_progress",
             what="the job to start")
    base = f"http://127.0.0.1:{obs_server.port}"
    result = _run(["status", "--base-url", base], obs_server.data_dir)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    row = next(line for line in out.splitlines() if line.strip().startswith("sora-2"))
    assert row.split()[1:3] == ["0", "1"] or row.split()[2] == "1", out  # in progress: 1
    assert "workers busy: 1" in out and video_id in out
    assert f"server {base}: ready" in out and "worker embedded pid" in out
    assert "HTTP Request" not in result.stderr, result.stderr  # its own output only

    as_json = json.loads(_run(["status", "--json", "--no-server"], obs_server.data_dir).stdout)
    assert as_json["server"] is None
    assert {"model": "sora-2", "status": "in_progress"}.items() <= as_json["queue"][0].items()
    assert as_json["workers"][0]["video_id"] == video_id


def test_status_without_a_database_says_what_to_do(tmp_path: Path) -> None:
    result = _run(["status", "--no-server"], tmp_path / "nowhere")
    assert result.returncode == 2
    assert "cannot read the queue" in result.stderr and "vidserve migrate" in result.stderr


def test_generate_watch_follows_a_video_and_opens_it(
    obs_server: ServerProcess, tmp_path: Path
) -> None:
    video_id = _create(obs_server, "watch: fireworks over a bay")
    # a stand-in for the desktop's player: records what it was asked to open
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    opened = tmp_path / "opened.txt"
    opener = bin_dir / ("open" if sys.platform == "darwin" else "xdg-open")
    opener.write_text(f"#!/bin/sh\necho \"$1\" > {opened}\n")
    opener.chmod(0o755)
    out = tmp_path / "watched.mp4"
    result = _run(
        ["generate", "--watch", video_id, "-o", str(out), "--open",
         "--base-url", obs_server.base_url],
        tmp_path,
        PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    assert result.returncode == 0, result.stderr
    assert video_id in result.stderr and "100%" in result.stderr
    assert result.stdout.strip() == str(out)
    with av.open(str(out)) as container:
        assert container.streams.video[0].frames == 96
    wait_for(opened.exists, timeout=10, what="the player to be started")
    assert opened.read_text().strip() == str(out)

    # following a video that does not exist: the server's message, exit 1
    missing = _run(["generate", "--watch", "video_" + "0" * 48, "--base-url",
                    obs_server.base_url], tmp_path)
    assert missing.returncode == 1 and "not found" in missing.stderr
    # a prompt and --watch together make no sense
    both = _run(["generate", "a prompt", "--watch", video_id], tmp_path)
    assert both.returncode == 2 and "--watch" in both.stderr


def test_eta_comes_from_the_running_speed() -> None:
    progress = Progress()
    assert progress.eta("queued", 0, 0.0) is None  # time spent queued says nothing
    assert progress.eta("in_progress", 0, 10.0) is None
    assert progress.eta("in_progress", 20, 12.0) == 8.0  # 10 %/s, 80 % left
    assert progress.eta("in_progress", 60, 14.0) == pytest.approx(40 / 15)  # 15 %/s over 4 s
    assert "eta 2s" in _bar(60, "in_progress", 2.0)
    assert _bar(100, "completed", None).startswith("[" + "#" * 30 + "] 100%")
