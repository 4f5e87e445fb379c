"""Over-limit inputs get a 4xx in the envelope, the request rate and the active-jobs quota
are enforced, and the server keeps serving (in-process; the memory bound of huge bodies is
measured on a real server in tests/safety/test_limits.py)."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable

import openai
import pytest
from PIL import Image

from tests.api.inprocess import InProcessServer

AUTH = {"Authorization": "Bearer test"}


def _bomb() -> bytes:
    """A small PNG that decodes to 20000 x 20000 pixels."""
    out = io.BytesIO()
    Image.new("1", (20000, 20000)).save(out, format="PNG", optimize=True)
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "files", "data", "status"),
    [
        ("decompression bomb", {"input_reference": ("b.png", _bomb(), "image/png")},
         {"prompt": "x"}, 400),
        ("many parts", None, {f"p{i}": "x" for i in range(200)} | {"prompt": "x"}, 400),
        ("video as image", {"input_reference": ("v.mp4", b"\x00\x00\x00\x18ftypmp42" * 50,
                                                "video/mp4")}, {"prompt": "x"}, 400),
    ],
)
def test_bad_uploads(server: InProcessServer, name: str, files, data, status: int) -> None:  # type: ignore[no-untyped-def]
    http = server.http(headers=AUTH)
    r = http.post("/videos", data=data, files=files)
    assert r.status_code == status, (name, r.text)
    assert set(r.json()["error"]) == {"message", "type", "param", "code"}
    assert http.get("/videos").status_code == 200


def test_rate_limit_through_the_sdk(make_server: Callable[..., InProcessServer]) -> None:
    server = make_server(rate_limit_requests_per_minute=20)
    http = server.http(headers=AUTH)
    statuses = []
    while len(statuses) < 100 and 429 not in statuses:
        statuses.append(http.get("/videos").status_code)
    # a burst of 20 passes (one more if the bucket refilled, one token per 3 s), then 429
    assert 20 <= statuses.index(429) <= 22, statuses
    r = http.get("/videos")
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) >= 1 and int(r.headers["retry-after-ms"]) > 0
    assert r.json()["error"]["code"] == "rate_limit_exceeded"

    with server.sdk(api_key="k", max_retries=0) as client:
        with pytest.raises(openai.RateLimitError):
            client.videos.list()
    # with retries the SDK waits as told (retry-after-ms, at most 3 s) and then succeeds
    started = time.monotonic()
    with server.sdk(api_key="k", max_retries=3) as client:
        page = client.videos.list()
    assert page.data == [] and time.monotonic() - started >= 0.5


@pytest.mark.backends("sqlite", "postgres")  # counted in the insert's transaction
def test_active_jobs_quota(make_server: Callable[..., InProcessServer]) -> None:
    # no worker here: the jobs stay queued, i.e. active, for as long as the test needs
    http = make_server(rate_limit_active_jobs=2).http(headers=AUTH)
    ids = [http.post("/videos", json={"prompt": f"{i}"}).json()["id"] for i in range(2)]
    third = http.post("/videos", json={"prompt": "3"})
    assert third.status_code == 429 and "retry-after" in third.headers
    http.delete(f"/videos/{ids[1]}")
    assert http.post("/videos", json={"prompt": "4"}).status_code == 200


def test_environment_is_not_leaked(server: InProcessServer) -> None:
    """Errors never carry exception text or paths (a 500 would say only its request id)."""
    r = server.http(headers=AUTH).post("/videos", content=b"\xff\xfe")
    assert r.status_code == 400
    assert os.getcwd() not in r.text and "Traceback" not in r.text
