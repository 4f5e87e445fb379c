"""A real vidserve server (uvicorn + embedded worker) in a subprocess, for tests.

It binds 127.0.0.1 on a free port and keeps its data in a temporary folder; ``kill()`` sends
SIGKILL to the whole process group (server and worker), as a machine crash would. With a
``postgres`` backend it keeps its rows in a database of its own on the test-suite's
PostgreSQL and its files under a prefix of its own in the S3 bucket (moto).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.scaleout.infra import Backend, read_row, stored_attempts

FAST_QUEUE = {
    "VIDSERVE_LEASE_SECONDS": "2",
    "VIDSERVE_REAPER_INTERVAL_SECONDS": "0.3",
    "VIDSERVE_POLL_INTERVAL_SECONDS": "0.05",
    "VIDSERVE_POLL_AFTER_MS": "100",
    "VIDSERVE_DRAIN_GRACE_SECONDS": "2",
    "VIDSERVE_X264_PRESET": "ultrafast",
}


class PortTaken(Exception):
    """The server could not bind its port: something else took it first."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str] | None = None,
        backend: Backend | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.env = {**FAST_QUEUE, **(env or {})}
        self.backend = backend
        self.backend_env = backend.env(data_dir) if backend is not None else {}
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "server.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 60.0) -> ServerProcess:
        """Start and wait for ``/healthz``. A port another test took between ``free_port()``
        and the server's bind (tests run in parallel) is given up for a new one, twice."""
        for _ in range(2):
            try:
                return self._start(timeout)
            except PortTaken:
                self.port = free_port()
        return self._start(timeout)

    def _start(self, timeout: float) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        logged = self.log_path.stat().st_size if self.log_path.exists() else 0
        env = {
            k: v for k, v in os.environ.items() if not k.startswith("VIDSERVE_")
        } | {"VIDSERVE_DATA_DIR": str(self.data_dir), **self.backend_env, **self.env}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "vidserve", "serve", "--port", str(self.port),
                 *self.args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        # one client for the whole wait: each new httpx client builds an SSL context (~40 ms
        # of CPU), which a poll every 0.1 s would pay hundreds of times per server start
        with httpx.Client(timeout=1) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    if b"address already in use" in self.log_path.read_bytes()[logged:]:
                        raise PortTaken(self.port)
                    raise RuntimeError(f"server exited early:\n{self.log()}")
                try:
                    if http.get(f"http://127.0.0.1:{self.port}/healthz").status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        raise RuntimeError(f"server did not start:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def row(self, video_id: str) -> dict[str, object]:
        """The video's row as stored (any backend), for assertions beyond the API."""
        return read_row(self.backend_env, self.data_dir, video_id)

    def asset_attempts(self, video_id: str) -> list[str]:
        """The attempt folders stored for the video (``videos/{id}/{attempt}/``)."""
        s3 = self.backend.s3 if self.backend is not None else None
        return stored_attempts(self.backend_env, self.data_dir, s3, video_id)

    def kill(self) -> None:
        """SIGKILL the server and its worker at once."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.proc is not None:
            try:  # whatever is left of the group
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
