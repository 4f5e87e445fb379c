"""Huge bodies on a real server: refused without buffering (peak RSS of the server process),
and it keeps serving. The other limits are checked in-process in tests/api/test_limits.py."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx

from tests.servers import ServerProcess

AUTH = {"Authorization": "Bearer test"}


def _rss_peak_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def _api_pid(server: ServerProcess) -> int:
    assert server.proc is not None
    return server.proc.pid


def test_huge_bodies_are_refused_without_buffering(tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = ServerProcess(tmp_path / "s", env={"VIDSERVE_MAX_REQUEST_BYTES": "8388608"}).start()
    try:
        pid = _api_pid(server)
        before = _rss_peak_kib(pid)
        # 1. declared length: answered 413 before the body is read (raw socket: httpx will
        #    not send a length it does not mean)
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(
                b"POST /v1/videos HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n"
                b"Content-Type: application/json\r\nContent-Length: 104857600\r\n\r\n{"
            )
            data = b""
            while b"request_too_large" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            head = data.decode("latin-1")
        assert head.startswith("HTTP/1.1 413"), head[:200]
        assert "request_too_large" in head

        # 2. chunked, no length: refused once the limit is crossed, not after 100 MB
        def chunks() -> Iterator[bytes]:
            for _ in range(100):
                yield b"x" * (1 << 20)

        try:
            r = httpx.post(
                f"{server.base_url}/videos",
                headers=AUTH | {"content-type": "application/json"},
                content=chunks(),
                timeout=60,
            )
            assert r.status_code == 413
        except httpx.HTTPError:
            pass  # the server may close the connection while we are still sending
        growth_mib = (_rss_peak_kib(pid) - before) / 1024
        assert growth_mib < 60, f"peak RSS grew by {growth_mib:.0f} MiB for a 100 MiB body"
        # and it keeps serving
        assert httpx.get(f"{server.base_url}/videos", headers=AUTH).status_code == 200
    finally:
        server.stop()


