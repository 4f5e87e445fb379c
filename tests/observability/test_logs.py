"""Structured logs: each line carries the request id and the video id it is about."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import httpx

from tests.observability.conftest import wait_for
from tests.servers import ServerProcess
from vidserve import logging as vlog


def _records(server: ServerProcess) -> list[dict[str, Any]]:
    lines = server.log_path.read_text(errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def _capture(fmt: vlog.LogFormat) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(vlog.ContextFilter())
    handler.setFormatter(vlog.JsonFormatter() if fmt == "json" else vlog.TextFormatter())
    logger = logging.getLogger(f"vidserve.test.{fmt}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, out


def test_json_lines_carry_the_context_and_extras() -> None:
    logger, out = _capture("json")
    token = vlog.request_id.set("req_abc")
    try:
        with vlog.bound_video("video_" + "1" * 48):
            logger.info("rendered %d frames", 96, extra={"model": "sora-2"})
        logger.warning("no video here")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("it failed")
    finally:
        vlog.request_id.reset(token)
    first, second, third = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["message"] == "rendered 96 frames" and first["level"] == "info"
    assert first["request_id"] == "req_abc" and first["video_id"] == "video_" + "1" * 48
    assert first["model"] == "sora-2" and first["ts"].endswith("Z")
    assert "video_id" not in second and second["request_id"] == "req_abc"
    assert "ValueError: boom" in third["exc"]


def test_text_lines_for_a_terminal() -> None:
    logger, out = _capture("text")
    with vlog.bound_video("video_" + "2" * 48):
        logger.info("hello")
    assert f"[video=video_{'2' * 48}]: hello" in out.getvalue()

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert vlog.resolve_format("auto", Tty()) == "text"
    assert vlog.resolve_format("auto", io.StringIO()) == "json"
    assert vlog.resolve_format("text", io.StringIO()) == "text"


def test_server_logs_are_json_with_request_and_video_ids(obs_server: ServerProcess) -> None:
    headers = {"Authorization": "Bearer sk-logs", "X-Request-Id": "req-logs-test-1"}
    created = httpx.post(
        f"{obs_server.base_url}/videos", headers=headers, json={"prompt": "logs: a lantern"}
    )
    assert created.status_code == 200
    video_id = created.json()["id"]
    assert created.headers["x-request-id"] == "req-logs-test-1"

    def job_logged() -> list[dict[str, Any]]:
        return [
            r for r in _records(obs_server)
            if r.get("logger") == "vidserve.worker" and r.get("video_id") == video_id
            and "completed" in r["message"]
        ]

    wait_for(job_logged, what="the worker's completion line for the video")
    records = _records(obs_server)
    access = [r for r in records if r.get("request_id") == "req-logs-test-1"]
    assert access, "no log line carries the request id"
    line = next(r for r in access if r["logger"] == "vidserve.access")
    assert line["route"] == "/v1/videos" and line["status"] == 200
    assert line["video_id"] == video_id and line["duration_ms"] >= 0
    # everything the worker said about this job names it
    worker_lines = [r for r in records if r.get("logger") == "vidserve.worker" and video_id in
                    r["message"]]
    assert worker_lines and all(r.get("video_id") == video_id for r in worker_lines)
    # and errors name the request that caused them
    missing = httpx.get(
        f"{obs_server.base_url}/videos/video_{'0' * 48}",
        headers={**headers, "X-Request-Id": "req-logs-test-2"},
    )
    assert missing.status_code == 404
    wait_for(
        lambda: any(r.get("request_id") == "req-logs-test-2" and r.get("status") == 404
                    for r in _records(obs_server)),
        what="the 404's access line",
    )
