"""Scale-out end to end: two API replicas (``serve --no-worker``) and separate workers
(``vidserve worker``) on one PostgreSQL database and one S3 bucket.

- a new job wakes an idle worker through LISTEN/NOTIFY well under a second, with the
  fallback poll set to 30 s (so polling cannot be what picked it up);
- ``--models`` restricts what a worker claims; ``--concurrency`` runs jobs side by side;
- SIGTERM drains: running jobs finish within the grace period, or are handed back at once
  and finished by another worker;
- downloads stream from S3 with Range on one replica and redirect to a presigned URL on the
  replica that has ``VIDSERVE_CONTENT_REDIRECT``.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.backends import slow_models
from tests.scaleout.cluster import AUTH, Cluster
from tests.scaleout.infra import Postgres, S3Server

TERMINAL = ("completed", "failed")


@pytest.fixture(scope="module")
def cluster(
    postgres_cluster: Postgres, s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    c = Cluster(
        tmp_path_factory.mktemp("cluster"), postgres_cluster, s3_server,
        env={"VIDSERVE_WAKEUP_POLL_SECONDS": "30", "VIDSERVE_POLL_INTERVAL_SECONDS": "30",
             **slow_models(0.05)},
    )
    c.add_api()
    c.add_api({"VIDSERVE_CONTENT_REDIRECT": "true"})
    try:
        c.start()
        yield c
    except BaseException:
        print(c.logs())
        raise
    finally:
        c.stop()


def _create(cluster: Cluster, replica: int, **body: Any) -> dict[str, Any]:
    response = cluster.http.post(f"{cluster.base_url(replica)}/videos", headers=AUTH,
                          json={"prompt": "scale-out", **body}, timeout=30)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _get(cluster: Cluster, replica: int, video_id: str) -> dict[str, Any]:
    response = cluster.http.get(f"{cluster.base_url(replica)}/videos/{video_id}", headers=AUTH,
                         timeout=30)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _wait_terminal(cluster: Cluster, ids: list[str], timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    final: dict[str, Any] = {}
    while time.monotonic() < deadline:
        for vid in ids:
            if vid not in final:
                body = _get(cluster, len(final), vid)
                if body["status"] in TERMINAL:
                    final[vid] = body
        if len(final) == len(ids):
            return final
        time.sleep(0.1)
    raise AssertionError(f"not terminal in {timeout}s: {set(ids) - set(final)}\n{cluster.logs()}")


def _completed_by(cluster: Cluster) -> dict[str, str]:
    """video id -> the worker (process name) whose attempt completed it, from the logs."""
    done: dict[str, str] = {}
    for worker in cluster.workers:
        text = worker.log_path.read_text(errors="replace") if worker.log_path.exists() else ""
        for vid in re.findall(r"job (video_[0-9a-f]+) completed", text):
            done[vid] = worker.name
    return done


def _wait_listening(cluster: Cluster, *names: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all("LISTEN/NOTIFY" in w.log_path.read_text(errors="replace")
               for w in cluster.workers if w.name in names and w.log_path.exists()) and all(
                   w.log_path.exists() for w in cluster.workers if w.name in names):
            return
        time.sleep(0.1)
    raise AssertionError(f"workers not listening:\n{cluster.logs()}")


def test_notify_wakes_idle_workers_at_once(cluster: Cluster) -> None:
    worker = cluster.add_worker("--concurrency", "6").start()
    _wait_listening(cluster, worker.name)
    time.sleep(0.5)  # idle: every slot waits on the notification (the poll is 30 s)
    latencies, ids = [], []
    for n in range(5):  # each new job finds an idle slot
        sent = time.time()
        video = _create(cluster, n % 2, seconds="4")
        ids.append(video["id"])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            row = cluster.sql("SELECT started_at FROM videos WHERE id = $1", video["id"])[0]
            if row["started_at"] is not None:
                break
            time.sleep(0.01)
        assert row["started_at"] is not None, cluster.logs()
        latencies.append(row["started_at"] - sent)  # includes the create request itself
        time.sleep(0.3)
    latencies.sort()
    print(f"\ncreate request sent -> claimed (s): {[round(x, 3) for x in latencies]}")
    assert latencies[-1] < 0.5, latencies  # well under a second, without polling
    final = _wait_terminal(cluster, ids)
    assert all(v["status"] == "completed" for v in final.values())
    worker.stop()


def test_replicas_workers_models_and_content(cluster: Cluster, tmp_path: Path) -> None:
    pro = cluster.add_worker("--models", "sora-2-pro", "--concurrency", "2").start()
    std = cluster.add_worker("--models", "sora-2").start()
    _wait_listening(cluster, pro.name, std.name)
    jobs = [_create(cluster, n, model="sora-2-pro" if n % 3 == 0 else "sora-2", seconds="4")
            for n in range(6)]
    final = _wait_terminal(cluster, [j["id"] for j in jobs])
    assert all(v["status"] == "completed" for v in final.values()), final
    by = _completed_by(cluster)
    for job in jobs:
        expected = pro.name if job["model"] == "sora-2-pro" else std.name
        assert by[job["id"]] == expected, (job["model"], by[job["id"]])
    # every completed video has exactly its winning attempt's three files in the bucket
    rows = cluster.rows()
    for job in jobs:
        row = rows[job["id"]]
        assert row["attempt"] == row["assets_attempt"] == 1
        assert sorted(k.rsplit("/", 1)[1] for k in cluster.keys(job["id"])) == [
            "spritesheet.jpg", "thumbnail.webp", "video.mp4"
        ]
    vid = jobs[1]["id"]
    # replica 0 streams from S3, with Range
    base = cluster.base_url(0)
    full = cluster.http.get(f"{base}/videos/{vid}/content", headers=AUTH, timeout=30)
    assert full.status_code == 200 and full.headers["content-type"] == "video/mp4"
    assert full.content[4:8] == b"ftyp"
    part = cluster.http.get(f"{base}/videos/{vid}/content", timeout=30,
                     headers={**AUTH, "Range": "bytes=100-1099"})
    assert part.status_code == 206 and part.content == full.content[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{len(full.content)}"
    tail = cluster.http.get(f"{base}/videos/{vid}/content", timeout=30,
                     headers={**AUTH, "Range": "bytes=-10"})
    assert tail.content == full.content[-10:]
    # replica 1 redirects to a presigned URL; clients that follow it get the same bytes
    base1 = cluster.base_url(1)
    redirect = cluster.http.get(f"{base1}/videos/{vid}/content", headers=AUTH, timeout=30)
    assert redirect.status_code == 307, redirect.text
    location = redirect.headers["location"]
    assert "X-Amz-Signature=" in location and "Authorization" not in location
    followed = cluster.http.get(f"{base1}/videos/{vid}/content", headers=AUTH, timeout=30,
                         follow_redirects=True)
    assert followed.status_code == 200 and followed.content == full.content
    thumb = cluster.http.get(f"{base1}/videos/{vid}/content?variant=thumbnail", headers=AUTH,
                      timeout=30, follow_redirects=True)
    assert thumb.headers["content-type"] == "image/webp"
    # and the official SDK follows it too
    from openai import OpenAI

    with OpenAI(base_url=base1, api_key="scaleout", max_retries=0) as client:
        out = tmp_path / "sdk.mp4"
        client.videos.download_content(vid).write_to_file(out)
    assert out.read_bytes() == full.content
    pro.stop()
    std.stop()


def test_sigterm_drains_concurrent_jobs(cluster: Cluster) -> None:
    """A worker running three jobs gets SIGTERM: short jobs finish within the grace period;
    long ones are handed back at once and another worker finishes them."""
    grace, step = 5.0, 0.5
    slow = {**slow_models(step), "VIDSERVE_DRAIN_GRACE_SECONDS": str(grace)}
    draining = cluster.add_worker("--concurrency", "3", env=slow).start()
    _wait_listening(cluster, draining.name)
    short = _create(cluster, 0, seconds="4")  # 8 steps
    longs = [_create(cluster, n, seconds="12") for n in (1, 2)]  # 24 steps
    ids = [short["id"]] + [j["id"] for j in longs]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rows = cluster.rows()
        if all(rows[v]["status"] == "in_progress" and rows[v]["progress"] > 0 for v in ids) and (
            rows[short["id"]]["progress"] >= 67  # two steps (~1 s) or less to go
        ):
            break
        time.sleep(0.05)
    else:
        raise AssertionError(cluster.logs())
    # the long ones have at least 12 steps (>= 6 s) to go: more than the grace period
    assert all(rows[j["id"]]["progress"] <= 45 for j in longs), rows
    draining.signal(signal.SIGTERM)
    stopped_at = time.monotonic()
    assert draining.popen is not None
    code = draining.popen.wait(30)
    took = time.monotonic() - stopped_at
    assert code == 0, draining.log()
    assert took < grace + 3, took  # grace + handing back, not a lease expiry
    rows = cluster.rows()
    assert rows[short["id"]]["status"] == "completed"  # finished within the grace period
    for job in longs:  # handed back, not left for the reaper
        assert rows[job["id"]]["status"] == "queued", rows[job["id"]]
        assert rows[job["id"]]["lease_owner"] is None
    assert "handed back to the queue (worker stopping)" in draining.log()
    helper = cluster.add_worker("--concurrency", "2").start()
    final = _wait_terminal(cluster, ids, timeout=60)
    assert all(v["status"] == "completed" for v in final.values())
    rows = cluster.rows()
    for job in longs:
        assert rows[job["id"]]["assets_attempt"] == 2
        assert {k.split("/")[2] for k in cluster.keys(job["id"])} == {"2"}
    helper.stop()
