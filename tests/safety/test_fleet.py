"""Every worker, embedded or on another machine, is seen; a dead worker fleet shows.

Scale-out (PostgreSQL + S3): one API replica without a worker and two ``vidserve worker``
processes. ``/readyz`` lists both from the ``workers`` heartbeat table; after ``kill -9`` of
both it answers 503 within a lease, and ``vidserve status`` marks them dead.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.scaleout.cluster import Cluster
from tests.scaleout.infra import Postgres, S3Server

LEASE = 2.0  # the cluster's VIDSERVE_LEASE_SECONDS


def _until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _ready(base: str) -> httpx.Response:
    return httpx.get(base.removesuffix("/v1") + "/readyz", timeout=10)


def test_readyz_and_status_see_every_worker_and_a_dead_fleet(
    postgres_cluster: Postgres, s3_server: S3Server, tmp_path: Path
) -> None:
    cluster = Cluster(tmp_path / "c", postgres_cluster, s3_server)
    cluster.add_api()
    first = cluster.add_worker()
    second = cluster.add_worker("--models", "sora-2")
    try:
        cluster.start()
        base = cluster.base_url()
        ready = _until(
            lambda: (r := _ready(base)).status_code == 200
            and r.json()["checks"]["worker"]["alive"] == 2 and r,
            30, "both workers in /readyz",
        )
        check = ready.json()["checks"]["worker"]
        assert check["mode"] == "external"
        hosts = {w["host"] for w in check["workers"]}
        assert len(hosts) == 1 and all(w["models"] for w in check["workers"])
        assert any(w["models"] == ["sora-2"] for w in check["workers"])

        first.kill()
        second.kill()
        started = time.monotonic()
        down = _until(lambda: (r := _ready(base)).status_code == 503 and r, LEASE + 10,
                      "/readyz to see the dead fleet")
        assert time.monotonic() - started < LEASE + 6
        worker = down.json()["checks"]["worker"]
        assert worker["ok"] is False and worker["alive"] == 0 and worker["silent"] == 2
        assert "no worker has reported" in worker["error"]

        status = subprocess.run(
            [sys.executable, "-m", "vidserve", "status", "--no-server"],
            env=cluster.base_env, capture_output=True, text=True, timeout=60, check=False,
        )
        assert "NO LIVE WORKER" in status.stdout and status.stdout.count("DEAD") == 2, (
            status.stdout + status.stderr
        )
        as_json = json.loads(subprocess.run(
            [sys.executable, "-m", "vidserve", "status", "--json", "--no-server"],
            env=cluster.base_env, capture_output=True, text=True, timeout=60, check=True,
        ).stdout)
        assert [w["alive"] for w in as_json["fleet"]] == [False, False]
    finally:
        cluster.stop()
