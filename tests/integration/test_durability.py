"""Nothing accepted is lost: kill -9 mid-job and restart; DELETE stops a running job."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.backends import slow_models
from tests.scaleout.infra import Backend
from tests.servers import ServerProcess

AUTH = {"Authorization": "Bearer test"}


def _wait(predicate, timeout: float = 60.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out waiting")


def test_kill_and_restart_loses_no_job(fresh_server: ServerProcess, http: httpx.Client) -> None:
    fresh_server.env.update(slow_models(0.25))
    fresh_server.start()
    base = fresh_server.base_url
    ids = []
    for i in range(3):
        r = http.post(f"{base}/videos", headers=AUTH, json={"prompt": f"kite {i}", "seconds": "4"})
        assert r.status_code == 200, r.text
        ids.append(r.json()["id"])

    def running() -> str | None:
        for vid in ids:
            body = http.get(f"{base}/videos/{vid}", headers=AUTH).json()
            if body["status"] == "in_progress" and body["progress"] > 0:
                return vid
        return None

    victim = _wait(running)
    fresh_server.kill()  # server and worker die mid-job, with jobs still queued
    assert fresh_server.row(victim)["status"] == "in_progress"

    del fresh_server.env["VIDSERVE_MODELS_FILE"]  # slow only to be caught mid-job: not now
    fresh_server.start()
    finals = {}
    for vid in ids:
        finals[vid] = _wait(
            lambda vid=vid: (b := http.get(f"{base}/videos/{vid}", headers=AUTH).json())[
                "status"
            ]
            in ("completed", "failed")
            and b
        )
    assert all(v["status"] == "completed" for v in finals.values()), finals
    row = fresh_server.row(victim)
    assert row["attempt"] == 2 and row["assets_attempt"] == 2
    # the killed attempt's files (if any) are gone; only the winning attempt is stored
    assert fresh_server.asset_attempts(victim) == ["2"]
    content = http.get(f"{base}/videos/{victim}/content", headers=AUTH)
    assert content.status_code == 200 and content.headers["content-type"] == "video/mp4"


def test_exhausted_attempts_fail_with_worker_lost(
    tmp_path: Path, backend: Backend, http: httpx.Client
) -> None:
    server = ServerProcess(
        tmp_path / "s",
        env={**slow_models(0.3), "VIDSERVE_MAX_ATTEMPTS": "1"},
        backend=backend,
    )
    try:
        server.start()
        r = http.post(f"{server.base_url}/videos", headers=AUTH, json={"prompt": "x"})
        vid = r.json()["id"]
        _wait(lambda: http.get(f"{server.base_url}/videos/{vid}", headers=AUTH).json()[
            "status"] == "in_progress")
        server.kill()
        server.start()
        body = _wait(
            lambda: (b := http.get(f"{server.base_url}/videos/{vid}", headers=AUTH).json())[
                "status"] == "failed" and b
        )
        assert body["error"]["code"] == "worker_lost"
        assert body["error"]["message"]
    finally:
        server.stop()


def test_delete_stops_running_job_within_one_step(
    fresh_server: ServerProcess, http: httpx.Client
) -> None:
    step_delay = 0.4
    fresh_server.env.update(slow_models(step_delay))
    fresh_server.start()
    base = fresh_server.base_url
    vid = http.post(
        f"{base}/videos", headers=AUTH, json={"prompt": "a long slow drift", "seconds": "12"}
    ).json()["id"]
    _wait(lambda: http.get(f"{base}/videos/{vid}", headers=AUTH).json()["progress"] >= 8)
    deleted = http.delete(f"{base}/videos/{vid}", headers=AUTH)
    assert deleted.status_code == 200
    assert deleted.json() == {"id": vid, "object": "video.deleted", "deleted": True}
    at_delete = int(fresh_server.row(vid)["progress"])  # type: ignore[call-overload]
    # The worker stops at its next step: status failed/cancelled within about one step.
    row = _wait(
        lambda: (r := fresh_server.row(vid))["status"] == "failed" and r,
        timeout=step_delay * 3 + 2,
    )
    assert row["error_code"] == "cancelled"
    step = 90 / 24  # progress per step of a 12 s clip (24 steps of 12 frames)
    assert int(row["progress"]) <= at_delete + step + 1  # type: ignore[call-overload]
    time.sleep(step_delay * 2)
    assert fresh_server.row(vid)["progress"] == row["progress"]  # it stays stopped
    assert http.get(f"{base}/videos/{vid}", headers=AUTH).status_code == 404
    assert fresh_server.asset_attempts(vid) == []
    # the worker is free again: the next job completes
    nxt = http.post(f"{base}/videos", headers=AUTH, json={"prompt": "next"}).json()["id"]
    fresh_server.env.clear()
    body = _wait(
        lambda: (b := http.get(f"{base}/videos/{nxt}", headers=AUTH).json())["status"]
        == "completed" and b,
        timeout=60,
    )
    assert body["progress"] == 100


def test_delete_queued_job_never_runs(fresh_server: ServerProcess, http: httpx.Client) -> None:
    fresh_server.env.update(slow_models(0.3))
    fresh_server.start()
    base = fresh_server.base_url
    first = http.post(f"{base}/videos", headers=AUTH, json={"prompt": "first"}).json()["id"]
    second = http.post(f"{base}/videos", headers=AUTH, json={"prompt": "second"}).json()["id"]
    assert http.get(f"{base}/videos/{second}", headers=AUTH).json()["status"] == "queued"
    assert http.delete(f"{base}/videos/{second}", headers=AUTH).status_code == 200
    _wait(lambda: http.get(f"{base}/videos/{first}", headers=AUTH).json()["status"]
          == "completed")
    time.sleep(0.5)
    row = fresh_server.row(second)
    assert row["attempt"] == 0 and row["status"] == "failed"
    assert http.delete(f"{base}/videos/{second}", headers=AUTH).status_code == 404


@pytest.mark.parametrize("signal_name", ["SIGTERM"])
def test_graceful_stop_keeps_queued_jobs(
    fresh_server: ServerProcess, signal_name: str, http: httpx.Client
) -> None:
    fresh_server.env.update(slow_models(0.2))
    fresh_server.start()
    base = fresh_server.base_url
    ids = [
        http.post(f"{base}/videos", headers=AUTH, json={"prompt": f"p{i}"}).json()["id"]
        for i in range(3)
    ]
    fresh_server.stop()
    del fresh_server.env["VIDSERVE_MODELS_FILE"]  # slow only to be queued at the stop
    fresh_server.start()
    for vid in ids:
        _wait(lambda vid=vid: http.get(f"{base}/videos/{vid}", headers=AUTH).json()["status"]
              == "completed")
