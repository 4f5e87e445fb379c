"""The embedded worker: a child process of ``vidserve serve``, restarted if it dies.

A separate process keeps rendering and encoding off the API's event loop and GIL. The child
watches its parent and gives its job back if the server goes away. The server starts serving
once the child has written its first heartbeat (it beats as it starts, before any job), so a
server that answers is ready; a child that does not report within ``STARTUP_TIMEOUT`` is
logged and ``/readyz`` says so.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys

from vidserve.settings import Settings, child_environment
from vidserve.store.workers import WorkerStore

log = logging.getLogger("vidserve.worker")

STARTUP_TIMEOUT = 60.0


class WorkerSupervisor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def _spawn(self) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "vidserve",
            "worker",
            "--parent-pid",
            str(os.getpid()),
            env=child_environment(self.settings),
            start_new_session=False,
        )

    @property
    def pid(self) -> int | None:
        """The worker's pid while it runs; None before start, after exit, or between restarts."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return None
        return proc.pid

    async def start(self) -> None:
        self._proc = await self._spawn()
        self._task = asyncio.create_task(self._watch())

    async def wait_for_first_beat(self, store: WorkerStore, poll: float = 0.05) -> bool:
        """Until the child's row is in the workers table (True), or it exits or
        ``STARTUP_TIMEOUT`` passes (False, logged)."""
        host = socket.gethostname()
        try:
            async with asyncio.timeout(STARTUP_TIMEOUT):
                while (pid := self.pid) is not None:
                    try:
                        if any(b.pid == pid and b.host == host for b in await store.all()):
                            return True
                    except Exception:
                        log.warning("workers table not readable while the worker starts",
                                    exc_info=True)
                    await asyncio.sleep(poll)
        except TimeoutError:
            pass
        log.warning("the embedded worker has not reported since its start; serving anyway "
                    "(/readyz answers 503 until it does)")
        return False

    async def _watch(self) -> None:
        backoff = 0.5
        while not self._stopping:
            assert self._proc is not None
            code = await self._proc.wait()
            if self._stopping:
                return
            log.error("embedded worker exited with %s; restarting in %.1fs", code, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)
            self._proc = await self._spawn()

    async def stop(self) -> None:
        self._stopping = True
        proc = self._proc
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), self.settings.drain_grace_seconds + 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
