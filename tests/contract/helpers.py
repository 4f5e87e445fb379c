"""Helpers shared by the contract tests: requests, assertions on the wire shape, images."""

from __future__ import annotations

import base64
import io
import re
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.contract.spec import validate

VIDEO_ID = re.compile(r"^video_[0-9a-f]{48}$")
VIDEO_FIELDS = frozenset(
    {
        "id",
        "object",
        "model",
        "status",
        "progress",
        "created_at",
        "completed_at",
        "expires_at",
        "prompt",
        "size",
        "seconds",
        "remixed_from_video_id",
        "error",
    }
)
TERMINAL = ("completed", "failed")
ANY: Any = object()  # "do not check this field"


def request_ids(response: httpx.Response) -> list[str]:
    return response.headers.get_list("x-request-id")


def assert_request_id(response: httpx.Response) -> None:
    ids = request_ids(response)
    assert ids, f"no x-request-id on {response.request.method} {response.request.url}"
    assert all(i.strip() for i in ids), ids


def assert_video(body: Any) -> dict[str, Any]:
    """A VideoResource with exactly the 13 fields, a string ``seconds`` and a real id."""
    validate(body, "VideoResource")
    assert set(body) == VIDEO_FIELDS, sorted(set(body) ^ VIDEO_FIELDS)
    assert VIDEO_ID.match(body["id"]), body["id"]
    assert body["object"] == "video"
    assert isinstance(body["seconds"], str) and body["seconds"] in ("4", "8", "12"), body
    assert isinstance(body["progress"], int) and 0 <= body["progress"] <= 100, body
    assert isinstance(body["created_at"], int) and body["created_at"] > 1_600_000_000
    if body["status"] == "completed":
        assert body["progress"] == 100
        assert isinstance(body["completed_at"], int)
        assert body["completed_at"] >= body["created_at"]
        assert body["error"] is None
    if body["status"] in ("queued", "in_progress"):
        assert body["completed_at"] is None
    if body["status"] == "failed":
        assert body["error"] is not None
    result: dict[str, Any] = body
    return result


def assert_error(
    response: httpx.Response,
    status: int,
    *,
    param: Any = ANY,
    code: Any = ANY,
    message: str | None = None,
    type_: str | None = "invalid_request_error",
) -> dict[str, Any]:
    """The OpenAI error envelope with all four keys, validated against ErrorResponse."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert_request_id(response)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    validate(body, "ErrorResponse")
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert error["message"], error
    if type_ is not None:
        assert error["type"] == type_, error
    if param is not ANY:
        assert error["param"] == param, error
    if code is not ANY:
        assert error["code"] == code, error
    if message is not None:
        assert error["message"] == message, error
    result: dict[str, Any] = error
    return result


def create(api: httpx.Client, **kwargs: Any) -> dict[str, Any]:
    """POST /videos (``json=`` or ``files=``), assert a 200 VideoResource and return it."""
    response = api.post("/videos", **kwargs)
    assert response.status_code == 200, response.text[:1000]
    assert_request_id(response)
    body = assert_video(response.json())
    assert body["status"] in ("queued", "in_progress", "completed"), body
    return body


@dataclass
class Observed:
    """Every retrieve made while polling: (status code, headers, body)."""

    responses: list[tuple[int, httpx.Headers, dict[str, Any]]] = field(default_factory=list)

    @property
    def final(self) -> dict[str, Any]:
        return self.responses[-1][2]


def poll_until_terminal(api: httpx.Client, video_id: str, timeout: float = 90.0) -> Observed:
    observed = Observed()
    deadline = time.monotonic() + timeout
    while True:
        response = api.get(f"/videos/{video_id}")
        assert response.status_code == 200, response.text[:500]
        assert_request_id(response)
        body = assert_video(response.json())
        observed.responses.append((response.status_code, response.headers, body))
        if body["status"] in TERMINAL:
            return observed
        assert time.monotonic() < deadline, f"{video_id} not done after {timeout}s: {body}"
        time.sleep(0.1)


def png_bytes(width: int, height: int, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


def data_url(data: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"
