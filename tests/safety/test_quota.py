"""The active-jobs quota holds under concurrent creates; replays always return the first job.

Both backends: SQLite decides the count under its write lock, PostgreSQL under a per-project
advisory lock, in the insert's own transaction.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from tests.backends import slow_models
from tests.scaleout.infra import Backend
from tests.servers import ServerProcess

AUTH = {"Authorization": "Bearer test"}
QUOTA = 3
CONCURRENT = 20


def _server(tmp_path: Path, backend: Backend) -> ServerProcess:
    return ServerProcess(tmp_path / "s", backend=backend, env=_server_env()).start()


def _server_env() -> dict[str, str]:
    return {
        "VIDSERVE_RATE_LIMIT_ACTIVE_JOBS": str(QUOTA),
        **slow_models(1.0),  # the admitted jobs stay active throughout
    }


async def _burst(base: str, bodies: list[dict[str, object]], keys: list[str | None]) -> list[
    httpx.Response
]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        gate = asyncio.Event()

        async def one(body: dict[str, object], key: str | None) -> httpx.Response:
            await gate.wait()
            headers = AUTH | ({"Idempotency-Key": key} if key else {})
            return await client.post("/videos", headers=headers, json=body)

        tasks = [asyncio.create_task(one(b, k)) for b, k in zip(bodies, keys, strict=True)]
        await asyncio.sleep(0.05)
        gate.set()
        return list(await asyncio.gather(*tasks))


def test_concurrent_creates_let_in_exactly_the_quota(
    tmp_path: Path, backend: Backend, http: httpx.Client
) -> None:
    server = _server(tmp_path, backend)
    try:
        bodies: list[dict[str, object]] = [{"prompt": f"burst {i}"} for i in range(CONCURRENT)]
        answers = asyncio.run(_burst(server.base_url, bodies, [None] * CONCURRENT))
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [200] * QUOTA + [429] * (CONCURRENT - QUOTA), statuses
        for refused in (r for r in answers if r.status_code == 429):
            assert f"already has {QUOTA} videos queued" in refused.json()["error"]["message"]
            assert int(refused.headers["retry-after"]) >= 1
        listed = http.get(f"{server.base_url}/videos", headers=AUTH, params={"limit": 100})
        assert len(listed.json()["data"]) == QUOTA  # nothing refused was stored
    finally:
        server.stop()


def test_replays_at_the_quota_return_the_original_job(
    tmp_path: Path, backend: Backend, http: httpx.Client
) -> None:
    server = _server(tmp_path, backend)
    try:
        base = server.base_url
        first = [
            http.post(f"{base}/videos", headers=AUTH | {"Idempotency-Key": f"k{i}"},
                      json={"prompt": f"p{i}"})
            for i in range(QUOTA)
        ]
        assert [r.status_code for r in first] == [200] * QUOTA
        # the project is at its quota: a new request is refused, every replay is answered,
        # also when many replays and new requests arrive at once
        assert http.post(f"{base}/videos", headers=AUTH, json={"prompt": "new"}).status_code == 429
        keys: list[str | None] = [f"k{i % QUOTA}" for i in range(12)] + [None] * 4
        bodies: list[dict[str, object]] = [{"prompt": f"p{i % QUOTA}"} for i in range(12)]
        bodies += [{"prompt": "extra"}] * 4
        answers = asyncio.run(_burst(base, bodies, keys))
        for i, r in enumerate(answers[:12]):
            assert r.status_code == 200, r.text
            assert r.json()["id"] == first[i % QUOTA].json()["id"]
        assert [r.status_code for r in answers[12:]] == [429] * 4
        # a replay with other parameters is still the reuse error, not the quota
        reused = http.post(f"{base}/videos", headers=AUTH | {"Idempotency-Key": "k0"},
                           json={"prompt": "something else"})
        assert reused.status_code == 400
        assert reused.json()["error"]["code"] == "idempotency_key_reused"
    finally:
        server.stop()


def _completed(http: httpx.Client, base: str) -> str:
    """A completed video (the source a remix, an edit and an extension need)."""
    created = http.post(f"{base}/videos", headers=AUTH, json={"prompt": "source"})
    assert created.status_code == 200, created.text
    video_id = str(created.json()["id"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = http.get(f"{base}/videos/{video_id}", headers=AUTH).json()["status"]
        if status == "completed":
            return video_id
        assert status in ("queued", "in_progress"), status
        time.sleep(0.1)
    raise AssertionError(f"video {video_id} did not complete")


def test_replays_at_the_quota_return_the_original_remix_edit_and_extension(
    tmp_path: Path, backend: Backend, http: httpx.Client
) -> None:
    """The same rule on every create-like endpoint: the quota never refuses a replay."""
    fast = ServerProcess(tmp_path / "s", backend=backend).start()
    try:
        source = _completed(http, fast.base_url)
    finally:
        fast.stop()
    # the same data (and, on PostgreSQL, the same database), now with the quota and slow jobs
    server = ServerProcess(fast.data_dir, env=_server_env(), backend=backend)
    server.backend_env = fast.backend_env
    server.start()
    try:
        base = server.base_url
        requests: list[tuple[str, dict[str, object]]] = [
            (f"/videos/{source}/remix", {"prompt": "remixed"}),
            ("/videos/edits", {"prompt": "edited", "video": {"id": source}}),
            ("/videos/extensions", {"prompt": "extended", "video": {"id": source}, "seconds": "4"}),
        ]
        assert len(requests) == QUOTA
        first = []
        for n, (path, body) in enumerate(requests):
            answer = http.post(f"{base}{path}", headers=AUTH | {"Idempotency-Key": f"op{n}"},
                               json=body)
            assert answer.status_code == 200, answer.text
            first.append(answer.json()["id"])
        for n, (path, body) in enumerate(requests):
            # at the quota: the same request without its key is refused, its replay answered
            fresh = http.post(f"{base}{path}", headers=AUTH, json=body)
            assert fresh.status_code == 429, fresh.text
            assert int(fresh.headers["retry-after"]) >= 1
            replay = http.post(f"{base}{path}", headers=AUTH | {"Idempotency-Key": f"op{n}"},
                               json=body)
            assert replay.status_code == 200, replay.text
            assert replay.json()["id"] == first[n]
            assert replay.json()["status"] in ("queued", "in_progress")
        listed = http.get(f"{base}/videos", headers=AUTH, params={"limit": 100}).json()["data"]
        assert sorted(v["id"] for v in listed) == sorted([source, *first])  # nothing else stored
    finally:
        server.stop()
