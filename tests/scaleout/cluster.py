"""A scale-out deployment in subprocesses: N API replicas (``serve --no-worker``) and M
workers (``vidserve worker``), all on one PostgreSQL database and one S3 prefix.

Each process is its own session (process group), so a test can SIGKILL, SIGSTOP or SIGTERM
exactly one of them. Logs go to files in the cluster's folder (printed when a test fails).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.scaleout.infra import (
    BUCKET,
    S3_ENV,
    Postgres,
    S3Server,
    free_port,
    pg_fetch,
    run_sync,
)

AUTH = {"Authorization": "Bearer scaleout"}


@dataclass
class Proc:
    kind: str  # "api" | "worker"
    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    port: int | None = None
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def start(self) -> Proc:
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start {self.starts} =====\n".encode())
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "vidserve", *self.args],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.starts += 1
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL, as a crashed machine or an OOM kill would."""
        if self.popen is not None and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.popen.wait(10)

    def stop(self, timeout: float = 30) -> int | None:
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGCONT)
                os.kill(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        return self.popen.returncode

    def log(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


@dataclass
class Cluster:
    root: Path
    postgres: Postgres
    s3: S3Server
    env: dict[str, str] = field(default_factory=dict)
    s3_endpoint: str | None = None  # e.g. a TcpProxy in front of moto
    db_endpoint: str | None = None
    procs: list[Proc] = field(default_factory=list)
    # the tests' one client for the replicas (closed by stop): ``httpx.get()`` and its like
    # build a new client, and with it an SSL context (~30 ms of CPU), per request
    http: httpx.Client = field(default_factory=httpx.Client, init=False)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.db_url = self.postgres.create_database("cl")
        self.prefix = f"cluster-{os.getpid()}-{time.monotonic_ns()}"
        base = {k: v for k, v in os.environ.items() if not k.startswith("VIDSERVE_")}
        self.base_env = {
            **base,
            "VIDSERVE_DATA_DIR": str(self.root / "data"),
            "VIDSERVE_DATABASE_URL": self.db_endpoint or self.db_url,
            "VIDSERVE_STORAGE_URL": f"s3://{BUCKET}/{self.prefix}",
            "VIDSERVE_S3_ENDPOINT_URL": self.s3_endpoint or self.s3.endpoint,
            **S3_ENV,
            "VIDSERVE_LEASE_SECONDS": "2",
            "VIDSERVE_REAPER_INTERVAL_SECONDS": "0.5",
            "VIDSERVE_POLL_INTERVAL_SECONDS": "0.25",
            "VIDSERVE_POLL_AFTER_MS": "100",
            "VIDSERVE_DRAIN_GRACE_SECONDS": "3",
            "VIDSERVE_X264_PRESET": "ultrafast",
            **self.env,
        }
        # the schema first, once (replicas would also do it, one at a time)
        subprocess.run([sys.executable, "-m", "vidserve", "migrate"], env=self.base_env,
                       check=True, capture_output=True, timeout=120)

    # -- processes ------------------------------------------------------------------------

    def add_api(self, env: dict[str, str] | None = None) -> Proc:
        n = sum(p.kind == "api" for p in self.procs)
        port = free_port()
        proc = Proc("api", f"api{n}", ["serve", "--no-worker", "--port", str(port)],
                    {**self.base_env, **(env or {})}, self.root / f"api{n}.log", port=port)
        self.procs.append(proc)
        return proc

    def add_worker(self, *args: str, env: dict[str, str] | None = None) -> Proc:
        n = sum(p.kind == "worker" for p in self.procs)
        proc = Proc("worker", f"worker{n}", ["worker", *args], {**self.base_env, **(env or {})},
                    self.root / f"worker{n}.log")
        self.procs.append(proc)
        return proc

    def start(self, timeout: float = 60) -> Cluster:
        for proc in self.procs:
            if not proc.alive():
                proc.start()
        for api in self.apis:
            self.wait_healthy(api, timeout)
        return self

    def wait_healthy(self, api: Proc, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not api.alive():
                raise RuntimeError(f"{api.name} exited:\n{api.log()}")
            with contextlib.suppress(httpx.HTTPError):
                healthz = self.http.get(f"http://127.0.0.1:{api.port}/healthz", timeout=1)
                if healthz.status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{api.name} did not start:\n{api.log()}")

    @property
    def apis(self) -> list[Proc]:
        return [p for p in self.procs if p.kind == "api"]

    @property
    def workers(self) -> list[Proc]:
        return [p for p in self.procs if p.kind == "worker"]

    def base_url(self, n: int = 0) -> str:
        return f"http://127.0.0.1:{self.apis[n % len(self.apis)].port}/v1"

    def stop(self) -> None:
        for proc in self.procs:  # all at once, then wait for each
            with contextlib.suppress(ProcessLookupError):
                proc.signal(signal.SIGCONT)
                proc.signal(signal.SIGTERM)
        for proc in self.procs:
            proc.stop(timeout=15)
        self.http.close()

    def logs(self) -> str:
        return "\n".join(f"----- {p.name} -----\n{p.log(3000)}" for p in self.procs)

    # -- looking inside ---------------------------------------------------------------------

    def sql(self, query: str, *args: Any) -> list[dict[str, Any]]:
        return run_sync(lambda: pg_fetch(self.db_url, query, *args))

    def rows(self) -> dict[str, dict[str, Any]]:
        return {r["id"]: r for r in self.sql("SELECT * FROM videos")}

    def keys(self, video_id: str | None = None) -> list[str]:
        """Stored keys, relative to the cluster's prefix."""
        sub = f"videos/{video_id}/" if video_id else ""
        base = f"{self.prefix}/"
        return [k[len(base):] for k in self.s3.keys(base + sub)]

    def worker_holding(self, video_id: str) -> Proc | None:
        """The worker process whose lease is on the video (lease_owner is host:pid:token)."""
        rows = self.sql("SELECT lease_owner FROM videos WHERE id = $1", video_id)
        owner = rows[0]["lease_owner"] if rows else None
        if not owner:
            return None
        pid = int(owner.split(":")[1])
        return next((w for w in self.workers if w.popen is not None and w.pid == pid), None)
