"""What the scale-out tests run against: a throwaway PostgreSQL cluster, moto's S3 server,
a TCP proxy that can cut a connection on demand, and the two test backends.

Everything listens on 127.0.0.1 on a free port and lives in a temporary folder; ``stop()``
ends it. PostgreSQL refuses to run as root, so as root it runs as the ``postgres`` user
(``runuser``), the way the Debian package installs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import httpx

T = TypeVar("T")

BUCKET = "vidserve-test"
S3_ENV = {  # moto accepts any credentials; obstore needs some
    "VIDSERVE_S3_REGION": "us-east-1",
    "VIDSERVE_S3_ACCESS_KEY_ID": "testing",
    "VIDSERVE_S3_SECRET_ACCESS_KEY": "testing",
    "VIDSERVE_S3_ALLOW_HTTP": "true",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(factory()))
        except BaseException as exc:  # re-raised in the caller's thread
            error.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


# -- PostgreSQL -------------------------------------------------------------------------------


def postgres_bin() -> Path | None:
    """The folder of initdb/pg_ctl (the newest installed major version), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(
        p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class Postgres:
    """A PostgreSQL cluster of its own: initdb into a temporary folder, trust auth, loopback."""

    def __init__(self) -> None:
        bindir = postgres_bin()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install -y postgresql)")
        self.bin = bindir
        self.root = Path(tempfile.mkdtemp(prefix="vidserve-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        self._databases = 0
        self._template: str | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None

    def _cmd(self, *args: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *args] if self.as_root else list(args)

    def start(self) -> Postgres:
        if not self.data.exists():
            if self.as_root:
                shutil.chown(self.root, "postgres")
            subprocess.run(
                self._cmd(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust",
                          "-U", "postgres", "-E", "UTF8", "--no-sync"),
                check=True, capture_output=True, timeout=120,
            )
        self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.root / "server.log"), "-o",
                     f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
                     "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                     "-c max_connections=300 -c shared_buffers=64MB")
        self._watch()
        return self

    def _watch(self) -> None:
        """A watchdog that stops the cluster and removes its folder if this process dies
        without doing so (a test run killed on a timeout), so no server is left behind."""
        if self._watchdog is not None:
            return
        code = (
            "import os, shutil, subprocess, sys, time\n"
            "parent, cmd, root = int(sys.argv[1]), sys.argv[2:-1], sys.argv[-1]\n"
            "while os.getppid() == parent:\n"
            "    time.sleep(1)\n"
            "if os.path.isdir(root):\n"
            "    subprocess.run(cmd, capture_output=True, timeout=60)\n"
            "    shutil.rmtree(root, ignore_errors=True)\n"
        )
        stop = self._cmd(str(self.bin / "pg_ctl"), "-D", str(self.data), "stop", "-m",
                         "immediate")
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", code, str(os.getpid()), *stop, str(self.root)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(self._cmd(str(self.bin / "pg_ctl"), "-D", str(self.data), *args),
                       check=True, capture_output=True, timeout=120)

    def stop(self, mode: str = "fast") -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self._pg_ctl("stop", "-m", mode, "-w", "-t", "60")

    def restart(self, down: float = 0.0) -> None:
        """Stop (fast: every connection is cut), stay down ``down`` seconds, start again on
        the same port."""
        self.stop("fast")
        time.sleep(down)
        self.start()

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
        if self._watchdog is not None:
            self._watchdog.kill()
            self._watchdog.wait(10)

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "vs", *, migrated: bool = False) -> str:
        """A new database; returns its URL. Empty, or with ``migrated`` a copy of one this
        cluster migrated once (``CREATE DATABASE ... TEMPLATE``): a server started on it finds
        the schema at head, as every server after the first one of a deployment does. Tests
        of migrating itself (from empty, several replicas at once) take an empty one."""
        self._databases += 1
        name = f"{prefix}_{os.getpid()}_{self._databases}"
        template = ""
        if migrated:
            if self._template is None:
                self._template = self._migrated_template()
            template = f' TEMPLATE "{self._template}"'

        async def create() -> None:
            import asyncpg

            conn = await asyncpg.connect(self.url())
            try:
                await conn.execute(f'CREATE DATABASE "{name}"{template}')
            finally:
                await conn.close()

        run_sync(create)
        return self.url(name)

    def _migrated_template(self) -> str:
        from vidserve.store.database import migrate

        url = self.create_database("template")
        error: list[BaseException] = []

        def run() -> None:  # migrate runs its own event loop: a thread of its own
            try:
                migrate(url)
            except BaseException as exc:
                error.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
        if error:
            raise error[0]
        return url.rsplit("/", 1)[1]  # no session stays on it: CREATE ... TEMPLATE needs that


async def pg_fetch(url: str, query: str, *args: Any) -> list[dict[str, Any]]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return [dict(r) for r in await conn.fetch(query, *args)]
    finally:
        await conn.close()


# -- S3 (moto) --------------------------------------------------------------------------------


class S3Server:
    """moto's S3 in this process (a thread), on 127.0.0.1."""

    def __init__(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(),
                                          verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.create_bucket(BUCKET)

    def create_bucket(self, name: str) -> None:
        response = httpx.put(f"{self.endpoint}/{name}", timeout=30)
        assert response.status_code == 200, response.text

    def stop(self) -> None:
        self._server.stop()

    def store(self, prefix: str = "") -> Any:
        """An obstore S3Store on the test bucket (for listing and reading what servers wrote)."""
        from obstore.store import S3Store

        return S3Store(
            BUCKET, prefix=prefix or None, endpoint=self.endpoint, region="us-east-1",
            access_key_id="testing", secret_access_key="testing",
            client_options={"allow_http": True},
        )

    def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (relative to the bucket)."""
        import obstore

        return [meta["path"] for batch in obstore.list(self.store(), prefix=prefix)
                for meta in batch]


# -- a TCP proxy that can be cut --------------------------------------------------------------


class TcpProxy:
    """127.0.0.1:port -> target. ``cut()`` closes every connection and refuses new ones
    (the peer sees connection refused/reset); ``restore()`` lets them through again."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.open = True
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._stopped = False
        self._listen()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @classmethod
    def to_url(cls, url: str) -> TcpProxy:
        parsed = urlparse(url)
        return cls(parsed.hostname or "127.0.0.1", parsed.port or 80)

    def _listen(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(128)
        sock.settimeout(0.2)
        self._listener = sock

    def _accept(self) -> None:
        while not self._stopped:
            listener = self._listener
            if listener is None:
                time.sleep(0.05)
                continue
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            if not self.open:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            for s in (client, upstream):
                s.settimeout(None)
            with self._lock:
                self._conns.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                with self._lock:
                    self._conns.discard(s)
                with contextlib.suppress(OSError):
                    s.close()

    def cut(self) -> None:
        """Refuse new connections (the port is closed) and reset the open ones."""
        self.open = False
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            conns = list(self._conns)
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def restore(self) -> None:
        self._listen()
        self.open = True

    def stop(self) -> None:
        self._stopped = True
        self.cut()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


# -- backends ---------------------------------------------------------------------------------


@dataclass
class Backend:
    """Where a test server keeps its rows and files: ``sqlite`` (+ a local folder, the
    embedded default) or ``postgres`` (+ an S3 bucket, the scale-out setup)."""

    name: str
    postgres: Postgres | None = None
    s3: S3Server | None = None
    _count: int = field(default=0)

    def env(self, data_dir: Path) -> dict[str, str]:
        """Settings of one new server: its own database and bucket prefix."""
        if self.name == "sqlite":
            return {}
        assert self.postgres is not None and self.s3 is not None
        self._count += 1
        prefix = f"{data_dir.name}-{os.getpid()}-{self._count}-{time.monotonic_ns()}"
        return {
            "VIDSERVE_DATABASE_URL": self.postgres.create_database(migrated=True),
            "VIDSERVE_STORAGE_URL": f"s3://{BUCKET}/{prefix}",
            "VIDSERVE_S3_ENDPOINT_URL": self.s3.endpoint,
            **S3_ENV,
        }

    def __str__(self) -> str:
        return self.name


def read_row(env: dict[str, str], data_dir: Path, video_id: str) -> dict[str, Any]:
    """The videos row, straight from the database a server with ``env`` uses."""
    url = env.get("VIDSERVE_DATABASE_URL", "")
    if url.startswith("postgresql"):
        rows = run_sync(lambda: pg_fetch(url, "SELECT * FROM videos WHERE id = $1", video_id))
        assert rows, video_id
        return rows[0]
    with sqlite3.connect(data_dir / "vidserve.db") as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM videos WHERE id = ?", (video_id,)).fetchone()
    assert row is not None, video_id
    return dict(row)


def stored_attempts(
    env: dict[str, str], data_dir: Path, s3: S3Server | None, video_id: str
) -> list[str]:
    """The attempt folders stored for a video (``videos/{id}/{attempt}/``)."""
    storage = env.get("VIDSERVE_STORAGE_URL", "")
    if storage.startswith("s3://"):
        assert s3 is not None
        prefix = urlparse(storage).path.strip("/")
        base = f"{prefix}/videos/{video_id}/"
        keys = s3.keys(base)
        return sorted({k[len(base):].split("/")[0] for k in keys})
    folder = data_dir / "assets" / "videos" / video_id
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


async def wait_for(
    predicate: Callable[[], Awaitable[T | None]], seconds: float, interval: float = 0.05
) -> T:
    deadline = time.monotonic() + seconds
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(interval)
