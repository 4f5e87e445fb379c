"""/metrics, /healthz and /readyz on a real server with its embedded worker.

The numbers come from three places (the API process, the database at scrape time, the worker
process through its metrics folder); each assertion here watches one of them move as jobs run.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import httpx

from tests.observability.conftest import scrape, value, wait_for
from tests.servers import ServerProcess

SORA = {"model": "sora-2"}


def _create(api: httpx.Client, prompt: str, **extra: Any) -> str:
    resp = api.post("/videos", json={"prompt": prompt, "model": "sora-2", **extra})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["id"])


def _status(api: httpx.Client, video_id: str) -> str:
    return str(api.get(f"/videos/{video_id}").json()["status"])


def test_metrics_move_as_jobs_run(obs_server: ServerProcess, api: httpx.Client) -> None:
    before = scrape(obs_server)
    assert value(before, "vidserve_build_info", version=_version()) == 1
    assert value(before, "vidserve_embedded_worker_up") == 1

    video_id = _create(api, "metrics: a paper boat on a pond")
    wait_for(lambda: _status(api, video_id) == "in_progress", what="the job to start")
    running = scrape(obs_server)
    assert value(running, "vidserve_queue_depth", status="in_progress", **SORA) == 1
    assert value(running, "vidserve_workers_busy") == 1

    # queue another behind it: it waits, and the oldest queued age is reported
    second = _create(api, "metrics: a second boat")
    queued = scrape(obs_server)
    if _status(api, second) == "queued":
        assert value(queued, "vidserve_queue_depth", status="queued", **SORA) >= 1
        assert ("vidserve_queue_oldest_age_seconds", frozenset(SORA.items())) in queued

    wait_for(
        lambda: _status(api, video_id) == "completed" and _status(api, second) == "completed",
        what="both jobs to complete",
    )
    after = scrape(obs_server)
    # queue: nothing left
    assert value(after, "vidserve_queue_depth", status="in_progress", **SORA) == 0
    assert value(after, "vidserve_queue_depth", status="queued", **SORA) == 0
    # the worker's numbers, merged from the embedded worker's metrics folder
    waited = value(after, "vidserve_job_wait_seconds_count", **SORA)
    assert waited - value(before, "vidserve_job_wait_seconds_count", **SORA) == 2
    ran = value(after, "vidserve_job_run_seconds_count", outcome="completed", **SORA)
    assert ran - value(before, "vidserve_job_run_seconds_count", outcome="completed", **SORA) == 2
    assert value(after, "vidserve_job_run_seconds_sum", outcome="completed", **SORA) > 2 * 1.6
    steps = value(after, "vidserve_denoising_steps_total", **SORA)
    # 4 s at 24 fps is 96 frames, 12 frames a procedural step: 8 steps a job
    assert steps - value(before, "vidserve_denoising_steps_total", **SORA) == 2 * 8
    rate = value(after, "vidserve_denoising_steps_per_second", **SORA)
    assert 0.5 < rate < 6, rate  # 0.2 s a step, plus rendering
    # histogram buckets are cumulative and end with +Inf == count
    buckets = sorted(
        (float(dict(labels)["le"]), v)
        for (name, labels), v in after.items()
        if name == "vidserve_job_run_seconds_bucket"
        and dict(labels).get("outcome") == "completed"
        and dict(labels).get("model") == "sora-2"
    )
    counts = [v for _, v in buckets]
    assert counts == sorted(counts) and buckets[-1] == (float("inf"), ran)
    # HTTP requests by route template and status
    created = ("vidserve_http_requests_total", "POST", "/v1/videos", "200")
    assert _http(after, *created[1:]) - _http(before, *created[1:]) == 2
    assert _http(after, "GET", "/v1/videos/{video_id}", "200") > _http(
        before, "GET", "/v1/videos/{video_id}", "200"
    )
    assert value(after, "vidserve_http_request_duration_seconds_count",
                 method="POST", route="/v1/videos") >= 2


def test_failures_are_counted_by_error_code(obs_server: ServerProcess, api: httpx.Client) -> None:
    before = scrape(obs_server)
    bad = api.post("/videos", json={"prompt": "x", "seconds": 10})
    assert bad.status_code == 400
    video_id = _create(api, "metrics: cancelled while rendering", seconds="8")
    wait_for(lambda: _status(api, video_id) == "in_progress", what="the job to start")
    assert api.delete(f"/videos/{video_id}").status_code == 200

    def cancelled() -> bool:
        now = scrape(obs_server)
        return value(now, "vidserve_jobs_failed_total", code="cancelled", **SORA) > value(
            before, "vidserve_jobs_failed_total", code="cancelled", **SORA
        ) and value(now, "vidserve_job_run_seconds_count", outcome="cancelled", **SORA) > value(
            before, "vidserve_job_run_seconds_count", outcome="cancelled", **SORA
        )

    wait_for(cancelled, what="the cancelled job in the failure counts")
    after = scrape(obs_server)
    refused = _http(after, "POST", "/v1/videos", "400") - _http(before, "POST", "/v1/videos", "400")
    assert refused == 1
    assert _http(after, "DELETE", "/v1/videos/{video_id}", "200") >= 1


def test_metrics_token_and_unmatched_routes(obs_server: ServerProcess, http: httpx.Client) -> None:
    base = f"http://127.0.0.1:{obs_server.port}"
    refused = http.get(f"{base}/metrics")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"
    assert http.get(f"{base}/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    # unknown paths share one label, so scanners cannot blow up the series count
    for n in range(3):
        assert http.get(f"{base}/no/such/path/{n}").status_code == 404
    samples = scrape(obs_server)
    assert _http(samples, "GET", "unmatched", "404") >= 3
    assert not any("/no/such" in str(labels) for _, labels in samples)
    # request latency: cumulative buckets ending in +Inf == count
    buckets = sorted(
        (float(dict(labels)["le"]), v)
        for (name, labels), v in samples.items()
        if name == "vidserve_http_request_duration_seconds_bucket"
        and dict(labels) | {"le": ""} == {"method": "GET", "route": "unmatched", "le": ""}
    )
    counts = [v for _, v in buckets]
    total = value(samples, "vidserve_http_request_duration_seconds_count",
                  method="GET", route="unmatched")
    assert counts == sorted(counts) and buckets[-1] == (float("inf"), total) and total >= 3
    assert 0 < value(samples, "vidserve_http_request_duration_seconds_sum",
                     method="GET", route="unmatched") < 3


def test_healthz_and_readyz_follow_the_worker(
    obs_server: ServerProcess, http: httpx.Client
) -> None:
    base = f"http://127.0.0.1:{obs_server.port}"
    assert http.get(f"{base}/healthz").json() == {"status": "ok"}
    ready = http.get(f"{base}/readyz")
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert checks["database"]["ok"] and checks["storage"]["ok"] and checks["worker"]["ok"]
    assert checks["worker"]["mode"] == "embedded"
    pid = checks["worker"]["pid"]

    os.kill(pid, signal.SIGKILL)  # the worker dies: not ready until the supervisor restarts it
    down = wait_for(
        lambda: (r := http.get(f"{base}/readyz")).status_code == 503 and r, timeout=5,
        what="/readyz to notice the dead worker",
    )
    assert down.json()["status"] == "not_ready"
    assert down.json()["checks"]["worker"]["ok"] is False
    assert down.json()["checks"]["database"]["ok"] is True
    assert http.get(f"{base}/healthz").status_code == 200  # alive all the same

    back = wait_for(
        lambda: (r := http.get(f"{base}/readyz")).status_code == 200 and r, timeout=30,
        what="the restarted worker",
    )
    assert back.json()["checks"]["worker"]["pid"] != pid


def _http(samples: dict[Any, float], method: str, route: str, status: str) -> float:
    return value(samples, "vidserve_http_requests_total", method=method, route=route, status=status)


def _version() -> str:
    from vidserve import __version__

    return __version__
