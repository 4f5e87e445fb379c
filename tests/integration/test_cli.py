"""The command line: settings errors, dev-mode bind refusal, keys, models, generate."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import av
import httpx

from tests.servers import ServerProcess
from vidserve.service.auth import CACHE_SECONDS


def _run(args: list[str], data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("VIDSERVE_")}
    return subprocess.run(
        [sys.executable, "-m", "vidserve", *args],
        env={**base, "VIDSERVE_DATA_DIR": str(data_dir), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_invalid_settings_fail_at_start_with_a_clear_message(tmp_path: Path) -> None:
    result = _run(["serve"], tmp_path, VIDSERVE_LEASE_SECONDS="-1", VIDSERVE_PORT="http")
    assert result.returncode == 2
    assert "VIDSERVE_LEASE_SECONDS" in result.stderr and "VIDSERVE_PORT" in result.stderr
    bad_keys = _run(["models"], tmp_path, VIDSERVE_API_KEYS="just-a-key")
    assert bad_keys.returncode == 2 and "key=project" in bad_keys.stderr


def test_dev_mode_refuses_to_listen_beyond_loopback(tmp_path: Path) -> None:
    result = _run(["serve", "--host", "0.0.0.0", "--port", "1"], tmp_path)
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0" in result.stderr


def test_models_lists_the_default_registry(tmp_path: Path) -> None:
    result = _run(["models"], tmp_path)
    assert result.returncode == 0, result.stderr
    lines = {line.split("\t")[0].split(" ")[0]: line for line in result.stdout.splitlines()}
    assert {"procedural", "sora-2", "sora-2-pro"} <= set(lines)
    assert "1792x1024" not in lines["sora-2"] and "1792x1024" in lines["sora-2-pro"]
    assert "\taudio=yes" in lines["procedural"]  # the procedural engine makes sound


def test_database_keys_scope_projects(tmp_path: Path, http: httpx.Client) -> None:
    data = tmp_path / "data"
    made = _run(["keys", "create", "--project", "alpha"], data)
    assert made.returncode == 0, made.stderr
    alpha = made.stdout.strip()
    beta = _run(["keys", "create", "--project", "beta"], data).stdout.strip()
    listed = _run(["keys", "list"], data).stdout
    assert "alpha" in listed and "beta" in listed and alpha not in listed  # only prefixes shown

    server = ServerProcess(data).start()
    try:
        base = server.base_url
        r = http.post(f"{base}/videos", headers={"Authorization": f"Bearer {alpha}"},
                      json={"prompt": "alpha's video"})
        assert r.status_code == 200, r.text
        vid = r.json()["id"]
        # another project's id is a 404, exactly like a missing one
        other = http.get(f"{base}/videos/{vid}", headers={"Authorization": f"Bearer {beta}"})
        assert other.status_code == 404
        listing = http.get(f"{base}/videos", headers={"Authorization": f"Bearer {beta}"})
        assert listing.json()["data"] == []
        bad = http.get(f"{base}/videos", headers={"Authorization": "Bearer nope-nope-nope"})
        assert bad.status_code == 401
        assert bad.json()["error"]["code"] == "invalid_api_key"
        assert "nope-nope-nope" not in bad.json()["error"]["message"]
        key_id = listed.splitlines()[0].split("\t")[0]
        assert _run(["keys", "revoke", key_id], data).returncode == 0
        # a revoked key stops working within the auth cache's lifetime
        deadline = time.monotonic() + CACHE_SECONDS + 3
        status = 200
        while status != 401 and time.monotonic() < deadline:
            status = http.get(
                f"{base}/videos", headers={"Authorization": f"Bearer {alpha}"}
            ).status_code
            time.sleep(0.2)
        assert status == 401
    finally:
        server.stop()


def test_generate_goes_through_the_api(server: ServerProcess, tmp_path: Path) -> None:
    out = tmp_path / "kite.mp4"
    result = _run(
        ["generate", "a red kite", "-o", str(out), "--seconds", "4", "--size", "1280x720",
         "--base-url", server.base_url],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "100%" in result.stderr and "completed" in result.stderr
    # the CLI's own output only: no log line per poll (httpx logs each request at INFO)
    assert "HTTP Request" not in result.stderr and "httpx" not in result.stderr, result.stderr
    assert all(
        line.startswith(("video_", "[", "\r[")) for line in result.stderr.splitlines()
    ), result.stderr
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (1280, 720)

    # --verbose brings the log lines back, for whoever wants to see each request
    loud = _run(
        ["generate", "a blue kite", "-o", str(tmp_path / "loud.mp4"), "--verbose",
         "--base-url", server.base_url],
        tmp_path, VIDSERVE_LOG_FORMAT="text",
    )
    assert loud.returncode == 0, loud.stderr
    assert "HTTP Request: POST" in loud.stderr and "HTTP Request: GET" in loud.stderr


def test_help_names_every_command(tmp_path: Path) -> None:
    result = _run(["--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())  # argparse wraps the description
    match = re.search(r"\{([a-z,]+)\}", text)  # the commands argparse knows, from the usage
    assert match is not None, text
    commands = match.group(1).split(",")
    assert {"serve", "worker", "generate", "keys", "migrate", "models", "status",
            "webhooks"} <= set(commands)
    assert "Commands: " + " | ".join(commands) + "." in text, text
